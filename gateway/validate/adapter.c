/* The limits every adapter decodes within (include/msgw/validate/adapter.h). */
#include <string.h>

#include "msgw/validate/adapter.h"

void msgw_adapter_ctx_defaults(msgw_adapter_ctx *ctx, const msgw_dict *dict,
                               const msgw_schemas *schemas)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->dict = dict;
    ctx->schemas = schemas;
    ctx->max_document_bytes = 64u << 20;
    ctx->max_depth = 32;
    ctx->max_records = 1000000;
}
