/*
 * The decode stage of the pipeline: adapter decode, the dictionary's record
 * rules, then message ids.  After this, a batch item either holds a record
 * that passed every rule or nothing at all: no part of a rejected record
 * goes further down the pipeline.
 */
#include <string.h>

#include "msgw/decode/decode.h"
#include "msgw/model/canon.h"

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

/*
 * A record's provenance is the department that pushed it.  A department's own format names that
 * department (the adapter's name); a canonical document may name one in `source.department`, which
 * must then be the sender: no department speaks in another's name.
 */
static bool source_is_sender(const msgw_adapter *ad, msgw_record *r, const char *sender, msgw_errors *e, int rec)
{
    const char *named = r->source_department;
    if (named && strcmp(named, ad->name) != 0 && strcmp(named, sender) != 0) {
        msgw_error_add(e, rec, r->loc, "source.department", "record.source",
                       "the record names department %s as its source, but department %s pushed it: a "
                       "department sends records in its own name only",
                       named, sender);
        return false;
    }
    r->source_department = sender;
    return true;
}

void msgw_decode(const msgw_adapter_ctx *ctx, const msgw_adapter *ad, const char *media_type,
                 const char *buf, size_t len, msgw_batch *out)
{
    msgw_decode_as(ctx, ad, media_type, NULL, buf, len, out);
}

void msgw_decode_as(const msgw_adapter_ctx *ctx, const msgw_adapter *ad, const char *media_type,
                    const char *sender, const char *buf, size_t len, msgw_batch *out)
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
        if (sender && !msgw_errors_record_failed(&out->errors, (int)i))
            source_is_sender(ad, r, sender, &out->errors, (int)i);
        if (msgw_errors_record_failed(&out->errors, (int)i) ||
            msgw_errors_record_failed(&out->errors, -1)) {
            out->items[i].record = NULL;
            continue;
        }
        assign_message_id(out, r, ad->name);
    }
}
