/*
 * libFuzzer harness for the human resources and social security (hrss)
 * adapter: any bytes go through the full decode stage as JSON; whatever
 * decodes must encode (UTF-8 and GB18030) and decode again to equal records.
 * A failed round trip is a bug, so it traps instead of being ignored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "msgw/decode/decode.h"

extern const msgw_adapter msgw_adapter_hrss;

#define MT "application/vnd.msgw.hrss+json"
#define MT_GB "application/vnd.msgw.hrss+json; charset=gb18030"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter_ctx *ctx = fuzz_context();
    msgw_batch *b = msgw_batch_new();
    msgw_decode(ctx, &msgw_adapter_hrss, MT, (const char *)data, size, b);
    if (msgw_batch_count_ok(b) > 0) {
        fuzz_round_trip(&msgw_adapter_hrss, b, MT, NULL);
        fuzz_round_trip(&msgw_adapter_hrss, b, MT_GB, NULL);
    }
    msgw_batch_destroy(&b);
    return 0;
}
