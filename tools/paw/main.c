/* main.c — `paw` dispatcher: finds the subcommand and hands it argv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"info",     cmd_info,     "info FILE.gguf|PROGRAM [--json] | info --system   describe a GGUF model or vocab, a program, or the kernels picked for this CPU"},
    {"tokenize", cmd_tokenize, "tokenize -m MODEL [--special] [--json] TEXT|-   tokenize text"},
    {"vocab",    cmd_vocab,    "vocab TOKENIZER.json -o VOCAB.gguf   convert a Hugging Face tokenizer"},
    {"pull",     cmd_pull,     "pull NAME | pull PROGRAM       fetch a model (smollm2-135m, qwen3-0.6b, gpt2), or a hub program + its base"},
    {"models",   cmd_models,   "models                         list cached models"},
    {"generate", cmd_generate, "generate -m MODEL [-p PROMPT|-f FILE] [--chat] [-n N] [--json]   run a model"},
    {"train",    cmd_train,    "train -m MODEL --data TRAIN.jsonl -o ADAPTER.gguf [--template T] [--rank R] ...   fit a LoRA"},
    {"compile",  cmd_compile,  "compile \"SPEC\" --examples FILE.jsonl [-m MODEL] [-o OUT.paw] [--no-teacher] ...   compile a program"},
    {"run",      cmd_run,      "run PROGRAM [INPUT] [-m MODEL] [-n N] [--jsonl] | run --base [INPUT]   run a program (stdin: one input per line)"},
    {"programs", cmd_programs, "programs [--json] | programs --remote [QUERY]   list installed programs, or search the hub"},
    {"install",  cmd_install,  "install FILE.paw [--alias NAME]   install a program"},
    {"serve",    cmd_serve,    "serve [-m MODEL] [--host H] [--port N] [--api-key K] ...   HTTP server (REST, OpenAI API, playground)"},
    {"watch",    cmd_watch,    "watch FILE... --program P [--focus RE] [--ignore RE] [--json] [--exec CMD] [--stall S]   alert on new log lines"},
    {"eval",     cmd_eval,     "eval SUITE.jsonl (--programs DIR | --baseline zero-shot|few-shot) [-m MODEL] [--limit N] [--json REPORT]"},
};

static void usage(FILE *f)
{
    fprintf(f, "paw %s — Program-as-Weights in C\n\nusage: paw COMMAND [ARGS]\n\n", PAW_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  paw %s\n", commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("paw %s\n", PAW_VERSION); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "paw: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
