/*
 * The canonical JSON form (docs/canonical.md).  Keys are written in one
 * fixed order so the same record always gives the same bytes: the content
 * digest used as a message id depends on it.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "msgw/model/canon.h"
#include "msgw/base/idnum.h"

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v) json_object_set_new(o, k, json_string(v));
}

static void set_date(json_t *o, const char *k, msgw_date d)
{
    char b[11];
    if (d != MSGW_DATE_NONE) json_object_set_new(o, k, json_string(msgw_date_format(d, b)));
}

json_t *msgw_canon_value(const msgw_value *v)
{
    char b[11];
    switch (v->kind) {
    case MSGW_V_STRING:
    case MSGW_V_CODE: return json_string(v->u.s);
    case MSGW_V_INT:
    case MSGW_V_MONEY: return json_integer(v->u.i);
    case MSGW_V_DATE: return json_string(msgw_date_format(v->u.d, b));
    case MSGW_V_BOOL: return json_boolean(v->u.b);
    case MSGW_V_NONE: break;
    }
    return json_null();
}

static json_t *person_json(const msgw_person *p)
{
    json_t *o = json_object();
    set_str(o, "id_number", p->id_number);
    set_str(o, "name", p->name);
    set_str(o, "sex", p->sex);
    set_date(o, "birth_date", p->birth_date);
    set_str(o, "ethnic_group", p->ethnic);
    set_str(o, "marital_status", p->marital);
    set_str(o, "hukou_region", p->hukou_region);
    set_str(o, "hukou_type", p->hukou_type);
    set_str(o, "residence_region", p->residence_region);
    return o;
}

static json_t *household_json(const msgw_household *h)
{
    json_t *o = json_object();
    set_str(o, "household_id", h->id);
    set_str(o, "region", h->region);
    set_str(o, "hukou_type", h->hukou_type);
    json_t *ms = json_array();
    for (size_t i = 0; i < h->nmembers; i++) {
        json_t *m = json_object();
        set_str(m, "id_number", h->members[i].id_number);
        set_str(m, "family_relationship", h->members[i].relationship);
        json_array_append_new(ms, m);
    }
    json_object_set_new(o, "members", ms);
    return o;
}

static json_t *fact_json(const msgw_fact *f)
{
    json_t *o = json_object();
    set_str(o, "type", f->type);
    if (f->subject[0]) set_str(o, "subject", f->subject);
    set_date(o, "valid_from", f->valid_from);
    set_date(o, "valid_to", f->valid_to);
    json_t *attrs = json_object();
    for (size_t i = 0; i < f->nattrs; i++)
        json_object_set_new(attrs, f->attrs[i].name, msgw_canon_value(&f->attrs[i].v));
    json_object_set_new(o, "attributes", attrs);
    return o;
}

static json_t *encode(const msgw_record *r, bool with_ids)
{
    json_t *o = json_object();
    set_str(o, "kind", r->kind);
    if (with_ids) set_str(o, "message_id", r->message_id);
    json_t *src = json_object();
    set_str(src, "department", r->source_department);
    if (with_ids) set_str(src, "message_id", r->source_message_id);
    json_object_set_new(o, "source", src);
    if (with_ids && r->recorded_at) {
        char b[28];
        set_str(o, "recorded_at", msgw_time_format(r->recorded_at, b));
    }
    json_t *ps = json_array();
    for (size_t i = 0; i < r->npersons; i++) json_array_append_new(ps, person_json(&r->persons[i]));
    json_object_set_new(o, "persons", ps);
    if (r->household) json_object_set_new(o, "household", household_json(r->household));
    json_t *fs = json_array();
    for (size_t i = 0; i < r->nfacts; i++) json_array_append_new(fs, fact_json(&r->facts[i]));
    json_object_set_new(o, "facts", fs);
    return o;
}

json_t *msgw_canon_encode(const msgw_record *r)
{
    return encode(r, true);
}

/* ---- direct serialisation ----
 * The same bytes as jansson's compact dump of encode(), written straight
 * into a buffer: message ids are digests of this form, computed for every
 * record without a sender's id, and building a jansson tree per record cost
 * most of a CSV roster's decode time.  test_canon checks the two agree.
 */
static void put_str(msgw_buf *b, const char *s)
{
    msgw_buf_append(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        msgw_buf_append(b, run, (size_t)(s - run));
        switch (c) {
        case '"': msgw_buf_puts(b, "\\\""); break;
        case '\\': msgw_buf_puts(b, "\\\\"); break;
        case '\b': msgw_buf_puts(b, "\\b"); break;
        case '\f': msgw_buf_puts(b, "\\f"); break;
        case '\n': msgw_buf_puts(b, "\\n"); break;
        case '\r': msgw_buf_puts(b, "\\r"); break;
        case '\t': msgw_buf_puts(b, "\\t"); break;
        default: msgw_buf_printf(b, "\\u%04X", c); break;
        }
        run = s + 1;
    }
    msgw_buf_append(b, run, (size_t)(s - run));
    msgw_buf_append(b, "\"", 1);
}

/* ,"key":"value" (or {"key" first) when value is set; *first tracks the comma. */
static void put_kv(msgw_buf *b, bool *first, const char *k, const char *v)
{
    if (!v) return;
    msgw_buf_append(b, *first ? "" : ",", *first ? 0 : 1);
    *first = false;
    put_str(b, k);
    msgw_buf_append(b, ":", 1);
    put_str(b, v);
}

static void put_date_kv(msgw_buf *b, bool *first, const char *k, msgw_date d)
{
    char db[11];
    if (d != MSGW_DATE_NONE) put_kv(b, first, k, msgw_date_format(d, db));
}

static void put_value(msgw_buf *b, const msgw_value *v)
{
    char db[11];
    switch (v->kind) {
    case MSGW_V_STRING:
    case MSGW_V_CODE: put_str(b, v->u.s); break;
    case MSGW_V_INT:
    case MSGW_V_MONEY: msgw_buf_printf(b, "%lld", (long long)v->u.i); break;
    case MSGW_V_DATE: put_str(b, msgw_date_format(v->u.d, db)); break;
    case MSGW_V_BOOL: msgw_buf_puts(b, v->u.b ? "true" : "false"); break;
    case MSGW_V_NONE: msgw_buf_puts(b, "null"); break;
    }
}

static void serialize(const msgw_record *r, bool with_ids, msgw_buf *b)
{
    bool first = true;
    msgw_buf_append(b, "{", 1);
    put_kv(b, &first, "kind", r->kind);
    if (with_ids) put_kv(b, &first, "message_id", r->message_id);
    msgw_buf_puts(b, first ? "\"source\":{" : ",\"source\":{");
    first = true;
    put_kv(b, &first, "department", r->source_department);
    if (with_ids) put_kv(b, &first, "message_id", r->source_message_id);
    msgw_buf_append(b, "}", 1);
    first = false;
    if (with_ids && r->recorded_at) {
        char tb[28];
        put_kv(b, &first, "recorded_at", msgw_time_format(r->recorded_at, tb));
    }
    msgw_buf_puts(b, ",\"persons\":[");
    for (size_t i = 0; i < r->npersons; i++) {
        const msgw_person *p = &r->persons[i];
        bool f = true;
        msgw_buf_puts(b, i ? ",{" : "{");
        put_kv(b, &f, "id_number", p->id_number);
        put_kv(b, &f, "name", p->name);
        put_kv(b, &f, "sex", p->sex);
        put_date_kv(b, &f, "birth_date", p->birth_date);
        put_kv(b, &f, "ethnic_group", p->ethnic);
        put_kv(b, &f, "marital_status", p->marital);
        put_kv(b, &f, "hukou_region", p->hukou_region);
        put_kv(b, &f, "hukou_type", p->hukou_type);
        put_kv(b, &f, "residence_region", p->residence_region);
        msgw_buf_append(b, "}", 1);
    }
    msgw_buf_append(b, "]", 1);
    if (r->household) {
        const msgw_household *h = r->household;
        bool f = true;
        msgw_buf_puts(b, ",\"household\":{");
        put_kv(b, &f, "household_id", h->id);
        put_kv(b, &f, "region", h->region);
        put_kv(b, &f, "hukou_type", h->hukou_type);
        msgw_buf_puts(b, f ? "\"members\":[" : ",\"members\":[");
        for (size_t i = 0; i < h->nmembers; i++) {
            bool mf = true;
            msgw_buf_puts(b, i ? ",{" : "{");
            put_kv(b, &mf, "id_number", h->members[i].id_number);
            put_kv(b, &mf, "family_relationship", h->members[i].relationship);
            msgw_buf_append(b, "}", 1);
        }
        msgw_buf_puts(b, "]}");
    }
    msgw_buf_puts(b, ",\"facts\":[");
    for (size_t i = 0; i < r->nfacts; i++) {
        const msgw_fact *fa = &r->facts[i];
        bool f = true;
        msgw_buf_puts(b, i ? ",{" : "{");
        put_kv(b, &f, "type", fa->type);
        if (fa->subject[0]) put_kv(b, &f, "subject", fa->subject);
        put_date_kv(b, &f, "valid_from", fa->valid_from);
        put_date_kv(b, &f, "valid_to", fa->valid_to);
        msgw_buf_puts(b, f ? "\"attributes\":{" : ",\"attributes\":{");
        for (size_t a = 0; a < fa->nattrs; a++) {
            /* a repeated name: first position, last value, as a JSON object set twice */
            bool earlier = false;
            for (size_t k = 0; k < a && !earlier; k++) earlier = strcmp(fa->attrs[k].name, fa->attrs[a].name) == 0;
            if (earlier) continue;
            const msgw_value *v = &fa->attrs[a].v;
            for (size_t k = a + 1; k < fa->nattrs; k++)
                if (strcmp(fa->attrs[k].name, fa->attrs[a].name) == 0) v = &fa->attrs[k].v;
            msgw_buf_puts(b, b->data[b->len - 1] == '{' ? "" : ",");
            put_str(b, fa->attrs[a].name);
            msgw_buf_append(b, ":", 1);
            put_value(b, v);
        }
        msgw_buf_puts(b, "}}");
    }
    msgw_buf_puts(b, "]}");
}

static int dump_to_buf(const char *p, size_t n, void *ud)
{
    msgw_buf_append(ud, p, n);
    return 0;
}

void msgw_canon_write(const msgw_record *r, msgw_buf *out)
{
    serialize(r, true, out);
}

void msgw_canon_write_jansson(const msgw_record *r, msgw_buf *out)
{
    json_t *o = encode(r, true);
    json_dump_callback(o, dump_to_buf, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
}

void msgw_sha256_hex(const void *p, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(p ? p : "", n, md, &mdlen, EVP_sha256(), NULL);
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

void msgw_canon_digest(const msgw_record *r, char hex[65])
{
    msgw_buf b;
    msgw_buf_init(&b);
    serialize(r, false, &b);
    msgw_sha256_hex(b.data, b.len, hex);
    msgw_buf_free(&b);
}

/* ---- decoding ---- */

typedef struct decoder {
    const msgw_dict *d;
    msgw_batch *b;
    int rec;
    char loc[256];
} decoder;

/* Parses one JSON value for element el into *out; records an error on failure. */
static bool value_from_json(decoder *dc, const char *elname, json_t *j, msgw_value *out,
                            const char *loc)
{
    const msgw_element *el = msgw_dict_element(dc->d, elname);
    msgw_errors *e = &dc->b->errors;
    if (!el) {
        msgw_error_add(e, dc->rec, loc, elname, "canonical.unknown_element",
                       "%s is not a dictionary element", elname);
        return false;
    }
    if (el->type == MSGW_TY_INT || el->type == MSGW_TY_MONEY) {
        if (!json_is_integer(j)) {
            msgw_error_add(e, dc->rec, loc, elname, "canonical.type", "must be an integer%s",
                           el->type == MSGW_TY_MONEY ? " (fen)" : "");
            return false;
        }
        out->kind = el->type == MSGW_TY_MONEY ? MSGW_V_MONEY : MSGW_V_INT;
        out->u.i = json_integer_value(j);
        return msgw_dict_check_int(el, out->u.i, e, dc->rec, loc, elname);
    }
    if (el->type == MSGW_TY_BOOL) {
        if (!json_is_boolean(j)) {
            msgw_error_add(e, dc->rec, loc, elname, "canonical.type", "must be true or false");
            return false;
        }
        out->kind = MSGW_V_BOOL;
        out->u.b = json_is_true(j);
        return true;
    }
    if (!json_is_string(j)) {
        msgw_error_add(e, dc->rec, loc, elname, "canonical.type", "must be a string");
        return false;
    }
    return msgw_dict_parse(dc->d, el, json_string_value(j), json_string_length(j), out,
                           dc->b->arena, e, dc->rec, loc, elname);
}

static const char *str_field(decoder *dc, json_t *o, const char *key, const char *elname,
                             const char *base)
{
    json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return NULL;
    msgw_value v = {0};
    char loc[512];
    snprintf(loc, sizeof loc, "%s/%s", base, key);
    return value_from_json(dc, elname, j, &v, loc) ? v.u.s : NULL;
}

static msgw_date date_field(decoder *dc, json_t *o, const char *key, const char *elname,
                            const char *base)
{
    json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return MSGW_DATE_NONE;
    msgw_value v = {0};
    char loc[512];
    snprintf(loc, sizeof loc, "%s/%s", base, key);
    return value_from_json(dc, elname, j, &v, loc) ? v.u.d : MSGW_DATE_NONE;
}

static void id_field(decoder *dc, json_t *o, const char *base, char out[19])
{
    const char *id = str_field(dc, o, "id_number", "id_number", base);
    if (id) memcpy(out, id, 19);
    else if (!json_object_get(o, "id_number"))
        msgw_error_add(&dc->b->errors, dc->rec, base, "id_number", "canonical.required",
                       "id_number is required");
}

static void decode_persons(decoder *dc, json_t *ps, msgw_record *r, const char *base)
{
    size_t cap = 0;
    for (size_t i = 0; i < json_array_size(ps); i++) {
        json_t *pj = json_array_get(ps, i);
        char loc[256];
        snprintf(loc, sizeof loc, "%s/persons/%zu", base, i);
        msgw_person *p = msgw_record_add_person(r, dc->b->arena, &cap);
        p->loc = msgw_arena_strdup(dc->b->arena, loc);
        id_field(dc, pj, loc, p->id_number);
        p->name = str_field(dc, pj, "name", "name", loc);
        p->sex = str_field(dc, pj, "sex", "sex", loc);
        p->birth_date = date_field(dc, pj, "birth_date", "birth_date", loc);
        p->ethnic = str_field(dc, pj, "ethnic_group", "ethnic_group", loc);
        p->marital = str_field(dc, pj, "marital_status", "marital_status", loc);
        p->hukou_region = str_field(dc, pj, "hukou_region", "hukou_region", loc);
        p->hukou_type = str_field(dc, pj, "hukou_type", "hukou_type", loc);
        p->residence_region = str_field(dc, pj, "residence_region", "residence_region", loc);
    }
}

static msgw_household *decode_household(decoder *dc, json_t *hj, const char *base)
{
    msgw_arena *a = dc->b->arena;
    msgw_household *h = msgw_arena_alloc(a, sizeof *h);
    char loc[256];
    snprintf(loc, sizeof loc, "%s/household", base);
    h->loc = msgw_arena_strdup(a, loc);
    h->id = str_field(dc, hj, "household_id", "household_id", loc);
    h->region = str_field(dc, hj, "region", "hukou_region", loc);
    h->hukou_type = str_field(dc, hj, "hukou_type", "hukou_type", loc);
    json_t *ms = json_object_get(hj, "members");
    h->nmembers = json_array_size(ms);
    h->members = msgw_arena_alloc(a, (h->nmembers + 1) * sizeof *h->members);
    for (size_t i = 0; i < h->nmembers; i++) {
        char mloc[512];
        snprintf(mloc, sizeof mloc, "%s/members/%zu", loc, i);
        json_t *mj = json_array_get(ms, i);
        id_field(dc, mj, mloc, h->members[i].id_number);
        h->members[i].relationship =
            str_field(dc, mj, "family_relationship", "family_relationship", mloc);
    }
    return h;
}

static void decode_facts(decoder *dc, json_t *fs, msgw_record *r, const char *base)
{
    size_t cap = 0;
    msgw_arena *a = dc->b->arena;
    for (size_t i = 0; i < json_array_size(fs); i++) {
        json_t *fj = json_array_get(fs, i);
        char loc[256];
        snprintf(loc, sizeof loc, "%s/facts/%zu", base, i);
        const char *type = json_string_value(json_object_get(fj, "type"));
        const msgw_fact_type *ft = type ? msgw_dict_fact_type(dc->d, type) : NULL;
        msgw_fact *f = msgw_record_add_fact(r, a, &cap, ft ? ft->id : msgw_arena_strdup(a, type ? type : ""), NULL);
        f->loc = msgw_arena_strdup(a, loc);
        json_t *subj = json_object_get(fj, "subject");
        if (subj) {
            const char *s = str_field(dc, fj, "subject", "id_number", loc);
            if (s) memcpy(f->subject, s, 19);
        }
        f->valid_from = date_field(dc, fj, "valid_from", "start_date", loc);
        f->valid_to = date_field(dc, fj, "valid_to", "end_date", loc);
        const char *an;
        json_t *av;
        json_object_foreach(json_object_get(fj, "attributes"), an, av) {
            char aloc[768];
            snprintf(aloc, sizeof aloc, "%s/attributes/%s", loc, an);
            const msgw_element *el = msgw_dict_element(dc->d, an);
            msgw_value v = {0};
            if (value_from_json(dc, an, av, &v, aloc)) msgw_fact_add_attr(f, a, el->id, v);
        }
    }
}

static void decode_one(decoder *dc, json_t *o, const char *base)
{
    msgw_arena *a = dc->b->arena;
    msgw_record *r = msgw_arena_alloc(a, sizeof *r);
    dc->rec = msgw_batch_add(dc->b, r, msgw_arena_strdup(a, base[0] ? base : "/"));
    r->loc = dc->b->items[dc->rec].loc;
    if (!json_is_object(o)) {
        msgw_error_add(&dc->b->errors, dc->rec, r->loc, NULL, "canonical.type",
                       "a record must be a JSON object");
        return;
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const msgw_record_kind *k = kind ? msgw_dict_record_kind(dc->d, kind) : NULL;
    r->kind = k ? k->id : (kind ? msgw_arena_strdup(a, kind) : NULL);
    r->message_id = msgw_arena_strdup(a, json_string_value(json_object_get(o, "message_id")));
    json_t *src = json_object_get(o, "source");
    r->source_department = msgw_arena_strdup(a, json_string_value(json_object_get(src, "department")));
    r->source_message_id = msgw_arena_strdup(a, json_string_value(json_object_get(src, "message_id")));
    const char *rec_at = json_string_value(json_object_get(o, "recorded_at"));
    if (rec_at && !msgw_time_parse(rec_at, &r->recorded_at))
        msgw_error_add(&dc->b->errors, dc->rec, r->loc, "recorded_at", "canonical.time",
                       "not an RFC 3339 time");
    decode_persons(dc, json_object_get(o, "persons"), r, base);
    json_t *hj = json_object_get(o, "household");
    if (hj && !json_is_null(hj)) r->household = decode_household(dc, hj, base);
    decode_facts(dc, json_object_get(o, "facts"), r, base);
}

void msgw_canon_decode(const msgw_dict *d, const json_t *doc, msgw_batch *out)
{
    decoder dc = {d, out, -1, ""};
    if (json_is_array(doc)) {
        for (size_t i = 0; i < json_array_size(doc); i++) {
            char base[32];
            snprintf(base, sizeof base, "/%zu", i);
            decode_one(&dc, json_array_get(doc, i), base);
        }
    } else {
        decode_one(&dc, (json_t *)doc, "");
    }
}
