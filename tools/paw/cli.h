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
int cmd_watch(int argc, char **argv);

/* Describes a .paw file or installed program (cmd_programs.c) for `paw info`. */
int cli_info_program(const char *arg, int as_json);

/* Prints "paw <cmd>: <paw_last_error()>" to stderr and returns 1. */
int cli_fail(const char *cmd);
/* Writes s as a JSON string literal (quotes included) to f. */
void cli_json_str(FILE *f, const char *s, size_t len);
/* Parses s as a number in [lo, hi] into *out; 1 on success, 0 if s is not
 * wholly a number or is out of range. */
int cli_num_arg(const char *s, double lo, double hi, double *out);
/* Reads all of stdin (malloc'd, NUL-terminated). NULL on failure. */
char *cli_read_stdin(size_t *len);
/* Reads a JSONL file of {"input": string, "output": string} objects (blank
 * lines skipped) into *ex (malloc'd; free with cli_free_examples).  On a bad
 * line, an unreadable or empty file: "paw <cmd>: ..." on stderr, returns 1. */
int  cli_load_examples(const char *cmd, const char *path, paw_program_example **ex, size_t *n);
void cli_free_examples(paw_program_example *ex, size_t n);
#endif
