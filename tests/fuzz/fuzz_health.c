/*
 * libFuzzer harness for the health adapter (FHIR R4 JSON): decode, and when
 * any record passes, encode all passing records into one Bundle and decode
 * that again.  The records must come back equal and in the same order: the
 * encoder folds a death into the Patient before it and refers to Patients by
 * fullUrl, so the whole set is round-tripped together, not record by record.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "msgw/decode/decode.h"

static void round_trip(const msgw_adapter *ad, const msgw_record **recs, size_t n)
{
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    if (!ad->encode(fuzz_context(), ad->media_types[0], recs, n, &out, &e))
        abort(); /* every record the decoder accepts is of a kind the encoder writes */
    msgw_batch *b2 = msgw_batch_new();
    msgw_decode(fuzz_context(), ad, ad->media_types[0], out.data, out.len, b2);
    if (b2->nitems != n) abort();
    for (size_t i = 0; i < n; i++)
        if (!b2->items[i].record || !msgw_record_equal(recs[i], b2->items[i].record)) abort();
    msgw_batch_destroy(&b2);
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter *ad = msgw_adapter_find("health");
    msgw_batch *b = msgw_batch_new();
    msgw_decode(fuzz_context(), ad, ad->media_types[0], (const char *)data, size, b);
    const msgw_record **recs = calloc(b->nitems + 1, sizeof *recs);
    if (!recs) abort();
    size_t n = 0;
    for (size_t i = 0; i < b->nitems; i++)
        if (b->items[i].record) recs[n++] = b->items[i].record;
    if (n) round_trip(ad, recs, n);
    free(recs);
    msgw_batch_destroy(&b);
    return 0;
}
