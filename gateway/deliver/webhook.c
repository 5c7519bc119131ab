/*
 * Delivery by webhook (a transport, include/msgw/deliver/transport.h): each recipient configured
 * with "deliver": {"webhook": {...}} — departments and peer gateways alike — gets its due messages
 * POSTed over HTTPS with mutual TLS (libcurl multi: every recipient at once, and
 * delivery.webhook_parallel posts to each side by side, each on a kept-alive connection).  Order
 * per person still holds: a claim takes at most one message per person, the oldest pending one.
 * The notices due to a recipient go together, up to its notices_per_message in one POST of a list
 * document (msgw/deliver/parcel.h); the POST's outcome is each one's.  The envelopes due to a peer
 * go together too, up to its envelopes_per_message in a JSON array; the peer answers each one
 * (docs/federation.md, "Several envelopes in one request") and each gets its own outcome.
 *
 * At-least-once: a message is delivered only once the recipient answered 2xx, so a crash between
 * the two re-sends it after the restart, and the recipient de-duplicates by the X-Msgw-Event-Id
 * header.  A peer gateway answers 409 to an envelope it holds already (its answer was lost, the
 * envelope sent again): delivered too.  Anything else is a failed attempt, retried with back-off
 * and dead-lettered by the driver's policy.  The outcomes are known when deliver returns.
 */
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/deliver/parcel.h"
#include "msgw/deliver/transport.h"

/* PER_PASS: the messages claimed per recipient and pass, posted as handles come free (more for a
 * recipient taking notices in lists, at most PASS_MAX). */
enum { MAX_PARALLEL = 16, PER_PASS = 64, PASS_MAX = 1000 };

/* One post in flight. */
typedef struct transfer {
    const msgw_department *dept;
    const msgw_parcel *m;
    struct curl_slist *hdr;
    msgw_buf answer; /* a peer's answer to a list of envelopes */
    char why[CURL_ERROR_SIZE];
} transfer;

/* A peer's answer to a list is one small object per envelope: more than this is not one. */
#define ANSWER_MAX (4u << 20)

typedef struct webhook {
    const msgw_config *cfg;
    CURLM *multi;   /* the posts of a batch run side by side */
    size_t par;     /* delivery.webhook_parallel */
    CURL **handles; /* par per department, reused: keep-alive connections */
    size_t nhandles;
    msgw_parcels *parcels;             /* the pass's posts */
    atomic_size_t recipients, posting; /* for stats */
} webhook;

/* A recipient's posts of the batch, and how far they have got. */
typedef struct queue {
    const msgw_parcel **v;
    size_t n, next; /* next: the first message not yet posted */
} queue;

/* Keeps the answer to a list of envelopes; any other answer is not read. */
static size_t answered(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    if (t->m->form == MSGW_PARCEL_ENVELOPES && t->answer.len + size * n <= ANSWER_MAX)
        msgw_buf_append(&t->answer, p, size * n);
    return size * n;
}

/* Prepares handle h to post message m of transfer t (headers in t, freed when it completes). */
static void prepare(const webhook *w, CURL *h, transfer *t)
{
    const msgw_config *c = w->cfg;
    const msgw_department *dept = t->dept;
    const msgw_parcel *m = t->m;
    const msgw_delivery *one = m->v[0];
    char line[256];
    snprintf(line, sizeof line, "Content-Type: %s", m->media_type);
    t->hdr = curl_slist_append(NULL, line);
    snprintf(line, sizeof line, "X-Msgw-Kind: %s", m->kind);
    t->hdr = curl_slist_append(t->hdr, line);
    if (m->form == MSGW_PARCEL_NOTICES) { /* each notice names its id and cause inside */
        snprintf(line, sizeof line, "X-Msgw-Notices: %zu", m->n);
        t->hdr = curl_slist_append(t->hdr, line);
    } else if (m->form == MSGW_PARCEL_ENVELOPES) { /* each envelope names its message */
        snprintf(line, sizeof line, "X-Msgw-Envelopes: %zu", m->n);
        t->hdr = curl_slist_append(t->hdr, line);
    } else {
        snprintf(line, sizeof line, "X-Msgw-Event-Id: %s", one->event_id);
        t->hdr = curl_slist_append(t->hdr, line);
        if (one->cause && *one->cause) {
            snprintf(line, sizeof line, "X-Msgw-Cause: %s", one->cause);
            t->hdr = curl_slist_append(t->hdr, line);
        }
    }
    t->why[0] = '\0';
    curl_easy_setopt(h, CURLOPT_PRIVATE, t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->why);
    curl_easy_setopt(h, CURLOPT_URL, dept->deliver_url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)m->len);
    curl_easy_setopt(h, CURLOPT_CAINFO, dept->deliver_ca ? dept->deliver_ca : c->tls_ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, dept->deliver_cert ? dept->deliver_cert : c->tls_cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, dept->deliver_key ? dept->deliver_key : c->tls_key);
    /* a revoked receiver is not sent to: a peer's certificate is checked against its CRL, a
     * department's against tls.crl when it is checked against tls.ca */
    curl_easy_setopt(h, CURLOPT_CRLFILE,
                     dept->peer_region  ? dept->peer_crl
                     : dept->deliver_ca ? NULL
                                        : c->tls_crl);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, answered);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
}

/* One message's outcome from the status it was answered with. */
static void settle_one(msgw_pass *p, const msgw_delivery *m, bool peer, long status,
                       const char *why)
{
    if ((status >= 200 && status < 300) || (status == 409 && peer)) {
        msgw_pass_delivered(p, m, true);
        return;
    }
    char err[300];
    if (status)
        snprintf(err, sizeof err, "HTTP %ld%s%s", status, why && *why ? " " : "", why ? why : "");
    else
        snprintf(err, sizeof err, "%s", why);
    msgw_pass_failed(p, m, err);
}

/* A peer's answer to a list of envelopes: {"results": [{"status", "answer"}, ...]}, one per
 * envelope in order.  Each gets the status it was answered with; an answer that is not that
 * fails them all. */
static void settle_envelopes(msgw_pass *p, const msgw_parcel *m, const msgw_buf *answer)
{
    json_t *doc = json_loadb(answer->data ? answer->data : "", answer->len, 0, NULL);
    json_t *results = json_object_get(doc, "results");
    bool readable = json_array_size(results) == m->n;
    for (size_t k = 0; k < m->n && readable; k++)
        readable = json_is_integer(json_object_get(json_array_get(results, k), "status"));
    for (size_t k = 0; k < m->n; k++) {
        if (!readable) {
            settle_one(p, m->v[k], true, 0, "the peer's answer to the list is not one result per envelope");
            continue;
        }
        json_t *r = json_array_get(results, k);
        const char *rule = json_string_value(
            json_object_get(json_array_get(json_object_get(json_object_get(r, "answer"), "errors"), 0), "rule"));
        settle_one(p, m->v[k], true, (long)json_integer_value(json_object_get(r, "status")), rule);
    }
    json_decref(doc);
}

/* A finished post's outcome, each of its messages'. */
static void outcome(const webhook *w, msgw_pass *p, const transfer *t, long status)
{
    const msgw_parcel *m = t->m;
    const msgw_department *to = msgw_config_department(w->cfg, m->v[0]->recipient);
    bool peer = to && to->peer_region;
    if (m->form == MSGW_PARCEL_ENVELOPES && status >= 200 && status < 300) {
        settle_envelopes(p, m, &t->answer);
        return;
    }
    peer = peer && m->form != MSGW_PARCEL_ENVELOPES; /* a 409 to a whole list says nothing of each */
    for (size_t k = 0; k < m->n; k++)
        settle_one(p, m->v[k], peer, status, status ? NULL : t->why);
}

/* Starts the next message of recipient i on handle slot (i, j), if one is left. */
static bool start_next(webhook *w, queue *q, transfer *t, size_t i, size_t j)
{
    if (q[i].next >= q[i].n) return false;
    transfer *x = &t[i * w->par + j];
    *x = (transfer){.dept = &w->cfg->departments[i], .m = q[i].v[q[i].next++]};
    prepare(w, w->handles[i * w->par + j], x);
    curl_multi_add_handle(w->multi, w->handles[i * w->par + j]);
    atomic_fetch_add(&w->posting, 1);
    return true;
}

/* Runs the posts until every message has had its attempt: a handle that finishes gives its
 * message's outcome and takes the recipient's next one at once. */
static void run_posts(webhook *w, queue *q, transfer *t, msgw_pass *p)
{
    size_t nd = w->cfg->ndepartments;
    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < w->par; j++)
            start_next(w, q, t, i, j);
    int running = 1;
    while (running && !msgw_pass_stopping(p)) {
        curl_multi_perform(w->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(w->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *h = msg->easy_handle;
            CURLcode result = msg->data.result;
            transfer *x = NULL;
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
            if (result == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            else if (!x->why[0])
                snprintf(x->why, sizeof x->why, "%s", curl_easy_strerror(result));
            outcome(w, p, x, status);
            curl_multi_remove_handle(w->multi, h);
            curl_slist_free_all(x->hdr);
            x->hdr = NULL;
            msgw_buf_free(&x->answer);
            atomic_fetch_sub(&w->posting, 1);
            size_t slot = (size_t)(x - t);
            if (start_next(w, q, t, slot / w->par, slot % w->par)) running = 1;
        }
        if (running) curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    for (size_t k = 0; k < nd * w->par; k++) /* stopping: abandon what is still in flight */
        if (t[k].hdr) {
            curl_multi_remove_handle(w->multi, w->handles[k]);
            curl_slist_free_all(t[k].hdr);
            msgw_buf_free(&t[k].answer);
            atomic_fetch_sub(&w->posting, 1);
        }
}

static bool is(const msgw_department *d, const char *id)
{
    return d->id && strcmp(d->id, id) == 0;
}

/* The batch, recipient by recipient (a department's handles are indexed by its place in cfg). */
static void webhook_deliver(void *tp, msgw_delivery *v, size_t nv, msgw_pass *p, msgw_time now)
{
    (void)now; /* each outcome is timed when its post finishes */
    webhook *w = tp;
    msgw_delivery **all = calloc(nv + 1, sizeof *all);
    if (!all) abort();
    for (size_t k = 0; k < nv; k++)
        all[k] = &v[k];
    size_t n = msgw_parcels_pack(w->parcels, w->cfg, all, nv);
    size_t nd = w->cfg->ndepartments, *of = calloc(n + 1, sizeof *of), i = 0;
    queue *q = calloc(nd + 1, sizeof *q);
    transfer *t = calloc(nd * w->par + 1, sizeof *t);
    if (!of || !q || !t) abort();
    for (size_t k = 0; k < n;
         k++) { /* the batch comes recipient by recipient: try the last first */
        const char *to = msgw_parcels_get(w->parcels, k)->v[0]->recipient;
        if (i >= nd || !is(&w->cfg->departments[i], to))
            for (i = 0; i < nd && !is(&w->cfg->departments[i], to); i++) {
            }
        of[k] = i;
        if (i < nd) q[i].n++;
    }
    for (i = 0; i < nd; i++) {
        q[i].v = calloc(q[i].n + 1, sizeof *q[i].v);
        if (!q[i].v) abort();
        q[i].n = 0;
    }
    for (size_t k = 0; k < n; k++)
        if (of[k] < nd) q[of[k]].v[q[of[k]].n++] = msgw_parcels_get(w->parcels, k);
    run_posts(w, q, t, p);
    for (i = 0; i < nd; i++)
        free(q[i].v);
    free(q);
    free(t);
    free(of);
    free(all);
}

static size_t webhook_room(void *tp, const msgw_department *dept)
{
    (void)tp;
    /* room for two full lists of notices or envelopes besides PER_PASS posts (a pass of records
     * alone, one POST each, stays about as long as before) */
    size_t per = dept->peer_region ? dept->envelopes_per_message : dept->notices_per_message;
    per = per > 1 ? per : 0;
    return PER_PASS + 2 * per < PASS_MAX ? PER_PASS + 2 * per : PASS_MAX;
}

static void free_handles(webhook *w)
{
    for (size_t i = 0; i < w->nhandles; i++)
        curl_easy_cleanup(w->handles[i]);
    free(w->handles);
    w->handles = NULL;
    w->nhandles = 0;
    if (w->multi) curl_multi_cleanup(w->multi);
    w->multi = NULL;
}

/* Handles for cfg's departments, with a fresh connection pool: a reload may change a recipient's
 * URL or certificates, and a kept connection would still carry the old ones. */
static void set_config(webhook *w, const msgw_config *cfg)
{
    free_handles(w);
    w->cfg = cfg;
    w->multi = curl_multi_init();
    w->par = cfg->webhook_parallel < MAX_PARALLEL ? cfg->webhook_parallel : MAX_PARALLEL;
    if (w->par == 0) w->par = 1;
    w->nhandles = cfg->ndepartments * w->par;
    w->handles = calloc(w->nhandles + 1, sizeof *w->handles);
    if (!w->handles || !w->multi) abort();
    for (size_t i = 0; i < w->nhandles; i++)
        if (!(w->handles[i] = curl_easy_init())) abort();
    size_t recipients = 0;
    for (size_t i = 0; i < cfg->ndepartments; i++)
        recipients += cfg->departments[i].deliver == MSGW_DELIVER_WEBHOOK;
    atomic_store(&w->recipients, recipients);
}

static void *webhook_open(const msgw_transport_env *env, msgw_errors *e)
{
    (void)e;
    webhook *w = calloc(1, sizeof *w);
    if (!w) abort();
    w->parcels = msgw_parcels_new();
    set_config(w, env->cfg);
    return w;
}

static void webhook_close(void **tp)
{
    if (!tp || !*tp) return;
    free_handles(*tp);
    msgw_parcels_destroy(&((webhook *)*tp)->parcels);
    free(*tp);
    *tp = NULL;
}

static void webhook_reconfigure(void *tp, const msgw_config *cfg)
{
    set_config(tp, cfg);
}

static json_t *webhook_stats(const void *tp)
{
    const webhook *w = tp;
    return json_pack("{s:I,s:I}", "recipients", (json_int_t)atomic_load(&w->recipients), "posting",
                     (json_int_t)atomic_load(&w->posting));
}

/* Always runs: it listens on nothing, and a reload may add a recipient. */
static bool webhook_wanted(const msgw_config *cfg)
{
    (void)cfg;
    return true;
}

const msgw_transport_ops msgw_webhook_transport = {
    .name = "webhook",
    .kind = MSGW_DELIVER_WEBHOOK,
    .idle_ms = 50,
    .wanted = webhook_wanted,
    .open = webhook_open,
    .close = webhook_close,
    .room = webhook_room,
    .deliver = webhook_deliver,
    .reconfigure = webhook_reconfigure,
    .stats = webhook_stats,
};
