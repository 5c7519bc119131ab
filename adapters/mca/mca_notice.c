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
#include "mca_internal.h"
#include "msgw/model/xmlwriter.h"

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
#define N_GX "GX"       /* 管辖: the deciding place is outside the region served */
#define N_GXYJ "YJ"     /* 依据: hukou | residence */
#define N_GXQH "QH"     /* 区划: the place's region */
#define N_GXFW "FW"     /* 服务区划: the region served */

static void put_entitlement(msgw_xmlw *w, const msgw_notice *n)
{
    msgw_xmlw_open(w, N_ENTITLEMENT);
    msgw_xmlw_date(w, N_KSRQ, n->since);
    msgw_xmlw_date(w, N_JSRQ, n->until);
    msgw_xmlw_text(w, N_DYDC, n->tier);
    msgw_xmlw_int(w, N_DYJE, n->amount);
    msgw_xmlw_text(w, N_FFZQ, n->amount_period);
    msgw_xmlw_text(w, N_YDYDC, n->previous_tier);
    msgw_xmlw_int(w, N_YDYJE, n->previous_amount);
    msgw_xmlw_close(w, N_ENTITLEMENT);
}

static void put_fact(msgw_xmlw *w, const msgw_notice_fact *f)
{
    msgw_xmlw_open(w, N_FACT);
    msgw_xmlw_text(w, N_SSLX, f->type ? f->type : "");
    msgw_xmlw_date(w, N_YXQQ, f->valid_from);
    msgw_xmlw_date(w, N_YXQZ, f->valid_to);
    for (size_t i = 0; i < f->nattrs; i++) {
        msgw_xmlw_open(w, N_ATTRIBUTE);
        msgw_xmlw_text(w, N_SXMC, f->attrs[i].name);
        msgw_xmlw_value(w, N_SXZ, &f->attrs[i].v);
        msgw_xmlw_close(w, N_ATTRIBUTE);
    }
    msgw_xmlw_text(w, N_LYBM, f->department ? f->department : "");
    msgw_xmlw_text(w, N_XXBH, f->message_id ? f->message_id : "");
    if (f->recorded_at) {
        char t[28];
        msgw_xmlw_text(w, N_JLSJ, msgw_time_format(f->recorded_at, t));
    }
    msgw_xmlw_close(w, N_FACT);
}

static void put_parameter(msgw_xmlw *w, const msgw_notice_param *p)
{
    msgw_xmlw_open(w, N_PARAMETER);
    msgw_xmlw_text(w, N_CSMC, p->name ? p->name : "");
    msgw_xmlw_int(w, N_CSZ, p->value);
    msgw_xmlw_date(w, N_SXRQ, p->from);
    msgw_xmlw_text(w, N_CSLY, p->source);
    msgw_xmlw_close(w, N_PARAMETER);
}

static void put_cause(msgw_xmlw *w, const msgw_notice_cause *c)
{
    msgw_xmlw_open(w, N_CAUSE);
    msgw_xmlw_text(w, N_YYLX, msgw_cause_kind_name(c->kind));
    msgw_xmlw_text(w, N_LYBM, c->department);
    msgw_xmlw_text(w, N_XXBH, c->message_id);
    for (size_t i = 0; i < c->nchanges; i++) {
        msgw_xmlw_open(w, N_CHANGE);
        msgw_xmlw_text(w, N_SSLX, c->changes[i].fact ? c->changes[i].fact : "");
        msgw_xmlw_text(w, N_SXMC, c->changes[i].attribute ? c->changes[i].attribute : "");
        msgw_xmlw_text(w, N_YZ, c->changes[i].from);
        msgw_xmlw_text(w, N_XZ, c->changes[i].to ? c->changes[i].to : "");
        msgw_xmlw_close(w, N_CHANGE);
    }
    msgw_xmlw_text(w, N_CSMC, c->parameter);
    msgw_xmlw_date(w, N_SXRQ, c->param_from);
    if (c->kind == MSGW_CAUSE_PARAMETER) {
        msgw_xmlw_int(w, N_CSYZ, c->old_value);
        msgw_xmlw_int(w, N_CSXZ, c->new_value);
    }
    if (c->death) msgw_xmlw_text(w, N_SW, "true");
    if (c->jurisdiction_by) {
        msgw_xmlw_open(w, N_GX);
        msgw_xmlw_text(w, N_GXYJ, c->jurisdiction_by);
        msgw_xmlw_text(w, N_GXQH, c->jurisdiction_region);
        msgw_xmlw_text(w, N_GXFW, c->jurisdiction_served);
        msgw_xmlw_close(w, N_GX);
    }
    msgw_xmlw_close(w, N_CAUSE);
}

static void put_notice(msgw_xmlw *w, const msgw_notice *n)
{
    msgw_xmlw_open_attrs(w, N_ROOT, "version", NOTICE_VERSION, NULL);
    msgw_xmlw_open(w, N_HEADER);
    msgw_xmlw_text(w, N_TZBH, n->event_id ? n->event_id : "");
    msgw_xmlw_text(w, N_FSXT, "msgw");
    msgw_xmlw_close(w, N_HEADER);
    msgw_xmlw_text(w, N_BDLX, msgw_transition_kind_name(n->kind));
    msgw_xmlw_date(w, N_PDRQ, n->date);
    msgw_xmlw_open(w, N_SERVICE);
    msgw_xmlw_text(w, N_FWBM, n->service_code);
    msgw_xmlw_text(w, N_FWMC, n->service_name);
    msgw_xmlw_close(w, N_SERVICE);
    msgw_xmlw_open(w, N_PERSON);
    msgw_xmlw_text(w, MCA_SFZH, n->person);
    msgw_xmlw_text(w, MCA_XM, n->person_name);
    msgw_xmlw_text(w, MCA_HJQH, n->hukou_region);
    msgw_xmlw_close(w, N_PERSON);
    put_entitlement(w, n);
    msgw_xmlw_text(w, N_PDGZ, n->rule);
    msgw_xmlw_open(w, N_FACTS);
    for (size_t i = 0; i < n->nfacts; i++)
        put_fact(w, &n->facts[i]);
    msgw_xmlw_close(w, N_FACTS);
    msgw_xmlw_open(w, N_PARAMETERS);
    for (size_t i = 0; i < n->nparams; i++)
        put_parameter(w, &n->params[i]);
    msgw_xmlw_close(w, N_PARAMETERS);
    put_cause(w, &n->cause);
    msgw_xmlw_close(w, N_ROOT);
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
    msgw_xmlw w;
    msgw_xmlw_init(&w, e, cs == MCA_CS_GB);
    w.xml_char_rule = "mca.notice.xml_char"; /* docs/formats/mca.md names it so */
    put_notice(&w, n);
    bool ok = msgw_xmlw_finish(&w, out, "mca.encode.charset");
    msgw_xmlw_clear(&w);
    if (ok) *notice_type = cs == MCA_CS_GB ? NOTICE_TYPE_GB : NOTICE_TYPE;
    return ok;
}

const char *const mca_notice_types[] = {NOTICE_TYPE, NULL};

/* <EligibilityNotices version="1.0">, the notices inside (no namespace, as the roster). */
void mca_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                      size_t n, msgw_buf *out)
{
    (void)notice_type; /* the notices' declaration names their encoding */
    (void)ids;         /* each notice names its id */
    msgw_notice_list_xml(out, N_ROOT "s", NULL, NOTICE_VERSION, bodies, lens, n);
}
