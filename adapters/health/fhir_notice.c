/*
 * Eligibility notices for health (卫健) as an HL7 FHIR R4 Flag resource.
 *
 * Why a Flag and not a Communication: what the notice states is a standing
 * condition of the person ("qualifies for 慢性病患者健康管理 since
 * 2026-11-02", "no longer qualifies"), which a health system shows on the
 * patient's record and updates; Flag has exactly that shape (subject, code,
 * period, status active / inactive), while a Communication is a one-off
 * message whose content would be opaque payload.  The Flag's subject is the
 * Patient named by the resident-ID identifier the adapter reads and writes
 * everywhere else (type v2-0203 NI, system = fhir_id_system when configured);
 * its code is the service in the catalogue code system; the explanation (kind,
 * entitlement, deciding facts with provenance, parameters, cause) is one
 * complex extension, and the readable line is the narrative.  Written, never
 * read: docs/formats/health.md "Eligibility notices".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_internal.h"
#include "msgw/base/date.h"
#include "msgw/model/model.h"

#define NOTICE_TYPE "application/fhir+json; fhirVersion=4.0"
#define FHIR_SYS_FLAG_CATEGORY "http://terminology.hl7.org/CodeSystem/flag-category"
#define FHIR_SYS_NOTICE_ID "urn:msgw:eligibility-notice" /* Flag.identifier: the notice id */
#define XHTML_NS "http://www.w3.org/1999/xhtml"

/* ---- extensions: every value typed as FHIR wants it; empty values are left out ---- */

static void ext_value(json_t *list, const char *url, const char *key, json_t *value)
{
    json_array_append_new(list, json_pack("{s:s, s:o}", "url", url, key, value));
}

/* FHIR code: no leading, trailing or double whitespace, not empty. */
static bool code_ok(const char *s)
{
    if (!s || !*s || s[0] == ' ') return false;
    for (const char *p = s; *p; p++) {
        if (*p == '\t' || *p == '\n' || *p == '\r') return false;
        if (*p == ' ' && (p[1] == ' ' || p[1] == '\0')) return false;
    }
    return true;
}

static void ext_string(json_t *list, const char *url, const char *s)
{
    if (s && *s) ext_value(list, url, "valueString", json_string(s));
}

/* A code where the text is one, else a string (FHIR would refuse the code). */
static void ext_code(json_t *list, const char *url, const char *s)
{
    if (code_ok(s))
        ext_value(list, url, "valueCode", json_string(s));
    else
        ext_string(list, url, s);
}

static void ext_date(json_t *list, const char *url, msgw_date d)
{
    char b[11];
    if (d != MSGW_DATE_NONE) ext_value(list, url, "valueDate", json_string(msgw_date_format(d, b)));
}

/* FHIR integer is 32 bits: a larger value (never an amount in practice) is a decimal. */
static void ext_int(json_t *list, const char *url, int64_t v)
{
    if (v == MSGW_ABSENT) return;
    bool small = v >= INT32_MIN && v <= INT32_MAX;
    ext_value(list, url, small ? "valueInteger" : "valueDecimal", json_integer((json_int_t)v));
}

static void ext_instant(json_t *list, const char *url, msgw_time t)
{
    char b[28];
    if (t) ext_value(list, url, "valueInstant", json_string(msgw_time_format(t, b)));
}

/* A complex extension from its sub-extensions (consumed); none when there are none: FHIR has
 * no empty arrays, and an extension needs a value or sub-extensions. */
static void ext_complex(json_t *list, const char *url, json_t *sub)
{
    if (json_array_size(sub))
        json_array_append_new(list, json_pack("{s:s, s:o}", "url", url, "extension", sub));
    else
        json_decref(sub);
}

static void ext_typed(json_t *list, const char *url, const msgw_value *v)
{
    switch (v->kind) {
    case MSGW_V_CODE:
        ext_code(list, url, v->u.s);
        break;
    case MSGW_V_STRING:
        ext_string(list, url, v->u.s);
        break;
    case MSGW_V_INT:
    case MSGW_V_MONEY:
        ext_int(list, url, v->u.i);
        break;
    case MSGW_V_DATE:
        ext_date(list, url, v->u.d);
        break;
    case MSGW_V_BOOL:
        ext_value(list, url, "valueBoolean", json_boolean(v->u.b));
        break;
    case MSGW_V_NONE:
        break;
    }
}

/* ---- the explanation ---- */

static void put_fact(json_t *list, const msgw_notice_fact *f)
{
    json_t *x = json_array();
    ext_code(x, "type", f->type);
    ext_date(x, "validFrom", f->valid_from);
    ext_date(x, "validTo", f->valid_to);
    for (size_t i = 0; i < f->nattrs; i++) {
        json_t *a = json_array();
        ext_code(a, "name", f->attrs[i].name);
        ext_typed(a, "value", &f->attrs[i].v);
        ext_complex(x, "attribute", a);
    }
    ext_code(x, "department", f->department);
    ext_string(x, "messageId", f->message_id);
    ext_instant(x, "recordedAt", f->recorded_at);
    ext_complex(list, "fact", x);
}

static void put_parameter(json_t *list, const msgw_notice_param *p)
{
    json_t *x = json_array();
    ext_code(x, "name", p->name);
    ext_int(x, "value", p->value);
    ext_date(x, "validFrom", p->from);
    ext_string(x, "source", p->source);
    ext_complex(list, "parameter", x);
}

static void put_cause(json_t *list, const msgw_notice_cause *c)
{
    json_t *x = json_array();
    ext_code(x, "type", msgw_cause_kind_name(c->kind));
    ext_code(x, "department", c->department);
    ext_string(x, "messageId", c->message_id);
    for (size_t i = 0; i < c->nchanges; i++) {
        json_t *ch = json_array();
        ext_code(ch, "fact", c->changes[i].fact);
        ext_code(ch, "attribute", c->changes[i].attribute);
        ext_string(ch, "from", c->changes[i].from);
        ext_string(ch, "to", c->changes[i].to);
        ext_complex(x, "change", ch);
    }
    ext_code(x, "parameter", c->parameter);
    ext_date(x, "validFrom", c->param_from);
    if (c->kind == MSGW_CAUSE_PARAMETER) {
        ext_int(x, "oldValue", c->old_value);
        ext_int(x, "newValue", c->new_value);
    }
    if (c->death) ext_value(x, "death", "valueBoolean", json_true());
    ext_complex(list, "cause", x);
}

static json_t *notice_extension(const msgw_notice *n)
{
    json_t *x = json_array();
    ext_code(x, "kind", msgw_transition_kind_name(n->kind));
    ext_date(x, "evaluationDate", n->date);
    ext_string(x, "tier", n->tier);
    ext_int(x, "amountFen", n->amount);
    ext_string(x, "amountPeriod", n->amount_period);
    ext_string(x, "previousTier", n->previous_tier);
    ext_int(x, "previousAmountFen", n->previous_amount);
    ext_code(x, "hukouRegion", n->hukou_region);
    ext_string(x, "rule", n->rule);
    for (size_t i = 0; i < n->nfacts; i++)
        put_fact(x, &n->facts[i]);
    for (size_t i = 0; i < n->nparams; i++)
        put_parameter(x, &n->params[i]);
    put_cause(x, &n->cause);
    json_t *list = json_array();
    ext_complex(list, FHIR_EXT_NOTICE, x);
    return list;
}

/* ---- the Flag ---- */

/* The readable line as XHTML narrative; none when it holds what XHTML cannot carry. */
static json_t *narrative(const char *text)
{
    if (!text || !*text) return NULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') return NULL;
    msgw_buf b;
    msgw_buf_init(&b);
    msgw_buf_puts(&b, "<div xmlns=\"" XHTML_NS "\"><p>");
    msgw_buf_xml_escape(&b, text);
    msgw_buf_puts(&b, "</p></div>");
    json_t *t = json_pack("{s:s, s:s}", "status", "generated", "div", b.data);
    msgw_buf_free(&b);
    return t;
}

static json_t *subject(const msgw_adapter_ctx *ctx, const msgw_notice *n)
{
    json_t *s = json_pack("{s:o}", "identifier",
                          fhir_resident_identifier(ctx ? ctx->fhir_id_system : NULL, n->person));
    if (n->person_name && *n->person_name)
        json_object_set_new(s, "display", json_string(n->person_name));
    return s;
}

static json_t *period(const msgw_notice *n)
{
    char b[11];
    json_t *p = json_object();
    if (n->since != MSGW_DATE_NONE)
        json_object_set_new(p, "start", json_string(msgw_date_format(n->since, b)));
    if (n->until != MSGW_DATE_NONE)
        json_object_set_new(p, "end", json_string(msgw_date_format(n->until, b)));
    return p;
}

static json_t *flag(const msgw_adapter_ctx *ctx, const msgw_notice *n)
{
    json_t *f = json_pack("{s:s}", "resourceType", "Flag");
    json_t *text = narrative(n->text);
    if (text) json_object_set_new(f, "text", text);
    json_object_set_new(f, "extension", notice_extension(n));
    json_object_set_new(
        f, "identifier",
        json_pack("[{s:s, s:s}]", "system", FHIR_SYS_NOTICE_ID, "value", n->event_id));
    json_object_set_new(f, "status", json_string(n->kind == MSGW_TR_LOST ? "inactive" : "active"));
    json_object_set_new(f, "category",
                        json_pack("[{s:[{s:s, s:s, s:s}]}]", "coding", "system",
                                  FHIR_SYS_FLAG_CATEGORY, "code", "admin", "display",
                                  "Administrative"));
    json_object_set_new(f, "code",
                        json_pack("{s:[{s:s, s:s, s:s}], s:s}", "coding", "system",
                                  MSGW_NOTICE_SERVICE_SYSTEM, "code", n->service_code, "display",
                                  n->service_name, "text", n->service_name));
    json_object_set_new(f, "subject", subject(ctx, n));
    json_t *p = period(n);
    if (json_object_size(p)) /* FHIR has no empty elements */
        json_object_set_new(f, "period", p);
    else
        json_decref(p);
    return f;
}

bool fhir_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                        msgw_buf *out, const char **notice_type, msgw_errors *e)
{
    (void)media_type; /* FHIR JSON is UTF-8 whatever a record media type says */
    if (!n->event_id || !code_ok(n->service_code) || !n->service_name || !*n->service_name) {
        msgw_error_add(e, -1, NULL, NULL, "fhir.encode.notice",
                       "a Flag needs the notice id, a service code and its name");
        return false;
    }
    json_t *f = flag(ctx, n);
    char *text = json_dumps(f, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(f);
    if (!text) {
        msgw_error_add(e, -1, NULL, NULL, "fhir.encode.notice", "the Flag could not be written");
        return false;
    }
    msgw_buf_puts(out, text);
    msgw_buf_puts(out, "\n");
    free(text);
    *notice_type = NOTICE_TYPE;
    return true;
}

const char *const fhir_notice_types[] = {NOTICE_TYPE, NULL};

/* A Bundle of type collection, one entry per Flag: FHIR's container for a set of resources that
 * is neither a transaction nor a search result. */
void fhir_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                       size_t n, msgw_buf *out)
{
    (void)notice_type;
    (void)ids; /* each Flag names its id (identifier) */
    msgw_buf_puts(out, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[");
    for (size_t i = 0; i < n; i++) {
        size_t len = msgw_buf_trimmed(bodies[i], lens[i]);
        msgw_buf_puts(out, i ? ",\n{\"resource\":" : "\n{\"resource\":");
        msgw_buf_append(out, bodies[i], len);
        msgw_buf_puts(out, "}");
    }
    msgw_buf_puts(out, "]}\n");
}
