/*
 * libFuzzer harness for the audit log's verifier and reader (gateway/store/audit.c): whoever can
 * write the log's files can put any bytes in them, and `msgw audit verify`, GET /v1/audit/verify
 * and the disclosure report read them back.  An input is a log: its segments separated by an
 * empty line (which a segment itself never holds), written as audit-000001.jsonl, ... and then
 * verified against the development PKI's gateway certificate, stepped as the admin listener
 * steps it, and read back for one person as the disclosure report does.
 *
 * The seed is a real log made at start-up: entries, a rotation to a second key by SIGHUP's path
 * (a hand-over, a checkpoint carrying the new certificate) and a reopen, so mutations start from
 * checkpoints whose signatures and carried certificates verify.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "msgw/store/audit.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char work_dir[] = "/tmp/msgw-fuzz-audit-XXXXXX";
static char log_dir[4200], cert_a[4200];

static void remove_work(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", work_dir);
    if (system(cmd) != 0) { /* a leftover temporary directory is all that can go wrong */
    }
}

static void append(msgw_audit *a, const char *kind, json_t *fields)
{
    msgw_errors e;
    msgw_errors_init(&e);
    if (!msgw_audit_append(a, kind, fields, &e)) abort();
    msgw_errors_clear(&e);
}

/* A log of two segments with a rotation, in dir: made by the gateway's own code. */
static void make_log(const char *dir)
{
    char key_a[4200], key_b[4200], cert_b[4200];
    snprintf(key_a, sizeof key_a, "%s/a/gateway.key", work_dir);
    snprintf(key_b, sizeof key_b, "%s/b/gateway.key", work_dir);
    snprintf(cert_b, sizeof cert_b, "%s/b/gateway.crt", work_dir);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_options o = {.checkpoint_every = 3, .checkpoint_seconds = 3600};
    msgw_audit *a = msgw_audit_open(dir, key_a, cert_a, &o, &e);
    if (!a) abort();
    append(a, "push", json_pack("{s:s,s:i}", "sender", "mca", "records", 2));
    append(a, "delivery", json_pack("{s:s,s:s,s:s,s:s,s:s}", "event_id", "ev-1", "recipient", "hrss",
                                    "person", "120101********0027", "outcome", "delivered", "kind", "record"));
    if (!msgw_audit_rekey(a, key_b, cert_b, &e)) abort();
    append(a, "admin", json_pack("{s:s,s:s,s:s}", "action", "person.disclosures", "person",
                                 "120101********0027", "by", "admin"));
    msgw_audit_destroy(&a);
    a = msgw_audit_open(dir, key_b, cert_b, &o, &e);
    if (!a) abort();
    append(a, "config", json_pack("{s:s,s:s}", "path", "/etc/msgw/msgw.json", "outcome", "reloaded"));
    msgw_audit_destroy(&a);
    msgw_errors_clear(&e);
}

static char *slurp_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    if (!buf) abort();
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* The seed: the segments of the log made at start-up, separated by an empty line. */
static void write_seed(const char *corpus)
{
    char dir[4300], path[4400], out[4400];
    snprintf(dir, sizeof dir, "%s/seed", work_dir);
    make_log(dir);
    snprintf(out, sizeof out, "%s/rotated-log", corpus);
    FILE *f = fopen(out, "w");
    if (!f) return;
    for (int no = 1;; no++) {
        size_t len;
        snprintf(path, sizeof path, "%s/audit-%06d.jsonl", dir, no);
        char *buf = slurp_file(path, &len);
        if (!buf) break;
        if (no > 1) fputc('\n', f);
        fwrite(buf, 1, len, f);
        free(buf);
    }
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!mkdtemp(work_dir)) abort();
    atexit(remove_work);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "%s/certs/dev-pki.sh %s/a 12 >/dev/null 2>&1 && %s/certs/dev-pki.sh %s/b 12 >/dev/null 2>&1",
             MSGW_SOURCE_ROOT, work_dir, MSGW_SOURCE_ROOT, work_dir);
    if (system(cmd) != 0) abort();
    snprintf(cert_a, sizeof cert_a, "%s/a/gateway.crt", work_dir);
    snprintf(log_dir, sizeof log_dir, "%s/log", work_dir);
    snprintf(cmd, sizeof cmd, "%s/log", work_dir);
    if (mkdir(cmd, 0700) != 0) abort();
    const char *corpus = *argc > 1 ? (*argv)[*argc - 1] : NULL;
    if (corpus && corpus[0] != '-' && access(corpus, W_OK) == 0) write_seed(corpus);
    return 0;
}

/* Writes the input's segments (the previous input's removed); how many. */
static int write_segments(const uint8_t *data, size_t size)
{
    static int written;
    char path[4400];
    for (; written > 0; written--) {
        snprintf(path, sizeof path, "%s/audit-%06d.jsonl", log_dir, written);
        unlink(path);
    }
    int n = 0;
    for (size_t at = 0; at <= size && n < 8;) {
        const uint8_t *end = NULL;
        for (size_t i = at; i + 1 < size; i++)
            if (data[i] == '\n' && data[i + 1] == '\n') {
                end = data + i + 1; /* the segment keeps its last newline */
                break;
            }
        size_t len = end ? (size_t)(end - (data + at)) : size - at;
        snprintf(path, sizeof path, "%s/audit-%06d.jsonl", log_dir, ++n);
        FILE *f = fopen(path, "wb");
        if (!f) abort();
        fwrite(data + at, 1, len, f);
        fclose(f);
        written = n;
        if (!end) break;
        at = (size_t)(end - data) + 1;
    }
    return n;
}

static bool count(void *ud, json_t *entry)
{
    if (!json_is_object(entry)) abort();
    (*(size_t *)ud)++;
    return true;
}

/* The report is coherent: a broken log names its problem, a verified one adds up. */
static void check_report(const msgw_audit_report *r)
{
    if (r->status == MSGW_AUDIT_BROKEN && !r->problem[0]) abort();
    if (r->status != MSGW_AUDIT_OK) return;
    if (r->entries == 0 || r->checkpoints > r->entries || r->after_last_checkpoint > r->entries ||
        r->last_checkpoint == 0 || r->last_checkpoint > r->last_seq || r->first_seq > r->last_seq)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_segments(data, size);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_report whole;
    msgw_audit_verify(log_dir, cert_a, &whole, &e);
    check_report(&whole);
    msgw_errors_clear(&e);
    /* stepped as the admin listener does: the same verdict */
    msgw_audit_verifier *v = msgw_audit_verifier_new(log_dir, cert_a, &e);
    if (!v) abort();
    while (msgw_audit_verifier_step(v, &e) == 1)
        continue;
    const msgw_audit_report *r = msgw_audit_verifier_report(v);
    if (r->status != whole.status || r->entries != whole.entries || r->last_seq != whole.last_seq) abort();
    msgw_audit_verifier_destroy(&v);
    msgw_errors_clear(&e);
    size_t all = 0, some = 0;
    msgw_audit_each(log_dir, NULL, count, &all, &e);
    msgw_audit_each(log_dir, "\"person\":\"120101********0027\"", count, &some, &e);
    if (some > all) abort();
    msgw_errors_clear(&e);
    return 0;
}
