/*
 * The decode stage of the pipeline: the registry of department formats
 * (gateway/decode/adapters.c) and the stage itself (gateway/decode/decode.c):
 * a document in, validated canonical records out.
 */
#ifndef MSGW_DECODE_H
#define MSGW_DECODE_H

#include "msgw/validate/adapter.h"

/* The registered adapters, in registration order, NULL-terminated. */
const msgw_adapter *const *msgw_adapters(void);
/* By name or alias (case-insensitive); NULL if unknown. */
const msgw_adapter *msgw_adapter_find(const char *name);
/* By media type (parameters such as ";charset=" ignored); NULL if unknown. */
const msgw_adapter *msgw_adapter_for_media_type(const char *media_type);
/* The adapter that writes notices of this media type (its notice_types); NULL if none does. */
const msgw_adapter *msgw_adapter_for_notice_type(const char *notice_type);

/*
 * The decode stage of the pipeline: adapter decode, then the dictionary's
 * record rules, then message ids (digest of the canonical form when the
 * sender gave none).  Items whose record fails are emptied.
 */
void msgw_decode(const msgw_adapter_ctx *ctx, const msgw_adapter *ad, const char *media_type,
                 const char *buf, size_t len, msgw_batch *out);
/*
 * The same, for records a department pushed: sender (the authenticated department) becomes every
 * record's source, and a record that names another department as its source (a canonical
 * document's source.department) is rejected (rule record.source).  sender NULL: msgw_decode.
 */
void msgw_decode_as(const msgw_adapter_ctx *ctx, const msgw_adapter *ad, const char *media_type,
                    const char *sender, const char *buf, size_t len, msgw_batch *out);

#endif
