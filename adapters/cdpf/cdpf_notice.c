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
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cdpf_internal.h"
#include "msgw/rules.h"
#include "msgw/text.h"

#define NOTICE_NS "urn:msgw:cdpf:notice:1"
#define NOTICE_ROOT "EligibilityNotice"
#define NOTICE_TYPE "application/vnd.msgw.cdpf.notice+xml"
#define NOTICE_TYPE_GB NOTICE_TYPE "; charset=GB18030"

typedef struct writer {
    msgw_buf doc;
    int depth;
    bool ok;
    msgw_errors *e;
} writer;

static void indent(writer *w)
{
    for (int i = 0; i < w->depth; i++)
        msgw_buf_puts(&w->doc, "  ");
}

static void open_tag(writer *w, const char *tag)
{
    indent(w);
    msgw_buf_printf(&w->doc, "<%s>\n", tag);
    w->depth++;
}

static void close_tag(writer *w, const char *tag)
{
    w->depth--;
    indent(w);
    msgw_buf_printf(&w->doc, "</%s>\n", tag);
}

/* XML 1.0 cannot carry C0 controls other than tab and line ends, nor U+FFFE / U+FFFF. */
static bool xml_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') return false;
        if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) return false;
    }
    return true;
}

/* A text element; NULL writes nothing (an optional element left out). */
static void text(writer *w, const char *tag, const char *s)
{
    if (!s) return;
    if (!xml_safe(s)) {
        msgw_error_add(w->e, -1, NULL, tag, "encode.xml_char",
                       "%s holds a character XML 1.0 cannot carry", tag);
        w->ok = false;
        return;
    }
    indent(w);
    msgw_buf_printf(&w->doc, "<%s>", tag);
    msgw_buf_xml_escape(&w->doc, s);
    msgw_buf_printf(&w->doc, "</%s>\n", tag);
}

static void date(writer *w, const char *tag, msgw_date d)
{
    char b[11];
    if (d != MSGW_DATE_NONE) text(w, tag, msgw_date_format(d, b));
}

/* An integer element (fen, parameter values); MSGW_ABSENT writes nothing. */
static void integer(writer *w, const char *tag, int64_t v)
{
    if (v == MSGW_ABSENT) return;
    indent(w);
    msgw_buf_printf(&w->doc, "<%s>%" PRId64 "</%s>\n", tag, v, tag);
}

/* A fact attribute as text: codes and strings as they are, money in fen, dates YYYY-MM-DD. */
static const char *value_text(const msgw_value *v, char *buf, size_t len)
{
    switch (v->kind) {
    case MSGW_V_STRING:
    case MSGW_V_CODE:
        return v->u.s;
    case MSGW_V_INT:
    case MSGW_V_MONEY:
        snprintf(buf, len, "%" PRId64, v->u.i);
        return buf;
    case MSGW_V_DATE:
        return msgw_date_format(v->u.d, buf);
    case MSGW_V_BOOL:
        return v->u.b ? "true" : "false";
    case MSGW_V_NONE:
        break;
    }
    return NULL;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void put_entitlement(writer *w, const msgw_notice *n)
{
    open_tag(w, "Entitlement");
    date(w, "Since", n->since);
    date(w, "Until", n->until);
    text(w, "Tier", n->tier);
    integer(w, "AmountFen", n->amount);
    text(w, "AmountPeriod", n->amount_period);
    text(w, "PreviousTier", n->previous_tier);
    integer(w, "PreviousAmountFen", n->previous_amount);
    close_tag(w, "Entitlement");
}

static void put_fact(writer *w, const msgw_notice_fact *f)
{
    open_tag(w, "Fact");
    text(w, "Type", or_empty(f->type));
    date(w, "ValidFrom", f->valid_from);
    date(w, "ValidUntil", f->valid_to);
    for (size_t i = 0; i < f->nattrs; i++) {
        char buf[32];
        open_tag(w, "Attribute");
        text(w, "Name", f->attrs[i].name);
        text(w, "Value", value_text(&f->attrs[i].v, buf, sizeof buf));
        close_tag(w, "Attribute");
    }
    open_tag(w, "Source");
    text(w, "Department", or_empty(f->department));
    text(w, "MessageId", or_empty(f->message_id));
    if (f->recorded_at) {
        char t[28];
        text(w, "RecordedAt", msgw_time_format(f->recorded_at, t));
    }
    close_tag(w, "Source");
    close_tag(w, "Fact");
}

static void put_parameter(writer *w, const msgw_notice_param *p)
{
    open_tag(w, "Parameter");
    text(w, "Name", or_empty(p->name));
    integer(w, "Value", p->value);
    date(w, "ValidFrom", p->from);
    text(w, "Source", p->source);
    close_tag(w, "Parameter");
}

static void put_cause(writer *w, const msgw_notice_cause *c)
{
    open_tag(w, "Cause");
    text(w, "Type", msgw_notice_cause_name(c->kind));
    text(w, "Department", c->department);
    text(w, "MessageId", c->message_id);
    for (size_t i = 0; i < c->nchanges; i++) {
        open_tag(w, "Change");
        text(w, "Fact", or_empty(c->changes[i].fact));
        text(w, "Attribute", or_empty(c->changes[i].attribute));
        text(w, "From", c->changes[i].from);
        text(w, "To", or_empty(c->changes[i].to));
        close_tag(w, "Change");
    }
    text(w, "Parameter", c->parameter);
    date(w, "ValidFrom", c->param_from);
    if (c->kind == MSGW_CAUSE_PARAMETER) {
        integer(w, "OldValue", c->old_value);
        integer(w, "NewValue", c->new_value);
    }
    if (c->death) text(w, "Death", "true");
    close_tag(w, "Cause");
}

static void put_notice(writer *w, const msgw_notice *n, const char *encoding)
{
    msgw_buf_printf(&w->doc, "<?xml version=\"1.0\" encoding=\"%s\"?>\n", encoding);
    msgw_buf_puts(&w->doc, "<" NOTICE_ROOT " xmlns=\"" NOTICE_NS "\" version=\"1\">\n");
    w->depth = 1;
    text(w, "NoticeId", or_empty(n->event_id));
    text(w, "NoticeType", msgw_notice_kind_name(n->kind));
    date(w, "EvaluationDate", n->date);
    open_tag(w, "Service");
    text(w, "Code", n->service_code);
    text(w, "Name", n->service_name);
    close_tag(w, "Service");
    open_tag(w, "Person");
    text(w, "IdNumber", n->person);
    text(w, "Name", n->person_name);
    text(w, "HukouRegion", n->hukou_region);
    close_tag(w, "Person");
    put_entitlement(w, n);
    text(w, "Rule", n->rule);
    open_tag(w, "Facts");
    for (size_t i = 0; i < n->nfacts; i++)
        put_fact(w, &n->facts[i]);
    close_tag(w, "Facts");
    open_tag(w, "Parameters");
    for (size_t i = 0; i < n->nparams; i++)
        put_parameter(w, &n->params[i]);
    close_tag(w, "Parameters");
    put_cause(w, &n->cause);
    msgw_buf_puts(&w->doc, "</" NOTICE_ROOT ">\n");
}

static bool to_gb18030(const msgw_buf *doc, msgw_buf *out, msgw_errors *e)
{
    msgw_arena *a = msgw_arena_new(doc->len * 2 + 64);
    size_t len = 0;
    char *gb = msgw_utf8_to_gb18030(doc->data, doc->len, a, &len);
    if (gb)
        msgw_buf_append(out, gb, len);
    else
        msgw_error_add(e, -1, NULL, NULL, "encode.charset",
                       "the notice cannot be written in GB18030");
    msgw_arena_destroy(&a);
    return gb != NULL;
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
    writer w = {.ok = true, .e = e};
    msgw_buf_init(&w.doc);
    put_notice(&w, n, gb ? "GB18030" : "UTF-8");
    bool ok = w.ok;
    if (ok && gb)
        ok = to_gb18030(&w.doc, out, e);
    else if (ok)
        msgw_buf_append(out, w.doc.data, w.doc.len);
    msgw_buf_free(&w.doc);
    if (ok) *notice_type = gb ? NOTICE_TYPE_GB : NOTICE_TYPE;
    return ok;
}
