/*
 * libFuzzer harness for the envelopes of peer gateways (gateway/pipeline/peer.c):
 * whatever a peer pushes is opened against two real development PKIs
 * (Tianjin sealing, Hebei opening), made once at start-up with
 * certs/dev-pki.sh.  A freshly sealed envelope is written into the corpus
 * directory first, so mutations start from one whose signature verifies.
 * An input that opens must name this gateway and carry a record.  An input that is a JSON array
 * is also opened as a list of envelopes (X-Msgw-Envelopes, docs/federation.md), each item as the
 * peering listener opens it.
 *
 * Mutations almost never keep a signature valid, so most inputs would stop at the signature check.
 * Each input that has an envelope and a record is therefore also signed again as Tianjin's gateway
 * would sign it: the mutated header and record then reach the route checks (destination, hops,
 * origin) and, once opened, the canonical decoder the peering listener hands the record to.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "fuzz_common.h"
#include "msgw/base/sign.h"
#include "msgw/decode/decode.h"
#include "msgw/pipeline/peer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static msgw_config *hebei_cfg;
static msgw_peers *hebei;
static EVP_PKEY *tianjin_key; /* signs mutated envelopes again */
static char *tianjin_cert;   /* its certificate as envelopes carry it (DER, base64) */
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
    return fuzz_config_of(text);
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

/* Tianjin's key, and its certificate as a sealed envelope carries it. */
static void load_signer(const char *dir, const char *sealed, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/12/gateway.key", dir);
    FILE *f = fopen(path, "r");
    if (!f || !(tianjin_key = PEM_read_PrivateKey(f, NULL, NULL, NULL))) abort();
    fclose(f);
    json_t *env = json_loadb(sealed, len, 0, NULL);
    const char *cert = json_string_value(json_object_get(json_object_get(env, "signature"), "certificate"));
    if (!cert || !(tianjin_cert = strdup(cert))) abort();
    json_decref(env);
}

/* A valid envelope from Tianjin to Hebei, as the first seed in the corpus directory (when one is
 * given); its signer kept for signing mutated envelopes again. */
static void write_seed(const char *dir, const char *corpus, const msgw_config *tj_cfg)
{
    msgw_peers *tj = peers(tj_cfg);
    json_t *r = json_pack("{s:s,s:{s:s,s:s},s:[{s:s,s:s}],s:[]}", "kind", "disability_certificate", "source",
                          "department", "cdpf", "message_id", "C-1", "persons", "id_number", "131082199007210154",
                          "hukou_region", "131082", "facts");
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_envelope hdr;
    if (!msgw_peers_seal(tj, &tj_cfg->departments[tj_cfg->ndepartments - 1], r, "cdpf:C-1", NULL, 0, &out, &hdr))
        abort();
    load_signer(dir, out.data, out.len);
    if (corpus) {
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
    write_seed(dir, corpus && corpus[0] != '-' && access(corpus, W_OK) == 0 ? corpus : NULL, tj_cfg);
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

/* The record of an opened envelope, decoded as the peering listener's queue decodes it. */
static void decode_record(json_t *record)
{
    const msgw_adapter *ad = msgw_adapter_find("canonical");
    char *text = json_dumps(record, JSON_COMPACT);
    msgw_batch *b = msgw_batch_new();
    if (text) msgw_decode_as(fuzz_context(), ad, ad->media_types[0], NULL, text, strlen(text), b);
    msgw_batch_destroy(&b);
    free(text);
}

/* doc's envelope and record signed again by Tianjin, then opened: past the signature check. */
static void open_resigned(const msgw_department *from, json_t *doc)
{
    json_t *h = json_object_get(doc, "envelope"), *r = json_object_get(doc, "record");
    if (!json_is_object(doc) || !h || !r) return;
    json_t *covered = json_pack("{s:O,s:O}", "envelope", h, "record", r);
    char *bytes = json_dumps(covered, JSON_SORT_KEYS | JSON_COMPACT);
    char *sig = bytes ? msgw_sign_b64(tianjin_key, bytes, strlen(bytes)) : NULL;
    json_decref(covered);
    free(bytes);
    if (!sig) return;
    json_object_set_new(doc, "signature", json_pack("{s:s,s:s,s:s}", "algorithm", "SHA256", "certificate",
                                                    tianjin_cert, "value", sig));
    free(sig);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_t *record = NULL;
    msgw_envelope hdr;
    msgw_errors e;
    msgw_errors_init(&e);
    bool ok = text && msgw_peers_open(hebei, from, text, strlen(text), &record, &hdr, &e);
    if (text) check_opened(ok, record, &hdr, &e);
    if (ok) decode_record(record);
    json_decref(record);
    msgw_errors_clear(&e);
    free(text);
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
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    open_resigned(from, doc);
    json_decref(doc);
    return 0;
}
