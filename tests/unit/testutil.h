/* Helpers shared by the unit tests: test data files and a ready adapter context. */
#ifndef MSGW_TESTUTIL_H
#define MSGW_TESTUTIL_H

#include <stddef.h>

#include "msgw/decode/decode.h"

/* Reads a file relative to the source root ($MSGW_SOURCE_ROOT); fails the test if missing. */
char *tu_read_file(const char *relpath, size_t *len);
/* Absolute path of a file under the source root (static buffer per call site use). */
const char *tu_path(const char *relpath, char *buf, size_t len);
/* Dictionary + compiled schemas + default limits, built once per process. */
msgw_adapter_ctx *tu_ctx(void);
void tu_ctx_free(void);
/* Decodes with the named adapter through the full decode stage (msgw_decode). */
msgw_batch *tu_decode(const char *adapter, const char *media_type, const char *buf, size_t len);
/* True when the batch has an error with this rule (and, if loc_part != NULL, location containing it). */
int tu_has_error(const msgw_batch *b, const char *rule, const char *loc_part);
/* Prints all errors of a batch to stderr (for failing tests). */
void tu_dump_errors(const msgw_batch *b);

#endif
