/* testjson.h — JSON helpers of the tests that read golden files (jansson). */
#ifndef PAW_TESTJSON_H
#define PAW_TESTJSON_H
#include <jansson.h>
#include "testutil.h"

static inline json_t *tu_load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fail_msg("%s:%d: %s", path, e.line, e.text);
    return j;
}

/* A JSON array of integers as malloc'd int32 ids (*n of them). */
static inline int32_t *tu_json_ids(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}
#endif
