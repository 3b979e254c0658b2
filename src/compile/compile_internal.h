/* compile_internal.h — what the compiler's stages share (internal; the
 * public face is the compiler block of paw.h).
 *
 * Files of src/compile:
 *   compile.c   paw_compile: the stages in order, the train/validation
 *               split, the training loop, export, meta.json.
 *   pseudo.c    the pseudo-program: the no-teacher form, the teacher's
 *               prompt, the parser/validator of its reply.
 *   synth.c     examples a teacher synthesises: inputs first, then one
 *               output per input, each filtered.
 *   report.c    the closed-label rule, the cross-validated estimate and
 *               the rest of the compile report.
 *   spec_examples.c  examples written inside the spec's text.
 *   augment.c   variants of examples whose output copies input words.
 *   data.c      example lists and why examples were dropped, text helpers,
 *               the teacher call with its one retry, progress lines.
 *   teacher*.c  the teachers themselves (local GGUF, OpenAI-compatible URL).
 *
 * Nothing here prints: errors go through paw_err, progress through
 * opts->progress. */
#ifndef PAW_COMPILE_INTERNAL_H
#define PAW_COMPILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"
#include "train/train.h"

/* paw.md §1.3: a pseudo-program shows 3 to 6 examples. */
#define PAW_PSEUDO_MIN_PAIRS 3
#define PAW_PSEUDO_MAX_PAIRS 6
/* A teacher's pseudo-program longer than this is refused: §1.3 asks for
 * ~250 tokens, and the block is in front of every call's input. */
#define PAW_PSEUDO_MAX_BYTES 3000

/* ---- data.c: text helpers */

/* A malloc'd copy of s[0..n) without surrounding ASCII whitespace. */
char *paw_compile_strip(const char *s, size_t n);
int   paw_compile_is_ws(char c);

/* ---- data.c: example lists (each string malloc'd and owned) */
typedef struct paw_exlist {
    paw_program_example *v;
    size_t n, cap;
} paw_exlist;
/* Appends copies of input and output. */
int  paw_exlist_add(paw_exlist *l, const char *input, const char *output);
/* 1 if some example has exactly this input. */
int  paw_exlist_has_input(const paw_exlist *l, const char *input);
void paw_exlist_clear(paw_exlist *l);

/* ---- augment.c */
/* Up to `per` variants of each of ex[0..n) whose output copies whole words
 * of its input, those words replaced (in input and output alike) by other
 * words of the same shape, appended to out; none equals an input of ex or
 * of out.  The same arguments give the same variants.  per <= 0: none;
 * per > PAW_AUGMENT_MAX: PAW_EINVAL. */
#define PAW_AUGMENT_MAX 64
int paw_compile_augment(const paw_program_example *ex, size_t n, int32_t per, uint64_t seed, paw_exlist *out);

/* Why an example (or a candidate input) was dropped.  Counted per reason,
 * for the report and for the error when too few examples remain. */
enum paw_drop_reason {
    PAW_DROP_DUPLICATE,     /* input already seen                            */
    PAW_DROP_EMPTY,         /* empty input or output                         */
    PAW_DROP_USER_INPUT,    /* synthesised input equal to a user's input     */
    PAW_DROP_TOO_LONG,      /* input or output over the length limit         */
    PAW_DROP_MULTILINE,     /* multi-line output where the user's are one line */
    PAW_DROP_LABEL,         /* output outside the user's set of labels       */
    PAW_DROP_MARKER,        /* prompt markup ([INPUT], [PSEUDO_PROGRAM]...)  */
    PAW_DROP_OVER_COUNT,    /* more inputs than were asked for               */
    PAW_DROP_N
};
typedef struct paw_drops {
    int32_t n[PAW_DROP_N];
} paw_drops;
int32_t paw_drops_total(const paw_drops *d);
/* "2 duplicate inputs, 1 multi-line output" ("" when nothing was dropped). */
void paw_drops_describe(const paw_drops *d, char *buf, size_t cap);

/* The user's examples stripped of surrounding whitespace, the first of each
 * input kept; an empty output is dropped.  PAW_EINVAL for a NULL field. */
int paw_compile_normalise(const paw_program_example *ex, size_t n, paw_exlist *out, paw_drops *drops);

/* ---- data.c: the teacher and progress */

/* One teacher turn (paw_teacher_chat), tried once more when it fails with
 * PAW_ENET or PAW_EFORMAT; the error then says what was being asked
 * ("compile: teacher url:...: while writing the pseudo-program: ..."). */
int  paw_compile_ask(paw_teacher *t, const paw_compile_opts *o, const char *what, const char *system,
                     const char *user, int32_t max_tokens, char **reply);
/* PAW_ECANCELED (with a message) once o->cancelled says so, else PAW_OK. */
int  paw_compile_check_cancel(const paw_compile_opts *o);
void paw_compile_progress(const paw_compile_opts *o, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- pseudo.c */

/* Where a compile's pseudo-program came from. */
#define PAW_PSEUDO_SOURCE_SPEC     "spec"      /* no teacher: spec + examples */
#define PAW_PSEUDO_SOURCE_TEACHER  "teacher"   /* the teacher's block, verbatim */
#define PAW_PSEUDO_SOURCE_FALLBACK "fallback"  /* the teacher's was unusable twice */

typedef struct paw_pseudo {
    char *text;      /* "[PSEUDO_PROGRAM]...[END_PSEUDO_PROGRAM]", '\n' newlines */
    paw_program_example pairs[PAW_PSEUDO_MAX_PAIRS];
    int n_pairs;
} paw_pseudo;
void paw_pseudo_clear(paw_pseudo *p);

/* Finds the pseudo-program block in a teacher's reply and validates it: the
 * last [PSEUDO_PROGRAM] before the first [END_PSEUDO_PROGRAM] (chatter
 * around them is ignored; CRLF becomes LF), a non-empty "Task:" first, then
 * 3 to 6 "Input:"/"Output:" pairs with non-empty values (a value may run
 * over several lines), no text of the prompt's form left as a placeholder,
 * at most PAW_PSEUDO_MAX_BYTES.  PAW_EFORMAT with the reason otherwise. */
int paw_pseudo_parse(const char *reply, paw_pseudo *out);

/* Asks the teacher for the pseudo-program (greedy) from the spec and the
 * user's examples; a reply that does not parse is asked for once more with
 * the reason.  PAW_OK with out->text NULL when both were unusable (the
 * caller falls back; *why holds the last reason); teacher errors are
 * returned. */
int paw_pseudo_from_teacher(paw_teacher *t, const paw_compile_opts *o, const char *spec,
                            const paw_exlist *user, paw_pseudo *out, char *why, size_t why_cap);

/* ---- synth.c */

typedef struct paw_synth_report {
    int32_t asked;       /* inputs asked for                                 */
    int32_t candidates;  /* inputs found in the replies                      */
    int32_t accepted;    /* examples kept                                    */
    paw_drops drops;     /* why the other candidates were dropped            */
} paw_synth_report;

/* Candidate inputs in a teacher's reply (malloc'd array of malloc'd
 * strings): a JSON array of strings or of {"input": string} objects, else
 * the list items ("1. x", "2) x", "- x", "* x", "• x"), else, when there
 * are no list items, every non-blank line; each stripped of whitespace and
 * of one pair of surrounding quotes.  Empty items are kept (as "") so that
 * the caller can count them. */
int paw_synth_parse_inputs(const char *reply, char ***items, size_t *n);
void paw_synth_free_inputs(char **items, size_t n);

/* What a synthesised output must look like, from the user's outputs. */
typedef struct paw_output_shape {
    int    one_line;        /* every user output is a single line          */
    int    keep_quotes;     /* some user output starts with a quote        */
    size_t max_len;         /* longest output accepted, in bytes           */
    const paw_exlist *labels; /* non-NULL: outputs must be one of these
                                 examples' outputs (the user's labels)     */
} paw_output_shape;
/* Cleans a teacher's output reply (an "Output:" label, a code fence,
 * quotes the user's outputs do not have) and checks it against the shape:
 * *reason is -1 and *out the output (malloc'd) when accepted, else the
 * paw_drop_reason and *out NULL.  PAW_ENOMEM only for memory. */
int paw_synth_clean_output(const char *reply, const paw_output_shape *shape, char **out, int *reason);

/* Synthesises up to n_synth examples: asks for inputs (25 per request),
 * filters them, then asks for each one's output; accepted examples are
 * appended to *out (which must not be `user`) in order.  pseudo (may be
 * NULL) is the teacher's pseudo-program, whose examples guide the teacher
 * when the user gave none. */
int paw_synthesise(paw_teacher *t, const paw_compile_opts *o, const char *spec, const paw_pseudo *pseudo,
                   const paw_exlist *user, int32_t n_synth, paw_exlist *out, paw_synth_report *rep);

/* The pseudo-program the no-teacher path (and the fallback) writes
 * (malloc'd): the spec as its Task and the first six examples, in paw.md
 * §1.3's form. */
int  paw_compile_pseudo_program(const char *spec, const paw_program_example *ex, size_t n_ex,
                                char **out, size_t *len);

/* The runtime prompt (paw.md §1.5) around a pseudo-program (malloc'd). */
int  paw_compile_template(const paw_model *m, const char *pseudo, char **out, size_t *len);

/* ---- compile.c / report.c: the compiler's state, shared by the pipeline
 * (compile.c) and the report and label rule (report.c) */
typedef struct paw_cexample {
    int32_t *ids;
    int32_t  n, n_prompt, n_out;   /* n_out: output tokens (EOT excluded) */
    const paw_program_example *src;
} paw_cexample;

typedef struct paw_compiler {
    const paw_model *m;
    paw_compile_opts o;
    char *spec;                  /* stripped                                  */
    size_t n_given;              /* examples the caller passed                */
    paw_exlist ex;               /* the user's (normalised), then synthesised */
    size_t n_user;
    paw_drops user_drops;
    paw_pseudo pseudo;           /* .text: the pseudo-program in use          */
    const char *pseudo_source;
    paw_synth_report synth;
    char *tmpl;                  /* the runtime prompt template               */
    size_t tmpl_len;
    /* training */
    paw_tokenizer *tok;
    paw_program *tp;             /* the template as a program: tokenizing     */
    paw_cexample *cex;               /* one per example                           */
    paw_cexample *tr, *va;           /* the split (views of cex)                  */
    int32_t n_tr, n_va;
    paw_trainer *t;
    uint8_t *adapter;            /* the best adapter so far (GGUF bytes)      */
    size_t adapter_len;
    int32_t val_hits;
    int32_t first_match_step;    /* first check at 100% validation match; 0: none */
    /* round 2 */
    size_t n_spec;               /* examples read from the spec's text        */
    char *labels_json;           /* {"labels": [...]} of a closed-label program */
    int32_t n_labels;
    char **tr_pred;              /* the final program's outputs on c->tr      */
    char *report_json;           /* metrics.cv and metrics.train_wrong        */
    int32_t n_variants;          /* augment.c variants in the last fit        */
} paw_compiler;

/* Trains an adapter on tr[0..n_tr) with paw_fit (the loop `paw train`
 * shares: the recipe's parameters, the seeded epoch order, batches of at
 * most 8), `steps` steps unless on_step stops it; the compile's cancel
 * callback is polled every step.  *t (the trainer) is the caller's. */
int  paw_compile_fit(paw_compiler *c, const paw_cexample *tr, int32_t n_tr, int32_t steps, paw_fit_fn on_step,
                     void *ud, paw_trainer **t);
/* Greedy exact matches of the adapter on ex[0..n) through the runtime (a
 * closed-label program decoded within its labels, as it will run).  preds
 * (may be NULL): each output, malloc'd. */
int  paw_compile_eval_em(paw_compiler *c, uint8_t *adapter, size_t adapter_len, const paw_cexample *ex,
                         int32_t n, int32_t *hits, char **preds);
/* report.c: the closed-label rule (sets c->labels_json, r->n_labels) and
 * the report (the training examples still wrong, the cross-validated
 * estimate: c->report_json, r->cv_*). */
int  paw_compile_choose_labels(paw_compiler *c, paw_compile_result *r);
/* Variants per training example this compile makes (0: none). */
int32_t paw_compile_augment_per(const paw_compiler *c);
int  paw_compile_report(paw_compiler *c, paw_compile_result *r);
/* fold[i] (0..k-1): the cross-validation fold that holds out ex[i].  The
 * j-th example of the L-th distinct output (both counted from 0 in ex's
 * order) goes to fold (j + L) mod k, so that each output's examples spread
 * over the folds and every fold trains on every output that has at least
 * two examples, even when the examples are listed in a repeating label
 * order (with i mod k, labels a, b, c, a, b, c, ... and k = 3 held out one
 * whole label per fold).  With every output distinct this is i mod k. */
int  paw_compile_cv_folds(const paw_cexample *ex, int32_t n, int32_t k, int32_t *fold);

#endif
