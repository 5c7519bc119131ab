/*
 * Text encodings at the edge: departments send UTF-8 or GB18030 (legacy
 * systems).  Everything inside the gateway is UTF-8.
 */
#ifndef MSGW_TEXT_H
#define MSGW_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/arena.h"

/* Length of the valid UTF-8 prefix of s; == len when all of s is valid. */
size_t msgw_utf8_valid_prefix(const char *s, size_t len);
size_t msgw_utf8_strlen(const char *s, size_t len); /* code points; s must be valid UTF-8 */
/*
 * Converts GB18030 bytes to UTF-8 in arena a.  On an invalid or truncated
 * sequence returns NULL and sets *bad_offset to its byte offset.
 */
char *msgw_gb18030_to_utf8(const char *s, size_t len, msgw_arena *a, size_t *out_len,
                           size_t *bad_offset);
char *msgw_utf8_to_gb18030(const char *s, size_t len, msgw_arena *a, size_t *out_len);
/* True for "gb18030", "gbk", "gb2312" in any case. */
bool msgw_charset_is_gb(const char *charset, size_t len);

#endif
