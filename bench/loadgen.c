/*
 * The daemon benchmark's load generator (make bench, docs/benchmarks.md):
 * pushes generated records to `msgw serve` over ZeroMQ (a CURVE DEALER that
 * pipelines a window of requests) or over HTTPS with mutual TLS (C kept-alive
 * connections, one request in flight on each), either closed-loop, as fast as
 * the gateway answers, or open-loop at --rate records/s, and prints one JSON
 * line: requests and records sent and acknowledged, statuses, outcomes,
 * elapsed time, rates, and reply latency p50 / p99.
 *
 * The bodies are made before the clock starts, by the population generator
 * (tools/popgen_lib.c) and the adapters' own encoders, and each request
 * carries records never sent before (a new seed makes new persons and new
 * sender ids): a replayed record would be answered from the store and
 * measure nothing.  --population N sends records about N records' worth of persons only: after
 * the first N, the same records again under new sender ids (new records about persons the
 * gateway knows), so that a long run at full load keeps the population fixed (the gateway's
 * memory should then stay flat).  --flagging keeps only records that make the eligibility
 * engine emit a transition for a person seen for the first time, so every
 * request of a latency run causes a notice to deliver; --sent-log writes the
 * message id and push time of every acknowledged record, which
 * bench/receiver.c matches with the delivery times of the notices.
 *
 * Times are CLOCK_MONOTONIC nanoseconds, comparable across processes.
 * The same modes measure the baselines (nginx answering 202, bench/zmq_echo).
 *
 *   loadgen zmq   --endpoint EP --server-key FILE --client-key FILE [options]
 *   loadgen https --url https://HOST:PORT/v1/records --cert F --key F --ca F [options]
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

#include "msgw/decode/decode.h"
#include "msgw/engine/catalogue.h"
#include "msgw/engine/eligibility.h"
#include "msgw/validate/schemas.h"
#include "popgen_lib.h"

/* ---- options ------------------------------------------------------------------ */

typedef enum { MODE_ZMQ, MODE_HTTPS } lg_mode;

typedef struct lg_opts {
    lg_mode mode;
    const char *endpoint, *server_key, *client_key; /* zmq */
    const char *url, *cert, *key, *ca;              /* https */
    unsigned window, connections;
    popgen_format format;
    const char *media_type;
    size_t batch, records;
    size_t population; /* 0: every record about new persons */
    uint64_t seed;
    bool flagging;
    unsigned disability_percent, low_income_percent;
    double duration, rate, grace;
    size_t count;
    bool any_reply, cycle;
    const char *sent_log, *label;
    const char *region, *catalogue; /* popgen region; the catalogue --flagging evaluates */
    const char *overlay;            /* that catalogue's deployment overlay (parameter values) */
} lg_opts;

/* ---- the bodies ------------------------------------------------------------------ */

typedef struct lg_body {
    char *data;
    size_t len;
    size_t nrec;
    char **ids; /* message ids of its records, as the gateway will compute them */
} lg_body;

typedef struct lg_bodies {
    lg_body *v;
    size_t n;
    size_t bytes;
} lg_bodies;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void print_errors(const char *what, const msgw_errors *e)
{
    char buf[1024];
    for (size_t i = 0; i < e->n && i < 10; i++)
        fprintf(stderr, "loadgen: %s: %s\n", what, msgw_error_format(&e->v[i], buf, sizeof buf));
}

static popgen *grow(const msgw_dict *dict, const lg_opts *o, size_t households)
{
    popgen_opts po;
    popgen_opts_defaults(&po);
    po.seed = o->seed;
    po.households = households;
    po.region = o->region; /* --region: tianjin (the bench gateway serves region 12) by default */
    po.disability_percent = o->disability_percent;
    po.low_income_percent = o->low_income_percent;
    msgw_errors e;
    msgw_errors_init(&e);
    popgen *p = popgen_new(dict, &po, &e);
    if (!p) print_errors("popgen", &e);
    msgw_errors_clear(&e);
    if (!p) exit(2);
    return p;
}

/*
 * Which of recs can be pushed: all of them, or (flagging) the first record of
 * each person or household that, applied to an engine that has seen nothing of
 * that person, emits a transition.  Decoding each candidate gives the message
 * id the gateway will compute and the record as the gateway will see it.
 */
typedef struct lg_selection {
    const msgw_record **recs;
    size_t n;
} lg_selection;

static char *id_of(const msgw_adapter_ctx *ctx, const msgw_adapter *ad, const char *mt,
                   const msgw_record *r, msgw_elig *elig, size_t *transitions)
{
    msgw_buf doc;
    msgw_buf_init(&doc);
    msgw_errors e;
    msgw_errors_init(&e);
    const msgw_record *one[1] = {r};
    char *id = NULL;
    if (ad->encode(ctx, mt, one, 1, &doc, &e)) {
        msgw_batch *b = msgw_batch_new();
        msgw_decode(ctx, ad, mt, doc.data, doc.len, b);
        if (b->nitems == 1 && b->items[0].record) {
            id = strdup(b->items[0].record->message_id);
            if (elig) {
                msgw_transitions tr;
                msgw_transitions_init(&tr);
                msgw_elig_apply(elig, b->items[0].record, msgw_date_today(), &tr, NULL);
                *transitions = tr.n;
                msgw_transitions_clear(&tr);
            }
        }
        msgw_batch_destroy(&b);
    }
    msgw_buf_free(&doc);
    msgw_errors_clear(&e);
    return id;
}

static void make_bodies(const lg_opts *o, lg_bodies *out)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_dict *dict = msgw_dict_new_default(&e);
    msgw_schemas *schemas = dict ? msgw_schemas_new(&e) : NULL;
    if (!schemas) {
        print_errors("setup", &e);
        exit(2);
    }
    msgw_adapter_ctx ctx;
    msgw_adapter_ctx_defaults(&ctx, dict, schemas);
    const popgen_format_info *fi = popgen_format_get(o->format);
    const msgw_adapter *ad = msgw_adapter_find(fi->adapter);
    const char *mt = o->media_type ? o->media_type : fi->media_type;
    msgw_catalogue *cat = NULL;
    msgw_elig *elig = NULL;
    if (o->flagging) {
        cat = msgw_catalogue_load(dict, o->catalogue, &e);
        if (cat && o->overlay && !msgw_catalogue_overlay(cat, o->overlay, &e))
            msgw_catalogue_destroy(&cat);
        if (!cat) {
            print_errors("catalogue", &e);
            exit(2);
        }
        elig = msgw_elig_new(cat);
    }
    bool need_ids = o->flagging || o->sent_log;
    size_t wanted = o->records;
    if (o->population && o->population < o->records) wanted = o->population;

    /* a pilot population says how many households give the records asked for */
    popgen *p = grow(dict, o, 200);
    size_t n;
    popgen_records(p, o->format, &n, NULL);
    popgen_destroy(&p);
    double per_household = n ? (double)n / 200 : 1;
    if (o->flagging) per_household /= 3; /* about a third of a certificate population flags */
    size_t households = (size_t)((double)wanted / per_household * 1.1) + 20;
    const msgw_record **sel = NULL;
    char **ids = NULL;
    size_t nsel = 0;
    for (;;) {
        p = grow(dict, o, households);
        const size_t *groups;
        const msgw_record *const *recs = popgen_records(p, o->format, &n, &groups);
        sel = realloc(sel, (n + 1) * sizeof *sel);
        ids = calloc(n + 1, sizeof *ids);
        if (!sel || !ids) abort();
        nsel = 0;
        for (size_t i = 0; i < n && nsel < wanted; i++) {
            if (o->flagging && i > 0 && groups[i] == groups[i - 1]) continue;
            size_t tr = 0;
            char *id = need_ids ? id_of(&ctx, ad, mt, recs[i], elig, &tr) : NULL;
            if (o->flagging && (!id || tr == 0)) {
                free(id);
                continue;
            }
            sel[nsel] = recs[i];
            ids[nsel++] = id;
        }
        if (nsel >= wanted || households > 50 * 1000 * 1000) break;
        for (size_t i = 0; i < nsel; i++)
            free(ids[i]);
        free(ids);
        popgen_destroy(&p);
        if (elig) {
            msgw_elig_destroy(&elig);
            elig = msgw_elig_new(cat);
        }
        households = households * 3 / 2 + 10;
    }
    if (nsel < wanted)
        fprintf(stderr, "loadgen: only %zu records of the %zu asked for\n", nsel, wanted);
    msgw_record *again = NULL; /* --population: the same records under new sender ids */
    if (wanted < o->records && nsel) {
        size_t total = o->records;
        again = calloc(total - nsel + 1, sizeof *again);
        sel = realloc(sel, (total + 1) * sizeof *sel);
        ids = realloc(ids, (total + 1) * sizeof *ids);
        if (!again || !sel || !ids) abort();
        for (size_t i = nsel; i < total; i++) {
            msgw_record *c = &again[i - nsel];
            *c = *sel[i % nsel];
            char sid[160];
            snprintf(sid, sizeof sid, "%s-R%zu",
                     c->source_message_id ? c->source_message_id : "lg", i / nsel);
            c->source_message_id = strdup(sid);
            sel[i] = c;
            size_t tr = 0;
            ids[i] = need_ids ? id_of(&ctx, ad, mt, c, NULL, &tr) : NULL;
        }
        nsel = total;
    }

    /* one request per `batch` records, each encoded on its own */
    size_t nreq = (nsel + o->batch - 1) / o->batch;
    out->v = calloc(nreq + 1, sizeof *out->v);
    if (!out->v) abort();
    out->n = 0;
    out->bytes = 0;
    for (size_t i = 0; i < nsel; i += o->batch) {
        size_t k = nsel - i < o->batch ? nsel - i : o->batch;
        msgw_buf doc;
        msgw_buf_init(&doc);
        if (!popgen_encode(&ctx, o->format, (const msgw_record *const *)sel + i, k, &doc, &e)) {
            print_errors("encode", &e);
            exit(2);
        }
        lg_body *b = &out->v[out->n++];
        b->data = doc.data; /* the buffer's storage is handed over */
        b->len = doc.len;
        b->nrec = k;
        if (need_ids) {
            b->ids = calloc(k, sizeof *b->ids);
            if (!b->ids) abort();
            memcpy(b->ids, ids + i, k * sizeof *ids);
        }
        out->bytes += doc.len;
    }
    free(ids);
    free(sel);
    for (size_t i = 0; again && i < o->records - wanted; i++)
        free((char *)again[i].source_message_id);
    free(again);
    popgen_destroy(&p);
    msgw_elig_destroy(&elig);
    msgw_catalogue_destroy(&cat);
    msgw_schemas_destroy(&schemas);
    msgw_dict_destroy(&dict);
    msgw_errors_clear(&e);
}

static void free_bodies(lg_bodies *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].data);
        if (b->v[i].ids)
            for (size_t k = 0; k < b->v[i].nrec; k++)
                free(b->v[i].ids[k]);
        free(b->v[i].ids);
    }
    free(b->v);
}

/* ---- the run's accounts ------------------------------------------------------ */

/* Requests a --cycle run may send without --count: 8 M, 13 bytes each of accounts. */
#define CYCLE_CAP ((size_t)8 * 1000 * 1000)

typedef struct lg_run {
    const lg_opts *o;
    lg_bodies bodies;
    size_t limit;     /* requests that may be sent: the bodies (or --cycle's cap), --count */
    uint64_t *sched;  /* per request: when it was due (open loop) or sent (closed loop) */
    uint32_t *lat_us; /* per request: reply latency from sched */
    bool *answered;
    size_t sent, replies, errors;
    size_t records_sent, records_acked;
    size_t status[600];
    size_t stored, duplicate, rejected, transitions, messages;
    size_t reply_bytes;
    uint64_t t0, t_last, deadline;
    double cpu0; /* CPU seconds used before the run (making the bodies) */
    bool stopping;
} lg_run;

static uint64_t due_at(const lg_run *r, size_t i)
{
    /* open loop: request i is due when the records before it are, at --rate records/s */
    return r->t0 + (uint64_t)((double)(i * r->o->batch) / r->o->rate * 1e9);
}

static bool may_send(const lg_run *r, uint64_t now)
{
    if (r->stopping || r->sent >= r->limit) return false;
    return r->o->rate <= 0 || due_at(r, r->sent) <= now;
}

/* Books one reply to request i: status (HTTP's, or the JSON's for ZeroMQ) and each record's
 * outcome. */
static void account(lg_run *r, size_t i, int http_status, const char *data, size_t len)
{
    uint64_t t = now_ns();
    if (i >= r->sent || r->answered[i]) return;
    r->answered[i] = true;
    r->replies++;
    r->t_last = t;
    uint64_t lat = t - r->sched[i];
    r->lat_us[i] = lat / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(lat / 1000);
    r->reply_bytes += len;
    const lg_body *b = &r->bodies.v[i % r->bodies.n];
    int status = http_status;
    size_t acked = 0;
    json_t *j = (!r->o->any_reply && len) ? json_loadb(data, len, 0, NULL) : NULL;
    if (j) {
        if (!status) status = (int)json_integer_value(json_object_get(j, "status"));
        json_t *recs = json_object_get(j, "records"), *o;
        size_t k;
        if (json_is_array(recs)) {
            json_array_foreach(recs, k, o)
            {
                const char *out = json_string_value(json_object_get(o, "outcome"));
                if (!out) continue;
                if (strcmp(out, "stored") == 0)
                    r->stored++, acked++;
                else if (strcmp(out, "duplicate") == 0)
                    r->duplicate++, acked++;
                else
                    r->rejected++;
            }
        } else if (status == 202) {
            acked = b->nrec; /* a baseline: no per-record outcomes */
        }
        r->transitions += (size_t)json_integer_value(json_object_get(j, "transitions"));
        r->messages += (size_t)json_integer_value(json_object_get(j, "messages"));
        json_decref(j);
    } else if (r->o->any_reply) {
        if (!status) status = 202;
        acked = b->nrec;
    }
    if (status >= 0 && status < 600) r->status[status]++;
    r->records_acked += acked;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const uint32_t *sorted, size_t n, double q)
{
    if (!n) return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i] / 1000.0;
}

/* CPU time of this process so far: the load generator's share of a small machine. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void summary(lg_run *r, const char *mode)
{
    const lg_opts *o = r->o;
    uint32_t *lat = malloc((r->replies + 1) * sizeof *lat);
    if (!lat) abort();
    size_t n = 0;
    for (size_t i = 0; i < r->sent; i++)
        if (r->answered[i]) lat[n++] = r->lat_us[i];
    qsort(lat, n, sizeof *lat, cmp_u32);
    double elapsed = r->t_last > r->t0 ? (double)(r->t_last - r->t0) / 1e9 : 0;
    size_t other = 0;
    for (int s = 0; s < 600; s++)
        if (s != 202) other += r->status[s];
    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"format\":\"%s\",\"batch\":%zu,\"%s\":%u,\"rate_"
           "target\":%.0f,"
           "\"requests_sent\":%zu,\"requests_answered\":%zu,\"lost\":%zu,\"errors\":%zu,"
           "\"records_sent\":%zu,\"records_acked\":%zu,\"status_202\":%zu,\"status_other\":%zu,",
           o->label ? o->label : "", mode, popgen_format_get(o->format)->name, o->batch,
           o->mode == MODE_ZMQ ? "window" : "connections",
           o->mode == MODE_ZMQ ? o->window : o->connections, o->rate, r->sent, r->replies,
           r->sent - r->replies, r->errors, r->records_sent, r->records_acked, r->status[202],
           other);
    printf("\"statuses\":{");
    const char *sep = "";
    for (int s = 0; s < 600; s++)
        if (r->status[s]) {
            printf("%s\"%d\":%zu", sep, s, r->status[s]);
            sep = ",";
        }
    printf(
        "},\"stored\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"transitions\":%zu,\"messages\":%zu,",
        r->stored, r->duplicate, r->rejected, r->transitions, r->messages);
    printf("\"elapsed_s\":%.3f,\"records_per_s\":%.1f,\"requests_per_s\":%.1f,"
           "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
           "\"body_bytes_avg\":%.0f,\"reply_bytes_avg\":%.0f,\"cpu_s\":%.2f,\"exhausted\":%s}\n",
           elapsed, elapsed > 0 ? (double)r->records_acked / elapsed : 0,
           elapsed > 0 ? (double)r->replies / elapsed : 0, percentile_ms(lat, n, 0.50),
           percentile_ms(lat, n, 0.99), n ? lat[n - 1] / 1000.0 : 0,
           r->bodies.n ? (double)r->bodies.bytes / (double)r->bodies.n : 0,
           r->replies ? (double)r->reply_bytes / (double)r->replies : 0, cpu_seconds() - r->cpu0,
           r->sent >= r->limit && (o->count == 0 || o->count > r->limit) ? "true" : "false");
    fflush(stdout);
    free(lat);
}

/* The push time of every acknowledged record, for bench/receiver.c --match. */
static void write_sent_log(const lg_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write %s", path);
    for (size_t i = 0; i < r->sent && i < r->bodies.n; i++) {
        const lg_body *b = &r->bodies.v[i];
        if (!r->answered[i] || !b->ids) continue;
        for (size_t k = 0; k < b->nrec; k++)
            if (b->ids[k]) fprintf(f, "%s %" PRIu64 "\n", b->ids[k], r->sched[i]);
    }
    fclose(f);
}

/* ---- ZeroMQ ----------------------------------------------------------------------- */

static void read_key(const char *path, const char *which, char out[41])
{
    FILE *f = fopen(path, "r");
    if (!f) die("cannot read %s", path);
    char line[256];
    out[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (strncmp(line, which, strlen(which)) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            if (strlen(line + strlen(which)) == 40)
                memcpy(out, line + strlen(which), 41); /* Z85 of 32 bytes */
        }
    fclose(f);
    if (strlen(out) != 40) die("no 40-character Z85 key in %s", path);
}

static void send_zmq(lg_run *r, void *s, const char *mt, uint64_t now)
{
    size_t i = r->sent;
    lg_body *b = &r->bodies.v[i % r->bodies.n];
    r->sched[i] = r->o->rate > 0 ? due_at(r, i) : now;
    zmq_send(s, mt, strlen(mt), ZMQ_SNDMORE);
    zmq_msg_t m;
    zmq_msg_init_data(&m, b->data, b->len, NULL, NULL); /* the body outlives the send: no copy */
    if (zmq_msg_send(&m, s, 0) < 0) {
        zmq_msg_close(&m);
        r->errors++;
    }
    r->sent++;
    r->records_sent += b->nrec;
}

static int run_zmq(lg_run *r)
{
    const lg_opts *o = r->o;
    char server[41], pub[41], sec[41];
    read_key(o->server_key, "public=", server);
    read_key(o->client_key, "public=", pub);
    read_key(o->client_key, "secret=", sec);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, hwm = (int)o->window * 2 + 16;
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server, 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(s, o->endpoint) != 0) die("cannot connect to %s", o->endpoint);
    const char *mt = o->media_type ? o->media_type : popgen_format_get(o->format)->media_type;
    size_t next_reply = 0; /* a DEALER talking to one ROUTER gets its replies in order */
    r->t0 = r->t_last = now_ns();
    r->deadline = r->t0 + (uint64_t)(o->duration * 1e9);
    uint64_t give_up = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!r->stopping && now >= r->deadline) r->stopping = true;
        while (r->sent - r->replies < o->window && may_send(r, now))
            send_zmq(r, s, mt, now);
        if (r->stopping || r->sent >= r->limit) {
            if (r->replies >= r->sent) break;
            if (!give_up) give_up = now + (uint64_t)(o->grace * 1e9);
            if (now >= give_up) break;
        }
        long timeout = 100; /* ms: look at the clock at least this often */
        if (o->rate > 0 && !r->stopping && r->sent < r->limit && r->sent - r->replies < o->window) {
            uint64_t due = due_at(r, r->sent);
            timeout = due > now ? (long)((due - now) / 1000000) : 0;
            if (timeout > 100) timeout = 100;
        }
        zmq_pollitem_t pi = {s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&pi, 1, timeout) < 0) break;
        for (;;) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            bool more = zmq_msg_more(&m);
            if (next_reply < r->sent)
                account(r, next_reply++, 0, zmq_msg_data(&m), zmq_msg_size(&m));
            zmq_msg_close(&m);
            while (more) { /* a reply is one frame; anything more is skipped */
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, s, 0) < 0)
                    more = false;
                else
                    more = zmq_msg_more(&m);
                zmq_msg_close(&m);
            }
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    summary(r, "zmq");
    return 0;
}

/* ---- HTTPS ------------------------------------------------------------------------ */

typedef struct lg_https lg_https;

typedef struct lg_conn {
    lg_https *h;
    struct evhttp_connection *evcon;
    size_t req; /* the request in flight, or SIZE_MAX */
    evutil_socket_t nodelay_fd;
    bool dead;
} lg_conn;

struct lg_https {
    lg_run *r;
    struct event_base *base;
    SSL_CTX *ssl;
    char host[256];
    int port;
    char path[512];
    const char *media_type;
    lg_conn *conns;
    unsigned nconns;
    struct event *tick, *stop, *grace;
    bool closing; /* freeing the connections: their callbacks must not start anything */
};

static void pump(lg_https *h);

static void on_reply(struct evhttp_request *req, void *arg)
{
    lg_conn *c = arg;
    lg_https *h = c->h;
    if (h->closing) return;
    size_t i = c->req;
    c->req = SIZE_MAX;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (!req || code == 0) {
        /* the connection failed: its request is lost and the connection is not reused */
        h->r->errors++;
        c->dead = true;
    } else {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        const char *data = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
        account(h->r, i, code, data, len);
    }
    pump(h);
}

static void issue(lg_https *h, lg_conn *c, uint64_t now)
{
    lg_run *r = h->r;
    size_t i = r->sent;
    lg_body *b = &r->bodies.v[i % r->bodies.n];
    r->sched[i] = r->o->rate > 0 ? due_at(r, i) : now;
    struct evhttp_request *req = evhttp_request_new(on_reply, c);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    evhttp_add_header(hd, "Host", h->host);
    evhttp_add_header(hd, "Content-Type", h->media_type);
    evhttp_add_header(hd, "Connection", "keep-alive");
    evbuffer_add_reference(evhttp_request_get_output_buffer(req), b->data, b->len, NULL, NULL);
    c->req = i;
    r->sent++;
    r->records_sent += b->nrec;
    if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, h->path) != 0) {
        c->req = SIZE_MAX;
        c->dead = true;
        r->errors++;
        return;
    }
    /*
     * The socket exists once the first request starts connecting.  Without
     * TCP_NODELAY the body, a TLS record of its own after the headers', waits
     * for the server's delayed ACK: 40 ms a request.
     */
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
    if (fd >= 0 && fd != c->nodelay_fd) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->nodelay_fd = fd;
    }
}

static void pump(lg_https *h)
{
    lg_run *r = h->r;
    uint64_t now = now_ns();
    if (!r->stopping && now >= r->deadline) r->stopping = true;
    unsigned busy = 0, live = 0;
    for (unsigned k = 0; k < h->nconns; k++) {
        lg_conn *c = &h->conns[k];
        if (c->dead) continue;
        live++;
        if (c->req == SIZE_MAX && may_send(r, now)) issue(h, c, now);
        if (c->req != SIZE_MAX) busy++;
    }
    if (busy == 0 && (r->stopping || r->sent >= r->limit || live == 0)) {
        event_base_loopexit(h->base, NULL);
        return;
    }
    if ((r->stopping || r->sent >= r->limit) && !evtimer_pending(h->grace, NULL)) {
        struct timeval g = {(time_t)r->o->grace, 0};
        evtimer_add(h->grace, &g);
    }
    if (r->o->rate > 0 && !r->stopping && r->sent < r->limit && busy < live) {
        uint64_t due = due_at(r, r->sent);
        uint64_t wait = due > now ? due - now : 0;
        struct timeval tv = {(time_t)(wait / 1000000000u),
                             (suseconds_t)(wait % 1000000000u / 1000)};
        evtimer_add(h->tick, &tv);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lg_https *h = arg;
    event_base_loopexit(h->base, NULL);
}

static SSL_CTX *client_tls(const lg_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
        ERR_print_errors_fp(stderr);
        die("cannot load the client certificate, key or CA (%s)", o->cert);
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static int run_https(lg_run *r)
{
    const lg_opts *o = r->o;
    lg_https h = {.r = r};
    struct evhttp_uri *uri = evhttp_uri_parse(o->url);
    if (!uri || !evhttp_uri_get_host(uri) || evhttp_uri_get_port(uri) <= 0)
        die("not an https URL with a port: %s", o->url);
    snprintf(h.host, sizeof h.host, "%s", evhttp_uri_get_host(uri));
    h.port = evhttp_uri_get_port(uri);
    snprintf(h.path, sizeof h.path, "%s",
             evhttp_uri_get_path(uri) && *evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri)
                                                                   : "/");
    evhttp_uri_free(uri);
    h.media_type = o->media_type ? o->media_type : popgen_format_get(o->format)->media_type;
    h.base = event_base_new();
    h.ssl = client_tls(o);
    h.nconns = o->connections;
    h.conns = calloc(h.nconns, sizeof *h.conns);
    if (!h.conns) abort();
    for (unsigned k = 0; k < h.nconns; k++) {
        SSL *ssl = SSL_new(h.ssl);
        SSL_set_tlsext_host_name(ssl, h.host);
        SSL_set1_host(ssl, h.host);
        struct bufferevent *bev =
            bufferevent_openssl_socket_new(h.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                           BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        h.conns[k] = (lg_conn){.h = &h, .req = SIZE_MAX, .nodelay_fd = -1};
        h.conns[k].evcon =
            evhttp_connection_base_bufferevent_new(h.base, NULL, bev, h.host, (ev_uint16_t)h.port);
        evhttp_connection_set_timeout(h.conns[k].evcon, 60);
    }
    h.tick = evtimer_new(h.base, on_tick, &h);
    h.stop = evtimer_new(h.base, on_tick, &h);
    h.grace = evtimer_new(h.base, on_grace, &h);
    r->t0 = r->t_last = now_ns();
    r->deadline = r->t0 + (uint64_t)(o->duration * 1e9);
    struct timeval d = {(time_t)o->duration,
                        (suseconds_t)((o->duration - (double)(time_t)o->duration) * 1e6)};
    evtimer_add(h.stop, &d);
    pump(&h);
    event_base_dispatch(h.base);
    summary(r, "https");
    h.closing = true;
    for (unsigned k = 0; k < h.nconns; k++)
        evhttp_connection_free(h.conns[k].evcon);
    event_free(h.tick);
    event_free(h.stop);
    event_free(h.grace);
    free(h.conns);
    SSL_CTX_free(h.ssl);
    event_base_free(h.base);
    return 0;
}

/* ---- main ------------------------------------------------------------------------- */

static const char usage[] =
    "usage: loadgen zmq|https [options]\n"
    "  zmq:   --endpoint EP --server-key FILE --client-key FILE [--window N (64)]\n"
    "  https: --url https://HOST:PORT/v1/records --cert FILE --key FILE --ca FILE [--connections C "
    "(16)]\n"
    "  --format F            popgen format: mca hrss health cdpf-xml cdpf-csv canonical (hrss)\n"
    "  --media-type T        Content-Type / first frame (the format's own)\n"
    "  --batch K             records per request (1)\n"
    "  --records N           distinct records generated before the clock starts (20000)\n"
    "  --seed N              population seed (1): a new seed for each run against the same store\n"
    "  --flagging            only records that cause an eligibility transition for a new person\n"
    "  --population N        records about N records' worth of persons only: the rest are the\n"
    "                        same records again under new sender ids (a fixed population)\n"
    "  --region R            the population's region: beijing tianjin langfang all (tianjin)\n"
    "  --catalogue C         the catalogue --flagging evaluates (tianjin): the one of the gateway\n"
    "                        that decides the person's services (langfang for Langfang persons)\n"
    "  --catalogue-overlay F the gateway's catalogue_overlay (Langfang's local parameter values)\n"
    "  --disability-percent P, --low-income-percent P   population overrides (docs/popgen.md)\n"
    "  --duration S          stop sending after S seconds (10)\n"
    "  --count N             stop after N requests\n"
    "  --rate R              open loop at R records/s (default: closed loop, as fast as answered)\n"
    "  --grace S             wait this long for the last replies (30)\n"
    "  --any-reply           every reply acknowledges its records (a baseline that does not "
    "parse)\n"
    "  --cycle               send the bodies again and again (baselines only: a gateway answers a\n"
    "                        replayed record from the store)\n"
    "  --sent-log FILE       'message_id push_time_ns' per acknowledged record (CLOCK_MONOTONIC)\n"
    "  --label TEXT          copied into the JSON summary\n";

static popgen_format format_named(const char *name)
{
    for (int f = 0; f < POPGEN_NFORMATS; f++)
        if (strcmp(popgen_format_get((popgen_format)f)->name, name) == 0) return (popgen_format)f;
    die("unknown format %s", name);
    return POPGEN_HRSS;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "zmq") != 0 && strcmp(argv[1], "https") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    lg_opts o = {.mode = strcmp(argv[1], "zmq") == 0 ? MODE_ZMQ : MODE_HTTPS,
                 .window = 64,
                 .connections = 16,
                 .format = POPGEN_HRSS,
                 .batch = 1,
                 .records = 20000,
                 .seed = 1,
                 .duration = 10,
                 .grace = 30,
                 .region = "tianjin",
                 .catalogue = "tianjin"};
    enum {
        O_ENDPOINT = 256,
        O_SKEY,
        O_CKEY,
        O_WINDOW,
        O_URL,
        O_CERT,
        O_KEY,
        O_CA,
        O_CONNS,
        O_FORMAT,
        O_MT,
        O_BATCH,
        O_RECORDS,
        O_SEED,
        O_FLAG,
        O_DIS,
        O_LOW,
        O_DUR,
        O_COUNT,
        O_RATE,
        O_GRACE,
        O_ANY,
        O_CYCLE,
        O_POPULATION,
        O_SENT,
        O_LABEL,
        O_REGION,
        O_CATALOGUE,
        O_OVERLAY
    };
    static const struct option lo[] = {{"endpoint", required_argument, 0, O_ENDPOINT},
                                       {"server-key", required_argument, 0, O_SKEY},
                                       {"client-key", required_argument, 0, O_CKEY},
                                       {"window", required_argument, 0, O_WINDOW},
                                       {"url", required_argument, 0, O_URL},
                                       {"cert", required_argument, 0, O_CERT},
                                       {"key", required_argument, 0, O_KEY},
                                       {"ca", required_argument, 0, O_CA},
                                       {"connections", required_argument, 0, O_CONNS},
                                       {"format", required_argument, 0, O_FORMAT},
                                       {"media-type", required_argument, 0, O_MT},
                                       {"batch", required_argument, 0, O_BATCH},
                                       {"records", required_argument, 0, O_RECORDS},
                                       {"seed", required_argument, 0, O_SEED},
                                       {"flagging", no_argument, 0, O_FLAG},
                                       {"disability-percent", required_argument, 0, O_DIS},
                                       {"low-income-percent", required_argument, 0, O_LOW},
                                       {"duration", required_argument, 0, O_DUR},
                                       {"count", required_argument, 0, O_COUNT},
                                       {"rate", required_argument, 0, O_RATE},
                                       {"grace", required_argument, 0, O_GRACE},
                                       {"any-reply", no_argument, 0, O_ANY},
                                       {"cycle", no_argument, 0, O_CYCLE},
                                       {"population", required_argument, 0, O_POPULATION},
                                       {"sent-log", required_argument, 0, O_SENT},
                                       {"label", required_argument, 0, O_LABEL},
                                       {"region", required_argument, 0, O_REGION},
                                       {"catalogue", required_argument, 0, O_CATALOGUE},
                                       {"catalogue-overlay", required_argument, 0, O_OVERLAY},
                                       {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_ENDPOINT:
            o.endpoint = optarg;
            break;
        case O_SKEY:
            o.server_key = optarg;
            break;
        case O_CKEY:
            o.client_key = optarg;
            break;
        case O_WINDOW:
            o.window = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_URL:
            o.url = optarg;
            break;
        case O_CERT:
            o.cert = optarg;
            break;
        case O_KEY:
            o.key = optarg;
            break;
        case O_CA:
            o.ca = optarg;
            break;
        case O_CONNS:
            o.connections = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_FORMAT:
            o.format = format_named(optarg);
            break;
        case O_MT:
            o.media_type = optarg;
            break;
        case O_BATCH:
            o.batch = strtoul(optarg, NULL, 10);
            break;
        case O_RECORDS:
            o.records = strtoul(optarg, NULL, 10);
            break;
        case O_SEED:
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case O_FLAG:
            o.flagging = true;
            break;
        case O_DIS:
            o.disability_percent = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_LOW:
            o.low_income_percent = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_DUR:
            o.duration = strtod(optarg, NULL);
            break;
        case O_COUNT:
            o.count = strtoul(optarg, NULL, 10);
            break;
        case O_RATE:
            o.rate = strtod(optarg, NULL);
            break;
        case O_GRACE:
            o.grace = strtod(optarg, NULL);
            break;
        case O_ANY:
            o.any_reply = true;
            break;
        case O_CYCLE:
            o.cycle = true;
            break;
        case O_POPULATION:
            o.population = strtoul(optarg, NULL, 10);
            break;
        case O_SENT:
            o.sent_log = optarg;
            break;
        case O_LABEL:
            o.label = optarg;
            break;
        case O_REGION:
            o.region = optarg;
            break;
        case O_CATALOGUE:
            o.catalogue = optarg;
            break;
        case O_OVERLAY:
            o.overlay = optarg;
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (o.mode == MODE_ZMQ && (!o.endpoint || !o.server_key || !o.client_key))
        die("%s", "zmq needs --endpoint, --server-key and --client-key");
    if (o.mode == MODE_HTTPS && (!o.url || !o.cert || !o.key || !o.ca))
        die("%s", "https needs --url, --cert, --key and --ca");
    if (!o.batch || !o.records || !o.window || !o.connections || o.duration <= 0)
        die("%s", "batch, records, window, connections and duration must be positive");
    if (o.population && o.flagging)
        die("%s", "--population repeats records of known persons: they flag nothing (no --flagging)");

    signal(SIGPIPE, SIG_IGN);
    double t = (double)now_ns();
    lg_run r = {.o = &o};
    make_bodies(&o, &r.bodies);
    if (!r.bodies.n) die("%s", "no records to send");
    fprintf(stderr, "loadgen: %zu requests of up to %zu %s records (%.1f MB) made in %.1f s\n",
            r.bodies.n, o.batch, popgen_format_get(o.format)->name, (double)r.bodies.bytes / 1e6,
            ((double)now_ns() - t) / 1e9);
    r.limit = o.cycle ? CYCLE_CAP : r.bodies.n;
    if (o.count && o.count < r.limit) r.limit = o.count;
    r.sched = calloc(r.limit, sizeof *r.sched);
    r.lat_us = calloc(r.limit, sizeof *r.lat_us);
    r.answered = calloc(r.limit, sizeof *r.answered);
    if (!r.sched || !r.lat_us || !r.answered) abort();
    r.cpu0 = cpu_seconds();
    int rc = o.mode == MODE_ZMQ ? run_zmq(&r) : run_https(&r);
    if (o.sent_log) write_sent_log(&r, o.sent_log);
    if (r.replies < r.sent) rc = 1;
    free(r.sched);
    free(r.lat_us);
    free(r.answered);
    free_bodies(&r.bodies);
    return rc;
}
