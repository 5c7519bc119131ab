/* Shared test helpers: locate test data, build one adapter context per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "msgw/decode/decode.h"

static msgw_dict *tu_dict;
static msgw_schemas *tu_schemas;
static msgw_adapter_ctx tu_context;

const char *tu_path(const char *relpath, char *buf, size_t len)
{
    const char *root = getenv("MSGW_SOURCE_ROOT");
    snprintf(buf, len, "%s/%s", root ? root : ".", relpath);
    return buf;
}

char *tu_read_file(const char *relpath, size_t *len)
{
    char path[4096];
    tu_path(relpath, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        fail();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

msgw_adapter_ctx *tu_ctx(void)
{
    if (!tu_dict) {
        msgw_errors e;
        msgw_errors_init(&e);
        tu_dict = msgw_dict_new_default(&e);
        if (tu_dict) tu_schemas = msgw_schemas_new(&e);
        if (!tu_dict || !tu_schemas) {
            char b[1024];
            for (size_t i = 0; i < e.n; i++) fprintf(stderr, "%s\n", msgw_error_format(&e.v[i], b, sizeof b));
            fail();
        }
        msgw_errors_clear(&e);
        msgw_adapter_ctx_defaults(&tu_context, tu_dict, tu_schemas);
    }
    return &tu_context;
}

void tu_ctx_free(void)
{
    msgw_schemas_destroy(&tu_schemas);
    msgw_dict_destroy(&tu_dict);
}

msgw_batch *tu_decode(const char *adapter, const char *media_type, const char *buf, size_t len)
{
    const msgw_adapter *ad = msgw_adapter_find(adapter);
    assert_non_null(ad);
    msgw_batch *b = msgw_batch_new();
    msgw_decode(tu_ctx(), ad, media_type ? media_type : ad->media_types[0], buf, len, b);
    return b;
}

int tu_has_error(const msgw_batch *b, const char *rule, const char *loc_part)
{
    for (size_t i = 0; i < b->errors.n; i++) {
        const msgw_error *e = &b->errors.v[i];
        if (e->rule && strcmp(e->rule, rule) == 0 &&
            (!loc_part || (e->location && strstr(e->location, loc_part))))
            return 1;
    }
    return 0;
}

void tu_dump_errors(const msgw_batch *b)
{
    char buf[1024];
    for (size_t i = 0; i < b->errors.n; i++)
        fprintf(stderr, "  [%d] %s\n", b->errors.v[i].record,
                msgw_error_format(&b->errors.v[i], buf, sizeof buf));
}
