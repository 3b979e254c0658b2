/* augment.c — more training examples without a teacher: variants of the
 * examples whose output copies words of their input.
 *
 * When an output repeats a word of its input ("Hi, I'm Priya Patel" ->
 * "Priya", "$19.99" -> "19.99 USD", "{id: 7}" -> "{"id":7}"), the rule is
 * "copy that word", whatever the word is.  Twelve examples show twelve
 * words, and a small model learns them by heart instead of the copy (it
 * answers a name it was trained on).  A variant replaces every shared word
 * of an example — in its input and its output alike — by another word of
 * the same shape, so the copy is the only thing the variants have in
 * common.  The replacement comes from the words other examples copy (same
 * shape: so a minute stays a two-digit number that some example used as
 * one), or a made-up word of that shape when no other example has one or
 * the swap only gives back another example.
 *
 * Words are maximal runs of ASCII letters and digits; a run next to a
 * non-ASCII byte is part of a longer word and never replaced.  Shapes:
 * letter runs by case pattern (upper/lower; "Priya" and "Thomas" share
 * one), digit runs by length ("45" and "2024" do not).  Closed-label
 * programs are not augmented (their outputs are labels, never copies);
 * the caller decides that.  The variants can break a rule that depends on
 * the copied word's value (an hour of "12 pm" replaced by 45); whether
 * they help is measured by cross-validation (bench/recipe_study.py). */
#include <stdlib.h>
#include <string.h>
#include "compile/compile_internal.h"

#define WORD_MAX 48          /* longer runs are not treated as words        */
#define SHARED_MAX 16        /* shared words replaced per example            */

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The next word of s at or after *pos: [*start, *end).  A run touching a
 * byte >= 0x80 is skipped (not ASCII: part of a longer word).  0 at the end. */
static int next_word(const char *s, size_t *pos, size_t *start, size_t *end)
{
    size_t i = *pos;
    for (;;) {
        while (s[i] && !is_alnum((unsigned char)s[i])) i++;
        if (!s[i]) { *pos = i; return 0; }
        size_t a = i;
        while (is_alnum((unsigned char)s[i])) i++;
        int touches = (a && (unsigned char)s[a - 1] >= 0x80) || (unsigned char)s[i] >= 0x80;
        if (!touches && i - a <= WORD_MAX) {
            *start = a;
            *end = *pos = i;
            return 1;
        }
    }
}

/* 1 if w[0..n) occurs in s as a whole word. */
static int has_word(const char *s, const char *w, size_t n)
{
    size_t pos = 0, a, b;
    while (next_word(s, &pos, &a, &b))
        if (b - a == n && !memcmp(s + a, w, n)) return 1;
    return 0;
}

/* The shape of a word: one symbol per run of upper- or lower-case letters,
 * one per digit ("Priya" -> "Aa", "USD" -> "A", "0150" -> "9999"). */
static void shape_of(const char *w, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)w[i];
        char s = c >= '0' && c <= '9' ? '9' : c >= 'A' && c <= 'Z' ? 'A' : 'a';
        if (s == '9' || !k || out[k - 1] != s) out[k++] = s;
    }
    out[k] = 0;
}

typedef struct shared_word {
    char w[WORD_MAX + 1];
    char shape[WORD_MAX + 1];
    size_t ex;                   /* the example it came from                 */
} shared_word;

/* The words example e's output copies from its input (distinct, in order
 * of the output), appended to v (capacity cap); returns the new count. */
static size_t shared_words(const paw_program_example *e, size_t ex, shared_word *v, size_t n, size_t cap)
{
    size_t pos = 0, a, b, first = n;
    while (n < cap && n - first < SHARED_MAX && next_word(e->output, &pos, &a, &b)) {
        const char *w = e->output + a;
        size_t len = b - a;
        int dup = 0;
        for (size_t j = first; j < n && !dup; j++) dup = strlen(v[j].w) == len && !memcmp(v[j].w, w, len);
        if (dup || !has_word(e->input, w, len)) continue;
        memcpy(v[n].w, w, len);
        v[n].w[len] = 0;
        shape_of(w, len, v[n].shape, sizeof v[n].shape);
        v[n].ex = ex;
        n++;
    }
    return n;
}

static int is_vowel(char c)
{
    return strchr("aeiouAEIOU", c) != NULL;
}

/* A made-up word like w: digits for digits (a leading zero kept, no new
 * one, and a leading digit no larger than w's, so that a minute or a day
 * stays in a plausible range more often), a vowel for a vowel and a
 * consonant for a consonant, case kept. */
static void made_up(const char *w, char *out, uint64_t *rng)
{
    static const char vowels[] = "aeiou", consonants[] = "bcdfghjklmnprstvwz";
    size_t n = strlen(w);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = paw_splitmix64(rng);
        char c = w[i];
        if (c >= '0' && c <= '9') {
            if (i == 0 && n > 1) out[i] = c == '0' ? '0' : (char)('1' + r % (uint64_t)(c - '0'));
            else out[i] = (char)('0' + r % 10);
        } else {
            char l = is_vowel(c) ? vowels[r % 5] : consonants[r % (sizeof consonants - 1)];
            out[i] = c >= 'A' && c <= 'Z' ? (char)(l - 'a' + 'A') : l;
        }
    }
    out[n] = 0;
}

/* s with every whole word equal to from[k] replaced by to[k] (k < m). */
static char *replace_words(const char *s, shared_word *const *from, char (*to)[WORD_MAX + 1], size_t m)
{
    size_t len = strlen(s), cap = len + 1, pos = 0, a, b, done = 0;
    for (size_t k = 0; k < m; k++) cap += len * strlen(to[k]);   /* at most len words */
    char *r = malloc(cap), *w = r;
    if (!r) return NULL;
    while (next_word(s, &pos, &a, &b)) {
        size_t k = 0;
        while (k < m && !(strlen(from[k]->w) == b - a && !memcmp(from[k]->w, s + a, b - a))) k++;
        if (k == m) continue;
        memcpy(w, s + done, a - done);
        w += a - done;
        size_t tl = strlen(to[k]);
        memcpy(w, to[k], tl);
        w += tl;
        done = b;
    }
    memcpy(w, s + done, len - done + 1);
    return r;
}

/* A replacement for word sw in example e: a word of its shape that another
 * example copies (unless made_up_only), else a made-up one; never a word e
 * already has, nor one taken by this variant.  0 when none was found. */
static int pick_replacement(const shared_word *sw, const paw_program_example *e, const shared_word *all, size_t n_all,
                            char (*taken)[WORD_MAX + 1], size_t n_taken, int made_up_only, uint64_t *rng, char *out)
{
    size_t pool[64], n_pool = 0;
    for (size_t j = 0; !made_up_only && j < n_all && n_pool < 64; j++)
        if (all[j].ex != sw->ex && !strcmp(all[j].shape, sw->shape) && strcmp(all[j].w, sw->w)) pool[n_pool++] = j;
    for (int attempt = 0; attempt < 8; attempt++) {
        if (n_pool) strcpy(out, all[pool[paw_splitmix64(rng) % n_pool]].w);
        else made_up(sw->w, out, rng);
        size_t len = strlen(out);
        int clash = !strcmp(out, sw->w) || has_word(e->input, out, len) || has_word(e->output, out, len);
        for (size_t k = 0; k < n_taken && !clash; k++) clash = !strcmp(taken[k], out);
        if (!clash) return 1;
    }
    return 0;
}

int paw_compile_augment(const paw_program_example *ex, size_t n, int32_t per, uint64_t seed, paw_exlist *out)
{
    if (per > PAW_AUGMENT_MAX) return paw_err(PAW_EINVAL, "compile: at most %d variants per example", PAW_AUGMENT_MAX);
    if (per <= 0 || !n) return PAW_OK;
    size_t cap = n * SHARED_MAX;
    shared_word *all = malloc(cap * sizeof *all);
    if (!all) return paw_err(PAW_ENOMEM, "compile: out of memory");
    size_t n_all = 0;
    for (size_t i = 0; i < n; i++) n_all = shared_words(&ex[i], i, all, n_all, cap);
    uint64_t rng = seed ^ 0x61756775656e7421ull;   /* its own stream of the compile's seed */
    int rc = PAW_OK;
    for (size_t i = 0, first = 0; !rc && i < n; i++) {
        while (first < n_all && all[first].ex < i) first++;
        size_t m = 0;
        while (first + m < n_all && all[first + m].ex == i) m++;
        if (!m) continue;
        /* A variant equal to an example or to another variant adds nothing
         * (examples that differ only in the copied word swap into each
         * other): such a draw is tried again, the last tries with made-up
         * words only. */
        for (int32_t v = 0, tries = 0; !rc && v < per && tries < 2 * per + 2; tries++) {
            shared_word *from[SHARED_MAX];
            char to[SHARED_MAX][WORD_MAX + 1];
            size_t k = 0;
            for (size_t j = 0; j < m; j++)
                if (pick_replacement(&all[first + j], &ex[i], all, n_all, to, k, tries >= per, &rng, to[k]))
                    from[k++] = &all[first + j];
            if (!k) continue;
            char *in = replace_words(ex[i].input, from, to, k), *o = replace_words(ex[i].output, from, to, k);
            if (!in || !o) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
            int dup = rc || paw_exlist_has_input(out, in);
            for (size_t h = 0; !dup && h < n; h++) dup = !strcmp(ex[h].input, in);
            if (!dup) {
                rc = paw_exlist_add(out, in, o);
                v++;
            }
            free(in);
            free(o);
        }
    }
    free(all);
    return rc;
}
