/* The parts every fuzz harness shares (fuzz_common.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "msgw/decode/decode.h"

const msgw_adapter_ctx *fuzz_context(void)
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
            fprintf(stderr, "fuzz: cannot build the dictionary or schemas\n");
            abort();
        }
        msgw_errors_clear(&e);
        msgw_adapter_ctx_defaults(&ctx, dict, schemas);
        ctx.max_document_bytes = 1u << 20;
    }
    return &ctx;
}

void fuzz_round_trip(const msgw_adapter *ad, const msgw_batch *first, const char *mt,
                     bool (*may_refuse)(const msgw_errors *e))
{
    const msgw_adapter_ctx *ctx = fuzz_context();
    const msgw_record **recs = calloc(first->nitems + 1, sizeof *recs);
    if (!recs) abort();
    size_t n = 0;
    for (size_t i = 0; i < first->nitems; i++)
        if (first->items[i].record) recs[n++] = first->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    if (ad->encode(ctx, mt, recs, n, &out, &e)) {
        msgw_batch *again = msgw_batch_new();
        msgw_decode(ctx, ad, mt, out.data, out.len, again);
        if (again->nitems != n || msgw_batch_count_ok(again) != n) __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if (!msgw_record_equal(recs[i], again->items[i].record)) __builtin_trap();
        msgw_batch_destroy(&again);
    } else if (!may_refuse || !may_refuse(&e)) {
        __builtin_trap();
    }
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
    free(recs);
}

msgw_config *fuzz_config_of(const char *text)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_parse(text, strlen(text), fuzz_context()->dict, &e);
    msgw_errors_clear(&e);
    if (!c) abort();
    return c;
}
