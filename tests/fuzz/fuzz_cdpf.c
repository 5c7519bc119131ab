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

#include "fuzz_common.h"
#include "msgw/decode/decode.h"

extern const msgw_adapter msgw_adapter_cdpf;

#define MT_XML "application/vnd.msgw.cdpf.certificate+xml"
#define MT_CSV "text/csv"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_adapter_ctx *ctx = fuzz_context();
    msgw_batch *b = msgw_batch_new();
    msgw_decode(ctx, &msgw_adapter_cdpf, NULL, (const char *)data, size, b);
    if (msgw_batch_count_ok(b) > 0) {
        bool xml = looks_like_xml(data, size);
        fuzz_round_trip(&msgw_adapter_cdpf, b, xml ? MT_XML : MT_CSV, only_charset_errors);
        fuzz_round_trip(&msgw_adapter_cdpf, b, xml ? MT_XML "; charset=GB18030" : MT_CSV "; charset=GB18030", only_charset_errors);
    }
    msgw_batch_destroy(&b);
    return 0;
}
