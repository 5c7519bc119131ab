/*
 * libFuzzer harness for the envelopes of peer gateways (gateway/pipeline/peer.c):
 * whatever a peer pushes is opened against two real development PKIs
 * (Tianjin sealing, Hebei opening), made once at start-up with
 * certs/dev-pki.sh.  A freshly sealed envelope is written into the corpus
 * directory first, so mutations start from one whose signature verifies.
 * An input that opens must name this gateway and carry a record.  An input that is a JSON array
 * is also opened as a list of envelopes (X-Msgw-Envelopes, docs/federation.md), each item as the
 * peering listener opens it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "msgw/pipeline/peer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static msgw_config *hebei_cfg;
static msgw_peers *hebei;
static char pki_dir[] = "/tmp/msgw-fuzz-envelope-XXXXXX";

static void remove_pki(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", pki_dir);
    if (system(cmd) != 0) { /* a leftover temporary directory is all that can go wrong */
    }
}

static msgw_config *config(const char *dir, const char *region, const char *peer)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"region\": \"%s\", \"data_dir\": \"%s\", \"tls\": {\"ca\": \"%s/%s/ca.crt\", \"cert\": "
             "\"%s/%s/gateway.crt\", \"key\": \"%s/%s/gateway.key\"}, \"peering\": {\"listen\": \"127.0.0.1:0\"},"
             " \"departments\": [{\"id\": \"mca\", \"certificate\": {\"organization\": \"%s\", \"unit\": \"mca\"},"
             " \"push\": []}], \"peers\": [{\"id\": \"p\", \"region\": \"%s\", \"url\": \"https://localhost:1\","
             " \"ca\": \"%s/%s/ca.crt\", \"kinds\": [\"disability_certificate\"], \"fields\": [\"hukou_region\"]}]}",
             region, dir, dir, region, dir, region, dir, region, region, peer, dir, peer);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_parse(text, strlen(text), fuzz_context()->dict, &e);
    msgw_errors_clear(&e);
    if (!c) abort();
    return c;
}

static msgw_peers *peers(const msgw_config *c)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_peers *p = msgw_peers_new(c, &e);
    msgw_errors_clear(&e);
    if (!p) abort();
    return p;
}

/* A valid envelope from Tianjin to Hebei, as the first seed in the corpus directory. */
static void write_seed(const char *corpus, const msgw_config *tj_cfg)
{
    msgw_peers *tj = peers(tj_cfg);
    json_t *r = json_pack("{s:s,s:{s:s,s:s},s:[{s:s,s:s}],s:[]}", "kind", "disability_certificate", "source",
                          "department", "cdpf", "message_id", "C-1", "persons", "id_number", "131082199007210154",
                          "hukou_region", "131082", "facts");
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_envelope hdr;
    if (msgw_peers_seal(tj, &tj_cfg->departments[tj_cfg->ndepartments - 1], r, "cdpf:C-1", NULL, 0, &out, &hdr)) {
        char path[4200];
        snprintf(path, sizeof path, "%s/sealed-envelope", corpus);
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(out.data, 1, out.len, f);
            fclose(f);
        }
        snprintf(path, sizeof path, "%s/sealed-envelope-list", corpus); /* the same, in a list of two */
        if ((f = fopen(path, "w"))) {
            fprintf(f, "[%.*s,\n%.*s]", (int)out.len, out.data, (int)out.len, out.data);
            fclose(f);
        }
    }
    msgw_buf_free(&out);
    json_decref(r);
    msgw_peers_destroy(&tj);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *dir = pki_dir;
    if (!mkdtemp(dir)) abort();
    atexit(remove_pki);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s/certs/dev-pki.sh %s/12 12 >/dev/null 2>&1 && %s/certs/dev-pki.sh %s/13 13 >/dev/null 2>&1",
             MSGW_SOURCE_ROOT, dir, MSGW_SOURCE_ROOT, dir);
    if (system(cmd) != 0) abort();
    msgw_config *tj_cfg = config(dir, "12", "13");
    hebei_cfg = config(dir, "13", "12");
    hebei = peers(hebei_cfg);
    const char *corpus = *argc > 1 ? (*argv)[*argc - 1] : NULL;
    if (corpus && corpus[0] != '-' && access(corpus, W_OK) == 0) write_seed(corpus, tj_cfg);
    msgw_config_destroy(&tj_cfg);
    return 0;
}

/* What opening gives: a record naming this gateway, or a refusal that says which rule. */
static void check_opened(bool ok, json_t *record, const msgw_envelope *hdr, const msgw_errors *e)
{
    if (ok && (!json_is_object(record) || strcmp(hdr->destination, "13") != 0 || e->n)) abort();
    if (!ok && (record || !e->n || !e->v[0].rule)) abort();
}

/* Each item of a list, opened as the peering listener opens it. */
static void open_list(const msgw_department *from, const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    size_t i;
    json_t *x;
    json_array_foreach(doc, i, x) {
        json_t *record = NULL;
        msgw_envelope hdr;
        msgw_errors e;
        msgw_errors_init(&e);
        check_opened(msgw_peers_open_json(hebei, from, x, &record, &hdr, &e), record, &hdr, &e);
        json_decref(record);
        msgw_errors_clear(&e);
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const msgw_department *from = &hebei_cfg->departments[hebei_cfg->ndepartments - 1];
    json_t *record = NULL;
    msgw_envelope hdr;
    msgw_errors e;
    msgw_errors_init(&e);
    bool ok = msgw_peers_open(hebei, from, (const char *)data, size, &record, &hdr, &e);
    check_opened(ok, record, &hdr, &e);
    json_decref(record);
    msgw_errors_clear(&e);
    msgw_envelope_read((const char *)data, size, &hdr); /* the sender's reading of its own */
    if (size && data[0] == '[') open_list(from, data, size);
    return 0;
}
