/* toolcall.c — tool calling on POST /v1/chat/completions (a body with
 * "tools"), answered by two paw programs plus glue, never by free text:
 *
 *  - relevance, alias "toolcall-relevance": a closed-label program (labels
 *    call / none) on "Request: <user>\nFunction: <name>: <description>";
 *    P(call) is scored for every candidate tool, and the best one is called
 *    when P(call) >= 0.5 ("no call" otherwise, under tool_choice "auto");
 *  - argument, alias "toolcall-argument": on "Request: <user>\nParameter:
 *    <name> (<type>): <description>" it answers the value as the request
 *    states it, or "none"; the glue below types it against the schema
 *    (integers, numbers, booleans, enums, arrays, defaults) and builds the
 *    arguments object, so the arguments are always valid JSON.
 *
 * The inputs are written exactly as bench/toolcall_data.py writes the
 * training examples.  A turn that ends in tool results may call one more
 * tool not yet called since the user's message (a chain), with the results
 * appended to the request; otherwise, and under tool_choice "none", the
 * answer is the base model's chat reply to the user's message (and the
 * results).  Every model call is a job on the worker pool, one after the
 * other, all within the request's timeout. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "server.h"
#include "toolcall.h"

#define REL_ALIAS      "toolcall-relevance"
#define ARG_ALIAS      "toolcall-argument"
#define CALL_THRESHOLD 0.5
#define ARG_TOKENS     48
#define REPLY_TOKENS   128
#define CONTEXT_CHARS  1200   /* user text + tool results the programs see */


typedef struct tc_req {
    srv        *s;
    http_reply *r;
    double      deadline;      /* srv_now_ms() limit for the whole request    */
    int32_t     n_prompt, n_gen;
} tc_req;

/* ------------------------------------------------------------ jobs */

/* Runs one program (or, program == NULL, base-model chat on a rendered
 * prompt) as a job.  1 with *out (malloc'd) and *score set; 0 with *r
 * filled with the error. */
static int run_job(tc_req *q, const char *program, const char *input, const char *score_label,
                   int32_t max_tokens, char **out, double *score)
{
    http_reply *r = q->r;
    job *j = job_new(program ? JOB_PROGRAM : JOB_CHAT);
    if (!j || (program && !(j->program = strdup(program))) || !(j->input = strdup(input))) {
        job_unref(j);
        reply_error(r, 503, "out_of_memory", "out of memory");
        return 0;
    }
    j->input_len = strlen(input);
    j->max_tokens = max_tokens;
    j->score_label = score_label;
    int rc = work_submit(q->s, j), ok = 0;
    if (rc == -1) {
        reply_error(r, 429, "queue_full", "the server's queue is full (%d waiting); retry later", q->s->cfg.queue);
        snprintf(r->extra_name, sizeof r->extra_name, "Retry-After");
        snprintf(r->extra_value, sizeof r->extra_value, "1");
    } else if (rc) {
        reply_error(r, 503, "shutting_down", "the server is shutting down");
    } else if (!work_wait(q->s, j, q->deadline - srv_now_ms())) {
        reply_error(r, 504, "timeout", "no answer within the request timeout (%g s)", q->s->cfg.timeout_s);
    } else if (j->rc == PAW_ENOTFOUND) {
        reply_error(r, 503, "toolcall_programs_missing",
                    "tool calling needs the programs \"" REL_ALIAS "\" and \"" ARG_ALIAS "\" installed: "
                    "paw install examples/tool-calling/relevance.paw --alias " REL_ALIAS "; "
                    "paw install examples/tool-calling/argument.paw --alias " ARG_ALIAS);
    } else if (j->rc) {
        reply_error(r, j->rc == PAW_ERANGE ? 400 : 500, j->rc == PAW_ERANGE ? "input_too_long" : "internal",
                    "%s", j->err);
    } else {
        *out = j->output ? j->output : strdup("");
        j->output = NULL;
        if (score) *score = j->score;
        q->n_prompt += j->n_prompt;
        q->n_gen += j->n_gen;
        metrics_tokens(q->s->metrics, j->n_prompt, j->n_gen);
        ok = *out != NULL;
        if (!ok) reply_error(r, 503, "out_of_memory", "out of memory");
    }
    job_unref(j);
    return ok;
}

/* Builds the arguments object of tool t for the request text. */
static int extract_args(tc_req *q, tc_tool *t, const char *request, json_t *args)
{
    const char *pn;
    json_t *ps;
    json_object_foreach(t->props, pn, ps) {
        char *line = tc_param_line(pn, ps), *input = line ? tc_append(strdup(""), "Request: %s\n%s", request, line) : NULL;
        free(line);
        if (!input) { reply_error(q->r, 503, "out_of_memory", "out of memory"); return 0; }
        char *out = NULL;
        int ok = run_job(q, ARG_ALIAS, input, NULL, ARG_TOKENS, &out, NULL);
        free(input);
        if (!ok) return 0;
        char *v = tc_trim_value(out);
        json_t *val = strcasecmp(v, "none") && *v ? tc_typed_value(v, ps) : NULL;
        free(out);
        if (!val) {
            /* not stated: a required parameter with a default gets it;
             * an optional one is left out (its default applies) */
            int required = 0;
            size_t k;
            json_t *rn;
            json_array_foreach(t->required, k, rn) required |= !strcmp(json_string_value(rn), pn);
            json_t *def = json_object_get(ps, "default");
            if (required && def) val = json_copy(def);
        }
        if (val) json_object_set_new(args, pn, val);
    }
    return 1;
}

/* ------------------------------------------------------------ replies */

static void new_call_id(char *buf, size_t cap, int k)
{
    static unsigned long long counter;
    unsigned long long c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, cap, "call_%llx%llx%d", (unsigned long long)ts.tv_nsec ^ (unsigned long long)ts.tv_sec, c, k);
}

static void reply_completion(tc_req *q, const char *model, json_t *message, const char *finish, json_t *scores)
{
    char id[48];
    new_call_id(id, sizeof id, 0);
    memcpy(id, "chatcmpl", 8);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s}],s:{s:i,s:i,s:i},s:{s:o}}", "id", id, "object",
                          "chat.completion", "created", (json_int_t)time(NULL), "model", model, "choices", "index",
                          0, "message", message, "finish_reason", finish, "usage", "prompt_tokens", q->n_prompt,
                          "completion_tokens", q->n_gen, "total_tokens", q->n_prompt + q->n_gen, "paw",
                          "tool_scores", scores);
    reply_json(q->r, 200, o);
}

/* The base model's reply to the user's text (and the tool results). */
static int plain_reply(tc_req *q, json_t *msgs, const char *context, int32_t max_tokens, char **out)
{
    paw_chat_msg m[2];
    size_t n = 0;
    json_t *first = json_array_get(msgs, 0);
    char *sys = NULL;
    if (!strcmp(json_string_value(json_object_get(first, "role")), "system") && (sys = tc_msg_text(first)))
        m[n++] = (paw_chat_msg){"system", sys};
    m[n++] = (paw_chat_msg){"user", context};
    char *prompt = NULL;
    size_t len = 0;
    int ok = 0;
    if (paw_chat_format(q->s->model, m, n, 1, &prompt, &len))
        reply_error(q->r, 400, "invalid_parameter", "%s", paw_last_error());
    else
        ok = run_job(q, NULL, prompt, NULL, max_tokens, out, NULL);
    paw_free(prompt);
    free(sys);
    return ok;
}

/* ------------------------------------------------------------ the route */

void api_toolcall(srv *s, void *body, http_reply *r)
{
    json_t *o = body, *msgs = json_object_get(o, "messages"), *model = json_object_get(o, "model");
    json_t *choice = json_object_get(o, "tool_choice");
    tc_req q = {s, r, srv_now_ms() + s->cfg.timeout_s * 1e3, 0, 0};
    tc_tool tools[TC_MAX_TOOLS];
    size_t n_tools = 0;
    if (!json_is_string(model)) {
        reply_error(r, 400, "invalid_parameter", "model (a string) is required");
        return;
    }
    if (!json_is_array(msgs) || !json_array_size(msgs)) {
        reply_error(r, 400, "invalid_parameter", "messages must be a non-empty array");
        return;
    }
    if (json_is_true(json_object_get(o, "stream"))) {
        reply_error(r, 400, "invalid_parameter", "stream is not supported together with tools");
        return;
    }
    char err[256];
    if (!tc_read_tools(json_object_get(o, "tools"), tools, &n_tools, err, sizeof err)) {
        reply_error(r, 400, "invalid_tools", "%s", err);
        return;
    }
    int32_t max_tokens = REPLY_TOKENS;
    json_t *mt = json_object_get(o, "max_tokens");
    if (mt && !json_is_null(mt)) {
        if (!json_is_integer(mt) || json_integer_value(mt) < 1 || json_integer_value(mt) > 4096) {
            reply_error(r, 400, "invalid_parameter", "max_tokens must be an integer in [1, 4096]");
            return;
        }
        max_tokens = (int32_t)json_integer_value(mt);
    }
    /* tool_choice: "auto" (default), "none", "required", or a named function */
    int mode = 0;   /* 0 auto, 1 none, 2 required, 3 forced */
    tc_tool *forced = NULL;
    if (json_is_string(choice)) {
        const char *c = json_string_value(choice);
        mode = !strcmp(c, "auto") ? 0 : !strcmp(c, "none") ? 1 : !strcmp(c, "required") ? 2 : -1;
    } else if (json_is_object(choice)) {
        const char *want = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        for (size_t i = 0; want && i < n_tools; i++)
            if (!strcmp(tools[i].name, want)) forced = &tools[i];
        mode = forced ? 3 : -2;
    } else if (choice && !json_is_null(choice)) {
        mode = -1;
    }
    if (mode < 0) {
        reply_error(r, 400, "invalid_parameter", mode == -1
                    ? "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                      "\"function\": {\"name\": ...}}"
                    : "tool_choice names a function that is not in tools");
        return;
    }
    /* The conversation: the last user message, what was called since, and
     * the tool results since. */
    size_t n_msgs = json_array_size(msgs), user = n_msgs;
    for (size_t i = 0; i < n_msgs; i++) {
        json_t *m = json_array_get(msgs, i), *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            reply_error(r, 400, "invalid_parameter", "messages[%zu] needs a string role", i);
            return;
        }
        if (!strcmp(json_string_value(role), "user")) user = i;
    }
    if (user == n_msgs) {
        reply_error(r, 400, "invalid_parameter", "messages hold no user message");
        return;
    }
    char *request = tc_msg_text(json_array_get(msgs, user));
    for (size_t i = user + 1; request && i < n_msgs; i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        size_t k;
        json_t *call;
        json_array_foreach(json_object_get(m, "tool_calls"), k, call) {
            const char *nm = json_string_value(json_object_get(json_object_get(call, "function"), "name"));
            for (size_t t = 0; nm && t < n_tools; t++)
                if (!strcmp(tools[t].name, nm)) tools[t].called = 1;
        }
        if (!strcmp(role, "tool")) {
            char *res = tc_msg_text(m);
            if (!res) { free(request); request = NULL; break; }
            const char *nm = json_string_value(json_object_get(m, "name"));
            request = tc_append(request, "\nTool result%s%s: ", nm ? " of " : "", nm ? nm : "");
            request = tc_append(request, "%s%s", res, "");
            free(res);
        }
    }
    if (!request) {
        reply_error(r, 400, "invalid_parameter", "message contents must be strings or text parts");
        return;
    }
    if (strlen(request) > CONTEXT_CHARS) {   /* cut at a character boundary: the text stays UTF-8 */
        size_t cut = CONTEXT_CHARS;
        while (cut && ((unsigned char)request[cut] & 0xC0) == 0x80) cut--;
        request[cut] = 0;
    }
    json_t *scores = json_object();
    tc_tool *pick = forced;
    /* Selection: every tool not yet called since the user's message. */
    if (mode == 0 || mode == 2) {
        for (size_t i = 0; i < n_tools && !(q.r->body); i++) {
            if (tools[i].called) continue;
            char *input = tc_append(strdup(""), "Request: %s\nFunction: %s", request, tools[i].name);
            input = tc_append(input, ": %s%s", tools[i].desc, "");
            char *out = NULL;
            if (!input) { reply_error(r, 503, "out_of_memory", "out of memory"); break; }
            if (run_job(&q, REL_ALIAS, input, "call", 2, &out, &tools[i].score)) {
                json_object_set_new(scores, tools[i].name, json_real(tools[i].score));
                if (!pick || tools[i].score > pick->score) pick = &tools[i];
            }
            free(input);
            free(out);
        }
        if (pick && mode == 0 && pick->score < CALL_THRESHOLD) pick = NULL;
        if (!pick && mode == 2 && !r->body) {
            json_decref(scores);
            free(request);
            reply_error(r, 400, "invalid_parameter", "tool_choice \"required\": every tool was already called "
                        "since the last user message");
            return;
        }
    }
    if (r->body) { json_decref(scores); free(request); return; }   /* a job failed */
    if (mode == 1) pick = NULL;
    if (pick) {
        json_t *args = json_object();
        if (extract_args(&q, pick, request, args)) {
            char cid[48];
            new_call_id(cid, sizeof cid, 1);
            char *a = json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
            json_t *msg = json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content",
                                    "tool_calls", "id", cid, "type", "function", "function", "name", pick->name,
                                    "arguments", a ? a : "{}");
            free(a);
            reply_completion(&q, json_string_value(model), msg, "tool_calls", scores);
            scores = NULL;
        }
        json_decref(args);
    } else {
        char *text = NULL;
        if (plain_reply(&q, msgs, request, max_tokens, &text)) {
            reply_completion(&q, json_string_value(model),
                             json_pack("{s:s,s:s}", "role", "assistant", "content", text), "stop", scores);
            scores = NULL;
        }
        free(text);
    }
    json_decref(scores);
    free(request);
}
