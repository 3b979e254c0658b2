/* hfvocab.c — converts a Hugging Face tokenizer.json (byte-level BPE) and the
 * tokenizer_config.json beside it into a vocab-only GGUF carrying the same
 * tokenizer.* keys llama.cpp's converter writes, so that paw_tokenizer_from_gguf
 * reads it like the vocabulary of any model.
 *
 * One key is paw's own: tokenizer.paw.normalizer = "NFC" records an NFC
 * normalizer (Qwen2/Qwen3 have one).  llama.cpp's GGUFs drop it and llama.cpp
 * does not normalise, so the tokenizer only normalises when the key says so:
 * real model GGUFs keep llama.cpp's behaviour, converted vocabularies keep
 * Hugging Face's. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "model/tokenizer.h"
#include "model/gguf.h"

/* The split regexes of known Hugging Face pre-tokenizers, as tokenizer.json
 * spells them, and the tokenizer.ggml.pre name llama.cpp gives each. */
static const struct { const char *regex, *pre; } known_splits[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
     "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", "qwen2"},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
     "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", "llama-bpe"},
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "gpt-2"},
};

typedef struct hfv {
    json_t  *root, *cfg, *vocab, *added;
    size_t   n;
    paw_str *tok;
    int32_t *type;
    char    *pad_text;      /* "[PAD<id>]" names for ids nobody defines */
    paw_str *merge;
    size_t   n_merge;
    char    *merge_text;    /* joined "left right" of array-form merges  */
    const char *pre;
    int      nfc;
} hfv;

static int fail(int status, const char *path, const char *what)
{
    return paw_err(status, "vocab: %s: %s", path, what);
}

static int load_json(const char *path, json_t **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return paw_err(PAW_EIO, "vocab: cannot open %s", path);
    json_error_t e;
    *out = json_loadf(f, JSON_ALLOW_NUL, &e);
    fclose(f);
    if (!*out)
        return paw_err(PAW_EFORMAT, "vocab: %s:%d:%d: malformed JSON: %s", path, e.line, e.column,
                       e.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return fail(PAW_EFORMAT, path, "top level is not a JSON object");
    }
    return PAW_OK;
}

/* llama.cpp's converter treats added tokens that look like <|...|> as control
 * tokens even when tokenizer.json does not mark them special. */
static int looks_special(const char *s, size_t n)
{
    return n >= 4 && !memcmp(s, "<|", 2) && !memcmp(s + n - 2, "|>", 2);
}

static int read_id(json_t *v, size_t *id)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= (1 << 24)) return -1;   /* far above any real vocabulary */
    *id = (size_t)x;
    return 0;
}

static int read_tokens(hfv *h, const char *path)
{
    json_t *model = json_object_get(h->root, "model");
    if (!json_is_object(model)) return fail(PAW_EFORMAT, path, "no \"model\" object");
    json_t *mt = json_object_get(model, "type");
    if (mt && (!json_is_string(mt) || strcmp(json_string_value(mt), "BPE")))
        return paw_err(PAW_EUNSUPPORTED, "vocab: %s: model type %s not supported (BPE only)", path,
                       json_is_string(mt) ? json_string_value(mt) : "?");
    h->vocab = json_object_get(model, "vocab");
    if (!json_is_object(h->vocab)) return fail(PAW_EFORMAT, path, "model.vocab is not an object");
    h->added = json_object_get(h->root, "added_tokens");
    if (h->added && !json_is_array(h->added) && !json_is_null(h->added))
        return fail(PAW_EFORMAT, path, "added_tokens is not an array");

    size_t n = 0, id, i;
    const char *key;
    json_t *v;
    json_object_foreach(h->vocab, key, v) {
        if (read_id(v, &id)) return paw_err(PAW_EFORMAT, "vocab: %s: bad id for token \"%s\"", path, key);
        if (id + 1 > n) n = id + 1;
    }
    json_array_foreach(h->added, i, v) {
        if (!json_is_object(v) || read_id(json_object_get(v, "id"), &id) ||
            !json_is_string(json_object_get(v, "content")))
            return paw_err(PAW_EFORMAT, "vocab: %s: added_tokens[%zu] lacks id/content", path, i);
        if (id + 1 > n) n = id + 1;
    }
    if (!n) return fail(PAW_EFORMAT, path, "empty vocabulary");
    /* Real files define every id; a few holes are padding, a sea of them
     * is a corrupt file that would make a huge GGUF. */
    size_t defined = json_object_size(h->vocab) + json_array_size(h->added);
    if (n > defined + 65536)
        return paw_err(PAW_EFORMAT, "vocab: %s: ids go up to %zu but only %zu tokens are defined",
                       path, n - 1, defined);
    h->n = n;
    h->tok = calloc(n, sizeof *h->tok);
    h->type = calloc(n, sizeof *h->type);
    if (!h->tok || !h->type) return paw_err(PAW_ENOMEM, "vocab: out of memory");
    json_object_foreach(h->vocab, key, v) {
        read_id(v, &id);
        if (h->tok[id].ptr) return paw_err(PAW_EFORMAT, "vocab: %s: id %zu used twice", path, id);
        h->tok[id] = (paw_str){key, strlen(key)};
        h->type[id] = TOK_NORMAL;
    }
    json_array_foreach(h->added, i, v) {
        read_id(json_object_get(v, "id"), &id);
        json_t *c = json_object_get(v, "content");
        const char *s = json_string_value(c);
        size_t len = json_string_length(c);
        h->tok[id] = (paw_str){s, len};
        h->type[id] = json_is_true(json_object_get(v, "special")) || looks_special(s, len)
                          ? TOK_CONTROL : TOK_USER_DEFINED;
    }
    /* Ids nobody defines get placeholder names, as llama.cpp's converter does. */
    size_t holes = 0;
    for (id = 0; id < n; id++) holes += !h->tok[id].ptr;
    if (holes) {
        char *p = h->pad_text = malloc(holes * 16);
        if (!p) return paw_err(PAW_ENOMEM, "vocab: out of memory");
        for (id = 0; id < n; id++) {
            if (h->tok[id].ptr) continue;
            int len = snprintf(p, 16, "[PAD%zu]", id);
            h->tok[id] = (paw_str){p, (uint64_t)len};
            h->type[id] = TOK_UNUSED;
            p += 16;
        }
    }
    return PAW_OK;
}

static int read_merges(hfv *h, const char *path)
{
    json_t *m = json_object_get(json_object_get(h->root, "model"), "merges");
    if (!json_is_array(m)) return fail(PAW_EFORMAT, path, "model.merges is not an array");
    size_t n = json_array_size(m), i, joined = 0;
    json_t *v;
    /* Newer tokenizer.json files store merges as ["a", "b"] pairs, older
     * ones as "a b" strings; GGUF wants the string form. */
    json_array_foreach(m, i, v) {
        if (json_is_string(v)) continue;
        json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
        if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(a) || !json_is_string(b))
            return paw_err(PAW_EFORMAT, "vocab: %s: merges[%zu] is neither \"a b\" nor [a, b]", path, i);
        joined += json_string_length(a) + json_string_length(b) + 1;
    }
    h->n_merge = n;
    h->merge = malloc((n ? n : 1) * sizeof *h->merge);
    h->merge_text = malloc(joined + 1);
    if (!h->merge || !h->merge_text) return paw_err(PAW_ENOMEM, "vocab: out of memory");
    char *p = h->merge_text;
    json_array_foreach(m, i, v) {
        if (json_is_string(v)) {
            h->merge[i] = (paw_str){json_string_value(v), json_string_length(v)};
            continue;
        }
        json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
        size_t la = json_string_length(a), lb = json_string_length(b);
        memcpy(p, json_string_value(a), la);
        p[la] = ' ';
        memcpy(p + la + 1, json_string_value(b), lb);
        h->merge[i] = (paw_str){p, la + 1 + lb};
        p += la + 1 + lb;
    }
    return PAW_OK;
}

/* Recognises the pre-tokenizer and names it the way tokenizer.ggml.pre does. */
static int detect_pre(hfv *h, const char *path)
{
    json_t *pt = json_object_get(h->root, "pre_tokenizer");
    if (!json_is_object(pt)) return fail(PAW_EUNSUPPORTED, path, "no pre_tokenizer (not byte-level BPE)");
    json_t *list = pt;
    const char *ty = json_string_value(json_object_get(pt, "type"));
    if (ty && !strcmp(ty, "Sequence")) list = json_object_get(pt, "pretokenizers");
    const char *split = NULL;
    int byte_level = 0, bl_regex = 0, digits = 0;
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_is_array(list) ? json_array_get(list, i) : list;
        const char *t = json_string_value(json_object_get(p, "type"));
        if (!t) return fail(PAW_EFORMAT, path, "pre_tokenizer without a type");
        if (!strcmp(t, "Split")) {
            split = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
            if (!split) return fail(PAW_EUNSUPPORTED, path, "Split pre-tokenizer without a regex");
        } else if (!strcmp(t, "ByteLevel")) {
            byte_level = 1;
            json_t *ur = json_object_get(p, "use_regex");
            bl_regex = !ur || json_is_true(ur);
            if (json_is_true(json_object_get(p, "add_prefix_space")))
                return fail(PAW_EUNSUPPORTED, path, "ByteLevel add_prefix_space is not supported");
        } else if (!strcmp(t, "Digits")) {
            if (!json_is_true(json_object_get(p, "individual_digits")))
                return fail(PAW_EUNSUPPORTED, path, "Digits pre-tokenizer without individual_digits");
            digits = 1;
        } else {
            return paw_err(PAW_EUNSUPPORTED, "vocab: %s: pre-tokenizer %s not supported", path, t);
        }
    }
    if (!byte_level) return fail(PAW_EUNSUPPORTED, path, "not a byte-level BPE tokenizer");
    if (split && !bl_regex && !digits) {
        for (size_t i = 0; i < PAW_ARRAY_LEN(known_splits); i++)
            if (!strcmp(split, known_splits[i].regex)) { h->pre = known_splits[i].pre; return PAW_OK; }
        return fail(PAW_EUNSUPPORTED, path, "unrecognised pre-tokenizer split regex");
    }
    if (!split && bl_regex) { h->pre = digits ? "smollm" : "gpt-2"; return PAW_OK; }
    return fail(PAW_EUNSUPPORTED, path, "unrecognised pre-tokenizer combination");
}

static int detect_normalizer(hfv *h, const char *path)
{
    json_t *nm = json_object_get(h->root, "normalizer");
    if (!nm || json_is_null(nm)) return PAW_OK;
    json_t *list = nm;
    const char *ty = json_string_value(json_object_get(nm, "type"));
    if (ty && !strcmp(ty, "Sequence")) list = json_object_get(nm, "normalizers");
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_is_array(list) ? json_array_get(list, i) : list;
        const char *t = json_string_value(json_object_get(p, "type"));
        if (t && !strcmp(t, "NFC")) { h->nfc = 1; continue; }
        return paw_err(PAW_EUNSUPPORTED, "vocab: %s: normalizer %s not supported (NFC only)", path,
                       t ? t : "?");
    }
    return PAW_OK;
}

/* Id of a special token named in tokenizer_config.json ("<|im_end|>" or
 * {"content": "<|im_end|>"}); -1 if absent or unknown. */
static int64_t config_token(const hfv *h, const char *name)
{
    json_t *v = json_object_get(h->cfg, name);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    for (size_t id = h->n; id-- > 0;)   /* added tokens sit at the end */
        if (h->tok[id].len == len && !memcmp(h->tok[id].ptr, s, len)) return (int64_t)id;
    return -1;
}

static int write_gguf(hfv *h, const char *out)
{
    paw_gguf_writer *w = paw_gguf_writer_new();
    if (!w) return PAW_ENOMEM;
    int rc = paw_gguf_writer_set_str(w, "general.type", "vocab", 5);
    if (!rc) rc = paw_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4);
    if (!rc) rc = paw_gguf_writer_set_str(w, "tokenizer.ggml.pre", h->pre, strlen(h->pre));
    if (!rc) rc = paw_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", h->tok, h->n);
    if (!rc) rc = paw_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", PAW_GGUF_I32, h->type, h->n);
    if (!rc) rc = paw_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", h->merge, h->n_merge);
    if (!rc && h->nfc) rc = paw_gguf_writer_set_str(w, "tokenizer.paw.normalizer", "NFC", 3);
    static const struct { const char *cfg, *key; } ids[] = {
        {"bos_token", "tokenizer.ggml.bos_token_id"},
        {"eos_token", "tokenizer.ggml.eos_token_id"},
        {"unk_token", "tokenizer.ggml.unknown_token_id"},
        {"pad_token", "tokenizer.ggml.padding_token_id"},
    };
    for (size_t i = 0; !rc && i < PAW_ARRAY_LEN(ids); i++) {
        int64_t id = config_token(h, ids[i].cfg);
        if (id >= 0) rc = paw_gguf_writer_set_u32(w, ids[i].key, (uint32_t)id);
    }
    json_t *ab = json_object_get(h->cfg, "add_bos_token");
    if (!rc) rc = paw_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", json_is_true(ab));
    json_t *ae = json_object_get(h->cfg, "add_eos_token");
    if (!rc && json_is_boolean(ae))
        rc = paw_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", json_is_true(ae));
    /* chat_template is a string, or a list of {name, template}: keep "default". */
    json_t *ct = json_object_get(h->cfg, "chat_template");
    if (json_is_array(ct)) {
        size_t i;
        json_t *e, *pick = NULL;
        json_array_foreach(ct, i, e) {
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (!pick || (nm && !strcmp(nm, "default"))) pick = json_object_get(e, "template");
        }
        ct = pick;
    }
    if (!rc && json_is_string(ct))
        rc = paw_gguf_writer_set_str(w, "tokenizer.chat_template", json_string_value(ct),
                                     json_string_length(ct));
    if (!rc) rc = paw_gguf_writer_write(w, out);
    paw_gguf_writer_free(w);
    return rc;
}

int paw_vocab_from_hf(const char *tokenizer_json, const char *out_gguf)
{
    if (!tokenizer_json || !out_gguf) return paw_err(PAW_EINVAL, "vocab: NULL path");
    hfv h = {0};
    int rc = load_json(tokenizer_json, &h.root);
    if (!rc) {
        /* tokenizer_config.json beside tokenizer.json, if there is one. */
        const char *slash = strrchr(tokenizer_json, '/');
        size_t dir = slash ? (size_t)(slash - tokenizer_json + 1) : 0;
        char *cfg = malloc(dir + 32);
        if (!cfg) rc = paw_err(PAW_ENOMEM, "vocab: out of memory");
        else {
            memcpy(cfg, tokenizer_json, dir);
            strcpy(cfg + dir, "tokenizer_config.json");
            FILE *f = fopen(cfg, "rb");
            if (f) { fclose(f); rc = load_json(cfg, &h.cfg); }
            free(cfg);
        }
    }
    if (!rc) rc = read_tokens(&h, tokenizer_json);
    if (!rc) rc = read_merges(&h, tokenizer_json);
    if (!rc) rc = detect_pre(&h, tokenizer_json);
    if (!rc) rc = detect_normalizer(&h, tokenizer_json);
    if (!rc) rc = write_gguf(&h, out_gguf);
    free(h.tok); free(h.type); free(h.pad_text); free(h.merge); free(h.merge_text);
    json_decref(h.root);
    json_decref(h.cfg);
    return rc;
}
