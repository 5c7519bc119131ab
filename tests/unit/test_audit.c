/*
 * The audit log on real files with real keys (EC P-256 as certs/dev-pki.sh
 * makes, and RSA): 1,000 entries from 4 threads verify; an edited byte, a
 * re-hashed edit, a deleted, duplicated or swapped line, a tampered
 * checkpoint signature, a foreign certificate, a missing segment and a torn
 * tail are each reported at their file, line and seq; pruning keeps the
 * rest verifiable from a signed checkpoint; unmasked ID numbers are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "msgw/store/audit.h"

typedef struct fx {
    char dir[64], log[96], key[96], cert[96], cert2[96], key2[96], cert3[96], key3[96];
} fx;

/* A self-signed certificate for a fresh key of the given type ("EC" or "RSA"). */
static void make_identity(const char *type, const char *key_path, const char *cert_path)
{
    EVP_PKEY *k = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                           : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    X509 *c = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), 0);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400);
    X509_set_pubkey(c, k);
    X509_NAME *n = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"gateway.test", -1, -1,
                               0);
    X509_set_issuer_name(c, n);
    assert_true(X509_sign(c, k, EVP_sha256()) > 0);
    FILE *f = fopen(key_path, "w");
    assert_non_null(f);
    assert_true(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    assert_non_null(f = fopen(cert_path, "w"));
    assert_true(PEM_write_X509(f, c));
    fclose(f);
    X509_free(c);
    EVP_PKEY_free(k);
}

static int setup_type(void **state, const char *type)
{
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/msgw-audit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->log, sizeof f->log, "%s/log", f->dir);
    snprintf(f->key, sizeof f->key, "%s/gateway.key", f->dir);
    snprintf(f->cert, sizeof f->cert, "%s/gateway.crt", f->dir);
    snprintf(f->key2, sizeof f->key2, "%s/other.key", f->dir);
    snprintf(f->cert2, sizeof f->cert2, "%s/other.crt", f->dir);
    snprintf(f->key3, sizeof f->key3, "%s/third.key", f->dir);
    snprintf(f->cert3, sizeof f->cert3, "%s/third.crt", f->dir);
    make_identity(type, f->key, f->cert);
    make_identity("EC", f->key2, f->cert2);
    make_identity("RSA", f->key3, f->cert3);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_type(state, "EC");
}

static int setup_rsa(void **state)
{
    return setup_type(state, "RSA");
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static msgw_audit *open_log(fx *f, size_t seg, size_t every)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_options o = {
        .segment_entries = seg, .checkpoint_every = every, .checkpoint_seconds = 3600};
    msgw_audit *a = msgw_audit_open(f->log, f->key, f->cert, &o, &e);
    if (!a && e.n) fprintf(stderr, "%s\n", e.v[0].message);
    assert_non_null(a);
    msgw_errors_clear(&e);
    return a;
}

static void append_n(msgw_audit *a, int n)
{
    msgw_errors e;
    msgw_errors_init(&e);
    for (int i = 0; i < n; i++)
        assert_true(
            msgw_audit_append(a, "push", json_pack("{s:s, s:i}", "sender", "mca", "n", i), &e));
    assert_int_equal(e.n, 0);
    msgw_errors_clear(&e);
}

/* A log of n pushes in one segment: line 1 the opening checkpoint, line k+1 push k. */
static void small_log(fx *f, int n)
{
    msgw_audit *a = open_log(f, 100000, 100000);
    append_n(a, n);
    msgw_audit_destroy(&a);
}

static msgw_audit_status verify(fx *f, const char *cert, msgw_audit_report *r)
{
    msgw_errors e;
    msgw_errors_init(&e);
    bool ok = msgw_audit_verify(f->log, cert ? cert : f->cert, r, &e);
    assert_int_equal(ok, r->status == MSGW_AUDIT_OK);
    if (r->status == MSGW_AUDIT_IOERROR) fprintf(stderr, "io: %s\n", e.n ? e.v[0].message : "?");
    msgw_errors_clear(&e);
    return r->status;
}

static void expect_broken(fx *f, const char *file, size_t line, uint64_t seq, const char *what)
{
    msgw_audit_report r;
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_BROKEN);
    if (!strstr(r.problem, what)) fprintf(stderr, "problem: %s\n", r.problem);
    assert_non_null(strstr(r.problem, what));
    assert_string_equal(r.file, file);
    assert_int_equal(r.line, line);
    assert_int_equal(r.seq, seq);
}

/* ---- editing segment files as an attacker would ---- */

typedef struct lines {
    char *v[16384];
    size_t n;
} lines;

static void seg(fx *f, int no, char *out, size_t len)
{
    snprintf(out, len, "%s/audit-%06d.jsonl", f->log, no);
}

static void read_lines(const char *path, lines *l)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *s = NULL;
    size_t cap = 0;
    l->n = 0;
    while (getline(&s, &cap, fp) > 0 && l->n < 16384)
        l->v[l->n++] = strdup(s);
    free(s);
    fclose(fp);
}

static void write_lines(const char *path, lines *l)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (size_t i = 0; i < l->n; i++) {
        fputs(l->v[i], fp);
        free(l->v[i]);
    }
    fclose(fp);
}

/* Recomputes an edited line's own hash, as someone who knows the format would. */
static char *rehash(const char *line)
{
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    json_object_del(j, "hash");
    char *canon = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT), hex[65];
    unsigned char md[32];
    EVP_Digest(canon, strlen(canon), md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    free(canon);
    json_object_set_new(j, "hash", json_string(hex));
    char *out = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT), *nl;
    json_decref(j);
    assert_true(asprintf(&nl, "%s\n", out) > 0);
    free(out);
    return nl;
}

/* ---- tests ---- */

typedef struct worker {
    msgw_audit *a;
    int id;
} worker;

static void *append_250(void *p)
{
    worker *w = p;
    msgw_errors e;
    msgw_errors_init(&e);
    for (int i = 0; i < 250; i++) {
        char req[32];
        snprintf(req, sizeof req, "req-%d-%d", w->id, i);
        json_t *f = json_pack("{s:i, s:s, s:s}", "thread", w->id, "request", req, "person",
                              "120101********123X");
        if (!msgw_audit_append(w->a, i % 2 ? "delivery" : "push", f, &e)) abort();
    }
    msgw_errors_clear(&e);
    return NULL;
}

static void test_threads_verify(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 100, 50);
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){a, i};
        assert_int_equal(pthread_create(&t[i], NULL, append_250, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_null(msgw_audit_open(f->log, f->key, f->cert, NULL, &e)); /* one writer at a time */
    assert_string_equal(e.v[0].rule, "audit.locked");
    msgw_errors_clear(&e);
    msgw_audit_destroy(&a);
    assert_null(a);
    msgw_audit_report r;
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_OK);
    assert_int_equal(r.entries - r.checkpoints, 1000);
    assert_true(r.checkpoints >= 1000 / 50);
    assert_true(r.segments >= 10);
    assert_int_equal(r.first_seq, 1);
    assert_int_equal(r.last_seq, r.entries);
    assert_int_equal(r.start_checkpoint, 0);
    assert_int_equal(r.last_checkpoint, r.last_seq);
    assert_int_equal(r.after_last_checkpoint, 0);
    assert_string_equal(r.start_file, "audit-000001.jsonl");
    /* reopening continues the chain in a new segment */
    a = open_log(f, 100, 50);
    append_n(a, 3);
    msgw_audit_destroy(&a);
    msgw_audit_report r2;
    assert_int_equal(verify(f, NULL, &r2), MSGW_AUDIT_OK);
    assert_int_equal(r2.entries - r2.checkpoints, 1003);
    assert_int_equal(r2.segments, r.segments + 1);
}

static void test_edit_one_byte(void **state)
{
    fx *f = *state;
    small_log(f, 20);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    char *n = strstr(l.v[16], "\"n\":15");
    assert_non_null(n);
    n[5] = '7'; /* push 15 now claims to be 17 */
    write_lines(path, &l);
    expect_broken(f, "audit-000001.jsonl", 17, 17, "hash does not match its content — edited");
}

static void test_edit_not_canonical(void **state)
{
    fx *f = *state;
    small_log(f, 5);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    char *p = strstr(l.v[3], "\"mca\"");
    memcpy(p, "\"MCA\"", 5);
    char *spaced; /* the same JSON value with one space more, two lines earlier */
    assert_true(asprintf(&spaced, "{ %s", l.v[2] + 1) > 0);
    free(l.v[2]);
    l.v[2] = spaced;
    write_lines(path, &l);
    expect_broken(f, "audit-000001.jsonl", 3, 3, "not in canonical form — edited");
}

static void test_rehashed_edit(void **state)
{
    fx *f = *state;
    small_log(f, 10);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    char *p = strstr(l.v[5], "\"mca\"");
    memcpy(p, "\"xxx\"", 5);
    char *forged = rehash(l.v[5]);
    free(l.v[5]);
    l.v[5] = forged;
    write_lines(path, &l);
    expect_broken(f, "audit-000001.jsonl", 7, 7,
                  "prev does not match the hash of entry 6 — inserted or reordered");
}

static void test_delete_line(void **state)
{
    fx *f = *state;
    small_log(f, 10);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    free(l.v[4]);
    memmove(&l.v[4], &l.v[5], (l.n - 5) * sizeof l.v[0]);
    l.n--;
    write_lines(path, &l);
    expect_broken(f, "audit-000001.jsonl", 5, 6, "seq jumps from 4 to 6 — an entry was deleted");
}

static void test_duplicate_line(void **state)
{
    fx *f = *state;
    small_log(f, 10);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    memmove(&l.v[5], &l.v[4], (l.n - 4) * sizeof l.v[0]);
    l.v[4] = strdup(l.v[5]);
    l.n++;
    write_lines(path, &l);
    expect_broken(f, "audit-000001.jsonl", 6, 5, "seq 5 follows 5 — an entry was inserted");
}

static void test_swap_lines(void **state)
{
    fx *f = *state;
    small_log(f, 10);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    char *t = l.v[4];
    l.v[4] = l.v[5];
    l.v[5] = t;
    write_lines(path, &l);
    expect_broken(f, "audit-000001.jsonl", 5, 6, "seq jumps from 4 to 6");
}

static void test_checkpoint_signature(void **state)
{
    fx *f = *state;
    small_log(f, 5);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    assert_int_equal(l.n, 7); /* checkpoint, 5 pushes, closing checkpoint */
    char *sig = strstr(l.v[6], "\"signature\":\"");
    assert_non_null(sig);
    sig += 14;
    *sig = *sig == 'A' ? 'B' : 'A';
    char *forged = rehash(l.v[6]); /* its hash made to match: only the signature can tell */
    free(l.v[6]);
    l.v[6] = forged;
    write_lines(path, &l);
    expect_broken(f, "audit-000001.jsonl", 7, 7,
                  "checkpoint 7: signature does not verify with the gateway certificate");
}

static void test_foreign_certificate(void **state)
{
    fx *f = *state;
    small_log(f, 3);
    msgw_audit_report r;
    assert_int_equal(verify(f, f->cert2, &r), MSGW_AUDIT_BROKEN); /* its own certificate carried */
    assert_non_null(strstr(r.problem, "no checkpoint is signed with the certificate given"));
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_options o = {0};
    assert_null(msgw_audit_open(f->log, f->key, f->cert2, &o, &e)); /* key and cert disagree */
    assert_string_equal(e.v[0].rule, "audit.key");
    msgw_errors_clear(&e);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none.crt", f->dir);
    assert_int_equal(verify(f, missing, &r), MSGW_AUDIT_IOERROR);
}

static void test_missing_segment(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 10, 5);
    append_n(a, 30);
    msgw_audit_destroy(&a);
    char path[160];
    seg(f, 2, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    msgw_audit_report r;
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_BROKEN);
    assert_non_null(strstr(r.problem, "segment audit-000002.jsonl is missing — deleted"));
}

static void test_prune(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 10, 5);
    append_n(a, 45);
    msgw_errors e;
    msgw_errors_init(&e);
    size_t removed = 0;
    assert_true(msgw_audit_prune(a, 0, &removed, &e)); /* nothing is that old */
    assert_int_equal(removed, 0);
    assert_true(msgw_audit_prune(a, msgw_time_now(), &removed, &e));
    assert_true(removed >= 3);
    append_n(a, 12);
    msgw_audit_destroy(&a);
    msgw_errors_clear(&e);
    msgw_audit_report r;
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_OK);
    assert_true(r.start_checkpoint > 1);
    assert_int_equal(r.first_seq, r.start_checkpoint);
    char want[32];
    snprintf(want, sizeof want, "audit-%06zu.jsonl", removed + 1);
    assert_string_equal(r.start_file, want);
    /* deleting one more segment from the front is not a prune */
    char path[160];
    seg(f, (int)removed + 1, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_BROKEN);
    assert_non_null(strstr(r.problem, "were deleted"));
}

static void test_front_deleted_without_prune(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 10, 5);
    append_n(a, 25);
    msgw_audit_destroy(&a);
    char path[160];
    seg(f, 1, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    msgw_audit_report r;
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_BROKEN);
    assert_non_null(strstr(r.problem, "no prune is recorded"));
}

static void test_refusals(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 100, 100);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(
        msgw_audit_append(a, "push", json_pack("{s:s}", "person", "11010519491231002X"), &e));
    assert_string_equal(e.v[0].rule, "audit.unmasked_id");
    assert_string_equal(e.v[0].location, "fields/person");
    assert_false(msgw_audit_append(
        a, "admin", json_pack("{s:[s]}", "note", "id 110105194912310021 wrong check"), &e));
    assert_false(msgw_audit_append(a, "push", json_pack("{s:f}", "amount", 1.5), &e));
    assert_false(msgw_audit_append(a, "checkpoint", json_object(), &e));
    assert_false(msgw_audit_append(a, "push", json_string("x"), &e));
    assert_int_equal(e.nerrors, 5);
    msgw_errors_clear(&e);
    /* masked numbers, digit runs that are no ID number and long numbers pass */
    assert_true(msgw_audit_append(a, "push",
                                  json_pack("{s:s, s:s, s:s, s:I}", "person", "110105********002X",
                                            "digest", "a123456789012345678b", "n19",
                                            "1101051949123100211", "fen", (json_int_t)123456),
                                  &e));
    assert_int_equal(e.n, 0);
    msgw_audit_destroy(&a);
    msgw_audit_report r;
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_OK);
    assert_int_equal(r.entries - r.checkpoints, 1);
}

static void test_torn_tail(void **state)
{
    fx *f = *state;
    small_log(f, 3);
    char path[160];
    seg(f, 1, path, sizeof path);
    FILE *fp = fopen(path, "a");
    fputs("{\"fields\":{\"sen", fp); /* a crash mid-write */
    fclose(fp);
    expect_broken(f, "audit-000001.jsonl", 6, 6, "incomplete — torn write");
    msgw_audit *a = open_log(f, 100, 100); /* cuts the torn line and records that it did */
    append_n(a, 1);
    msgw_audit_destroy(&a);
    msgw_audit_report r;
    assert_int_equal(verify(f, NULL, &r), MSGW_AUDIT_OK);
    lines l;
    seg(f, 2, path, sizeof path);
    read_lines(path, &l);
    assert_non_null(strstr(l.v[1], "audit.torn_tail_cut"));
    write_lines(path, &l);
}

/* The SHA-256 of a PEM certificate's DER, hex. */
static void cert_fp(const char *path, char out[65])
{
    FILE *fp = fopen(path, "r");
    X509 *c = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    unsigned char md[32];
    unsigned n = 0;
    X509_digest(c, EVP_sha256(), md, &n);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
    X509_free(c);
}

/* SIGHUP's rotation: the old key hands over to the new certificate, so either verifies all. */
static void test_rekey_handover(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 100000, 100000);
    append_n(a, 3);
    msgw_errors e;
    msgw_errors_init(&e);
    uint64_t before = msgw_audit_seq(a);
    assert_true(msgw_audit_rekey(a, f->key, f->cert, &e)); /* the same certificate: nothing */
    assert_int_equal(msgw_audit_seq(a), before);
    assert_false(msgw_audit_rekey(a, f->key, f->cert2, &e)); /* key and certificate disagree */
    assert_string_equal(e.v[0].rule, "audit.key");
    msgw_errors_clear(&e);
    assert_true(msgw_audit_rekey(a, f->key2, f->cert2, &e));
    assert_int_equal(msgw_audit_seq(a), before + 2); /* the hand-over, the new key's checkpoint */
    append_n(a, 3);
    msgw_audit_destroy(&a);
    char fp2[65];
    cert_fp(f->cert2, fp2);
    msgw_audit_report r;
    assert_int_equal(verify(f, f->cert2, &r), MSGW_AUDIT_OK);
    assert_int_equal(r.after_last_checkpoint, 0);
    assert_int_equal(r.key_changes, 1);
    assert_string_equal(r.last_cert_sha256, fp2);
    assert_int_equal(verify(f, f->cert, &r), MSGW_AUDIT_OK); /* the old key vouched for the new */
    assert_int_equal(r.after_last_checkpoint, 0);
    assert_int_equal(r.last_checkpoint, r.last_seq);
    assert_int_equal(verify(f, f->cert3, &r), MSGW_AUDIT_BROKEN);
    assert_non_null(strstr(r.problem, "no checkpoint is signed with the certificate given"));
    /* the hand-over's named certificate changed: its signature no longer holds */
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    char *next = strstr(l.v[4], "\"next_cert_sha256\":\"");
    assert_non_null(next);
    next += 20;
    *next = *next == 'a' ? 'b' : 'a';
    char *forged = rehash(l.v[4]);
    free(l.v[4]);
    l.v[4] = forged;
    write_lines(path, &l);
    assert_int_equal(verify(f, f->cert, &r), MSGW_AUDIT_BROKEN);
    assert_non_null(strstr(r.problem, "checkpoint 5: signature does not verify"));
}

/* A new key at a restart: no hand-over, so the old certificate anchors only what it signed. */
static void test_restart_rotation(void **state)
{
    fx *f = *state;
    small_log(f, 3); /* seq 1..5 with key 1 */
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_options o = {.checkpoint_seconds = 3600};
    msgw_audit *a = msgw_audit_open(f->log, f->key2, f->cert2, &o, &e);
    assert_non_null(a);
    append_n(a, 4);
    msgw_audit_destroy(&a);
    msgw_audit_report r;
    assert_int_equal(verify(f, f->cert2, &r), MSGW_AUDIT_OK); /* the chain links what came before */
    assert_int_equal(r.after_last_checkpoint, 0);
    assert_int_equal(r.key_changes, 1);
    assert_int_equal(verify(f, f->cert, &r), MSGW_AUDIT_OK);
    assert_int_equal(r.last_checkpoint, 5);
    assert_int_equal(r.after_last_checkpoint, 6); /* checkpoint, 4 pushes, checkpoint */
    char both[128], cmd[400];
    snprintf(both, sizeof both, "%s/both.crt", f->dir);
    snprintf(cmd, sizeof cmd, "cat %s %s > %s", f->cert, f->cert2, both);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(verify(f, both, &r), MSGW_AUDIT_OK); /* a bundle: each trusted */
    assert_int_equal(r.after_last_checkpoint, 0);
    /* the second segment's checkpoint made to carry the first certificate */
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    json_t *first = json_loads(l.v[0], 0, NULL);
    char *cert1 =
        strdup(json_string_value(json_object_get(json_object_get(first, "fields"), "cert")));
    json_decref(first);
    write_lines(path, &l);
    seg(f, 2, path, sizeof path);
    read_lines(path, &l);
    json_t *j = json_loads(l.v[0], 0, NULL);
    json_object_set_new(json_object_get(j, "fields"), "cert", json_string(cert1));
    free(cert1);
    char *edited = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    free(l.v[0]);
    l.v[0] = rehash(edited);
    free(edited);
    write_lines(path, &l);
    assert_int_equal(verify(f, f->cert, &r), MSGW_AUDIT_BROKEN);
    assert_non_null(
        strstr(r.problem, "checkpoint 6 carries a certificate that is not the one it names"));
    msgw_errors_clear(&e);
}

static bool count_entry(void *ud, json_t *entry)
{
    (void)entry;
    (*(int *)ud)++;
    return true;
}

/* Reading back a segment at a time, only the lines holding the bytes asked for; a segment
 * pruned after the reader was made is skipped. */
static void test_reader(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 10, 100000);
    msgw_errors e;
    msgw_errors_init(&e);
    for (int i = 0; i < 45; i++)
        assert_true(msgw_audit_append(
            a, "delivery", json_pack("{s:s, s:i}", "person", i % 3 ? "1201**" : "1301**", "n", i),
            &e));
    msgw_audit_destroy(&a); /* 5 segments: a checkpoint and 9 deliveries each, a closing one */
    int all = 0, some = 0;
    assert_true(msgw_audit_each(f->log, NULL, count_entry, &all, &e));
    assert_int_equal(all, 45 + 6);
    msgw_audit_reader *r = msgw_audit_reader_new(f->log, "\"person\":\"1301**\"", &e);
    assert_non_null(r);
    int turns = 0, more;
    while ((more = msgw_audit_reader_next(r, count_entry, &some, &e)) == 1)
        turns++;
    assert_int_equal(more, 0);
    assert_int_equal(turns, 4); /* the fifth read ends it */
    assert_int_equal(some, 15);
    msgw_audit_reader_destroy(&r);
    assert_null(r);
    r = msgw_audit_reader_new(f->log, "\"person\":\"1301**\"", &e);
    char path[160];
    seg(f, 1, path, sizeof path);
    assert_int_equal(unlink(path), 0); /* pruned meanwhile */
    some = 0;
    while (msgw_audit_reader_next(r, count_entry, &some, &e) == 1)
        continue;
    assert_int_equal(some, 12); /* deliveries 0, 3, 6 were in the first segment */
    msgw_audit_reader_destroy(&r);
    assert_int_equal(e.n, 0);
    msgw_errors_clear(&e);
}

/* Steps v to its end: step's last answer; the steps that said more remained in *steps. */
static int run_verifier(msgw_audit_verifier *v, msgw_errors *e, int *steps)
{
    int more;
    *steps = 0;
    while ((more = msgw_audit_verifier_step(v, e)) == 1)
        (*steps)++;
    return more;
}

/* The admin listener's verification: what was written when it began, while the writer goes on
 * (into new segments too); a prune meanwhile waits. */
static void test_verify_while_writing(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 10, 5);
    append_n(a, 12);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_verifier *v = msgw_audit_verifier_own(a, f->cert, &e);
    assert_non_null(v);
    uint64_t then = msgw_audit_seq(a);
    append_n(a, 25);
    size_t removed = 99;
    assert_true(msgw_audit_prune(a, msgw_time_now(), &removed, &e));
    assert_int_equal(removed, 0); /* deferred */
    int steps;
    assert_int_equal(run_verifier(v, &e, &steps), 0);
    const msgw_audit_report *r = msgw_audit_verifier_report(v);
    if (r->status != MSGW_AUDIT_OK) fprintf(stderr, "problem: %s\n", r->problem);
    assert_int_equal(r->status, MSGW_AUDIT_OK);
    assert_int_equal(r->last_seq, then);
    assert_true(r->segments >= 2);
    msgw_audit_verifier_destroy(&v);
    assert_null(v);
    assert_true(msgw_audit_prune(a, msgw_time_now(), &removed, &e));
    assert_true(removed >= 2);
    msgw_audit_destroy(&a);
    msgw_audit_report whole;
    assert_int_equal(verify(f, NULL, &whole), MSGW_AUDIT_OK);
    assert_int_equal(e.n, 0);
    msgw_errors_clear(&e);
}

/* A step is about a millisecond of work: a long segment is checked over several, resumed where the
 * last stopped, and a problem in it is still found at its line. */
static void test_verify_in_steps(void **state)
{
    fx *f = *state;
    msgw_audit *a = open_log(f, 100000, 1000);
    append_n(a, 8000);
    msgw_audit_destroy(&a);
    msgw_errors e;
    msgw_errors_init(&e);
    int steps;
    msgw_audit_verifier *v = msgw_audit_verifier_new(f->log, f->cert, &e);
    assert_int_equal(run_verifier(v, &e, &steps), 0);
    assert_int_equal(msgw_audit_verifier_report(v)->status, MSGW_AUDIT_OK);
    assert_int_equal(msgw_audit_verifier_report(v)->entries, 8000 + 9);
    assert_true(steps > 1);
    msgw_audit_verifier_destroy(&v);
    char path[160];
    seg(f, 1, path, sizeof path);
    lines l;
    read_lines(path, &l);
    char *n = strstr(l.v[7000], "\"n\":");
    assert_non_null(n);
    n[4] = n[4] == '1' ? '2' : '1';
    write_lines(path, &l);
    v = msgw_audit_verifier_new(f->log, f->cert, &e);
    run_verifier(v, &e, &steps);
    const msgw_audit_report *r = msgw_audit_verifier_report(v);
    assert_int_equal(r->status, MSGW_AUDIT_BROKEN);
    assert_int_equal(r->line, 7001);
    assert_non_null(strstr(r->problem, "hash does not match its content"));
    msgw_audit_verifier_destroy(&v);
    msgw_errors_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_one_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_not_canonical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rehashed_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_signature, setup_rsa, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup_rsa, teardown),
        cmocka_unit_test_setup_teardown(test_front_deleted_without_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rekey_handover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_while_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_in_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_rotation, setup_rsa, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
