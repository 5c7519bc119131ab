/*
 * libFuzzer harness for the configuration loader (include/msgw/net/config.h): any bytes as a
 * configuration file.  It loads or says why with errors naming JSON pointers; it never crashes,
 * and a configuration that loads is freed whole.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "msgw/net/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter_ctx *ctx = fuzz_context();
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_parse((const char *)data, size, ctx->dict, &e);
    if (c && e.nerrors) abort(); /* loaded with errors: the loader lost one */
    if (!c && !e.nerrors) abort(); /* refused without saying why */
    msgw_config_destroy(&c);
    msgw_errors_clear(&e);
    return 0;
}
