/*
 * A department's ZeroMQ delivery consumer, for the tests and the benchmark
 * (docs/zmq.md): connects a DEALER with CURVE keys to the gateway's
 * zmq.deliver_listen, says READY on every (re)connection, receives
 *
 *   ["EVENT", event_id, kind, media_type, cause, body]        one message, or
 *   ["NOTICES", media_type, body, event_id_1, cause_1, ...]    eligibility notices in one list
 *                                                              document, ids and causes in its
 * order
 *
 * acknowledges every event id with ["ACK", id...] (batched), de-duplicates by
 * event id and prints one line per distinct event: "event_id cause kind
 * media_type bytes" (cause "-" when there is none).  Each notice of a NOTICES
 * is one event in all of this (--acks, --exit-after and --drop-first count
 * notices; a crash in the middle of a list loses the rest of it, which the
 * gateway sends again); its line says kind "eligibility", the list's media
 * type and the list body's length.
 *
 * Every NOTICES is checked (docs/eligibility.md, "Several notices in one
 * message"): the body must parse as the list form of its media type (a JSON
 * array of hrss notices or of canonical {"notice_id", "notice"}, a FHIR Bundle
 * of Flags, an mca or cdpf <EligibilityNotices>; GB18030 read as such) and
 * hold as many notices as there are id frames, with the same ids in the same
 * order and, where both name one, the same causes.  A mismatch is a
 * "zmq_consumer: error: ..." line on stderr, and the exit status is 1.
 *
 * usage: zmq_consumer ENDPOINT SERVER_CURVE_FILE CLIENT_CURVE_FILE [options]
 *   --acks N|all        acknowledge only the first N distinct events (default all)
 *   --exit-after N      stop after N distinct events (their acks sent first); exit 1 on timeout
 *   --drop-first N      receive N events without acknowledging or printing them ("dropped ID" on
 *                       stderr), then disconnect and connect again (a consumer that crashed: the
 *                       gateway must redeliver them)
 *   --timeout S         give up after S seconds without a new event (default 30)
 *   --report-duplicates print each event received again on stderr ("duplicate ID")
 *   --quiet             print no event lines (benchmarks)
 * On exit, stderr gets "consumer: N events, D duplicates, S seconds".
 */
#include <errno.h>
#include <iconv.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zmq.h>

#include "notice_refs.h"
#include "zmq_client.h"

/* ---- the set of event ids seen (open addressing; ids are never removed) ---- */

typedef struct seen {
    char **v;
    size_t cap, n;
} seen;

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Adds id; returns its index in insertion order (a new one: n - 1), and *fresh. */
static bool seen_add(seen *s, const char *id)
{
    if ((s->n + 1) * 2 > s->cap) {
        char **old = s->v;
        size_t oc = s->cap;
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = calloc(s->cap, sizeof *s->v);
        if (!s->v) abort();
        for (size_t i = 0; i < oc; i++)
            if (old[i]) {
                size_t k = hash(old[i]) & (s->cap - 1);
                while (s->v[k])
                    k = (k + 1) & (s->cap - 1);
                s->v[k] = old[i];
            }
        free(old);
    }
    size_t k = hash(id) & (s->cap - 1);
    for (; s->v[k]; k = (k + 1) & (s->cap - 1))
        if (strcmp(s->v[k], id) == 0) return false;
    s->v[k] = strdup(id);
    s->n++;
    return true;
}

static bool seen_has(const seen *s, const char *id)
{
    if (!s->cap) return false;
    for (size_t k = hash(id) & (s->cap - 1); s->v[k]; k = (k + 1) & (s->cap - 1))
        if (strcmp(s->v[k], id) == 0) return true;
    return false;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->v[i]);
    free(s->v);
}

/*
 * Checks a NOTICES message: its body parses as a list of media_type holding exactly the n notices
 * the frames name, in their order (ids, where the body carries them; causes, where both name one).
 * Prints each mismatch on stderr; returns false on any.
 */
static bool list_check(const char *media_type, const char *body, size_t len, char **ids,
                       char **causes, size_t n, notice_refs *refs)
{
    char why[512];
    if (!notice_refs_parse(media_type, body, len, refs, why, sizeof why)) {
        fprintf(stderr, "zmq_consumer: error: NOTICES (%zu ids) of %s: %s\n", n, media_type, why);
        return false;
    }
    bool ok = true;
    if (refs->n != n) {
        fprintf(stderr,
                "zmq_consumer: error: NOTICES of %s: the body holds %zu notices, the frames "
                "name %zu ids\n",
                media_type, refs->n, n);
        ok = false;
    }
    for (size_t i = 0; i < n && i < refs->n; i++) {
        const notice_ref *r = &refs->v[i];
        if (r->id && strcmp(r->id, ids[i]) != 0) {
            fprintf(stderr,
                    "zmq_consumer: error: NOTICES of %s: notice %zu is %s in the body, %s in "
                    "the frames\n",
                    media_type, i + 1, r->id, ids[i]);
            ok = false;
        }
        if (r->cause && *causes[i] && strcmp(r->cause, causes[i]) != 0) {
            fprintf(stderr,
                    "zmq_consumer: error: NOTICES of %s: notice %zu (%s) was caused by %s "
                    "in the body, %s in the frames\n",
                    media_type, i + 1, ids[i], r->cause, causes[i]);
            ok = false;
        }
    }
    return ok;
}

/* ---- the connection ---- */

typedef struct conn {
    void *ctx, *sock, *mon;
    const char *endpoint;
    char server[41], pub[41], sec[41];
    int serial;
} conn;

static void conn_open(conn *c)
{
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    int ivl = 1000, timeout = 5000, linger = 5000, hwm = 100000;
    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->server, 40);
    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->pub, 40);
    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->sec, 40);
    zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger,
                   sizeof linger); /* acks reach the gateway before exit */
    zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://consumer-monitor-%d", c->serial++);
    /* READY goes on every completed handshake: the first connection and each reconnection */
    zmq_socket_monitor(c->sock, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    c->mon = zmq_socket(c->ctx, ZMQ_PAIR);
    zmq_connect(c->mon, mon);
    zmq_connect(c->sock, c->endpoint);
}

static void conn_close(conn *c, bool flush)
{
    if (!flush) {
        int zero = 0;
        zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    }
    zmq_socket_monitor(c->sock, NULL, 0);
    zmq_close(c->sock);
    int zero = 0;
    zmq_setsockopt(c->mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(c->mon);
}

/* A monitor event: [16-bit event, 32-bit value][endpoint]. Returns the event, 0 when none. */
static int monitor_event(conn *c)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return 0;
    }
    uint16_t ev = 0;
    if (zmq_msg_size(&m) >= 2) memcpy(&ev, zmq_msg_data(&m), 2);
    int more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    while (more) { /* the endpoint frame */
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->mon, 0) < 0) break;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return ev;
}

/* ---- acknowledgements ---- */

typedef struct acks {
    char **v;
    size_t n, cap;
} acks;

static void ack_add(acks *a, const char *id)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v) abort();
    }
    a->v[a->n++] = strdup(id);
}

static void ack_flush(conn *c, acks *a)
{
    if (!a->n) return;
    zmq_send(c->sock, "ACK", 3, ZMQ_SNDMORE);
    for (size_t i = 0; i < a->n; i++) {
        zmq_send(c->sock, a->v[i], strlen(a->v[i]), i + 1 < a->n ? ZMQ_SNDMORE : 0);
        free(a->v[i]);
    }
    a->n = 0;
}

/* ---- receiving ---- */

typedef struct frames {
    zmq_msg_t *v;
    size_t n, cap;
} frames;

static void frames_close(frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        zmq_msg_close(&f->v[i]);
    f->n = 0;
}

/* Reads one whole message into f; returns its frame count, 0 when none is waiting. */
static size_t recv_message(conn *c, frames *f)
{
    int more = 1;
    f->n = 0;
    while (more) {
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            f->v = realloc(f->v, f->cap * sizeof *f->v);
            if (!f->v) abort();
        }
        zmq_msg_t *m = &f->v[f->n];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, c->sock, f->n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            frames_close(f);
            return 0;
        }
        more = zmq_msg_more(m);
        f->n++;
    }
    return f->n;
}

static bool frame_is(zmq_msg_t *m, const char *s)
{
    return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

static void frame_str(zmq_msg_t *m, char *out, size_t len)
{
    size_t n = zmq_msg_size(m) < len - 1 ? zmq_msg_size(m) : len - 1;
    memcpy(out, zmq_msg_data(m), n);
    out[n] = '\0';
}

static char *frame_dup(zmq_msg_t *m)
{
    char *s = strndup(zmq_msg_data(m), zmq_msg_size(m));
    if (!s) abort();
    return s;
}

/* ---- events ---- */

typedef struct consumer {
    seen all, acked;
    acks pending;
    long ack_limit, exit_after, drop_first, dropped, duplicates, malformed;
    bool report, quiet;
    bool reconnect; /* the --drop-first-th event was dropped: "crash" now */
    notice_refs refs;
} consumer;

static bool done(const consumer *s)
{
    return s->exit_after >= 0 && (long)s->all.n >= s->exit_after;
}

/* One event: an EVENT, or one notice of a NOTICES. */
static void take(consumer *s, const char *id, const char *cause, const char *kind,
                 const char *media, size_t bytes)
{
    if (s->dropped < s->drop_first) {
        /* "crash" before processing: no ack, nothing recorded */
        fprintf(stderr, "dropped %s\n", id);
        if (++s->dropped == s->drop_first) s->reconnect = true;
        return;
    }
    if (seen_add(&s->all, id)) {
        if (!s->quiet) printf("%s %s %s %s %zu\n", id, *cause ? cause : "-", kind, media, bytes);
    } else {
        s->duplicates++;
        if (s->report) fprintf(stderr, "duplicate %s\n", id);
    }
    /* acknowledge what is within the limit, again if it is redelivered */
    if (s->ack_limit < 0 || seen_has(&s->acked, id) || (long)s->acked.n < s->ack_limit) {
        seen_add(&s->acked, id);
        ack_add(&s->pending, id);
    }
}

/* ["NOTICES", media_type, body, event_id, cause, ...]: checked, then each notice as an event. */
static void take_notices(consumer *s, frames *f)
{
    char media[128];
    frame_str(&f->v[1], media, sizeof media);
    size_t len = zmq_msg_size(&f->v[2]), n = (f->n - 3) / 2;
    char **ids = calloc(n + 1, sizeof *ids), **causes = calloc(n + 1, sizeof *causes);
    if (!ids || !causes) abort();
    for (size_t i = 0; i < n; i++) {
        ids[i] = frame_dup(&f->v[3 + 2 * i]);
        causes[i] = frame_dup(&f->v[4 + 2 * i]);
    }
    bool ok = true;
    if ((f->n - 3) % 2 || !n) {
        fprintf(stderr,
                "zmq_consumer: error: NOTICES of %s: %zu frames after the body, not pairs "
                "of event id and cause\n",
                media, f->n - 3);
        ok = false;
    }
    if (!list_check(media, zmq_msg_data(&f->v[2]), len, ids, causes, n, &s->refs)) ok = false;
    if (!ok) s->malformed++;
    for (size_t i = 0; i < n && !s->reconnect && !done(s); i++)
        take(s, ids[i], causes[i], "eligibility", media, len);
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
        free(causes[i]);
    }
    free(ids);
    free(causes);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: zmq_consumer ENDPOINT SERVER_CURVE CLIENT_CURVE [--acks N|all] "
                        "[--exit-after N] "
                        "[--drop-first N] [--timeout S] [--report-duplicates] [--quiet]\n");
        return 2;
    }
    consumer s = {.ack_limit = -1, .exit_after = -1};
    double timeout = 30;
    for (int i = 4; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--report-duplicates") == 0)
            s.report = true;
        else if (strcmp(a, "--quiet") == 0)
            s.quiet = true;
        else if (!v) {
            fprintf(stderr, "zmq_consumer: %s needs a value\n", a);
            return 2;
        } else if (strcmp(a, "--acks") == 0)
            s.ack_limit = strcmp(v, "all") == 0 ? -1 : atol(v), i++;
        else if (strcmp(a, "--exit-after") == 0)
            s.exit_after = atol(v), i++;
        else if (strcmp(a, "--drop-first") == 0)
            s.drop_first = atol(v), i++;
        else if (strcmp(a, "--timeout") == 0)
            timeout = atof(v), i++;
        else {
            fprintf(stderr, "zmq_consumer: unknown option %s\n", a);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    conn c = {.ctx = zmq_ctx_new(), .endpoint = argv[1]};
    zc_key(argv[2], "public=", c.server);
    zc_key(argv[3], "public=", c.pub);
    zc_key(argv[3], "secret=", c.sec);
    if (strlen(c.server) != 40 || strlen(c.pub) != 40 || strlen(c.sec) != 40) {
        fprintf(stderr, "zmq_consumer: no CURVE keys in %s / %s\n", argv[2], argv[3]);
        return 2;
    }
    xmlInitParser();
    conn_open(&c);
    frames fr = {0};
    long readies = 0;
    double start = zc_now(), last = start;
    int rc = 0;
    while (!done(&s)) {
        if (zc_now() - last > timeout) {
            if (s.exit_after >= 0) {
                fprintf(stderr,
                        "zmq_consumer: timeout: %zu of %ld events after %.0f s without one\n",
                        s.all.n, s.exit_after, timeout);
                rc = 1;
            }
            break;
        }
        zmq_pollitem_t items[2] = {{.socket = c.sock, .events = ZMQ_POLLIN},
                                   {.socket = c.mon, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, 100) < 0 && zmq_errno() != EINTR) break;
        int ev;
        while ((ev = monitor_event(&c)) != 0)
            if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                zmq_send(c.sock, "READY", 5, 0);
                readies++;
            }
        while (!done(&s) && recv_message(&c, &fr) > 0) {
            if (fr.n == 6 && frame_is(&fr.v[0], "EVENT")) {
                char id[160], kind[64], media[128], cause[512];
                frame_str(&fr.v[1], id, sizeof id);
                frame_str(&fr.v[2], kind, sizeof kind);
                frame_str(&fr.v[3], media, sizeof media);
                frame_str(&fr.v[4], cause, sizeof cause);
                last = zc_now();
                take(&s, id, cause, kind, media, zmq_msg_size(&fr.v[5]));
            } else if (fr.n >= 3 && frame_is(&fr.v[0], "NOTICES")) {
                last = zc_now();
                take_notices(&s, &fr);
            }
            frames_close(&fr);
            if (s.pending.n >= 256) ack_flush(&c, &s.pending);
            if (s.reconnect) break;
        }
        ack_flush(&c, &s.pending); /* nothing more waiting: acknowledge what came */
        if (s.reconnect) {
            fprintf(stderr, "zmq_consumer: dropped %ld events unacknowledged; reconnecting\n",
                    s.dropped);
            s.reconnect = false;
            conn_close(&c, false);
            conn_open(&c);
        }
    }
    ack_flush(&c, &s.pending);
    fprintf(stderr, "consumer: %zu events, %ld duplicates, %ld READY, %.2f seconds\n", s.all.n,
            s.duplicates, readies, zc_now() - start);
    if (s.malformed) {
        fprintf(stderr, "zmq_consumer: error: %ld NOTICES messages did not match their frames\n",
                s.malformed);
        rc = 1;
    }
    conn_close(&c, true);
    zmq_ctx_term(c.ctx);
    seen_free(&s.all);
    seen_free(&s.acked);
    free(s.pending.v);
    free(fr.v);
    notice_refs_free(&s.refs);
    xmlCleanupParser();
    return rc;
}
