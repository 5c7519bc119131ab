/*
 * The civil affairs (民政, "mca") adapter: XML household assistance rosters
 * (低保 / 特困 / 低收入 / 低保边缘), as the departments' batch exchange sends
 * them.  Decoding lives in mca_decode.c, encoding in mca_encode.c, the
 * eligibility notices it receives in mca_notice.c; this file registers the
 * adapter and holds the small helpers both directions share.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mca_internal.h"
#include "msgw/base/text.h"

static const char *const mca_aliases[] = {"civil-affairs", "minzheng", NULL};
static const char *const mca_media_types[] = {"application/vnd.msgw.mca.roster+xml",
                                              "application/xml", NULL};

const msgw_adapter msgw_adapter_mca = {
    .name = "mca",
    .department = "民政 civil affairs",
    .aliases = mca_aliases,
    .media_types = mca_media_types,
    .decode = mca_decode,
    .encode = mca_encode,
    .encode_notice = mca_encode_notice,
    .notice_types = mca_notice_types,
    .join_notices = mca_join_notices,
};

bool mca_is_head(const char *relationship)
{
    return relationship && (strcmp(relationship, "01") == 0 || strcmp(relationship, "02") == 0);
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

mca_charset mca_classify_charset(const char *v, size_t n)
{
    if ((n == 5 && strncasecmp(v, "utf-8", 5) == 0) || (n == 4 && strncasecmp(v, "utf8", 4) == 0))
        return MCA_CS_UTF8;
    if (msgw_charset_is_gb(v, n)) return MCA_CS_GB;
    return MCA_CS_OTHER;
}

mca_charset mca_media_charset(const char *media_type)
{
    if (!media_type) return MCA_CS_NONE;
    for (const char *p = strchr(media_type, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = skip_space(p + 1);
        if (strncasecmp(q, "charset", 7) != 0) continue;
        q = skip_space(q + 7);
        if (*q != '=') continue;
        q = skip_space(q + 1);
        bool quoted = *q == '"';
        if (quoted) q++;
        size_t n = 0;
        while (q[n] && q[n] != ';' && (quoted ? q[n] != '"' : !isspace((unsigned char)q[n]))) n++;
        return mca_classify_charset(q, n);
    }
    return MCA_CS_NONE;
}
