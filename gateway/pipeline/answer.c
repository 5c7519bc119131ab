/* The JSON answers to a push (answer.h). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "answer.h"

static json_t *error_json(const msgw_error *e)
{
    json_t *o = json_object();
    if (e->location) json_object_set_new(o, "location", json_string(e->location));
    if (e->field) json_object_set_new(o, "field", json_string(e->field));
    json_object_set_new(o, "rule", json_string(e->rule ? e->rule : ""));
    json_object_set_new(o, "message", json_string(e->message ? e->message : ""));
    return o;
}

static int answer(msgw_buf *out, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    msgw_buf_puts(out, s);
    msgw_buf_puts(out, "\n");
    free(s);
    json_decref(body);
    return status;
}

int answer_refuse(msgw_buf *out, int status, const char *rule, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *b = json_object();
    json_object_set_new(b, "status", json_integer(status));
    json_t *errs = json_array();
    json_t *e = json_object();
    json_object_set_new(e, "rule", json_string(rule));
    json_object_set_new(e, "message", json_string(msg));
    json_array_append_new(errs, e);
    json_object_set_new(b, "errors", errs);
    return answer(out, status, b);
}

/* The errors (rejecting) and warnings (not) of one record, or of the document (record -1). */
static void problems_json(const msgw_batch *b, int record, json_t *o)
{
    json_t *errs = json_array(), *warns = json_array();
    for (size_t x = 0; x < b->errors.n; x++)
        if (b->errors.v[x].record == record)
            json_array_append_new(b->errors.v[x].severity == MSGW_SEV_ERROR ? errs : warns, error_json(&b->errors.v[x]));
    if (json_array_size(errs)) json_object_set_new(o, "errors", errs);
    else json_decref(errs);
    if (json_array_size(warns)) json_object_set_new(o, "warnings", warns);
    else json_decref(warns);
}

/* Each record's outcome; items are the committed ones, in batch order. */
static json_t *outcomes_json(const msgw_batch *b, const msgw_store_item *items)
{
    json_t *recs = json_array();
    size_t k = 0;
    for (size_t i = 0; i < b->nitems; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        if (b->items[i].loc) json_object_set_new(o, "location", json_string(b->items[i].loc));
        if (b->items[i].record && items) {
            const msgw_store_item *it = &items[k++];
            json_object_set_new(o, "message_id", json_string(it->record->message_id));
            json_object_set_new(o, "outcome", json_string(it->duplicate ? "duplicate" : "stored"));
            json_object_set_new(o, "seq", json_integer(it->seq));
        } else {
            json_object_set_new(o, "outcome", json_string("rejected"));
        }
        problems_json(b, (int)i, o);
        json_array_append_new(recs, o);
    }
    return recs;
}

int answer_batch(const msgw_batch *b, const msgw_store_item *items, size_t transitions, size_t messages,
                 bool deferred, msgw_buf *out)
{
    size_t nok = items ? msgw_batch_count_ok(b) : 0;
    int status = nok ? 202 : (b->errors.doc_failed || b->nitems == 0 ? 400 : 422);
    json_t *res = json_object();
    json_object_set_new(res, "status", json_integer(status));
    json_object_set_new(res, "records", outcomes_json(b, items));
    problems_json(b, -1, res);
    json_object_set_new(res, "transitions", json_integer((json_int_t)transitions));
    json_object_set_new(res, "messages", json_integer((json_int_t)messages));
    if (deferred) json_object_set_new(res, "evaluation", json_string("deferred"));
    return answer(out, status, res);
}
