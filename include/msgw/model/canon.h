/*
 * The canonical JSON form of records (docs/canonical.md): the lingua franca
 * between gateways, in traces and in `msgw normalize` output.  Encoding is
 * deterministic (fixed key order), so a digest of it identifies the content.
 */
#ifndef MSGW_CANON_H
#define MSGW_CANON_H

#include <jansson.h>

#include "msgw/base/buf.h"
#include "msgw/model/dict.h"
#include "msgw/model/model.h"

json_t *msgw_canon_encode(const msgw_record *r);
/* Compact deterministic text into out (appended), written directly (no jansson tree). */
void msgw_canon_write(const msgw_record *r, msgw_buf *out);
/* The same through jansson's dump: the reference the direct writer is tested against. */
void msgw_canon_write_jansson(const msgw_record *r, msgw_buf *out);
/* A value as it appears in the canonical form: codes and text as strings, money and integers
 * as numbers (fen), dates as "YYYY-MM-DD". */
json_t *msgw_canon_value(const msgw_value *v);
/* SHA-256 of n bytes as 64 lower-case hex characters (and NUL). */
void msgw_sha256_hex(const void *p, size_t n, char hex[65]);
/* SHA-256 of the canonical form without message id and recorded_at, as 64 hex chars. */
void msgw_canon_digest(const msgw_record *r, char hex[65]);
/*
 * Decodes one canonical record (an object) or an array of them into out,
 * validating every value against the dictionary.
 */
void msgw_canon_decode(const msgw_dict *d, const json_t *doc, msgw_batch *out);

#endif
