/*
 * Eligibility notices for civil affairs (民政): an EligibilityNotice XML
 * document in the roster's style (readable English skeleton, pinyin-initial
 * leaves such as SFZH), telling the bureau that a person newly qualifies, no
 * longer qualifies or changed tier for a service, with the facts that
 * decided (and who sent them), the parameters used and the cause.  Written,
 * never read; the spec is schemas/messages/mca-notice.json (generated
 * mca-notice.xsd), the format docs/formats/mca.md "Eligibility notices".
 * UTF-8, or GB18030 when the bureau's media type asks for it, as rosters.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mca_internal.h"
#include "msgw/rules.h"
#include "msgw/text.h"

#define NOTICE_VERSION "1.0"
#define NOTICE_TYPE "application/vnd.msgw.mca.notice+xml"
#define NOTICE_TYPE_GB NOTICE_TYPE "; charset=GB18030"

/* Skeleton (readable English, as the roster's). */
#define N_ROOT "EligibilityNotice"
#define N_HEADER "Header"
#define N_SERVICE "Service"
#define N_PERSON "Person"
#define N_ENTITLEMENT "Entitlement"
#define N_FACTS "Facts"
#define N_FACT "Fact"
#define N_ATTRIBUTE "Attribute"
#define N_PARAMETERS "Parameters"
#define N_PARAMETER "Parameter"
#define N_CAUSE "Cause"
#define N_CHANGE "Change"

/* Leaves: pinyin initials of the Chinese names, as the sector's systems name columns. */
#define N_TZBH "TZBH"   /* 通知编号: notice (event) id */
#define N_FSXT "FSXT"   /* 发送系统: sending system */
#define N_BDLX "BDLX"   /* 变动类型: NEW / LOST / CHANGED */
#define N_PDRQ "PDRQ"   /* 判定日期: evaluation date */
#define N_FWBM "FWBM"   /* 服务编码: service code */
#define N_FWMC "FWMC"   /* 服务名称: service name */
#define N_KSRQ "KSRQ"   /* 开始日期: eligible since */
#define N_JSRQ "JSRQ"   /* 结束日期: last day eligible (LOST) */
#define N_DYDC "DYDC"   /* 待遇档次: tier */
#define N_DYJE "DYJE"   /* 待遇金额（分）: amount, fen */
#define N_FFZQ "FFZQ"   /* 发放周期: amount period */
#define N_YDYDC "YDYDC" /* 原待遇档次: previous tier */
#define N_YDYJE "YDYJE" /* 原待遇金额（分）: previous amount, fen */
#define N_PDGZ "PDGZ"   /* 判定规则: the rule */
#define N_SSLX "SSLX"   /* 事实类型: fact type */
#define N_YXQQ "YXQQ"   /* 有效期起: valid from */
#define N_YXQZ "YXQZ"   /* 有效期止: valid to */
#define N_SXMC "SXMC"   /* 属性名称: attribute (dictionary element) */
#define N_SXZ "SXZ"     /* 属性值: attribute value */
#define N_LYBM "LYBM"   /* 来源部门: source department */
#define N_XXBH "XXBH"   /* 消息编号: message id */
#define N_JLSJ "JLSJ"   /* 记录时间: recorded at */
#define N_CSMC "CSMC"   /* 参数名称: parameter name */
#define N_CSZ "CSZ"     /* 参数值: parameter value */
#define N_SXRQ "SXRQ"   /* 生效日期: valid from (parameter value) */
#define N_CSLY "CSLY"   /* 参数来源: parameter source */
#define N_YYLX "YYLX"   /* 原因类型: record / calendar / parameter */
#define N_YZ "YZ"       /* 原值: value before */
#define N_XZ "XZ"       /* 新值: value after */
#define N_CSYZ "CSYZ"   /* 参数原值: parameter value before */
#define N_CSXZ "CSXZ"   /* 参数新值: parameter value after */
#define N_SW "SW"       /* 死亡: a death ended it */

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

/* A text leaf; NULL writes nothing (an optional element left out). */
static void text(writer *w, const char *tag, const char *s)
{
    if (!s) return;
    if (!xml_safe(s)) {
        msgw_error_add(w->e, -1, NULL, tag, "mca.notice.xml_char",
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

/* An integer leaf (fen, parameter values); MSGW_ABSENT writes nothing. */
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

static void put_entitlement(writer *w, const msgw_notice *n)
{
    open_tag(w, N_ENTITLEMENT);
    date(w, N_KSRQ, n->since);
    date(w, N_JSRQ, n->until);
    text(w, N_DYDC, n->tier);
    integer(w, N_DYJE, n->amount);
    text(w, N_FFZQ, n->amount_period);
    text(w, N_YDYDC, n->previous_tier);
    integer(w, N_YDYJE, n->previous_amount);
    close_tag(w, N_ENTITLEMENT);
}

static void put_fact(writer *w, const msgw_notice_fact *f)
{
    open_tag(w, N_FACT);
    text(w, N_SSLX, f->type ? f->type : "");
    date(w, N_YXQQ, f->valid_from);
    date(w, N_YXQZ, f->valid_to);
    for (size_t i = 0; i < f->nattrs; i++) {
        char buf[32];
        open_tag(w, N_ATTRIBUTE);
        text(w, N_SXMC, f->attrs[i].name);
        text(w, N_SXZ, value_text(&f->attrs[i].v, buf, sizeof buf));
        close_tag(w, N_ATTRIBUTE);
    }
    text(w, N_LYBM, f->department ? f->department : "");
    text(w, N_XXBH, f->message_id ? f->message_id : "");
    if (f->recorded_at) {
        char t[28];
        text(w, N_JLSJ, msgw_time_format(f->recorded_at, t));
    }
    close_tag(w, N_FACT);
}

static void put_parameter(writer *w, const msgw_notice_param *p)
{
    open_tag(w, N_PARAMETER);
    text(w, N_CSMC, p->name ? p->name : "");
    integer(w, N_CSZ, p->value);
    date(w, N_SXRQ, p->from);
    text(w, N_CSLY, p->source);
    close_tag(w, N_PARAMETER);
}

static void put_cause(writer *w, const msgw_notice_cause *c)
{
    open_tag(w, N_CAUSE);
    text(w, N_YYLX, msgw_notice_cause_name(c->kind));
    text(w, N_LYBM, c->department);
    text(w, N_XXBH, c->message_id);
    for (size_t i = 0; i < c->nchanges; i++) {
        open_tag(w, N_CHANGE);
        text(w, N_SSLX, c->changes[i].fact ? c->changes[i].fact : "");
        text(w, N_SXMC, c->changes[i].attribute ? c->changes[i].attribute : "");
        text(w, N_YZ, c->changes[i].from);
        text(w, N_XZ, c->changes[i].to ? c->changes[i].to : "");
        close_tag(w, N_CHANGE);
    }
    text(w, N_CSMC, c->parameter);
    date(w, N_SXRQ, c->param_from);
    if (c->kind == MSGW_CAUSE_PARAMETER) {
        integer(w, N_CSYZ, c->old_value);
        integer(w, N_CSXZ, c->new_value);
    }
    if (c->death) text(w, N_SW, "true");
    close_tag(w, N_CAUSE);
}

static void put_notice(writer *w, const msgw_notice *n, const char *encoding)
{
    msgw_buf_printf(&w->doc, "<?xml version=\"1.0\" encoding=\"%s\"?>\n", encoding);
    msgw_buf_puts(&w->doc, "<" N_ROOT " version=\"" NOTICE_VERSION "\">\n");
    w->depth = 1;
    open_tag(w, N_HEADER);
    text(w, N_TZBH, n->event_id ? n->event_id : "");
    text(w, N_FSXT, "msgw");
    close_tag(w, N_HEADER);
    text(w, N_BDLX, msgw_notice_kind_name(n->kind));
    date(w, N_PDRQ, n->date);
    open_tag(w, N_SERVICE);
    text(w, N_FWBM, n->service_code);
    text(w, N_FWMC, n->service_name);
    close_tag(w, N_SERVICE);
    open_tag(w, N_PERSON);
    text(w, MCA_SFZH, n->person);
    text(w, MCA_XM, n->person_name);
    text(w, MCA_HJQH, n->hukou_region);
    close_tag(w, N_PERSON);
    put_entitlement(w, n);
    text(w, N_PDGZ, n->rule);
    open_tag(w, N_FACTS);
    for (size_t i = 0; i < n->nfacts; i++)
        put_fact(w, &n->facts[i]);
    close_tag(w, N_FACTS);
    open_tag(w, N_PARAMETERS);
    for (size_t i = 0; i < n->nparams; i++)
        put_parameter(w, &n->params[i]);
    close_tag(w, N_PARAMETERS);
    put_cause(w, &n->cause);
    msgw_buf_puts(&w->doc, "</" N_ROOT ">\n");
}

static bool to_gb18030(const msgw_buf *doc, msgw_buf *out, msgw_errors *e)
{
    msgw_arena *a = msgw_arena_new(doc->len * 2 + 64);
    size_t len = 0;
    char *gb = msgw_utf8_to_gb18030(doc->data, doc->len, a, &len);
    if (gb)
        msgw_buf_append(out, gb, len);
    else
        msgw_error_add(e, -1, NULL, NULL, "mca.encode.charset",
                       "the notice could not be converted to GB18030");
    msgw_arena_destroy(&a);
    return gb != NULL;
}

bool mca_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                       msgw_buf *out, const char **notice_type, msgw_errors *e)
{
    (void)ctx;
    mca_charset cs = mca_media_charset(media_type);
    if (cs == MCA_CS_OTHER) {
        msgw_error_add(e, -1, NULL, "charset", "mca.encode.charset",
                       "media type %s: notices are written in UTF-8 or GB18030", media_type);
        return false;
    }
    bool gb = cs == MCA_CS_GB;
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
