/* cli.h — the `paw` command-line front end.  Each subcommand lives in its own
 * cmd_<name>.c and is a thin client of include/paw.h.  A command returns the
 * process exit status (0 ok, 1 runtime error, 2 usage error). */
#ifndef PAW_CLI_H
#define PAW_CLI_H
#include <stdio.h>
#include "paw.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_programs(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_serve(int argc, char **argv);   /* execs paw-serve (tools/server) */
int cmd_watch(int argc, char **argv);

/* Describes a .paw file or installed program (cmd_programs.c) for `paw info`. */
int cli_info_program(const char *arg, int as_json);

/* Prints "paw <cmd>: <paw_last_error()>" to stderr and returns 1. */
int cli_fail(const char *cmd);
/* Writes s as a JSON string literal (quotes included) to f. */
void cli_json_str(FILE *f, const char *s, size_t len);
/* Writes text from an untrusted file (spec, pseudo-program, tensor name,
 * meta field) for a terminal: control characters (C0 but for tab, DEL, and
 * the UTF-8-encoded C1 range U+0080..U+009F) become \xNN / \u00NN escapes,
 * so that a file cannot move the cursor, retitle the terminal or hide text. */
void cli_put_text(FILE *f, const char *s, size_t len);
/* Parses s as a number in [lo, hi] into *out; 1 on success, 0 if s is not
 * wholly a number or is out of range. */
int cli_num_arg(const char *s, double lo, double hi, double *out);
/* Checks up front that an output path can be written (not a directory, its
 * directory exists and is writable; is_dir: a directory to create or fill),
 * so that a long compile or training run does not fail only at the end.
 * Prints "paw <cmd>: ..." and returns 1 when it cannot. */
int cli_check_out_path(const char *cmd, const char *path, int is_dir);
/* Reads all of stdin (malloc'd, NUL-terminated). NULL on failure. */
char *cli_read_stdin(size_t *len);
/* Reads a JSONL file of {"input": string, "output": string} objects (blank
 * lines skipped) into *ex (malloc'd; free with cli_free_examples).  On a bad
 * line, an unreadable or empty file: "paw <cmd>: ..." on stderr, returns 1. */
int  cli_load_examples(const char *cmd, const char *path, paw_program_example **ex, size_t *n);
void cli_free_examples(paw_program_example *ex, size_t n);
/* The same, also giving each example's line in the file (*lines malloc'd). */
int  cli_load_examples_at(const char *cmd, const char *path, paw_program_example **ex, size_t *n,
                          int **lines);


/* A download progress bar on stderr (cmd_pull.c): pass cli_progress and a
 * cli_bar as a paw_progress_fn and its ud. */
typedef struct cli_bar {
    const char *name;
    int    tty;          /* redraw in place, or print a line per quarter      */
    double start;        /* when the command began (for the total time)       */
    double t0, last;     /* first progress report (rates start there: the pip
                            phase before it reports nothing), last redraw      */
    uint64_t done0;
    int    last_quarter;
    int    drawn;
} cli_bar;
int  cli_progress(void *ud, uint64_t done, uint64_t total);
/* Fetches a hub PROGRAM (paw_program_fetch) and, when model is non-NULL, the
 * base model it runs on (paw_program_base_model), with progress bars;
 * cmd_pull.c.  Returns 0 or prints the error and returns 1. */
int cli_fetch_program(const char *cmd, const char *program, char id[PAW_PROGRAM_ID_LEN + 1],
                      char *model, size_t model_cap);
#endif
