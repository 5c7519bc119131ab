/*
 * Shared inside the 人社 (hrss) adapter (not a public interface): what the
 * record codec (hrss.c) and the eligibility notice writer (hrss_notice.c)
 * must agree on, so that a notice names a dictionary element by the same
 * sector field code as the records do.
 */
#ifndef HRSS_INTERNAL_H
#define HRSS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "msgw/validate/adapter.h"

/* The sector field code of a dictionary element ("insurance_type" -> "AAE140"), or NULL. */
const char *hrss_field_code(const char *element);
/* The charset parameter of a media type (*cs not NUL-terminated, *cslen bytes); false if none. */
bool hrss_media_charset(const char *media_type, const char **cs, size_t *cslen);
/* An eligibility notice (hrss_notice.c, spec schemas/messages/hrss-notice.json). */
bool hrss_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                        msgw_buf *out, const char **notice_type, msgw_errors *e);
extern const char *const hrss_notice_types[];
void hrss_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                       size_t n, msgw_buf *out);

#endif
