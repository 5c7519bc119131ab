/*
 * The canonical JSON "format" as an adapter: what gateways exchange with
 * each other and what `msgw normalize` prints, accepted back in so a
 * canonical document can be validated and round-tripped like any other.
 * Its eligibility notice is the transition's explanation itself, written as
 * JSON here (application/vnd.msgw.eligibility+json, docs/eligibility.md): what every
 * department whose own format writes no notice receives.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "msgw/validate/adapter.h"
#include "msgw/model/canon.h"
#include "msgw/validate/jsonschema.h"
#include "msgw/validate/schemas.h"

/*
 * Each record against the published schema (schemas/generated/canonical.schema.json), filed under
 * its record: what the schema refuses the gateway refuses too — a member the schema does not
 * know, a null, a 15-digit or lower-case ID number, a source that is not an object — so a sender
 * that validates with the schema gets the gateway's verdict (tests/schemas/independent.py).
 */
static void validate_records(const msgw_adapter_ctx *ctx, const json_t *doc, msgw_batch *out)
{
    const msgw_jsonschema *schema = ctx->schemas ? msgw_schemas_json(ctx->schemas, "canonical.schema.json") : NULL;
    if (!schema) return; /* not generated (a test context): the decoder's own checks apply */
    if (!json_is_array(doc)) {
        msgw_jsonschema_validate(schema, doc, &out->errors, 0);
        return;
    }
    for (size_t i = 0; i < json_array_size(doc); i++) {
        msgw_errors tmp;
        msgw_errors_init(&tmp);
        msgw_jsonschema_validate(schema, json_array_get(doc, i), &tmp, (int)i);
        for (size_t k = 0; k < tmp.n; k++) { /* locations from the document's root */
            const msgw_error *er = &tmp.v[k];
            msgw_errors_add(&out->errors, er->severity, (int)i,
                            msgw_arena_printf(out->arena, "/%zu%s", i, er->location ? er->location : ""),
                            er->field, er->rule, "%s", er->message ? er->message : "");
        }
        msgw_errors_clear(&tmp);
    }
}

static void canonical_decode(const msgw_adapter_ctx *ctx, const char *media_type,
                             const char *buf, size_t len, msgw_batch *out)
{
    (void)media_type;
    json_error_t je;
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        char loc[64];
        snprintf(loc, sizeof loc, "line %d, column %d", je.line, je.column);
        msgw_error_add(&out->errors, -1, loc, NULL, "json.syntax", "%s", je.text);
        return;
    }
    if (json_is_array(doc) && !json_array_size(doc))
        msgw_error_add(&out->errors, -1, "/", NULL, "canonical.empty", "the document holds no record");
    msgw_canon_decode(ctx->dict, doc, out);
    validate_records(ctx, doc, out);
    json_decref(doc);
}

static bool canonical_encode(const msgw_adapter_ctx *ctx, const char *media_type,
                             const msgw_record *const *recs, size_t n, msgw_buf *out,
                             msgw_errors *e)
{
    (void)ctx;
    (void)media_type;
    (void)e;
    msgw_buf_puts(out, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) msgw_buf_puts(out, ",\n");
        msgw_canon_write(recs[i], out);
    }
    msgw_buf_puts(out, "]\n");
    return true;
}

static bool canonical_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type,
                                    const msgw_notice *n, msgw_buf *out, const char **notice_type,
                                    msgw_errors *e)
{
    (void)ctx;
    (void)media_type;
    json_t *x = n->explanation ? msgw_explanation_json(n->explanation) : NULL;
    char *text = x ? json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(x);
    if (!text) {
        msgw_error_add(e, -1, NULL, NULL, "notice.explanation",
                       "the transition of %s for %s has no explanation to send", n->service_code,
                       n->event_id ? n->event_id : "?");
        return false;
    }
    msgw_buf_puts(out, text);
    free(text);
    *notice_type = MSGW_NOTICE_CANONICAL_MEDIA_TYPE;
    return true;
}

static const char *const canonical_notice_types[] = {MSGW_NOTICE_CANONICAL_MEDIA_TYPE, NULL};

/* A JSON array of {"notice_id", "notice"}: the explanation alone names no id (it is sent unchanged,
 * docs/eligibility.md), and a receiver de-duplicates each notice of a list by its own. */
static void canonical_join_notices(const char *notice_type, const char *const *ids,
                                   const char *const *bodies, const size_t *lens, size_t n,
                                   msgw_buf *out)
{
    (void)notice_type;
    msgw_buf_puts(out, "[");
    for (size_t i = 0; i < n; i++) {
        size_t len = msgw_buf_trimmed(bodies[i], lens[i]);
        json_t *id = json_string(ids[i] ? ids[i] : "");
        char *quoted = json_dumps(id, JSON_ENCODE_ANY);
        json_decref(id);
        if (!quoted) abort();
        msgw_buf_printf(out, "%s{\"notice_id\":%s,\"notice\":", i ? ",\n" : "", quoted);
        free(quoted);
        msgw_buf_append(out, bodies[i], len);
        msgw_buf_puts(out, "}");
    }
    msgw_buf_puts(out, "]\n");
}

static const char *const canonical_media[] = {"application/vnd.msgw.canonical+json", NULL};
static const char *const canonical_aliases[] = {"msgw", NULL};

const msgw_adapter msgw_adapter_canonical = {
    .name = "canonical",
    .department = "msgw canonical form",
    .aliases = canonical_aliases,
    .media_types = canonical_media,
    .decode = canonical_decode,
    .encode = canonical_encode,
    .encode_notice = canonical_encode_notice,
    .notice_types = canonical_notice_types,
    .join_notices = canonical_join_notices,
};
