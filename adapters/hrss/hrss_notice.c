/*
 * Eligibility notices for human resources and social security (人社): one
 * JSON object in the style of the bureau's records, telling it that a person
 * newly qualifies, no longer qualifies or changed tier for a service, with
 * the facts that decided (and who sent them), the parameters used and the
 * cause.  Items the sector has a field code for use it (AAC002 resident ID,
 * AAC003 name, AAC010 hukou region, AAE030 / AAE031 start and end dates, and
 * a fact attribute's code such as AAE140); items it has none for use msgw's
 * own camelCase names, like the records' bizType, so they can never be taken
 * for a sector code.  Written, never read; spec
 * schemas/messages/hrss-notice.json, format docs/formats/hrss.md.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "hrss_internal.h"
#include "msgw/model/canon.h"
#include "msgw/model/model.h"
#include "msgw/base/text.h"

#define NOTICE_MSG_TYPE "HRSS_ELIGIBILITY_NOTICE"
#define NOTICE_TYPE "application/vnd.msgw.hrss.notice+json"
#define NOTICE_TYPE_GB NOTICE_TYPE "; charset=GB18030"

static void set_str(json_t *o, const char *key, const char *s)
{
    if (s) json_object_set_new(o, key, json_string(s));
}

static void set_date(json_t *o, const char *key, msgw_date d)
{
    char b[11];
    if (d != MSGW_DATE_NONE) json_object_set_new(o, key, json_string(msgw_date_format(d, b)));
}

/* Money in fen and parameter values as JSON integers; MSGW_ABSENT leaves the member out. */
static void set_int(json_t *o, const char *key, int64_t v)
{
    if (v != MSGW_ABSENT) json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* Attributes under the sector's code where it has one, else the dictionary element's id. */
static json_t *attributes(const msgw_notice_fact *f)
{
    json_t *o = json_object();
    for (size_t i = 0; i < f->nattrs; i++) {
        const char *code = hrss_field_code(f->attrs[i].name);
        json_object_set_new(o, code ? code : f->attrs[i].name, msgw_canon_value(&f->attrs[i].v));
    }
    return o;
}

static json_t *fact(const msgw_notice_fact *f)
{
    json_t *o = json_object();
    set_str(o, "factType", f->type ? f->type : "");
    set_date(o, "AAE030", f->valid_from);
    set_date(o, "AAE031", f->valid_to);
    json_object_set_new(o, "attributes", attributes(f));
    set_str(o, "sourceDept", f->department ? f->department : "");
    set_str(o, "sourceMsgId", f->message_id ? f->message_id : "");
    if (f->recorded_at) {
        char t[28];
        set_str(o, "recordedAt", msgw_time_format(f->recorded_at, t));
    }
    return o;
}

static json_t *parameter(const msgw_notice_param *p)
{
    json_t *o = json_object();
    set_str(o, "name", p->name ? p->name : "");
    set_int(o, "value", p->value);
    set_date(o, "validFrom", p->from);
    set_str(o, "source", p->source);
    return o;
}

static json_t *cause(const msgw_notice_cause *c)
{
    json_t *o = json_object();
    set_str(o, "causeType", msgw_cause_kind_name(c->kind));
    set_str(o, "sourceDept", c->department);
    set_str(o, "sourceMsgId", c->message_id);
    if (c->nchanges) {
        json_t *changes = json_array();
        for (size_t i = 0; i < c->nchanges; i++) {
            const msgw_notice_change *ch = &c->changes[i];
            json_t *x = json_object();
            set_str(x, "factType", ch->fact ? ch->fact : "");
            set_str(x, "attribute", ch->attribute ? ch->attribute : "");
            set_str(x, "from", ch->from);
            set_str(x, "to", ch->to ? ch->to : "");
            json_array_append_new(changes, x);
        }
        json_object_set_new(o, "changes", changes);
    }
    set_str(o, "parameter", c->parameter);
    set_date(o, "validFrom", c->param_from);
    if (c->kind == MSGW_CAUSE_PARAMETER) {
        set_int(o, "oldValue", c->old_value);
        set_int(o, "newValue", c->new_value);
    }
    if (c->death) json_object_set_new(o, "death", json_true());
    if (c->jurisdiction_by) /* the deciding place is outside the region served */
        json_object_set_new(o, "jurisdiction",
                            json_pack("{s:s,s:s?,s:s}", "decidedBy", c->jurisdiction_by, "region",
                                      c->jurisdiction_region, "served",
                                      c->jurisdiction_served ? c->jurisdiction_served : ""));
    return o;
}

/* The notice in the documented member order (jansson keeps insertion order). */
static json_t *notice_json(const msgw_notice *n)
{
    json_t *o = json_object();
    set_str(o, "msgType", NOTICE_MSG_TYPE);
    set_str(o, "noticeId", n->event_id ? n->event_id : "");
    set_str(o, "changeType", msgw_transition_kind_name(n->kind));
    set_date(o, "evalDate", n->date);
    set_str(o, "serviceCode", n->service_code);
    set_str(o, "serviceName", n->service_name);
    set_str(o, "AAC002", n->person);
    set_str(o, "AAC003", n->person_name);
    set_str(o, "AAC010", n->hukou_region);
    set_date(o, "AAE030", n->since);
    set_date(o, "AAE031", n->until);
    set_str(o, "tier", n->tier);
    set_int(o, "amountFen", n->amount);
    set_str(o, "amountPeriod", n->amount_period);
    set_str(o, "previousTier", n->previous_tier);
    set_int(o, "previousAmountFen", n->previous_amount);
    set_str(o, "rule", n->rule);
    json_t *facts = json_array(), *params = json_array();
    for (size_t i = 0; i < n->nfacts; i++)
        json_array_append_new(facts, fact(&n->facts[i]));
    for (size_t i = 0; i < n->nparams; i++)
        json_array_append_new(params, parameter(&n->params[i]));
    json_object_set_new(o, "facts", facts);
    json_object_set_new(o, "parameters", params);
    json_object_set_new(o, "cause", cause(&n->cause));
    return o;
}

bool hrss_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                        msgw_buf *out, const char **notice_type, msgw_errors *e)
{
    (void)ctx;
    const char *cs;
    size_t cslen;
    bool gb = hrss_media_charset(media_type, &cs, &cslen) && msgw_charset_is_gb(cs, cslen);
    json_t *o = notice_json(n);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) {
        msgw_error_add(e, -1, NULL, NULL, "hrss.encode.notice", "the notice could not be written");
        return false;
    }
    bool ok = true;
    if (gb) {
        msgw_arena *a = msgw_arena_new(0);
        size_t glen = 0;
        char *g = msgw_utf8_to_gb18030(text, strlen(text), a, &glen);
        if (g) {
            msgw_buf_append(out, g, glen);
            msgw_buf_puts(out, "\n");
        } else {
            msgw_error_add(e, -1, NULL, NULL, "encode.charset",
                           "the notice cannot be represented in GB18030");
        }
        ok = g != NULL;
        msgw_arena_destroy(&a);
    } else {
        msgw_buf_puts(out, text);
        msgw_buf_puts(out, "\n");
    }
    free(text);
    if (ok) *notice_type = gb ? NOTICE_TYPE_GB : NOTICE_TYPE;
    return ok;
}

const char *const hrss_notice_types[] = {NOTICE_TYPE, NULL};

/* A JSON array of the notices (in GB18030 when they are: the brackets are the same bytes). */
void hrss_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                       size_t n, msgw_buf *out)
{
    (void)notice_type;
    (void)ids; /* each notice names its id (noticeId) */
    msgw_buf_json_array(out, bodies, lens, n);
}
