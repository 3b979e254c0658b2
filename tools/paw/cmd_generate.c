/* cmd_generate.c — `paw generate`: run a model on a prompt and stream the
 * continuation to stdout; timings go to stderr.  --json prints one line
 * instead: {"prompt_ids":[...],"ids":[...],"text":"...","finish":"stop"|"length",
 * "prefill_tok_s":x,"decode_tok_s":y}; a generation cut by the end of the
 * context is announced on stderr either way. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char usage_text[] =
    "usage: paw generate -m MODEL [-p PROMPT | -f FILE] [--chat] [-n N] [--temp T]\n"
    "                    [--top-k K] [--top-p P] [--seed S] [-t THREADS] [-c N_CTX] [--json]\n"
    "                    [--lora ADAPTER.gguf [--lora-scale S]]... [--kv-f16] [-fa]\n"
    "  The prompt is read from stdin when neither -p nor -f is given.  --chat wraps it\n"
    "  in the model's chat template as one user message.  -n: at most N new tokens\n"
    "  (default 256; 0 = until the end-of-generation token or a full context).\n"
    "  --lora applies a LoRA adapter (llama.cpp's GGUF format; up to 8), each with the\n"
    "  scale of the --lora-scale after it (default 1).  --kv-f16 keeps the KV cache in\n"
    "  half precision (llama.cpp's default; paw's is f32).  -fa, --flash-attn computes\n"
    "  attention in the arithmetic of llama.cpp's -fa (half-precision q, k, v and sums).\n";

static int on_text(void *ud, const char *text, size_t len)
{
    (void)ud;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static void print_ids(const int32_t *ids, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    putchar(']');
}

int cmd_generate(int argc, char **argv)
{
    const char *model_arg = NULL, *prompt_arg = NULL, *file_arg = NULL;
    int chat = 0, json = 0, kv_f16 = 0, flash = 0;
    double n_predict = 256, temp = 0, top_k = 0, top_p = 1, seed = 0, threads = 0, n_ctx = 0;
    const char *lora_arg[8];
    double lora_scale[8];
    int n_lora = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (v) model_arg = v; else ok = 0; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { if (v) prompt_arg = v; else ok = 0; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (v) file_arg = v; else ok = 0; }
        else if (!strcmp(a, "-n")) ok = v && cli_num_arg(v, 0, 1e9, &n_predict);
        else if (!strcmp(a, "--temp")) ok = v && cli_num_arg(v, 0, 100, &temp);
        else if (!strcmp(a, "--top-k")) ok = v && cli_num_arg(v, 0, 1e9, &top_k);
        else if (!strcmp(a, "--top-p")) ok = v && cli_num_arg(v, 0, 1, &top_p);
        else if (!strcmp(a, "--seed")) ok = v && cli_num_arg(v, 0, 1.8e19, &seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = v && cli_num_arg(v, 0, 1024, &threads);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) ok = v && cli_num_arg(v, 0, 1 << 20, &n_ctx);
        else if (!strcmp(a, "--lora")) {
            if ((ok = v && n_lora < 8)) { lora_arg[n_lora] = v; lora_scale[n_lora++] = 1; }
        }
        else if (!strcmp(a, "--lora-scale")) ok = v && n_lora > 0 && cli_num_arg(v, -1e6, 1e6, &lora_scale[n_lora - 1]);
        else { takes = 0;
            if (!strcmp(a, "--chat")) chat = 1;
            else if (!strcmp(a, "--json")) json = 1;
            else if (!strcmp(a, "--kv-f16")) kv_f16 = 1;
            else if (!strcmp(a, "-fa") || !strcmp(a, "--flash-attn")) flash = 1;
            else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); return 0; }
            else ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "paw generate: bad or incomplete option '%s'\n%s", a, usage_text);
            return 2;
        }
        i += takes;
    }
    if (!model_arg || (prompt_arg && file_arg)) { fputs(usage_text, stderr); return 2; }

    char path[4096];
    if (paw_model_resolve(model_arg, path, sizeof path)) return cli_fail("generate");
    char *prompt = NULL;
    size_t prompt_len = 0;
    if (prompt_arg) {
        prompt = strdup(prompt_arg);
        prompt_len = strlen(prompt_arg);
    } else if (file_arg) {
        if (paw_read_file(file_arg, 0, &prompt, &prompt_len)) return cli_fail("generate");
    } else {
        prompt = cli_read_stdin(&prompt_len);
    }
    if (!prompt) { fprintf(stderr, "paw generate: out of memory\n"); return 1; }

    int rc = 1;
    paw_model *m = NULL;
    paw_tokenizer *tok = NULL;
    paw_ctx *ctx = NULL;
    paw_adapter *adapters[8] = {0};
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *templated = NULL;
    paw_gen_result res = {0};
    if (paw_model_load(path, &m) || paw_tokenizer_from_gguf(paw_model_gguf(m), &tok)) {
        cli_fail("generate");
        goto out;
    }
    const char *text = prompt;
    size_t text_len = prompt_len;
    if (chat) {
        paw_chat_msg msg = {"user", prompt};
        if (paw_chat_format(m, &msg, 1, 1, &templated, &text_len)) { cli_fail("generate"); goto out; }
        text = templated;
    }
    /* Chat markers are special tokens; a plain prompt is ordinary text. */
    if (paw_tokenize(tok, text, text_len, paw_tokenizer_add_bos(tok), chat, &ids, &n_ids)) {
        cli_fail("generate");
        goto out;
    }
    paw_ctx_params cp = {.n_ctx = (int32_t)n_ctx, .n_threads = (int)threads,
                         .kv_type = kv_f16 ? PAW_TYPE_F16 : PAW_TYPE_F32, .flash_attn = flash};
    if (paw_ctx_new(m, &cp, &ctx)) { cli_fail("generate"); goto out; }
    for (int i = 0; i < n_lora; i++)
        if (paw_adapter_load(lora_arg[i], &adapters[i]) ||
            paw_ctx_attach_adapter(ctx, adapters[i], (float)lora_scale[i])) {
            cli_fail("generate");
            goto out;
        }
    paw_gen_params gp = {
        .max_tokens = (int32_t)n_predict,
        .sampling = {.temp = (float)temp, .top_k = (int32_t)top_k, .top_p = (float)top_p,
                     .seed = (uint64_t)seed},
        .on_text = json ? NULL : on_text,
    };
    if (paw_generate(ctx, tok, ids, n_ids, &gp, &res)) { cli_fail("generate"); goto out; }
    double prefill_tps = res.prefill_s > 0 ? res.n_prompt / res.prefill_s : 0;
    double decode_tps = res.decode_s > 0 ? res.n_decode / res.decode_s : 0;
    if (json) {
        fputs("{\"prompt_ids\":", stdout);
        print_ids(ids, n_ids);
        fputs(",\"ids\":", stdout);
        print_ids(res.ids, res.n_ids);
        fputs(",\"text\":", stdout);
        cli_json_str(stdout, res.text, res.len);
        printf(",\"finish\":\"%s\"", res.stop_reason == PAW_STOP_CTX_FULL ||
                                       res.stop_reason == PAW_STOP_MAX_TOKENS ? "length" : "stop");
        printf(",\"prefill_tok_s\":%.2f,\"decode_tok_s\":%.2f}\n", prefill_tps, decode_tps);
    } else {
        putchar('\n');
    }
    fflush(stdout);   /* the text first, then the timings on stderr */
    char threads_str[16];
    if (threads > 0) snprintf(threads_str, sizeof threads_str, "%d", (int)threads);
    else snprintf(threads_str, sizeof threads_str, "all");
    if (res.stop_reason == PAW_STOP_CTX_FULL)
        fprintf(stderr, "paw generate: stopped at the end of the context (%d tokens); raise -c\n",
                paw_ctx_n_ctx(ctx));
    fprintf(stderr, "paw generate: prompt %d tokens, %.1f tok/s; generated %zu tokens, %.1f tok/s (%s threads, %s)\n",
            res.n_prompt, prefill_tps, res.n_ids, decode_tps, threads_str, paw_simd_name());
    rc = 0;
out:
    paw_gen_result_free(&res);
    free(ids);
    free(templated);
    free(prompt);
    paw_ctx_free(ctx);
    for (int i = 0; i < n_lora; i++) paw_adapter_free(adapters[i]);   /* after the ctx */
    paw_tokenizer_free(tok);
    paw_model_free(m);
    return rc;
}
