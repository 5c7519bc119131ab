/*
 * libFuzzer harness for the human resources and social security (hrss)
 * adapter: any bytes go through the full decode stage as JSON; whatever
 * decodes must encode (UTF-8 and GB18030) and decode again to equal records.
 * A failed round trip is a bug, so it traps instead of being ignored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "msgw/adapter.h"

extern const msgw_adapter msgw_adapter_hrss;

#define MT "application/vnd.msgw.hrss+json"
#define MT_GB "application/vnd.msgw.hrss+json; charset=gb18030"

/* Built on the first input and kept for the process: dictionary and schemas are read-only. */
static const msgw_adapter_ctx *context(void)
{
    static msgw_adapter_ctx ctx;
    static msgw_dict *dict;
    static msgw_schemas *schemas;
    if (!dict) {
        msgw_errors e;
        msgw_errors_init(&e);
        dict = msgw_dict_new_default(&e);
        schemas = dict ? msgw_schemas_new(&e) : NULL;
        if (!dict || !schemas) {
            fprintf(stderr, "fuzz_hrss: cannot build the dictionary or schemas\n");
            abort();
        }
        msgw_errors_clear(&e);
        msgw_adapter_ctx_defaults(&ctx, dict, schemas);
        ctx.max_document_bytes = 1u << 20;
    }
    return &ctx;
}

static void round_trip(const msgw_adapter_ctx *ctx, const msgw_batch *first, const char *mt)
{
    const msgw_record **recs = calloc(first->nitems, sizeof *recs);
    if (!recs)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < first->nitems; i++)
        if (first->items[i].record)
            recs[n++] = first->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    if (!msgw_adapter_hrss.encode(ctx, mt, recs, n, &out, &e))
        __builtin_trap();
    msgw_batch *again = msgw_batch_new();
    msgw_decode(ctx, &msgw_adapter_hrss, mt, out.data, out.len, again);
    if (again->nitems != n || msgw_batch_count_ok(again) != n)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (!msgw_record_equal(recs[i], again->items[i].record))
            __builtin_trap();
    msgw_batch_destroy(&again);
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
    free(recs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter_ctx *ctx = context();
    msgw_batch *b = msgw_batch_new();
    msgw_decode(ctx, &msgw_adapter_hrss, MT, (const char *)data, size, b);
    if (msgw_batch_count_ok(b) > 0) {
        round_trip(ctx, b, MT);
        round_trip(ctx, b, MT_GB);
    }
    msgw_batch_destroy(&b);
    return 0;
}
