/*
 * Eligibility notices for the disability federation (残联): an
 * EligibilityNotice XML document in the style of its certificate events
 * (namespace urn:msgw:cdpf:notice:1, readable English element names), telling
 * the federation that a person newly qualifies, no longer qualifies or
 * changed tier for a service, with the facts that decided (and who sent
 * them), the parameters used and the cause.  Written, never read; the spec is
 * schemas/messages/cdpf-notice.json (generated cdpf-notice.xsd), the format
 * docs/formats/cdpf.md "Eligibility notices".  UTF-8, or GB18030 when the
 * federation's media type asks for it, as its certificate events.
 */
#include <strings.h>

#include "cdpf_internal.h"
#include "msgw/base/text.h"
#include "msgw/model/xmlwriter.h"

#define NOTICE_NS "urn:msgw:cdpf:notice:1"
#define NOTICE_ROOT "EligibilityNotice"
#define NOTICE_TYPE "application/vnd.msgw.cdpf.notice+xml"
#define NOTICE_TYPE_GB NOTICE_TYPE "; charset=GB18030"

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void put_entitlement(msgw_xmlw *w, const msgw_notice *n)
{
    msgw_xmlw_open(w, "Entitlement");
    msgw_xmlw_date(w, "Since", n->since);
    msgw_xmlw_date(w, "Until", n->until);
    msgw_xmlw_text(w, "Tier", n->tier);
    msgw_xmlw_int(w, "AmountFen", n->amount);
    msgw_xmlw_text(w, "AmountPeriod", n->amount_period);
    msgw_xmlw_text(w, "PreviousTier", n->previous_tier);
    msgw_xmlw_int(w, "PreviousAmountFen", n->previous_amount);
    msgw_xmlw_close(w, "Entitlement");
}

static void put_fact(msgw_xmlw *w, const msgw_notice_fact *f)
{
    msgw_xmlw_open(w, "Fact");
    msgw_xmlw_text(w, "Type", or_empty(f->type));
    msgw_xmlw_date(w, "ValidFrom", f->valid_from);
    msgw_xmlw_date(w, "ValidUntil", f->valid_to);
    for (size_t i = 0; i < f->nattrs; i++) {
        msgw_xmlw_open(w, "Attribute");
        msgw_xmlw_text(w, "Name", f->attrs[i].name);
        msgw_xmlw_value(w, "Value", &f->attrs[i].v);
        msgw_xmlw_close(w, "Attribute");
    }
    msgw_xmlw_open(w, "Source");
    msgw_xmlw_text(w, "Department", or_empty(f->department));
    msgw_xmlw_text(w, "MessageId", or_empty(f->message_id));
    if (f->recorded_at) {
        char t[28];
        msgw_xmlw_text(w, "RecordedAt", msgw_time_format(f->recorded_at, t));
    }
    msgw_xmlw_close(w, "Source");
    msgw_xmlw_close(w, "Fact");
}

static void put_parameter(msgw_xmlw *w, const msgw_notice_param *p)
{
    msgw_xmlw_open(w, "Parameter");
    msgw_xmlw_text(w, "Name", or_empty(p->name));
    msgw_xmlw_int(w, "Value", p->value);
    msgw_xmlw_date(w, "ValidFrom", p->from);
    msgw_xmlw_text(w, "Source", p->source);
    msgw_xmlw_close(w, "Parameter");
}

static void put_cause(msgw_xmlw *w, const msgw_notice_cause *c)
{
    msgw_xmlw_open(w, "Cause");
    msgw_xmlw_text(w, "Type", msgw_cause_kind_name(c->kind));
    msgw_xmlw_text(w, "Department", c->department);
    msgw_xmlw_text(w, "MessageId", c->message_id);
    for (size_t i = 0; i < c->nchanges; i++) {
        msgw_xmlw_open(w, "Change");
        msgw_xmlw_text(w, "Fact", or_empty(c->changes[i].fact));
        msgw_xmlw_text(w, "Attribute", or_empty(c->changes[i].attribute));
        msgw_xmlw_text(w, "From", c->changes[i].from);
        msgw_xmlw_text(w, "To", or_empty(c->changes[i].to));
        msgw_xmlw_close(w, "Change");
    }
    msgw_xmlw_text(w, "Parameter", c->parameter);
    msgw_xmlw_date(w, "ValidFrom", c->param_from);
    if (c->kind == MSGW_CAUSE_PARAMETER) {
        msgw_xmlw_int(w, "OldValue", c->old_value);
        msgw_xmlw_int(w, "NewValue", c->new_value);
    }
    if (c->death) msgw_xmlw_text(w, "Death", "true");
    if (c->jurisdiction_by) { /* the deciding place is outside the region served */
        msgw_xmlw_open(w, "Jurisdiction");
        msgw_xmlw_text(w, "DecidedBy", c->jurisdiction_by);
        msgw_xmlw_text(w, "Region", c->jurisdiction_region);
        msgw_xmlw_text(w, "Served", c->jurisdiction_served);
        msgw_xmlw_close(w, "Jurisdiction");
    }
    msgw_xmlw_close(w, "Cause");
}

static void put_notice(msgw_xmlw *w, const msgw_notice *n)
{
    msgw_xmlw_open_attrs(w, NOTICE_ROOT, "xmlns", NOTICE_NS, "version", "1", NULL);
    msgw_xmlw_text(w, "NoticeId", or_empty(n->event_id));
    msgw_xmlw_text(w, "NoticeType", msgw_transition_kind_name(n->kind));
    msgw_xmlw_date(w, "EvaluationDate", n->date);
    msgw_xmlw_open(w, "Service");
    msgw_xmlw_text(w, "Code", n->service_code);
    msgw_xmlw_text(w, "Name", n->service_name);
    msgw_xmlw_close(w, "Service");
    msgw_xmlw_open(w, "Person");
    msgw_xmlw_text(w, "IdNumber", n->person);
    msgw_xmlw_text(w, "Name", n->person_name);
    msgw_xmlw_text(w, "HukouRegion", n->hukou_region);
    msgw_xmlw_close(w, "Person");
    put_entitlement(w, n);
    msgw_xmlw_text(w, "Rule", n->rule);
    msgw_xmlw_open(w, "Facts");
    for (size_t i = 0; i < n->nfacts; i++)
        put_fact(w, &n->facts[i]);
    msgw_xmlw_close(w, "Facts");
    msgw_xmlw_open(w, "Parameters");
    for (size_t i = 0; i < n->nparams; i++)
        put_parameter(w, &n->params[i]);
    msgw_xmlw_close(w, "Parameters");
    put_cause(w, &n->cause);
    msgw_xmlw_close(w, NOTICE_ROOT);
}

bool cdpf_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                        msgw_buf *out, const char **notice_type, msgw_errors *e)
{
    (void)ctx;
    size_t cl;
    const char *cs = cdpf_media_charset(media_type, &cl);
    bool gb = cs && msgw_charset_is_gb(cs, cl);
    if (cs && !gb && !(cl == 5 && strncasecmp(cs, "utf-8", 5) == 0)) {
        msgw_error_add(e, -1, NULL, NULL, "adapter.charset",
                       "cdpf writes UTF-8 or GB18030, not charset '%.*s'", (int)cl, cs);
        return false;
    }
    msgw_xmlw w;
    msgw_xmlw_init(&w, e, gb);
    put_notice(&w, n);
    bool ok = msgw_xmlw_finish(&w, out, "encode.charset");
    msgw_xmlw_clear(&w);
    if (ok) *notice_type = gb ? NOTICE_TYPE_GB : NOTICE_TYPE;
    return ok;
}

const char *const cdpf_notice_types[] = {NOTICE_TYPE, NULL};

/* <EligibilityNotices xmlns="urn:msgw:cdpf:notice:1" version="1">, the notices inside. */
void cdpf_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                       size_t n, msgw_buf *out)
{
    (void)notice_type; /* the notices' declaration names their encoding */
    (void)ids;         /* each notice names its id */
    msgw_notice_list_xml(out, NOTICE_ROOT "s", NOTICE_NS, "1", bodies, lens, n);
}
