/* chat.c — the chat templates of the interpreter models, written out in C.
 *
 * paw does not run Jinja: the three templates it needs are rendered here,
 * byte for byte as the models' own templates render them for plain
 * system/user/assistant conversations (no tools):
 *   ChatML (SmolLM2)  <|im_start|>{role}\n{content}<|im_end|>\n ... and, when
 *                     the first message is not a system one, the model's
 *                     default system message first;
 *   Qwen3             ChatML; the generation prompt is followed by the empty
 *                     think block "<think>\n\n</think>\n\n" (enable_thinking
 *                     = False, what PAW's runtime prompt uses, paw.md §1.5);
 *   none (GPT-2)      the contents, separated by blank lines. */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "model/model.h"
#include "runtime/chat.h"

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* An assistant message split as Qwen3's template splits it when it holds
 * "</think>": the reasoning is the text before the first "</think>", newlines
 * trimmed at the end, after the last "<think>" in it, newlines trimmed at the
 * start; the answer is the text after the last "</think>", leading newlines
 * dropped.  Without "</think>" the reasoning is empty and the answer is the
 * whole message. */
static const char *qwen3_split(const char *content, const char **reason, size_t *reason_len)
{
    *reason = "";
    *reason_len = 0;
    const char *first = strstr(content, "</think>");
    if (!first) return content;
    const char *r = content, *e = first;
    while (e > r && e[-1] == '\n') e--;
    for (const char *t = r; (t = strstr(t, "<think>")) != NULL && t + 7 <= e; t += 7) r = t + 7;
    while (r < e && *r == '\n') r++;
    *reason = r;
    *reason_len = (size_t)(e - r);
    const char *end = first, *last;
    while ((last = strstr(end + 1, "</think>"))) end = last;
    end += strlen("</think>");
    while (*end == '\n') end++;
    return end;
}

int paw_chat_render(int style, const char *default_system, const paw_chat_msg *msgs,
                    size_t n_msgs, int add_assistant, char **out, size_t *len)
{
    *out = NULL;
    if (len) *len = 0;
    if (style != PAW_CHAT_NONE && style != PAW_CHAT_CHATML && style != PAW_CHAT_QWEN3)
        return paw_err(PAW_EINVAL, "chat: unknown template style %d", style);
    for (size_t i = 0; i < n_msgs; i++)
        if (!msgs[i].role || !msgs[i].content)
            return paw_err(PAW_EINVAL, "chat: message %zu has no role or content", i);
    sbuf b = {0};
    put(&b, "", 0);
    if (style == PAW_CHAT_NONE) {
        for (size_t i = 0; i < n_msgs; i++) {
            if (i) puts_(&b, "\n\n");
            puts_(&b, msgs[i].content);
        }
    } else {
        int has_system = n_msgs > 0 && !strcmp(msgs[0].role, "system");
        if (style == PAW_CHAT_CHATML && !has_system && default_system) {
            puts_(&b, "<|im_start|>system\n");
            puts_(&b, default_system);
            puts_(&b, "<|im_end|>\n");
        }
        /* Qwen3 drops reasoning from turns before the last user message; an
         * assistant turn after it keeps its think block (empty if it had
         * none) when it is the final message or has reasoning. */
        size_t last_user = n_msgs;
        for (size_t i = n_msgs; i-- > 0;)
            if (!strcmp(msgs[i].role, "user")) { last_user = i; break; }
        for (size_t i = 0; i < n_msgs; i++) {
            const char *content = msgs[i].content;
            puts_(&b, "<|im_start|>");
            puts_(&b, msgs[i].role);
            puts_(&b, "\n");
            if (style == PAW_CHAT_QWEN3 && !strcmp(msgs[i].role, "assistant")) {
                const char *reason;
                size_t reason_len;
                content = qwen3_split(content, &reason, &reason_len);
                if (last_user < n_msgs && i > last_user && (i + 1 == n_msgs || reason_len)) {
                    while (*content == '\n') content++;
                    puts_(&b, "<think>\n");
                    put(&b, reason, reason_len);
                    puts_(&b, "\n</think>\n\n");
                }
            }
            puts_(&b, content);
            puts_(&b, "<|im_end|>\n");
        }
    }
    if (add_assistant && style != PAW_CHAT_NONE) {
        puts_(&b, "<|im_start|>assistant\n");
        if (style == PAW_CHAT_QWEN3) puts_(&b, "<think>\n\n</think>\n\n");
    }
    if (b.oom) { free(b.p); return paw_err(PAW_ENOMEM, "chat: out of memory"); }
    *out = b.p;
    if (len) *len = b.n;
    return PAW_OK;
}

static int contains(paw_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (uint64_t i = 0; n <= s.len && i + n <= s.len; i++)
        if (!memcmp(s.ptr + i, needle, n)) return 1;
    return 0;
}

int paw_chat_style_of(const paw_model *m)
{
    if (!strcmp(m->arch->name, "qwen3")) return PAW_CHAT_QWEN3;
    paw_str t;
    if (paw_gguf_get_str(m->gguf, "tokenizer.chat_template", &t) == PAW_OK &&
        contains(t, "<|im_start|>"))
        return PAW_CHAT_CHATML;
    return PAW_CHAT_NONE;
}

/* Finds the default system message a ChatML template writes as a literal:
 * "<|im_start|>system" + newline (real or escaped) + text + "<|im_end|>",
 * where the text holds no template syntax.  NULL if there is none. */
static char *default_system_of(const paw_model *m)
{
    paw_str t;
    if (paw_gguf_get_str(m->gguf, "tokenizer.chat_template", &t) != PAW_OK) return NULL;
    static const char head[] = "<|im_start|>system";
    const size_t hn = sizeof head - 1;
    for (uint64_t i = 0; i + hn < t.len; i++) {
        if (memcmp(t.ptr + i, head, hn)) continue;
        uint64_t p = i + hn;
        if (t.ptr[p] == '\n') p += 1;
        else if (p + 1 < t.len && t.ptr[p] == '\\' && t.ptr[p + 1] == 'n') p += 2;
        else continue;
        uint64_t e = p;
        while (e + 10 <= t.len && memcmp(t.ptr + e, "<|im_end|>", 10)) {
            char ch = t.ptr[e];
            if (ch == '\'' || ch == '"' || ch == '{' || ch == '}' || ch == '\\') break;
            e++;
        }
        if (e + 10 <= t.len && !memcmp(t.ptr + e, "<|im_end|>", 10) && e > p) {
            char *s = malloc(e - p + 1);
            if (!s) return NULL;
            memcpy(s, t.ptr + p, e - p);
            s[e - p] = 0;
            return s;
        }
    }
    return NULL;
}

int paw_chat_format(const paw_model *m, const paw_chat_msg *msgs, size_t n_msgs,
                    int add_assistant, char **out, size_t *len)
{
    int style = paw_chat_style_of(m);
    char *sys = style == PAW_CHAT_CHATML ? default_system_of(m) : NULL;
    int rc = paw_chat_render(style, sys, msgs, n_msgs, add_assistant, out, len);
    free(sys);
    return rc;
}

int32_t paw_chat_end_token(const paw_model *m, const paw_tokenizer *tok)
{
    /* Render a two-message conversation and take the first token after the
     * assistant's text: the model's own template says how a turn ends. */
    static const char reply[] = "x";
    const paw_chat_msg msgs[2] = {{"user", "u"}, {"assistant", reply}};
    char *text = NULL;
    size_t len = 0;
    int32_t end = paw_tokenizer_eos(tok);
    if (paw_chat_style_of(m) == PAW_CHAT_NONE || paw_chat_format(m, msgs, 2, 0, &text, &len)) {
        free(text);
        return end;
    }
    /* The last occurrence of the reply is the assistant's text. */
    const char *after = NULL;
    for (const char *p = text; (p = strstr(p, reply)); p++) after = p + sizeof reply - 1;
    int32_t *ids = NULL;
    size_t n = 0;
    if (after && paw_tokenize(tok, after, len - (size_t)(after - text), 0, 1, &ids, &n) == PAW_OK && n &&
        paw_tokenizer_is_eog(tok, ids[0]))
        end = ids[0];
    free(ids);
    free(text);
    return end;
}
