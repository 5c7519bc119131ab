/*
 * libFuzzer harness for the disability federation adapter.  Any bytes go
 * through the full decode stage with no media type, so the adapter's own
 * sniffing picks XML certificate events or the CSV roster (and, for CSV, the
 * UTF-8 / GB18030 detection).  Whatever decodes must encode back into the
 * same format, in UTF-8 and in GB18030, and decode again to equal records; a
 * failed round trip is a bug, so it traps instead of being ignored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/adapter.h"

extern const msgw_adapter msgw_adapter_cdpf;

#define MT_XML "application/vnd.msgw.cdpf.certificate+xml"
#define MT_CSV "text/csv"

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
            fprintf(stderr, "fuzz_cdpf: cannot build the dictionary or schemas\n");
            abort();
        }
        msgw_errors_clear(&e);
        msgw_adapter_ctx_defaults(&ctx, dict, schemas);
        ctx.max_document_bytes = 1u << 20;
    }
    return &ctx;
}

/* The same rule as the adapter's: a document whose first significant byte is '<' is XML. */
static bool looks_like_xml(const uint8_t *d, size_t n)
{
    size_t i = n >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
        i++;
    return i < n && d[i] == '<';
}

/* Only GB18030's own limits may stop an encode: anything else that decoded must encode. */
static bool only_charset_errors(const msgw_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i].rule, "encode.charset") != 0) return false;
    return e->n > 0;
}

static void round_trip(const msgw_adapter_ctx *ctx, const msgw_batch *first, const char *mt)
{
    const msgw_record **recs = calloc(first->nitems, sizeof *recs);
    if (!recs) abort();
    size_t n = 0;
    for (size_t i = 0; i < first->nitems; i++)
        if (first->items[i].record) recs[n++] = first->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    if (msgw_adapter_cdpf.encode(ctx, mt, recs, n, &out, &e)) {
        msgw_batch *again = msgw_batch_new();
        msgw_decode(ctx, &msgw_adapter_cdpf, mt, out.data, out.len, again);
        if (again->nitems != n || msgw_batch_count_ok(again) != n) __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if (!msgw_record_equal(recs[i], again->items[i].record)) __builtin_trap();
        msgw_batch_destroy(&again);
    } else if (!only_charset_errors(&e)) {
        __builtin_trap();
    }
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
    free(recs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter_ctx *ctx = context();
    msgw_batch *b = msgw_batch_new();
    msgw_decode(ctx, &msgw_adapter_cdpf, NULL, (const char *)data, size, b);
    if (msgw_batch_count_ok(b) > 0) {
        bool xml = looks_like_xml(data, size);
        round_trip(ctx, b, xml ? MT_XML : MT_CSV);
        round_trip(ctx, b, xml ? MT_XML "; charset=GB18030" : MT_CSV "; charset=GB18030");
    }
    msgw_batch_destroy(&b);
    return 0;
}
