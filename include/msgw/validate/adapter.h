/*
 * The adapter interface: one module per department wire format.  An adapter
 * decodes a document into canonical records (with errors located in the
 * sender's terms) and encodes canonical records back into its format; it may
 * also write eligibility notices (include/msgw/model/notice.h) in its format.
 *
 * Adding a department is one new directory under adapters/ and one line in
 * gateway/decode/adapters.c (the registry, include/msgw/decode/decode.h); nothing
 * else changes.
 */
#ifndef MSGW_ADAPTER_H
#define MSGW_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/buf.h"
#include "msgw/model/dict.h"
#include "msgw/base/error.h"
#include "msgw/model/model.h"
#include "msgw/model/notice.h"
#include "msgw/validate/schemas.h"

typedef struct msgw_adapter_ctx {
    const msgw_dict *dict;
    const msgw_schemas *schemas; /* generated XSD / JSON Schema, compiled once */
    const char *fhir_id_system;  /* extra identifier system URI carrying the resident ID (health) */
    size_t max_document_bytes;   /* larger documents are refused before parsing */
    unsigned max_depth;          /* nesting limit for XML and JSON */
    size_t max_records;          /* records per document */
} msgw_adapter_ctx;

void msgw_adapter_ctx_defaults(msgw_adapter_ctx *ctx, const msgw_dict *dict,
                               const msgw_schemas *schemas);

typedef struct msgw_adapter {
    const char *name;               /* short id used in config and on the CLI: "mca" */
    const char *department;         /* "民政 civil affairs" */
    const char *const *aliases;     /* other accepted names, NULL-terminated (may be NULL) */
    const char *const *media_types; /* NULL-terminated; the first is the default */
    /*
     * Decodes buf into out: one item per record, errors in out->errors.  A
     * document-level failure (not well-formed, too large, wrong encoding)
     * adds an error with record -1 and no items.  Never stops at the first
     * bad record: a batch reports each record's outcome.
     */
    void (*decode)(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf, size_t len,
                   msgw_batch *out);
    /* Encodes n records into one document of media_type. */
    bool (*encode)(const msgw_adapter_ctx *ctx, const char *media_type,
                   const msgw_record *const *recs, size_t n, msgw_buf *out, msgw_errors *e);
    /*
     * Optional (NULL: the department receives the canonical notice).  Writes
     * one eligibility notice in this format.  media_type is the recipient's
     * configured delivery media type (NULL: none); an encoder takes its
     * charset parameter from it.  On success *notice_type is the media type of
     * what was written (a string constant).  False with errors in e when the
     * notice cannot be written; routing then sends the canonical notice.
     */
    bool (*encode_notice)(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                          msgw_buf *out, const char **notice_type, msgw_errors *e);
    /* The media types encode_notice writes, NULL-terminated (compared without their parameters:
     * a charset variant is the same type). */
    const char *const *notice_types;
    /*
     * Joins n notices encode_notice wrote (ids[i]: notice i's event id; bodies[i], lens[i]), all of
     * media type notice_type, into one list document of that media type
     * (include/msgw/model/notice.h: msgw_notice_list_*), for a recipient that takes several
     * notices per message.  Required with encode_notice.
     */
    void (*join_notices)(const char *notice_type, const char *const *ids, const char *const *bodies,
                         const size_t *lens, size_t n, msgw_buf *out);
} msgw_adapter;

#endif
