/*
 * Ingest (include/msgw/ingest.h): decode, authorise, commit, evaluate,
 * answer.  The commit comes before the answer: a 202 means the records are
 * on disk.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/canon.h"
#include "msgw/ingest.h"

struct msgw_ingest {
    const msgw_config *cfg;
    const msgw_adapter_ctx *ctx;
    msgw_store *store;
    const msgw_catalogue *cat;
    msgw_elig *elig;
};

/* Replays one stored record into the engine (no transitions: they were routed when it arrived). */
static bool replay_one(void *ud, int64_t seq, const char *canonical, msgw_time recorded_at)
{
    (void)seq;
    msgw_ingest *ing = ud;
    json_t *j = json_loads(canonical, 0, NULL);
    msgw_batch *b = msgw_batch_new();
    if (j) msgw_canon_decode(ing->ctx->dict, j, b);
    if (b->nitems == 1 && b->items[0].record && !b->errors.nerrors) {
        msgw_record *r = b->items[0].record;
        r->recorded_at = recorded_at;
        msgw_transitions ignored;
        msgw_transitions_init(&ignored);
        msgw_elig_apply(ing->elig, r, msgw_date_today(), &ignored, NULL);
        msgw_transitions_clear(&ignored);
    }
    msgw_batch_destroy(&b);
    json_decref(j);
    return true;
}

static bool rebuild_engine(msgw_ingest *ing, msgw_errors *e)
{
    msgw_elig_destroy(&ing->elig);
    ing->elig = msgw_elig_new(ing->cat);
    return msgw_store_each_record(ing->store, replay_one, ing, e);
}

msgw_ingest *msgw_ingest_new(const msgw_config *cfg, const msgw_adapter_ctx *ctx, msgw_store *store,
                             const msgw_catalogue *cat, msgw_errors *e)
{
    msgw_ingest *ing = calloc(1, sizeof *ing);
    if (!ing) abort();
    *ing = (msgw_ingest){cfg, ctx, store, cat, NULL};
    if (!rebuild_engine(ing, e)) msgw_ingest_destroy(&ing);
    return ing;
}

bool msgw_ingest_reconfigure(msgw_ingest *ing, const msgw_config *cfg, const msgw_catalogue *cat, msgw_errors *e)
{
    ing->cfg = cfg;
    ing->cat = cat;
    return rebuild_engine(ing, e);
}

msgw_elig *msgw_ingest_elig(msgw_ingest *ing)
{
    return ing->elig;
}

void msgw_ingest_destroy(msgw_ingest **ip)
{
    if (!ip || !*ip) return;
    msgw_elig_destroy(&(*ip)->elig);
    free(*ip);
    *ip = NULL;
}

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

static int refuse(msgw_buf *out, int status, const char *rule, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(msgw_buf *out, int status, const char *rule, const char *fmt, ...)
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

int msgw_ingest_push(msgw_ingest *ing, const msgw_department *dept, const char *media_type, const char *body,
                     size_t len, msgw_buf *out)
{
    const msgw_adapter *ad = media_type ? msgw_adapter_for_media_type(media_type) : NULL;
    if (!ad)
        return refuse(out, 415, "ingress.media_type", "media type %s is not one the gateway reads (see msgw adapters)",
                      media_type ? media_type : "(none)");
    msgw_batch *b = msgw_batch_new();
    msgw_decode(ing->ctx, ad, media_type, body, len, b);
    /* authorisation: every record kind must be one this department may push */
    for (size_t i = 0; i < b->nitems; i++) {
        const msgw_record *r = b->items[i].record;
        if (r && !msgw_department_may_push(dept, r->kind)) {
            int st = refuse(out, 403, "ingress.kind", "department %s may not push %s records (record %zu)", dept->id,
                            r->kind, i + 1);
            msgw_batch_destroy(&b);
            return st;
        }
    }
    char digest[65];
    msgw_sha256_hex(body, len, digest);
    size_t nok = msgw_batch_count_ok(b);
    msgw_store_item *items = calloc(nok + 1, sizeof *items);
    msgw_outbox_list *boxes = calloc(nok + 1, sizeof *boxes);
    if (!items || !boxes) abort();
    msgw_errors serr;
    msgw_errors_init(&serr);
    msgw_transitions tr;
    msgw_transitions_init(&tr);
    size_t k = 0;
    /*
     * Evaluate and route before the commit, so every message a record causes
     * is committed in the same transaction as the record.  A record already
     * stored (a replay) causes nothing.
     */
    for (size_t i = 0; i < b->nitems; i++) {
        msgw_record *r = b->items[i].record;
        if (!r) continue;
        msgw_store_item *it = &items[k];
        *it = (msgw_store_item){.record = r, .sender = dept->id, .body_digest = digest};
        if (msgw_store_known(ing->store, r->message_id, NULL, NULL, &serr) == 0) {
            size_t before = tr.n;
            msgw_elig_apply(ing->elig, r, msgw_date_today(), &tr, NULL);
            msgw_route_record(ing->cfg, ing->ctx, r, dept->id, b->arena, &boxes[k]);
            for (size_t t = before; t < tr.n; t++) msgw_route_transition(ing->cfg, &tr.v[t], r->message_id, b->arena, &boxes[k]);
            it->outbox = boxes[k].v;
            it->noutbox = boxes[k].n;
        }
        k++;
    }
    msgw_time now = msgw_time_now();
    if (nok && !msgw_store_commit(ing->store, items, nok, now, &serr)) {
        /* nothing was stored: the engine must forget what it just applied */
        msgw_errors_clear(&serr);
        rebuild_engine(ing, &serr);
        for (size_t i = 0; i < nok; i++) free(boxes[i].v);
        free(boxes);
        free(items);
        msgw_transitions_clear(&tr);
        msgw_batch_destroy(&b);
        msgw_errors_clear(&serr);
        return refuse(out, 503, "store.unavailable", "the records could not be stored; retry later");
    }
    msgw_errors_clear(&serr);
    size_t messages = 0;
    for (size_t i = 0; i < nok; i++) messages += boxes[i].n;
    json_t *res = json_object(), *recs = json_array();
    k = 0;
    for (size_t i = 0; i < b->nitems; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        if (b->items[i].loc) json_object_set_new(o, "location", json_string(b->items[i].loc));
        if (b->items[i].record) {
            const msgw_store_item *it = &items[k++];
            json_object_set_new(o, "message_id", json_string(it->record->message_id));
            json_object_set_new(o, "outcome", json_string(it->duplicate ? "duplicate" : "stored"));
            json_object_set_new(o, "seq", json_integer(it->seq));
        } else {
            json_object_set_new(o, "outcome", json_string("rejected"));
        }
        json_t *errs = json_array();
        for (size_t x = 0; x < b->errors.n; x++)
            if (b->errors.v[x].record == (int)i) json_array_append_new(errs, error_json(&b->errors.v[x]));
        if (json_array_size(errs)) json_object_set_new(o, "errors", errs);
        else json_decref(errs);
        json_array_append_new(recs, o);
    }
    json_t *doc_errs = json_array();
    for (size_t x = 0; x < b->errors.n; x++)
        if (b->errors.v[x].record < 0) json_array_append_new(doc_errs, error_json(&b->errors.v[x]));
    int status = nok ? 202 : (b->errors.doc_failed || b->nitems == 0 ? 400 : 422);
    json_object_set_new(res, "status", json_integer(status));
    json_object_set_new(res, "records", recs);
    if (json_array_size(doc_errs)) json_object_set_new(res, "errors", doc_errs);
    else json_decref(doc_errs);
    json_object_set_new(res, "transitions", json_integer((json_int_t)tr.n));
    json_object_set_new(res, "messages", json_integer((json_int_t)messages));
    msgw_transitions_clear(&tr);
    for (size_t i = 0; i < nok; i++) free(boxes[i].v);
    free(boxes);
    free(items);
    msgw_batch_destroy(&b);
    return answer(out, status, res);
}
