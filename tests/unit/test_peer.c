/*
 * Envelopes between peer gateways (gateway/pipeline/peer.c) with two real
 * development PKIs, Tianjin's (12) and Hebei's (13): sealed by one, opened
 * by the other; an altered record or header, a misaddressed envelope, a
 * signer from another CA or naming another gateway, a loop and malformed
 * input are each refused with their rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/pipeline/peer.h"
#include "msgw/pipeline/route.h"
#include "testutil.h"

typedef struct fx {
    char dir[64];
    msgw_config *tianjin, *hebei, *rogue; /* rogue: a Hebei peer entry trusting Beijing's CA */
    msgw_peers *tj, *hb, *bj;
} fx;

static msgw_config *config(fx *f, const char *region, const char *peer_region, const char *peer_ca_region)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"region\": \"%s\", \"data_dir\": \"%s/d%s\","
             " \"tls\": {\"ca\": \"%s/%s/ca.crt\", \"cert\": \"%s/%s/gateway.crt\", \"key\": \"%s/%s/gateway.key\"},"
             " \"peering\": {\"listen\": \"127.0.0.1:0\"},"
             " \"departments\": [{\"id\": \"mca\", \"certificate\": {\"organization\": \"%s\", \"unit\": \"mca\"},"
             " \"push\": [\"disability_certificate\"]}],"
             " \"peers\": [{\"id\": \"p%s\", \"region\": \"%s\", \"url\": \"https://localhost:1\","
             " \"ca\": \"%s/%s/ca.crt\", \"kinds\": [\"disability_certificate\"], \"fields\": [\"hukou_region\"]}]}",
             region, f->dir, region, f->dir, region, f->dir, region, f->dir, region, region, peer_region, peer_region,
             f->dir, peer_ca_region);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_parse(text, strlen(text), tu_ctx()->dict, &e);
    if (!c) tu_dump_errors(&(msgw_batch){.errors = e});
    assert_non_null(c);
    msgw_errors_clear(&e);
    return c;
}

static msgw_peers *peers(const msgw_config *c)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_peers *p = msgw_peers_new(c, &e);
    assert_non_null(p);
    msgw_errors_clear(&e);
    return p;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/msgw-peer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char cmd[512], path[256];
    for (int region = 11; region <= 13; region++) {
        snprintf(cmd, sizeof cmd, "%s %s/%d %d >/dev/null 2>&1", tu_path("certs/dev-pki.sh", path, sizeof path),
                 f->dir, region, region);
        assert_int_equal(system(cmd), 0);
    }
    f->tianjin = config(f, "12", "13", "13");
    f->hebei = config(f, "13", "12", "12");
    f->rogue = config(f, "11", "12", "12"); /* Beijing, whose own key signs as if it were a peer */
    f->tj = peers(f->tianjin);
    f->hb = peers(f->hebei);
    f->bj = peers(f->rogue);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    msgw_peers_destroy(&f->tj);
    msgw_peers_destroy(&f->hb);
    msgw_peers_destroy(&f->bj);
    msgw_config_destroy(&f->tianjin);
    msgw_config_destroy(&f->hebei);
    msgw_config_destroy(&f->rogue);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const msgw_department *peer_entry(const msgw_config *c)
{
    return &c->departments[c->ndepartments - 1];
}

static json_t *a_record(void)
{
    return json_pack("{s:s,s:{s:s,s:s},s:[{s:s,s:s}],s:[]}", "kind", "disability_certificate", "source",
                     "department", "cdpf", "message_id", "C-1", "persons", "id_number", "131082199001010154",
                     "hukou_region", "131082", "facts");
}

/* Seals from Tianjin to Hebei into out. */
static void seal(fx *f, msgw_buf *out, msgw_envelope *hdr)
{
    json_t *r = a_record();
    msgw_buf_init(out);
    assert_true(msgw_peers_seal(f->tj, peer_entry(f->tianjin), r, "cdpf:C-1", NULL, 0, out, hdr));
    json_decref(r);
}

/* Opens body at Hebei as pushed by Tianjin; returns the rule of the first error, or NULL. */
static const char *open_at_hebei(fx *f, const char *body, size_t len, json_t **record, msgw_envelope *hdr)
{
    static char rule[64];
    msgw_errors e;
    msgw_errors_init(&e);
    bool ok = msgw_peers_open(f->hb, peer_entry(f->hebei), body, len, record, hdr, &e);
    snprintf(rule, sizeof rule, "%s", e.n && e.v[0].rule ? e.v[0].rule : "");
    msgw_errors_clear(&e);
    assert_true(ok == (rule[0] == '\0'));
    return ok ? NULL : rule;
}

static void test_sealed_envelope_opens(void **state)
{
    fx *f = *state;
    msgw_buf out;
    msgw_envelope sent, got;
    seal(f, &out, &sent);
    assert_string_equal(sent.origin, "12");
    assert_string_equal(sent.destination, "13");
    assert_int_equal(sent.nhops, 1);
    json_t *r = NULL;
    assert_null(open_at_hebei(f, out.data, out.len, &r, &got));
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "source"), "message_id")), "C-1");
    assert_string_equal(got.message_id, "cdpf:C-1");
    assert_string_equal(got.digest, sent.digest); /* both sides hold the same evidence */
    assert_string_equal(got.signature, sent.signature);
    json_decref(r);
    msgw_buf_free(&out);
}

/* Replaces the first occurrence of from with to in the envelope and opens it. */
static const char *open_altered(fx *f, const char *from, const char *to)
{
    msgw_buf out;
    msgw_envelope hdr;
    seal(f, &out, &hdr);
    char *at = strstr(out.data, from);
    assert_non_null(at);
    msgw_buf mod;
    msgw_buf_init(&mod);
    msgw_buf_append(&mod, out.data, (size_t)(at - out.data));
    msgw_buf_puts(&mod, to);
    msgw_buf_puts(&mod, at + strlen(from));
    json_t *r = NULL;
    const char *rule = open_at_hebei(f, mod.data, mod.len, &r, &hdr);
    json_decref(r);
    msgw_buf_free(&out);
    msgw_buf_free(&mod);
    return rule;
}

static void test_alterations_are_refused(void **state)
{
    fx *f = *state;
    assert_string_equal(open_altered(f, "131082199001010154", "131082199001010162"), "envelope.signature");
    assert_string_equal(open_altered(f, "\"message_id\":\"cdpf:C-1\"", "\"message_id\":\"cdpf:C-2\""),
                        "envelope.signature");
    assert_string_equal(open_altered(f, "\"destination\":\"13\"", "\"destination\":\"11\""), "envelope.signature");
    assert_string_equal(open_altered(f, "{\"envelope\"", "{\"extra\":1,\"envelope\""), "envelope.format");
    assert_string_equal(open_altered(f, "\"version\":1", "\"version\":2"), "envelope.format");
}

static void test_misaddressed_and_foreign_signers(void **state)
{
    fx *f = *state;
    msgw_buf out;
    msgw_envelope hdr;
    json_t *r = a_record(), *got = NULL;
    /* Tianjin seals for Hebei; Beijing (whose peer entry is Tianjin too) is not the destination */
    seal(f, &out, &hdr);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(msgw_peers_open(f->bj, peer_entry(f->rogue), out.data, out.len, &got, &hdr, &e));
    assert_string_equal(e.v[0].rule, "envelope.destination");
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
    /* Beijing's gateway seals an envelope to region 12 and Hebei is told it came from its peer
     * Tianjin: the signer is certified by Beijing's CA, not Tianjin's */
    msgw_buf_init(&out);
    assert_true(msgw_peers_seal(f->bj, peer_entry(f->rogue), r, "cdpf:C-1", NULL, 0, &out, &hdr));
    assert_string_equal(open_at_hebei(f, out.data, out.len, &got, &hdr), "envelope.signer");
    msgw_buf_free(&out);
    /* a loop: an envelope whose hops already name Hebei */
    const char hops[][16] = {"13"};
    msgw_buf_init(&out);
    assert_true(msgw_peers_seal(f->tj, peer_entry(f->tianjin), r, "cdpf:C-1", hops, 1, &out, &hdr));
    assert_string_equal(open_at_hebei(f, out.data, out.len, &got, &hdr), "envelope.hops");
    msgw_buf_free(&out);
    /* not JSON, and empty */
    assert_string_equal(open_at_hebei(f, "{", 1, &got, &hdr), "envelope.format");
    assert_string_equal(open_at_hebei(f, "", 0, &got, &hdr), "envelope.format");
    assert_null(got);
    json_decref(r);
}

/*
 * Routing to peers (msgw_route_peers) from Tianjin peering with Hebei (13, relaying) and Beijing
 * (11): by the hukou or the residence of the record's persons, to both when both are elsewhere;
 * what came from a peer only on to relaying peers, never back or to a region it passed.
 */
static msgw_config *three_way(fx *f)
{
    char text[3072];
    snprintf(text, sizeof text,
             "{\"region\": \"12\", \"data_dir\": \"%s/d\","
             " \"tls\": {\"ca\": \"%s/12/ca.crt\", \"cert\": \"%s/12/gateway.crt\", \"key\": \"%s/12/gateway.key\"},"
             " \"peering\": {\"listen\": \"127.0.0.1:0\"},"
             " \"departments\": [{\"id\": \"cdpf\", \"certificate\": {\"organization\": \"12\", \"unit\": \"cdpf\"},"
             " \"push\": [\"disability_certificate\"]}],"
             " \"peers\": [{\"id\": \"hebei\", \"region\": \"13\", \"url\": \"https://localhost:1\", \"relay\": true,"
             " \"ca\": \"%s/13/ca.crt\", \"kinds\": [\"disability_certificate\"], \"fields\": [\"hukou_region\"]},"
             " {\"id\": \"beijing\", \"region\": \"11\", \"url\": \"https://localhost:2\","
             " \"ca\": \"%s/11/ca.crt\", \"kinds\": [\"disability_certificate\"], \"fields\": [\"hukou_region\"]}]}",
             f->dir, f->dir, f->dir, f->dir, f->dir, f->dir);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_parse(text, strlen(text), tu_ctx()->dict, &e);
    assert_non_null(c);
    msgw_errors_clear(&e);
    return c;
}

/* The recipients of the envelopes routed for one person with these regions, as "a,b". */
static const char *routed(const msgw_config *c, const msgw_peers *p, const char *hukou, const char *residence,
                          const char *from_peer, const char (*hops)[16], size_t nhops)
{
    static char out[64];
    msgw_arena *a = msgw_arena_new(0);
    msgw_person person;
    msgw_person_init(&person);
    memcpy(person.id_number, "120101199001010012", 19);
    person.hukou_region = hukou;
    person.residence_region = residence;
    msgw_record r = {.kind = "disability_certificate", .message_id = "cdpf:X", .source_department = "cdpf",
                     .source_message_id = "X", .persons = &person, .npersons = 1};
    msgw_route_env env = {.peers = p, .from_peer = from_peer, .hops = hops, .nhops = nhops};
    msgw_outbox_list box = {0};
    msgw_route_peers(c, &env, &r, a, &box);
    out[0] = '\0';
    for (size_t i = 0; i < box.n; i++) {
        assert_string_equal(box.v[i].media_type, MSGW_ENVELOPE_MEDIA_TYPE);
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "," : "", box.v[i].recipient);
    }
    free(box.v);
    msgw_arena_destroy(&a);
    return out;
}

static void test_routing_to_peers(void **state)
{
    fx *f = *state;
    msgw_config *c = three_way(f);
    msgw_peers *p = peers(c);
    assert_string_equal(routed(c, p, "120101", "120101", NULL, NULL, 0), "");            /* ours alone */
    assert_string_equal(routed(c, p, "131082", "120101", NULL, NULL, 0), "hebei");       /* hukou in Hebei */
    assert_string_equal(routed(c, p, "120101", "110105", NULL, NULL, 0), "beijing");     /* lives in Beijing */
    assert_string_equal(routed(c, p, "131082", "110105", NULL, NULL, 0), "hebei,beijing"); /* both */
    assert_string_equal(routed(c, p, NULL, NULL, NULL, NULL, 0), "");                     /* unknown: kept */
    /* from Beijing: relayed only to Hebei (which relays), never back to Beijing */
    const char from_bj[][16] = {"11"};
    assert_string_equal(routed(c, p, "131082", "110105", "beijing", from_bj, 1), "hebei");
    /* from Beijing having passed Hebei before: not to Hebei again */
    const char via_hb[][16] = {"13", "11"};
    assert_string_equal(routed(c, p, "131082", "110105", "beijing", via_hb, 2), "");
    /* from Hebei: Beijing does not relay, and Hebei is where it came from */
    const char from_hb[][16] = {"13"};
    assert_string_equal(routed(c, p, "131082", "110105", "hebei", from_hb, 1), "");
    msgw_peers_destroy(&p);
    msgw_config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sealed_envelope_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alterations_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misaddressed_and_foreign_signers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_to_peers, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_ctx_free();
    return rc;
}
