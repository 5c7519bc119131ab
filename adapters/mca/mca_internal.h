/*
 * Shared between the civil affairs (民政) roster decoder and encoder: the
 * element names of the roster format and the text-encoding helpers both
 * directions need.  The format itself is described in docs/formats/mca.md and
 * schemas/messages/mca-roster.json; the tag names here must match that spec.
 */
#ifndef MCA_INTERNAL_H
#define MCA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "msgw/validate/adapter.h"

#define MCA_SCHEMA "mca-roster.xsd"
#define MCA_KIND "household_assistance_roster"
#define MCA_VERSION "1.0"
/* JLBH length in characters: room for a digest-based message id, not for payload. */
#define MCA_RECORD_ID_MAX 100

/* Structural elements (readable English, as the document's skeleton). */
#define MCA_ROOT "AssistanceRoster"
#define MCA_HEADER "Header"
#define MCA_HOUSEHOLD "Household"
#define MCA_MEMBER "Member"
#define MCA_CARE "CareAssessment"
#define MCA_ORPHAN "Orphan"

/* Header leaves (pinyin initials, as the legacy 民政 systems name them). */
#define MCA_FSDWQH "FSDWQH" /* 发送单位区划: sending unit's GB/T 2260 code */
#define MCA_FSXT "FSXT"     /* 发送系统: sending system */
#define MCA_PCH "PCH"       /* 批次号: batch id */
#define MCA_SCSJ "SCSJ"     /* 生成时间: generated at, RFC 3339 */

/* Household leaves. */
#define MCA_JLBH "JLBH"   /* 记录编号: the sender's record id -> source_message_id */
#define MCA_HBH "HBH"     /* 户编号 -> household_id */
#define MCA_HJQH "HJQH"   /* 户籍地区划 -> hukou_region */
#define MCA_HKXZ "HKXZ"   /* 户口性质 -> hukou_type */
#define MCA_JZLB "JZLB"   /* 救助类别 -> assistance_category */
#define MCA_KSRQ "KSRQ"   /* 救助开始日期 -> start_date */
#define MCA_JSRQ "JSRQ"   /* 救助结束日期 -> end_date */
#define MCA_YJZJE "YJZJE" /* 月救助金额（分） -> benefit_monthly_fen */

/* Member leaves. */
#define MCA_SFZH "SFZH"   /* 公民身份号码 -> id_number */
#define MCA_XM "XM"       /* 姓名 -> name */
#define MCA_XB "XB"       /* 性别 -> sex */
#define MCA_CSRQ "CSRQ"   /* 出生日期 -> birth_date */
#define MCA_MZ "MZ"       /* 民族 -> ethnic_group */
#define MCA_HYZK "HYZK"   /* 婚姻状况 -> marital_status */
#define MCA_YHZGX "YHZGX" /* 与户主关系 -> family_relationship */
#define MCA_YSR "YSR"     /* 月收入（分） -> income_monthly_fen */
#define MCA_SRLY "SRLY"   /* 收入来源 -> income_source */
#define MCA_JYZK "JYZK"   /* 就业状况 -> employment_status */
#define MCA_ZHDJ "ZHDJ"   /* 照护等级 -> care_level */
#define MCA_NLDJ "NLDJ"   /* 老年人能力等级 -> ability_level */
#define MCA_PGRQ "PGRQ"   /* 失能评估日期 -> assessment_date */
#define MCA_GELB "GELB"   /* 孤儿类别 -> orphan_status */
#define MCA_GYFS "GYFS"   /* 供养方式 -> care_placement */

/* Which charset a media type asks for. */
typedef enum { MCA_CS_NONE, MCA_CS_UTF8, MCA_CS_GB, MCA_CS_OTHER } mca_charset;

/*
 * The charset parameter of a media type such as
 * "application/xml; charset=GB18030" (NULL media type: none).
 */
mca_charset mca_media_charset(const char *media_type);
/* Classifies a charset name such as "UTF-8", "GB18030", "GBK" (len bytes, unquoted). */
mca_charset mca_classify_charset(const char *name, size_t len);
/* True for relationship codes that mark the head of household (GB/T 4761 01 本人, 02 户主). */
bool mca_is_head(const char *relationship);

void mca_decode(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf, size_t len,
                msgw_batch *out);
bool mca_encode(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_record *const *recs,
                size_t n, msgw_buf *out, msgw_errors *e);
/* An eligibility notice (mca_notice.c, spec schemas/messages/mca-notice.json). */
bool mca_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                       msgw_buf *out, const char **notice_type, msgw_errors *e);
extern const char *const mca_notice_types[];
void mca_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                      size_t n, msgw_buf *out);

#endif
