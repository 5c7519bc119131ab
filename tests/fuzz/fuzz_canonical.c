/*
 * libFuzzer harness for the canonical JSON decoder: decode, and for every
 * record that passes, encode and decode again; the round trip must agree.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "msgw/decode/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter *ad = msgw_adapter_find("canonical");
    msgw_batch *b = msgw_batch_new();
    msgw_decode(fuzz_context(), ad, ad->media_types[0], (const char *)data, size, b);
    for (size_t i = 0; i < b->nitems; i++) {
        const msgw_record *r = b->items[i].record;
        if (!r) continue;
        msgw_buf out;
        msgw_buf_init(&out);
        msgw_errors e;
        msgw_errors_init(&e);
        if (ad->encode(fuzz_context(), ad->media_types[0], &r, 1, &out, &e)) {
            msgw_batch *b2 = msgw_batch_new();
            msgw_decode(fuzz_context(), ad, ad->media_types[0], out.data, out.len, b2);
            if (b2->nitems != 1 || !b2->items[0].record ||
                !msgw_record_equal(r, b2->items[0].record))
                abort(); /* a valid record must survive its own encoding */
            msgw_batch_destroy(&b2);
        }
        msgw_errors_clear(&e);
        msgw_buf_free(&out);
    }
    msgw_batch_destroy(&b);
    return 0;
}
