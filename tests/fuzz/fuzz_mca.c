/*
 * libFuzzer harness for the civil affairs roster adapter: any bytes go
 * through the full decode stage; whatever decodes must encode (UTF-8 and
 * GB18030) and decode again to equal records.  A failed round trip is a bug,
 * so it traps instead of being ignored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "msgw/decode/decode.h"

extern const msgw_adapter msgw_adapter_mca;

#define MT "application/vnd.msgw.mca.roster+xml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter_ctx *ctx = fuzz_context();
    msgw_batch *b = msgw_batch_new();
    msgw_decode(ctx, &msgw_adapter_mca, MT, (const char *)data, size, b);
    if (msgw_batch_count_ok(b) > 0) {
        fuzz_round_trip(&msgw_adapter_mca, b, MT, NULL);
        fuzz_round_trip(&msgw_adapter_mca, b, MT "; charset=GB18030", NULL);
    }
    msgw_batch_destroy(&b);
    return 0;
}
