/*
 * The daemon's log: one JSON object per line (time, level, msg, then
 * key=value fields), so a collector reads it as data.  Every value written
 * has its ID numbers masked (msgw_idnum_scrub): a log never holds one in the
 * clear.  Lines go out whole (one write each), so threads do not interleave.
 *
 * The sink and the threshold are the process's (msgw_log_ctx in log.c), set
 * once at startup; until then lines go to stderr at level info.
 */
#ifndef MSGW_LOG_H
#define MSGW_LOG_H

#include <stdio.h>

#include "msgw/base/error.h"

typedef enum { MSGW_LOG_DEBUG, MSGW_LOG_INFO, MSGW_LOG_WARNING, MSGW_LOG_ERROR } msgw_log_level;

/* Where lines go (the stream stays the caller's) and the least level written. */
void msgw_log_setup(FILE *out, msgw_log_level min);
/* One line: msg, then key/value string pairs ending with NULL (a NULL value omits its key). */
void msgw_log(msgw_log_level level, const char *msg, ...) __attribute__((sentinel));
/* One line per error or warning of e, each with its location, field and rule. */
void msgw_log_errors(msgw_log_level level, const char *msg, const msgw_errors *e);
/* "debug", "info", "warning", "error"; parses them back (false: unknown). */
const char *msgw_log_level_name(msgw_log_level level);
int msgw_log_level_parse(const char *name, msgw_log_level *out);

#endif
