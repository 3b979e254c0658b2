/* fuzz_teacher_reply.c — libFuzzer target for what a teacher endpoint sends
 * back (paw_teacher_parse_reply) and for teacher URLs
 * (paw_teacher_normalise_url).
 *
 * An input starting with 'U' is a URL (the rest, NUL-terminated): a refused
 * one must leave *out NULL and an error message; an accepted one must start
 * with http:// or https://, end its path in /v1/chat/completions, hold no
 * space, control character or '#', and normalise to itself again.
 * Any other input is a reply body, copied into an exact-size heap buffer (no
 * NUL after it, so ASan sees any read past len).  A refused body must leave
 * *content NULL and an error message; an accepted one must give a string
 * that, put back into a chat.completion by jansson, parses to the same
 * string.  Anything else is abort()ed.  Build with `make fuzz`; seeds in
 * fuzz/corpus/teacher_reply/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "paw.h"
#include "compile/teacher.h"

static void check_url(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in) abort();
    memcpy(in, data, size);
    in[size] = 0;
    char *u = (char *)"sentinel", *again = NULL;
    if (paw_teacher_normalise_url(in, &u) != PAW_OK) {
        if (u || !*paw_last_error()) abort();
        free(in);
        return;
    }
    if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) abort();
    size_t path_end = strcspn(u, "?");
    static const char tail[] = "/v1/chat/completions";
    if (path_end < sizeof tail - 1 || memcmp(u + path_end - (sizeof tail - 1), tail, sizeof tail - 1))
        abort();
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '#') abort();
    if (paw_teacher_normalise_url(u, &again) != PAW_OK || strcmp(u, again)) abort();
    free(again);
    free(u);
    free(in);
}

static void check_reply(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    if (!body) abort();
    if (size) memcpy(body, data, size);
    char *content = (char *)"sentinel";
    int rc = paw_teacher_parse_reply(body, size, &content);
    free(body);
    if (rc != PAW_OK) {
        if (content || !*paw_last_error()) abort();
        return;
    }
    if (!content) abort();
    json_t *j = json_pack("{s:[{s:{s:s}}]}", "choices", "message", "content", content);
    if (!j) abort();                        /* the parser handed out invalid UTF-8 */
    char *dumped = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!dumped) abort();
    char *back = NULL;
    if (paw_teacher_parse_reply(dumped, strlen(dumped), &back) != PAW_OK || strcmp(back, content))
        abort();
    free(back);
    free(dumped);
    free(content);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == 'U') check_url(data + 1, size - 1);
    else check_reply(data, size);
    return 0;
}
