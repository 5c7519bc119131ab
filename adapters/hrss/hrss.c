/*
 * The 人社 (human resources and social security) adapter: JSON documents
 * whose records use the sector's upper-case field codes (AAC002 resident ID,
 * AAE140 insurance type, ...), in a small envelope
 * {"msgType": "HRSS_RECORDS", "records": [...]} or as one bare record.
 * Each record becomes one canonical record: the person with demographics and
 * one "insurance" or "employment" fact.  docs/formats/hrss.md describes the
 * format for the departments' engineers.  The eligibility notices the
 * bureau receives are written by hrss_notice.c.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msgw/validate/adapter.h"
#include "msgw/base/arena.h"
#include "msgw/base/buf.h"
#include "msgw/base/date.h"
#include "msgw/model/dict.h"
#include "msgw/base/error.h"
#include "msgw/base/idnum.h"
#include "msgw/validate/jsonschema.h"
#include "msgw/model/model.h"
#include "msgw/validate/schemas.h"
#include "msgw/base/text.h"

#include "hrss_internal.h"

#define HRSS_NAME "hrss"
#define HRSS_MSG_TYPE "HRSS_RECORDS"
#define HRSS_SCHEMA "hrss.schema.json"
#define HRSS_BIZ_ID_MAX 64
#define HRSS_BATCH_ID_MAX 64

/* The fields of a record, in the order the encoder writes them. */
typedef enum {
    F_BIZ_TYPE,
    F_BIZ_ID,
    F_AAC002,
    F_AAC003,
    F_AAC004,
    F_AAC006,
    F_AAC005,
    F_AAC010,
    F_AAC009,
    F_AAE140,
    F_AAC031,
    F_AAB301,
    F_AAC008,
    F_AAB001,
    F_AAE030,
    F_AAE031,
    F_COUNT
} hrss_slot;

#define BIT(s) (1u << (s))
/* Fields a fact group carries; the person fields are carried by every record. */
#define INSURANCE_FIELDS (BIT(F_AAE140) | BIT(F_AAC031) | BIT(F_AAB301) | BIT(F_AAE030) | BIT(F_AAE031))
#define EMPLOYMENT_FIELDS (BIT(F_AAC008) | BIT(F_AAB001) | BIT(F_AAE030) | BIT(F_AAE031))

typedef struct {
    const char *code;    /* the sector's field code as sent */
    const char *element; /* dictionary element id; NULL for the structural fields */
} hrss_field;

static const hrss_field HRSS_FIELDS[F_COUNT] = {
    [F_BIZ_TYPE] = {"bizType", NULL},
    [F_BIZ_ID] = {"bizId", NULL},
    [F_AAC002] = {"AAC002", "id_number"},
    [F_AAC003] = {"AAC003", "name"},
    [F_AAC004] = {"AAC004", "sex"},
    [F_AAC006] = {"AAC006", "birth_date"},
    [F_AAC005] = {"AAC005", "ethnic_group"},
    [F_AAC010] = {"AAC010", "hukou_region"},
    [F_AAC009] = {"AAC009", "hukou_type"},
    [F_AAE140] = {"AAE140", "insurance_type"},
    [F_AAC031] = {"AAC031", "contribution_status"},
    [F_AAB301] = {"AAB301", "insured_region"},
    [F_AAC008] = {"AAC008", "employment_status"},
    [F_AAB001] = {"AAB001", "employer_id"},
    [F_AAE030] = {"AAE030", "start_date"},
    [F_AAE031] = {"AAE031", "end_date"},
};

typedef enum { GROUP_INSURANCE, GROUP_EMPLOYMENT } hrss_group;

/*
 * One business type.  The status field (AAC031 for insurance, AAC008 for
 * employment) is restricted to the codes that make sense for the business:
 * an enrolment that is already terminated is a contradiction the sender must
 * resolve, not something the gateway should guess about.
 */
typedef struct {
    const char *kind;           /* bizType == dictionary record kind id */
    hrss_group group;
    unsigned required;          /* fields the business needs beyond AAC002/AAC003 */
    const char *const *allowed; /* allowed status codes, NULL-terminated */
    const char *default_status; /* employment status implied when AAC008 is absent */
} hrss_biz;

static const char *const ENROL_STATUS[] = {"1", NULL};
static const char *const TERMINATE_STATUS[] = {"2", "3", NULL};
static const char *const EMPLOYED_STATUS[] = {"11", "12", NULL};
static const char *const UNEMPLOYED_STATUS[] = {"20", NULL};
static const char *const RETIRED_STATUS[] = {"30", NULL};

static const hrss_biz HRSS_BIZ[] = {
    {"insurance_enrolment", GROUP_INSURANCE, BIT(F_AAE140) | BIT(F_AAC031) | BIT(F_AAE030),
     ENROL_STATUS, NULL},
    {"insurance_termination", GROUP_INSURANCE, BIT(F_AAE140) | BIT(F_AAC031) | BIT(F_AAE031),
     TERMINATE_STATUS, NULL},
    {"employment_registration", GROUP_EMPLOYMENT, BIT(F_AAC008) | BIT(F_AAE030), EMPLOYED_STATUS,
     NULL},
    {"unemployment_registration", GROUP_EMPLOYMENT, BIT(F_AAE030), UNEMPLOYED_STATUS, "20"},
    {"retirement", GROUP_EMPLOYMENT, BIT(F_AAE030), RETIRED_STATUS, "30"},
};
#define HRSS_NBIZ (sizeof HRSS_BIZ / sizeof HRSS_BIZ[0])

static const char *const ENVELOPE_KEYS[] = {"msgType", "batchId", "sendTime", "recordCount",
                                            "records", NULL};

const char *hrss_field_code(const char *element)
{
    for (int s = F_AAC002; s < F_COUNT; s++)
        if (strcmp(HRSS_FIELDS[s].element, element) == 0)
            return HRSS_FIELDS[s].code;
    return NULL;
}

static const hrss_biz *biz_find(const char *kind)
{
    for (size_t i = 0; i < HRSS_NBIZ; i++)
        if (strcmp(HRSS_BIZ[i].kind, kind) == 0)
            return &HRSS_BIZ[i];
    return NULL;
}

static bool code_allowed(const char *const *allowed, const char *code)
{
    for (; *allowed; allowed++)
        if (strcmp(*allowed, code) == 0)
            return true;
    return false;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* ---------------------------------------------------------------- decoding */

/* Everything one decode call needs, looked up once. */
typedef struct {
    const msgw_adapter_ctx *ctx;
    msgw_batch *out;
    const msgw_element *el[F_COUNT];
    bool *schema_rejected; /* per record: the schema already reported it */
    struct bizid_set *ids;
} hrss_decoder;

/*
 * bizId uniqueness within a batch: an open-addressing table allocated once
 * per document (no per-record allocation).
 */
typedef struct bizid_slot {
    const char *s;
    size_t len;
    size_t rec;
} bizid_slot;

typedef struct bizid_set {
    bizid_slot *slots;
    size_t mask;
} bizid_set;

static bizid_set *bizid_set_new(size_t nrecords)
{
    size_t cap = 16;
    while (cap < nrecords * 2)
        cap <<= 1;
    bizid_set *set = malloc(sizeof *set);
    if (!set)
        abort();
    set->slots = calloc(cap, sizeof *set->slots);
    if (!set->slots)
        abort();
    set->mask = cap - 1;
    return set;
}

static void bizid_set_destroy(bizid_set **p)
{
    if (*p) {
        free((*p)->slots);
        free(*p);
        *p = NULL;
    }
}

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Returns the record that already used the id, or SIZE_MAX after adding it. */
static size_t bizid_set_add(bizid_set *set, const char *s, size_t len, size_t rec)
{
    for (size_t i = fnv1a(s, len) & set->mask;; i = (i + 1) & set->mask) {
        bizid_slot *sl = &set->slots[i];
        if (!sl->s) {
            *sl = (bizid_slot){s, len, rec};
            return SIZE_MAX;
        }
        if (sl->len == len && memcmp(sl->s, s, len) == 0)
            return sl->rec;
    }
}

static void doc_error(msgw_batch *out, const char *loc, const char *field, const char *rule,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void doc_error(msgw_batch *out, const char *loc, const char *field, const char *rule,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(&out->errors, MSGW_SEV_ERROR, -1, loc, field, rule, fmt, ap);
    va_end(ap);
}

/*
 * The charset parameter of the media type.  JSON is UTF-8 (RFC 8259), but
 * legacy 人社 systems emit GB18030/GBK, so "; charset=gb18030" is honoured.
 */
bool hrss_media_charset(const char *media_type, const char **cs, size_t *cslen)
{
    *cs = NULL;
    *cslen = 0;
    if (!media_type)
        return false;
    const char *p = strchr(media_type, ';');
    while (p) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, "charset=", 8) == 0) {
            p += 8;
            bool quoted = *p == '"';
            if (quoted)
                p++;
            size_t n = strcspn(p, quoted ? "\"" : "; \t");
            *cs = p;
            *cslen = n;
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

/*
 * Brings a GB18030 document to UTF-8 and skips a byte order mark.  UTF-8
 * itself is checked by the parser (see report_bad_utf8).  Returns NULL
 * (with an error) when the document cannot be read as text.
 */
static const char *document_utf8(const char *media_type, const char *buf, size_t *len,
                                 size_t *skip, msgw_batch *out)
{
    const char *cs;
    size_t cslen;
    if (hrss_media_charset(media_type, &cs, &cslen) && !(cslen == 5 && strncasecmp(cs, "utf-8", 5) == 0)
        && !(cslen == 4 && strncasecmp(cs, "utf8", 4) == 0)) {
        if (!msgw_charset_is_gb(cs, cslen)) {
            doc_error(out, NULL, NULL, "text.charset",
                      "charset \"%.*s\" is not supported; send UTF-8 or GB18030", (int)cslen, cs);
            return NULL;
        }
        size_t bad = 0, n = 0;
        char *u = msgw_gb18030_to_utf8(buf, *len, out->arena, &n, &bad);
        if (!u) {
            char loc[32];
            snprintf(loc, sizeof loc, "byte %zu", bad);
            doc_error(out, loc, NULL, "text.gb18030",
                      "invalid or truncated GB18030 sequence at byte %zu", bad);
            return NULL;
        }
        buf = u;
        *len = n;
    }
    if (*len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { /* a BOM is tolerated (RFC 8259 s8.1) */
        buf += 3;
        *len -= 3;
        *skip = 3;
    }
    return buf;
}

/*
 * Nesting depth of the document, measured before parsing so a hostile
 * document of a million '[' never reaches the recursive parser.  Returns the
 * byte offset where max_depth is first exceeded, or SIZE_MAX.
 */
static size_t depth_exceeded_at(const char *s, size_t len, unsigned max_depth)
{
    /* 1: a string starts, 2: opens a level, 3: closes one; strings are skipped with memchr. */
    static const unsigned char kind[256] = {['"'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 3, [']'] = 3};
    unsigned depth = 0;
    const char *p = s, *end = s + len;
    while (p < end) {
        switch (kind[(unsigned char)*p]) {
        case 1:
            for (;;) {
                const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
                if (!q)
                    return SIZE_MAX; /* unterminated: the parser reports it */
                size_t backslashes = 0;
                while (q - backslashes - 1 > p && q[-1 - (ptrdiff_t)backslashes] == '\\')
                    backslashes++;
                p = q;
                if (backslashes % 2 == 0)
                    break;
            }
            break;
        case 2:
            if (++depth > max_depth)
                return (size_t)(p - s);
            break;
        case 3:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        p++;
    }
    return SIZE_MAX;
}

/*
 * The parser validates UTF-8 in the same pass as it reads, so a separate
 * check would cost a second pass over every good document; on failure the
 * first bad byte is located here for the sender.
 */
static void report_bad_utf8(const char *text, size_t len, size_t skip, msgw_batch *out)
{
    size_t ok = msgw_utf8_valid_prefix(text, len);
    unsigned bad = ok < len ? (unsigned)(unsigned char)text[ok] : 0u;
    ok += skip;
    char loc[32];
    snprintf(loc, sizeof loc, "byte %zu", ok);
    doc_error(out, loc, NULL, "json.utf8",
              "invalid UTF-8 (byte 0x%02X); send UTF-8, or GB18030 with "
              "\"; charset=gb18030\" in the media type",
              bad);
}

/* Turns a jansson parse error into a located error with a stable rule id. */
static void report_parse_error(const json_error_t *je, const char *text, size_t len, size_t skip,
                               msgw_batch *out)
{
    int pos = je->position + (int)skip;
    char loc[64];
    snprintf(loc, sizeof loc, "line %d, column %d", je->line, je->column);
    switch (json_error_code(je)) {
    case json_error_duplicate_key: {
        /* jansson says: duplicate object key near '"AAE030"' */
        const char *near = strstr(je->text, "near '");
        const char *key = near ? near + 6 : "";
        int keylen = near ? (int)strcspn(key, "'") : 0;
        doc_error(out, loc, NULL, "json.duplicate_key",
                  "key %.*s appears twice in one object (second at byte %d); the document is "
                  "refused rather than one of the values silently chosen",
                  keylen, key, pos);
        break;
    }
    case json_error_numeric_overflow:
        doc_error(out, loc, NULL, "json.number_range",
                  "number out of range at byte %d (%s); integers must fit in 64 bits",
                  pos, je->text);
        break;
    case json_error_invalid_utf8:
        report_bad_utf8(text, len, skip, out);
        break;
    case json_error_premature_end_of_input:
        doc_error(out, loc, NULL, "json.truncated",
                  "the document ends at byte %d before the JSON value is complete (%s)",
                  pos, je->text);
        break;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        doc_error(out, loc, NULL, "json.nul", "NUL character at byte %d is not allowed (%s)",
                  pos, je->text);
        break;
    default:
        doc_error(out, loc, NULL, "json.syntax", "not well-formed JSON at byte %d: %s",
                  pos, je->text);
        break;
    }
}

/*
 * Reads "/records/N" off a JSON pointer: returns N and sets *rest to what
 * follows, or returns SIZE_MAX for a pointer outside the records.
 */
static size_t pointer_record(const char *ptr, const char **rest)
{
    static const char pfx[] = "/records/";
    if (!ptr || strncmp(ptr, pfx, sizeof pfx - 1) != 0)
        return SIZE_MAX;
    const char *p = ptr + sizeof pfx - 1;
    if (!isdigit((unsigned char)*p))
        return SIZE_MAX;
    size_t n = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (n > SIZE_MAX / 10 - 1)
            return SIZE_MAX;
        n = n * 10 + (size_t)(*p - '0');
    }
    if (*p && *p != '/')
        return SIZE_MAX;
    *rest = p;
    return n;
}

/* The last segment of a JSON pointer is the sender's field name. */
static const char *pointer_field(const char *ptr, char *buf, size_t len)
{
    const char *slash = ptr ? strrchr(ptr, '/') : NULL;
    if (!slash || !slash[1] || isdigit((unsigned char)slash[1]))
        return NULL;
    snprintf(buf, len, "%s", slash + 1);
    return buf;
}

/*
 * Validates against the generated schema and files each failure under the
 * record it points into, so one bad record does not sink the batch.  A bare
 * record is validated wrapped in an envelope and its pointers unwrapped.
 * Returns false when the envelope itself is wrong.
 */
static bool validate_schema(hrss_decoder *dec, const json_t *instance, bool bare, size_t base,
                            size_t nrecords)
{
    const msgw_jsonschema *schema =
        dec->ctx->schemas ? msgw_schemas_json(dec->ctx->schemas, HRSS_SCHEMA) : NULL;
    if (!schema) /* placeholder or not yet generated: the C checks below still apply */
        return true;
    msgw_errors tmp;
    msgw_errors_init(&tmp);
    bool envelope_ok = true;
    if (!msgw_jsonschema_validate(schema, instance, &tmp, -1)) {
        const char *rest;
        for (size_t k = 0; k < tmp.n && envelope_ok; k++)
            if (tmp.v[k].severity == MSGW_SEV_ERROR
                && pointer_record(tmp.v[k].location, &rest) >= nrecords)
                envelope_ok = false;
        /* Errors past the list's limit are lost here; the C checks still catch their causes. */
        for (size_t k = 0; k < tmp.n; k++) {
            const msgw_error *er = &tmp.v[k];
            size_t rec = pointer_record(er->location, &rest);
            const char *loc = er->location;
            int recidx = -1;
            /* On a document failure there are no items, so every error is the document's. */
            if (envelope_ok && rec < nrecords) {
                recidx = (int)(base + rec);
                if (er->severity == MSGW_SEV_ERROR)
                    dec->schema_rejected[rec] = true;
                if (bare)
                    loc = rest;
            }
            char fbuf[64];
            const char *field =
                er->field ? er->field : pointer_field(er->location, fbuf, sizeof fbuf);
            msgw_errors_add(&dec->out->errors, er->severity, recidx, loc, field, er->rule, "%s",
                            er->message ? er->message : "");
        }
    }
    msgw_errors_clear(&tmp);
    return envelope_ok;
}

static bool key_in(const char *key, const char *const *keys)
{
    for (; *keys; keys++)
        if (strcmp(key, *keys) == 0)
            return true;
    return false;
}

/*
 * The envelope's own rules, also those JSON Schema cannot state (the
 * declared record count, the send time's syntax).  Returns the records
 * array, or NULL after reporting why the document is refused.
 */
static const json_t *check_envelope(const json_t *root, msgw_batch *out)
{
    size_t before = out->errors.nerrors;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (!key_in(key, ENVELOPE_KEYS)) {
            char loc[80];
            snprintf(loc, sizeof loc, "/%.70s", key);
            doc_error(out, loc, key, "hrss.unknown_field",
                      "\"%.70s\" is not an envelope member (msgType, batchId, sendTime, "
                      "recordCount, records)",
                      key);
        }
    }
    v = json_object_get(root, "msgType");
    if (!v)
        doc_error(out, "/msgType", "msgType", "hrss.required", "msgType is required (\"%s\")",
                  HRSS_MSG_TYPE);
    else if (!json_is_string(v) || strcmp(json_string_value(v), HRSS_MSG_TYPE) != 0)
        doc_error(out, "/msgType", "msgType", "hrss.msg_type", "msgType must be \"%s\"",
                  HRSS_MSG_TYPE);
    v = json_object_get(root, "batchId");
    if (v && (!json_is_string(v) || json_string_length(v) == 0
              || msgw_utf8_strlen(json_string_value(v), json_string_length(v)) > HRSS_BATCH_ID_MAX))
        doc_error(out, "/batchId", "batchId", "hrss.batch_id",
                  "batchId must be a string of 1 to %d characters", HRSS_BATCH_ID_MAX);
    v = json_object_get(root, "sendTime");
    msgw_time t;
    if (v && (!json_is_string(v) || !msgw_time_parse(json_string_value(v), &t)))
        doc_error(out, "/sendTime", "sendTime", "hrss.send_time",
                  "sendTime must be an RFC 3339 date-time such as 2026-11-25T09:30:00+08:00");
    const json_t *records = json_object_get(root, "records");
    if (!records)
        doc_error(out, "/records", "records", "hrss.required", "records is required");
    else if (!json_is_array(records))
        doc_error(out, "/records", "records", "hrss.type", "records must be an array, found %s",
                  json_type_name(records));
    else if (json_array_size(records) == 0)
        doc_error(out, "/records", "records", "hrss.records_empty",
                  "records must hold at least one record");
    v = json_object_get(root, "recordCount");
    if (v && !json_is_integer(v))
        doc_error(out, "/recordCount", "recordCount", "hrss.type",
                  "recordCount must be an integer, found %s", json_type_name(v));
    else if (v && json_is_array(records)
             && json_integer_value(v) != (json_int_t)json_array_size(records))
        doc_error(out, "/recordCount", "recordCount", "hrss.record_count",
                  "recordCount says %" JSON_INTEGER_FORMAT " records, the document holds %zu "
                  "(truncated or padded batch)",
                  json_integer_value(v), json_array_size(records));
    return out->errors.nerrors == before ? records : NULL;
}

/* One record being decoded: its place in the document and its pointer prefix. */
typedef struct {
    size_t rec;     /* index within the document */
    int idx;        /* index within the batch (errors' record) */
    const char *loc;
    char ptr[96];   /* "<loc>/" + field code */
    size_t ptrlen;
} hrss_rec_ctx;

static const char *field_ptr(hrss_rec_ctx *rc, const char *code)
{
    size_t n = strlen(code);
    if (n > sizeof rc->ptr - rc->ptrlen - 1)
        n = sizeof rc->ptr - rc->ptrlen - 1;
    memcpy(rc->ptr + rc->ptrlen, code, n);
    rc->ptr[rc->ptrlen + n] = '\0';
    return rc->ptr;
}

static void rec_error(hrss_decoder *dec, hrss_rec_ctx *rc, const char *code, const char *rule,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void rec_error(hrss_decoder *dec, hrss_rec_ctx *rc, const char *code, const char *rule,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(&dec->out->errors, MSGW_SEV_ERROR, rc->idx,
                     code ? field_ptr(rc, code) : rc->loc, code, rule, fmt, ap);
    va_end(ap);
}

static void rec_warning(hrss_decoder *dec, hrss_rec_ctx *rc, const char *code, const char *rule,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void rec_warning(hrss_decoder *dec, hrss_rec_ctx *rc, const char *code, const char *rule,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(&dec->out->errors, MSGW_SEV_WARNING, rc->idx,
                     code ? field_ptr(rc, code) : rc->loc, code, rule, fmt, ap);
    va_end(ap);
}

/* Looks up every field of the record once and reports members that are no field of ours. */
static void collect_fields(hrss_decoder *dec, hrss_rec_ctx *rc, const json_t *obj,
                           const json_t *v[F_COUNT])
{
    size_t found = 0;
    for (int s = 0; s < F_COUNT; s++)
        if ((v[s] = json_object_get(obj, HRSS_FIELDS[s].code)))
            found++;
    if (json_object_size(obj) == found)
        return;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        bool known = false;
        for (int s = 0; s < F_COUNT && !known; s++)
            known = strcmp(key, HRSS_FIELDS[s].code) == 0;
        if (!known)
            rec_error(dec, rc, key, "hrss.unknown_field",
                      "\"%.64s\" is not a field of hrss records (see docs/formats/hrss.md)", key);
    }
}

/* Parses every dictionary-typed field that is present; vals[s].kind stays NONE when absent or bad. */
static void parse_values(hrss_decoder *dec, hrss_rec_ctx *rc, const json_t *v[F_COUNT],
                         msgw_value vals[F_COUNT])
{
    for (int s = F_AAC002; s < F_COUNT; s++) {
        vals[s].kind = MSGW_V_NONE;
        if (!v[s])
            continue;
        const char *code = HRSS_FIELDS[s].code;
        if (!json_is_string(v[s])) {
            rec_error(dec, rc, code, "hrss.type", "%s must be a JSON string, found %s", code,
                      json_type_name(v[s]));
            continue;
        }
        msgw_value val;
        if (msgw_dict_parse(dec->ctx->dict, dec->el[s], json_string_value(v[s]),
                            json_string_length(v[s]), &val, dec->out->arena, &dec->out->errors,
                            rc->idx, field_ptr(rc, code), code))
            vals[s] = val;
    }
}

/* bizType: the business, hence the record kind.  NULL after an error. */
static const hrss_biz *read_biz_type(hrss_decoder *dec, hrss_rec_ctx *rc, const json_t *v)
{
    if (!v) {
        rec_error(dec, rc, "bizType", "hrss.required", "bizType is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        rec_error(dec, rc, "bizType", "hrss.type", "bizType must be a JSON string, found %s",
                  json_type_name(v));
        return NULL;
    }
    const hrss_biz *biz = biz_find(json_string_value(v));
    if (!biz)
        rec_error(dec, rc, "bizType", "hrss.biz_type",
                  "unknown bizType \"%.64s\"; expected insurance_enrolment, insurance_termination, "
                  "employment_registration, unemployment_registration or retirement",
                  json_string_value(v));
    return biz;
}

/* bizId: the sender's own id of the record, unique within the document. */
static const char *read_biz_id(hrss_decoder *dec, hrss_rec_ctx *rc, const json_t *v)
{
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        rec_error(dec, rc, "bizId", "hrss.type", "bizId must be a JSON string, found %s",
                  json_type_name(v));
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || msgw_utf8_strlen(s, len) > HRSS_BIZ_ID_MAX) {
        rec_error(dec, rc, "bizId", "hrss.biz_id", "bizId must be 1 to %d characters",
                  HRSS_BIZ_ID_MAX);
        return NULL;
    }
    size_t prev = bizid_set_add(dec->ids, s, len, rc->rec);
    if (prev != SIZE_MAX) {
        rec_error(dec, rc, "bizId", "hrss.duplicate_biz_id",
                  "bizId \"%.64s\" is already used by record %zu of this document", s, prev);
        return NULL;
    }
    return msgw_arena_strndup(dec->out->arena, s, len);
}

/*
 * The rules of the business that a schema for all record types cannot
 * state: what it requires, which status codes fit it, fields it does not
 * carry.  Returns the status code the fact gets (may be a default).
 */
static const char *check_business(hrss_decoder *dec, hrss_rec_ctx *rc, const hrss_biz *biz,
                                  const json_t *v[F_COUNT], const msgw_value vals[F_COUNT])
{
    for (int s = F_AAC002; s < F_COUNT; s++)
        if ((biz->required & BIT(s)) && !v[s])
            rec_error(dec, rc, HRSS_FIELDS[s].code, "hrss.required",
                      "%s (%s) is required for bizType %s", HRSS_FIELDS[s].code,
                      dec->el[s]->label, biz->kind);
    unsigned carried = biz->group == GROUP_INSURANCE ? INSURANCE_FIELDS : EMPLOYMENT_FIELDS;
    unsigned other = (biz->group == GROUP_INSURANCE ? EMPLOYMENT_FIELDS : INSURANCE_FIELDS) & ~carried;
    for (int s = F_AAC002; s < F_COUNT; s++)
        if ((other & BIT(s)) && v[s])
            rec_warning(dec, rc, HRSS_FIELDS[s].code, "hrss.field_ignored",
                        "%s is not carried by bizType %s and was ignored", HRSS_FIELDS[s].code,
                        biz->kind);

    hrss_slot status = biz->group == GROUP_INSURANCE ? F_AAC031 : F_AAC008;
    const char *code = vals[status].kind == MSGW_V_CODE ? vals[status].u.s : NULL;
    if (!v[status])
        return biz->default_status;
    if (code && !code_allowed(biz->allowed, code)) {
        char list[32] = "";
        for (const char *const *a = biz->allowed; *a; a++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     a == biz->allowed ? "" : " or ", *a);
        rec_error(dec, rc, HRSS_FIELDS[status].code, "hrss.status_for_biz",
                  "%s must be %s for bizType %s, found %s", HRSS_FIELDS[status].code, list,
                  biz->kind, code);
    }
    if (biz->group == GROUP_EMPLOYMENT && code && strcmp(code, "11") == 0 && !v[F_AAB001])
        rec_error(dec, rc, "AAB001", "hrss.employer_required",
                  "AAB001 (employer id) is required when AAC008 is 11 (employed by a unit)");
    return code;
}

/*
 * Agreement between fields of one record, reported here under the sender's
 * field codes (the dictionary's record rules would name canonical fields).
 */
static void check_agreement(hrss_decoder *dec, hrss_rec_ctx *rc, const msgw_value vals[F_COUNT])
{
    if (vals[F_AAC002].kind == MSGW_V_NONE)
        return;
    const char *id = vals[F_AAC002].u.s;
    char a[11], b[11];
    if (vals[F_AAC006].kind == MSGW_V_DATE && vals[F_AAC006].u.d != msgw_idnum_birth_date(id))
        rec_error(dec, rc, "AAC006", "person.birth_date_agrees",
                  "birth date %s disagrees with AAC002 %.6s********%.4s (positions 7-14)",
                  msgw_date_format(vals[F_AAC006].u.d, a), id, id + 14);
    const char *sex = vals[F_AAC004].kind == MSGW_V_CODE ? vals[F_AAC004].u.s : NULL;
    if (sex && (strcmp(sex, "1") == 0 || strcmp(sex, "2") == 0)
        && sex[0] - '0' != msgw_idnum_sex(id))
        rec_error(dec, rc, "AAC004", "person.sex_agrees",
                  "sex %s disagrees with the sequence digit of AAC002 (odd = male)", sex);
    if (vals[F_AAE030].kind == MSGW_V_DATE && vals[F_AAE031].kind == MSGW_V_DATE
        && vals[F_AAE031].u.d < vals[F_AAE030].u.d)
        rec_error(dec, rc, "AAE031", "period.order", "end date %s is before start date AAE030 %s",
                  msgw_date_format(vals[F_AAE031].u.d, a), msgw_date_format(vals[F_AAE030].u.d, b));
}

static void fill_person(msgw_person *p, const msgw_value vals[F_COUNT], const char *loc)
{
    if (vals[F_AAC002].kind != MSGW_V_NONE)
        snprintf(p->id_number, sizeof p->id_number, "%s", vals[F_AAC002].u.s);
    if (vals[F_AAC003].kind != MSGW_V_NONE)
        p->name = vals[F_AAC003].u.s;
    if (vals[F_AAC004].kind != MSGW_V_NONE)
        p->sex = vals[F_AAC004].u.s;
    if (vals[F_AAC006].kind != MSGW_V_NONE)
        p->birth_date = vals[F_AAC006].u.d;
    if (vals[F_AAC005].kind != MSGW_V_NONE)
        p->ethnic = vals[F_AAC005].u.s;
    if (vals[F_AAC010].kind != MSGW_V_NONE)
        p->hukou_region = vals[F_AAC010].u.s;
    if (vals[F_AAC009].kind != MSGW_V_NONE)
        p->hukou_type = vals[F_AAC009].u.s;
    p->loc = loc;
}

static void add_attr(msgw_fact *f, const msgw_value vals[F_COUNT], hrss_slot s)
{
    if (vals[s].kind != MSGW_V_NONE)
        f->attrs[f->nattrs++] = (msgw_attr){HRSS_FIELDS[s].element, vals[s]};
}

/*
 * Everything of one decoded record in a single arena block: an hrss record
 * is always one person and one fact of at most three attributes, so the
 * growable builders of model.h (which reserve room for four of each) would
 * only multiply the memory touched per record.
 */
typedef struct {
    msgw_record r;
    msgw_person p;
    msgw_fact f;
    msgw_attr attrs[3];
} hrss_record_block;

/* Builds the canonical record from values already checked. */
static msgw_record *build_record(hrss_decoder *dec, const hrss_rec_ctx *rc, const hrss_biz *biz,
                                 const char *biz_id, const char *status,
                                 const msgw_value vals[F_COUNT])
{
    hrss_record_block *blk = msgw_arena_alloc(dec->out->arena, sizeof *blk);
    msgw_record *r = &blk->r;
    r->kind = biz->kind;
    r->source_department = HRSS_NAME;
    r->source_message_id = biz_id;
    r->loc = rc->loc;
    msgw_person *p = &blk->p;
    msgw_person_init(p);
    fill_person(p, vals, rc->loc);
    r->persons = p;
    r->npersons = 1;

    msgw_fact *f = &blk->f;
    msgw_fact_init(f);
    f->type = biz->group == GROUP_INSURANCE ? "insurance" : "employment";
    memcpy(f->subject, p->id_number, sizeof f->subject);
    f->valid_from = vals[F_AAE030].kind == MSGW_V_DATE ? vals[F_AAE030].u.d : MSGW_DATE_NONE;
    f->valid_to = vals[F_AAE031].kind == MSGW_V_DATE ? vals[F_AAE031].u.d : MSGW_DATE_NONE;
    f->loc = rc->loc;
    f->attrs = blk->attrs;
    if (biz->group == GROUP_INSURANCE) {
        add_attr(f, vals, F_AAE140);
        add_attr(f, vals, F_AAC031);
        add_attr(f, vals, F_AAB301);
    } else {
        if (status)
            f->attrs[f->nattrs++] = (msgw_attr){HRSS_FIELDS[F_AAC008].element,
                                                {.kind = MSGW_V_CODE, .u.s = status}};
        add_attr(f, vals, F_AAB001);
    }
    r->facts = f;
    r->nfacts = 1;
    return r;
}

/* Decodes one record object; NULL when it has errors (all of them reported). */
static msgw_record *decode_record(hrss_decoder *dec, hrss_rec_ctx *rc, const json_t *obj)
{
    size_t before = dec->out->errors.nerrors;
    if (!json_is_object(obj)) {
        rec_error(dec, rc, NULL, "hrss.type", "a record must be a JSON object, found %s",
                  json_type_name(obj));
        return NULL;
    }
    const json_t *v[F_COUNT];
    msgw_value vals[F_COUNT];
    collect_fields(dec, rc, obj, v);
    const hrss_biz *biz = read_biz_type(dec, rc, v[F_BIZ_TYPE]);
    const char *biz_id = read_biz_id(dec, rc, v[F_BIZ_ID]);
    for (int s = F_AAC002; s <= F_AAC003; s++)
        if (!v[s])
            rec_error(dec, rc, HRSS_FIELDS[s].code, "hrss.required", "%s (%s) is required",
                      HRSS_FIELDS[s].code, dec->el[s]->label);
    parse_values(dec, rc, v, vals);
    check_agreement(dec, rc, vals);
    const char *status = biz ? check_business(dec, rc, biz, v, vals) : NULL;
    if (dec->out->errors.nerrors != before)
        return NULL;
    return build_record(dec, rc, biz, biz_id, status, vals);
}

static bool lookup_elements(hrss_decoder *dec)
{
    for (int s = 0; s < F_COUNT; s++) {
        const char *id = HRSS_FIELDS[s].element;
        dec->el[s] = id ? msgw_dict_element(dec->ctx->dict, id) : NULL;
        if (id && !dec->el[s]) {
            doc_error(dec->out, NULL, HRSS_FIELDS[s].code, "hrss.dictionary",
                      "the data dictionary has no element \"%s\"", id);
            return false;
        }
    }
    return true;
}

static void decode_records(hrss_decoder *dec, const json_t *records, bool bare)
{
    size_t base = dec->out->nitems;
    size_t n = bare ? 1 : json_array_size(records);
    dec->ids = bizid_set_new(n);
    /* One allocation for the item list instead of log2(n) doublings. */
    dec->out->items = msgw_arena_grow(dec->out->arena, dec->out->items, sizeof *dec->out->items,
                                      &dec->out->cap, base + n);
    for (size_t i = 0; i < n; i++) {
        hrss_rec_ctx rc = {.rec = i, .idx = (int)(base + i)};
        rc.ptrlen = bare ? (size_t)snprintf(rc.ptr, sizeof rc.ptr, "/")
                         : (size_t)snprintf(rc.ptr, sizeof rc.ptr, "/records/%zu/", i);
        rc.loc = msgw_arena_strndup(dec->out->arena, rc.ptr, rc.ptrlen - 1);
        msgw_record *r = NULL;
        if (!dec->schema_rejected[i])
            r = decode_record(dec, &rc, bare ? records : json_array_get(records, i));
        msgw_batch_add(dec->out, r, rc.loc);
    }
    bizid_set_destroy(&dec->ids);
}

/*
 * The parsed document: one bare record or the envelope.  A bare record is
 * validated inside a synthetic envelope so one schema serves both shapes.
 */
static void decode_object(hrss_decoder *dec, json_t *root)
{
    const msgw_adapter_ctx *ctx = dec->ctx;
    msgw_batch *out = dec->out;
    bool bare = !json_object_get(root, "records") && json_object_get(root, "bizType");
    size_t n = bare ? 1 : json_array_size(json_object_get(root, "records"));
    if (ctx->max_records && n > ctx->max_records) { /* before the schema walks them all */
        doc_error(out, "/records", "records", "document.records",
                  "document holds %zu records, the limit is %zu", n, ctx->max_records);
        return;
    }
    json_t *instance = root;
    if (bare) {
        instance = json_pack("{s:s, s:[O]}", "msgType", HRSS_MSG_TYPE, "records", root);
        if (!instance)
            abort();
    }
    dec->schema_rejected = msgw_arena_alloc(out->arena, n ? n : 1);
    if (validate_schema(dec, instance, bare, out->nitems, n)) {
        const json_t *records = bare ? root : check_envelope(root, out);
        if (records)
            decode_records(dec, records, bare);
    }
    if (bare)
        json_decref(instance);
}

/*
 * Decodes a JSON document: the envelope or one bare record.  Order: size,
 * text encoding, nesting depth, parse (duplicate keys refused), schema, then
 * the business rules and the dictionary's checks per record.
 */
static void hrss_decode(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf,
                        size_t len, msgw_batch *out)
{
    if (ctx->max_document_bytes && len > ctx->max_document_bytes) {
        doc_error(out, NULL, NULL, "document.size",
                  "document is %zu bytes, the limit is %zu", len, ctx->max_document_bytes);
        return;
    }
    hrss_decoder dec = {.ctx = ctx, .out = out};
    if (!lookup_elements(&dec))
        return;
    size_t skip = 0; /* bytes before the JSON text (a BOM), added to reported offsets */
    const char *text = document_utf8(media_type, buf, &len, &skip, out);
    if (!text)
        return;
    size_t deep = ctx->max_depth ? depth_exceeded_at(text, len, ctx->max_depth) : SIZE_MAX;
    if (deep != SIZE_MAX) {
        char loc[32];
        snprintf(loc, sizeof loc, "byte %zu", deep + skip);
        doc_error(out, loc, NULL, "document.depth",
                  "JSON nested deeper than %u levels", ctx->max_depth);
        return;
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        report_parse_error(&je, text, len, skip, out);
        return;
    }
    if (!json_is_object(root)) {
        doc_error(out, NULL, NULL, "hrss.structure",
                  "the document must be a JSON object (an envelope with \"records\", or one "
                  "record), found %s",
                  json_type_name(root));
        json_decref(root);
        return;
    }
    decode_object(&dec, root);
    json_decref(root);
}

/* ---------------------------------------------------------------- encoding */

static const hrss_biz *biz_of_record(const msgw_record *r, size_t i, msgw_errors *e)
{
    const hrss_biz *biz = r->kind ? biz_find(r->kind) : NULL;
    if (!biz) {
        msgw_error_add(e, (int)i, r->loc, NULL, "hrss.encode.kind",
                       "record kind \"%s\" cannot be carried by hrss (it carries "
                       "insurance_enrolment, insurance_termination, employment_registration, "
                       "unemployment_registration and retirement)",
                       r->kind ? r->kind : "(none)");
        return NULL;
    }
    if (r->npersons != 1 || r->household || r->nfacts != 1) {
        msgw_error_add(e, (int)i, r->loc, NULL, "hrss.encode.shape",
                       "an hrss record carries one person and one fact without a household; "
                       "this %s record has %zu persons, %zu facts%s",
                       r->kind, r->npersons, r->nfacts, r->household ? " and a household" : "");
        return NULL;
    }
    const msgw_fact *f = &r->facts[0];
    const char *want = biz->group == GROUP_INSURANCE ? "insurance" : "employment";
    if (!f->type || strcmp(f->type, want) != 0
        || strcmp(f->subject, r->persons[0].id_number) != 0) {
        msgw_error_add(e, (int)i, r->loc, NULL, "hrss.encode.fact",
                       "a %s record carries one \"%s\" fact about its person, found \"%s\"",
                       r->kind, want, f->type ? f->type : "(none)");
        return NULL;
    }
    return biz;
}

static void set_str(json_t *o, const char *key, const char *s)
{
    if (s)
        json_object_set_new(o, key, json_string(s));
}

static void set_date(json_t *o, const char *key, msgw_date d)
{
    char buf[11];
    if (d != MSGW_DATE_NONE)
        json_object_set_new(o, key, json_string(msgw_date_format(d, buf)));
}

/*
 * Writes the fact's attributes under their field codes; false on one this
 * business has no field for (writing it would be dropped on the way back).
 */
static bool encode_attrs(json_t *o, const msgw_fact *f, const hrss_biz *biz, size_t i,
                         msgw_errors *e)
{
    unsigned carried = biz->group == GROUP_INSURANCE ? INSURANCE_FIELDS : EMPLOYMENT_FIELDS;
    for (size_t k = 0; k < f->nattrs; k++) {
        const msgw_attr *at = &f->attrs[k];
        int slot = -1;
        for (int s = F_AAC002; s < F_COUNT && slot < 0; s++)
            if ((carried & BIT(s)) && strcmp(HRSS_FIELDS[s].element, at->name) == 0)
                slot = s;
        if (slot < 0 || (at->v.kind != MSGW_V_CODE && at->v.kind != MSGW_V_STRING)) {
            msgw_error_add(e, (int)i, f->loc, at->name, "hrss.encode.attribute",
                           "attribute \"%s\" of the %s fact has no field in a %s record",
                           at->name, f->type, biz->kind);
            return false;
        }
        set_str(o, HRSS_FIELDS[slot].code, at->v.u.s);
    }
    return true;
}

/* One record as an object with the sector's field codes, in the documented order. */
static json_t *encode_record(const msgw_record *r, const hrss_biz *biz, size_t i, msgw_errors *e)
{
    const msgw_person *p = &r->persons[0];
    const msgw_fact *f = &r->facts[0];
    json_t *o = json_object();
    set_str(o, "bizType", biz->kind);
    set_str(o, "bizId", r->source_message_id);
    set_str(o, "AAC002", p->id_number);
    set_str(o, "AAC003", p->name);
    set_str(o, "AAC004", p->sex);
    set_date(o, "AAC006", p->birth_date);
    set_str(o, "AAC005", p->ethnic);
    set_str(o, "AAC010", p->hukou_region);
    set_str(o, "AAC009", p->hukou_type);
    if (!encode_attrs(o, f, biz, i, e)) {
        json_decref(o);
        return NULL;
    }
    set_date(o, "AAE030", f->valid_from);
    set_date(o, "AAE031", f->valid_to);
    return o;
}

static int append_to_buf(const char *s, size_t n, void *ud)
{
    msgw_buf_append(ud, s, n);
    return 0;
}

static bool hrss_encode(const msgw_adapter_ctx *ctx, const char *media_type,
                        const msgw_record *const *recs, size_t n, msgw_buf *out, msgw_errors *e)
{
    (void)ctx; /* nothing in this format depends on limits or the dictionary when writing */
    if (n == 0) {
        msgw_error_add(e, -1, NULL, NULL, "hrss.encode.empty",
                       "an hrss document holds at least one record");
        return false;
    }
    json_t *records = json_array();
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const hrss_biz *biz = biz_of_record(recs[i], i, e);
        json_t *o = biz ? encode_record(recs[i], biz, i, e) : NULL;
        if (!o)
            ok = false;
        else
            json_array_append_new(records, o);
    }
    if (!ok) {
        json_decref(records);
        return false;
    }
    json_t *root = json_pack("{s:s, s:I, s:o}", "msgType", HRSS_MSG_TYPE, "recordCount",
                             (json_int_t)n, "records", records);
    if (!root)
        abort();
    const char *cs;
    size_t cslen;
    bool gb = hrss_media_charset(media_type, &cs, &cslen) && msgw_charset_is_gb(cs, cslen);
    msgw_buf utf8;
    msgw_buf_init(&utf8);
    json_dump_callback(root, append_to_buf, gb ? &utf8 : out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    msgw_buf_puts(gb ? &utf8 : out, "\n");
    if (gb) {
        msgw_arena *a = msgw_arena_new(0);
        size_t glen = 0;
        char *g = msgw_utf8_to_gb18030(utf8.data, utf8.len, a, &glen);
        if (g)
            msgw_buf_append(out, g, glen);
        else
            msgw_error_add(e, -1, NULL, NULL, "encode.charset",
                           "the document cannot be represented in GB18030");
        msgw_arena_destroy(&a);
        msgw_buf_free(&utf8);
        return g != NULL;
    }
    return true;
}

static const char *const HRSS_ALIASES[] = {"hr", "renshe", NULL};
static const char *const HRSS_MEDIA_TYPES[] = {"application/vnd.msgw.hrss+json", "application/json",
                                               NULL};

const msgw_adapter msgw_adapter_hrss = {
    .name = HRSS_NAME,
    .department = "人社 human resources and social security",
    .aliases = HRSS_ALIASES,
    .media_types = HRSS_MEDIA_TYPES,
    .decode = hrss_decode,
    .encode = hrss_encode,
    .encode_notice = hrss_encode_notice,
    .notice_types = hrss_notice_types,
    .join_notices = hrss_join_notices,
};
