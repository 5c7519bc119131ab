/*
 * The decode stage of the pipeline: adapter decode, the dictionary's record
 * rules, then message ids.  After this, a batch item either holds a record
 * that passed every rule or nothing at all: no part of a rejected record
 * goes further down the pipeline.
 */
#include <string.h>

#include "msgw/adapter.h"
#include "msgw/canon.h"

static void assign_message_id(msgw_batch *b, msgw_record *r, const char *department)
{
    if (!r->source_department) r->source_department = department;
    if (r->source_message_id) {
        r->message_id = msgw_arena_printf(b->arena, "%s:%s", r->source_department,
                                          r->source_message_id);
    } else {
        char hex[65];
        msgw_canon_digest(r, hex);
        r->message_id = msgw_arena_printf(b->arena, "%s:sha256:%s", r->source_department, hex);
    }
}

void msgw_decode(const msgw_adapter_ctx *ctx, const msgw_adapter *ad, const char *media_type,
                 const char *buf, size_t len, msgw_batch *out)
{
    if (ctx->max_document_bytes && len > ctx->max_document_bytes) {
        msgw_error_add(&out->errors, -1, NULL, NULL, "document.size",
                       "document of %zu bytes exceeds the limit of %zu bytes", len,
                       ctx->max_document_bytes);
        return;
    }
    ad->decode(ctx, media_type, buf, len, out);
    if (out->nitems > ctx->max_records) {
        msgw_error_add(&out->errors, -1, NULL, NULL, "document.records",
                       "document holds %zu records, the limit is %zu", out->nitems,
                       ctx->max_records);
        for (size_t i = 0; i < out->nitems; i++) out->items[i].record = NULL;
        return;
    }
    for (size_t i = 0; i < out->nitems; i++) {
        msgw_record *r = out->items[i].record;
        if (!r) continue;
        if (!msgw_errors_record_failed(&out->errors, (int)i))
            msgw_dict_check_record(ctx->dict, r, &out->errors, (int)i);
        if (msgw_errors_record_failed(&out->errors, (int)i) ||
            msgw_errors_record_failed(&out->errors, -1)) {
            out->items[i].record = NULL;
            continue;
        }
        assign_message_id(out, r, ad->name);
    }
}
