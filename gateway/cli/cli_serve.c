/*
 * `msgw serve --config FILE`: the gateway daemon.  Loads the dictionary,
 * schemas, configuration, catalogue and store, replays nothing (the store is
 * the truth), starts every listener and deliverer the configuration wants
 * from their registries (gateway/ingress/listeners.c,
 * gateway/deliver/transports.c: it names none of them), and serves until
 * SIGTERM or SIGINT, which let the request in progress finish.  Logs are
 * JSON lines on stderr.
 */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include <curl/curl.h>

#include "msgw/admin/admin.h"
#include "msgw/base/log.h"
#include "msgw/deliver/driver.h"
#include "msgw/engine/catalogue.h"
#include "msgw/ingress/listener.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/pipeline/feed.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/pipeline/peer.h"
#include "msgw/store/audit.h"

static const char serve_help[] =
    "Usage: msgw serve --config FILE [--store ADDRESS] [--port-file FILE]\n"
    "       msgw serve --config FILE --check\n"
    "\n"
    "Runs the gateway: HTTPS ingress with mutual TLS (docs/config.md, docs/ingress.md).\n"
    "  --check            load the configuration and its catalogue (and overlay) as the daemon\n"
    "                     does, print what it names, and exit: 0 it loads, 2 it does not (each\n"
    "                     error with its JSON pointer).  Certificates, the store and the listen\n"
    "                     addresses are not touched\n"
    "  --store ADDRESS    the store, instead of the configuration's \"store\": sqlite:PATH or a\n"
    "                     libpq URI postgresql://... (docs/store.md; several instances on one\n"
    "                     PostgreSQL database share the work: docs/cluster.md)\n"
    "  --port-file FILE   write each endpoint actually bound (for listen ports of 0): the HTTPS\n"
    "                     port to FILE, the others to FILE.zmq, .peering, .zdeliver, .feed, .admin\n"
    "SIGTERM or SIGINT: stop after the request in progress.  SIGHUP: reload the configuration\n"
    "and the catalogue (departments, subscriptions, certificates, parameter values).\n";

typedef struct daemon {
    msgw_dict *dict;
    msgw_schemas *schemas;
    msgw_config *cfg;
    msgw_catalogue *cat;
    msgw_store *store;
    const char *store_option; /* --store, before the configuration's "store" */
    msgw_ingest *ingest;
    msgw_adapter_ctx ctx;
    struct event_base *base;
    msgw_listeners *listeners;   /* every listener of the registry the configuration wants */
    msgw_deliverers *deliverers; /* a driver for every transport of the registry it wants */
    msgw_admin *admin;
    msgw_zmq_hub *hub;
    msgw_doorbell *bell; /* the commit worker wakes the deliverers */
    msgw_audit *audit;   /* pushes, deliveries, reloads */
    msgw_feed *feed;              /* monitoring feed (zmq.feed_listen); survives SIGHUP */
    msgw_metrics *metrics;        /* GET /metrics on the admin listener; survives SIGHUP */
    msgw_peers *peers;            /* seals and opens envelopes of peer gateways (peers[]) */
    struct event *sigterm, *sigint, *sighup, *drain;
    msgw_time drain_deadline;
    const char *config_path;
    char store_spec[4096];
} daemon_t;

/*
 * Drain: once every accepted request is committed and answered (or after 10 s), the loop ends —
 * but not in the first second: a connection accepted just before the stop may still be in its TLS
 * handshake, its request not yet read, and it deserves its answer too.
 */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_t *d = arg;
    msgw_time now = msgw_time_now();
    bool settled = msgw_ingest_in_flight(d->ingest) == 0 && now >= d->drain_deadline - 9 * 1000000;
    if (settled || now > d->drain_deadline) {
        msgw_log(MSGW_LOG_INFO, "stopped", "detail", msgw_ingest_in_flight(d->ingest) ? "drain deadline passed" : "drained", NULL);
        event_base_loopexit(d->base, NULL);
    }
}

/* SIGTERM, SIGINT: take no new requests, finish the ones accepted, then stop. */
static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    daemon_t *d = arg;
    if (d->drain) return;
    msgw_log(MSGW_LOG_INFO, "stopping", "detail", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    msgw_listeners_pause(d->listeners);
    d->drain_deadline = msgw_time_now() + 10 * 1000000;
    d->drain = event_new(d->base, -1, EV_PERSIST, on_drain_tick, d);
    struct timeval tick = {0, 20000};
    event_add(d->drain, &tick);
    on_drain_tick(-1, 0, d);
}

/* A configuration change, in the audit log. */
static void audit_reload(daemon_t *d, const char *outcome, const char *detail)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_append(d->audit, "config",
                      json_pack("{s:s,s:s,s:s}", "path", d->config_path, "outcome", outcome, "detail", detail ? detail : ""),
                      &e);
    msgw_errors_clear(&e);
}

static msgw_catalogue *load_catalogue(const msgw_dict *dict, const msgw_config *cfg, msgw_errors *e)
{
    msgw_catalogue *cat = msgw_catalogue_load(dict, cfg->catalogue, e);
    if (cat && cfg->catalogue_overlay && !msgw_catalogue_overlay(cat, cfg->catalogue_overlay, e))
        msgw_catalogue_destroy(&cat);
    return cat;
}

/* The certificates and CRLs of the configuration now in use, each expiring or expired one warned of
 * in the log; the administrators' listener reports them (and frees them). */
static void certificates_in_use(daemon_t *d)
{
    msgw_certificates *c = msgw_certificates_read(d->cfg);
    msgw_certificates_log(c, msgw_time_now(), d->cfg->admin_cert_warning_days);
    if (d->admin)
        msgw_admin_set_certificates(d->admin, c);
    else
        msgw_certificates_destroy(&c);
}

/* What the listeners use, with the configuration and peers given. */
static msgw_listener_env listener_env(const daemon_t *d, const msgw_config *cfg,
                                      const msgw_peers *peers)
{
    return (msgw_listener_env){.base = d->base,
                               .cfg = cfg,
                               .ingest = d->ingest,
                               .hub = d->hub,
                               .peers = peers,
                               .audit = d->audit,
                               .metrics = d->metrics};
}

/*
 * SIGHUP: reload the configuration and the catalogue (new departments,
 * subscriptions, certificates, parameter values) without dropping open
 * connections.  A configuration that does not load changes nothing.  The
 * listen addresses and the store stay as they were started.
 */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    daemon_t *d = arg;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *cfg = msgw_config_load(d->config_path, d->dict, &e);
    msgw_catalogue *cat = cfg ? load_catalogue(d->dict, cfg, &e) : NULL;
    msgw_peers *peers = cat && cfg->npeers ? msgw_peers_new(cfg, &e) : NULL;
    bool peers_ok = !cat || !cfg->npeers || peers;
    msgw_listener_env next = listener_env(d, cfg, peers);
    if (!cat || !peers_ok || !msgw_listeners_prepare(d->listeners, &next, &e)) {
        msgw_peers_destroy(&peers);
        msgw_log_errors(MSGW_LOG_ERROR, "configuration", &e);
        msgw_log(MSGW_LOG_ERROR, "reload failed: the previous configuration stays", NULL);
        audit_reload(d, "refused", e.n ? e.v[0].message : NULL);
        msgw_catalogue_destroy(&cat);
        msgw_config_destroy(&cfg);
        msgw_errors_clear(&e);
        return;
    }
    msgw_reload how = msgw_ingest_reconfigure(d->ingest, cfg, d->cat, cat, &e);
    if (how == MSGW_RELOAD_FAILED) msgw_log_errors(MSGW_LOG_ERROR, "configuration", &e);
    if (how == MSGW_RELOAD_REBUILT && strcmp(d->cat->id, cat->id) == 0)
        msgw_log(MSGW_LOG_WARNING, "catalogue rules changed: engine rebuilt", "detail", "verdicts the new rules change take effect without notices", NULL);
    if (how == MSGW_RELOAD_PARAMETERS) { /* the engine keeps its catalogue, with the new values added */
        msgw_catalogue_destroy(&cat);
        cat = d->cat;
        d->cat = NULL;
        msgw_log(MSGW_LOG_INFO, "parameter values applied", "detail", "transitions routed to the departments", NULL);
    }
    if (!msgw_listeners_reconfigure(d->listeners, &next, &e))
        msgw_log_errors(MSGW_LOG_ERROR, "configuration", &e);
    if (d->hub) msgw_zmq_hub_reconfigure(d->hub, cfg);
    /* each deliverer's thread is halted, switched to the new configuration and started again
     * before the old one is freed; sockets, consumers and messages in flight stay */
    if (!msgw_deliverers_reconfigure(d->deliverers, cfg, &e))
        msgw_log_errors(MSGW_LOG_ERROR, "configuration", &e);
    msgw_catalogue_destroy(&d->cat);
    msgw_config_destroy(&d->cfg);
    d->cfg = cfg;
    d->cat = cat;
    if (d->admin && !msgw_admin_reconfigure(d->admin, d->cfg, d->cat, &e)) msgw_log_errors(MSGW_LOG_ERROR, "configuration", &e);
    certificates_in_use(d);
    msgw_ingest_set_peers(d->ingest, peers); /* after this the worker seals with the new key */
    msgw_peers_destroy(&d->peers);
    d->peers = peers;
    /* the audit log's checkpoints follow the gateway's certificate, the old key handing over */
    if (d->audit && !msgw_audit_rekey(d->audit, d->cfg->tls_key, d->cfg->tls_cert, &e))
        msgw_log_errors(MSGW_LOG_ERROR, "audit", &e);
    msgw_log(MSGW_LOG_INFO, "reloaded", "detail", d->config_path, NULL);
    audit_reload(d, how == MSGW_RELOAD_PARAMETERS ? "parameter values applied"
                    : how == MSGW_RELOAD_REBUILT  ? "reloaded"
                                                  : "reloaded; engine rebuilt after a failure",
                 NULL);
    msgw_errors_clear(&e);
}

/* The audit log, signed with the gateway's key (docs/audit.md). */
static msgw_audit *open_audit(const msgw_config *cfg, msgw_errors *e)
{
    char dir[4096];
    msgw_config_audit_dir(cfg, dir, sizeof dir);
    msgw_audit_options opt = {.checkpoint_every = cfg->audit_checkpoint_every,
                              .checkpoint_seconds = (int)cfg->audit_checkpoint_seconds,
                              .retention_days = (int)cfg->audit_retention_days,
                              .held_max = cfg->audit_held_max};
    return msgw_audit_open(dir, cfg->tls_key, cfg->tls_cert, &opt, e);
}

/* ZeroMQ is started only for a configuration that uses it: the feed (for its listener and for the
 * admin dashboard), or a listener or transport that makes ZeroMQ sockets. */
static bool needs_zmq(const msgw_config *cfg)
{
    return cfg->zmq_feed_listen || cfg->admin_listen ||
           msgw_listeners_need_hub(msgw_listeners_registered(), cfg) ||
           msgw_deliverers_need_hub(msgw_transports_registered(), cfg);
}

/* Writes an endpoint to FILE.SUFFIX, or to FILE itself for "" (for tests with wildcard ports),
 * whole or not at all. */
static void write_endpoint(const char *port_file, const char *suffix, const char *endpoint)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s%s%s", port_file, *suffix ? "." : "", suffix);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%s\n", endpoint);
    if (fclose(f) == 0) rename(tmp, path);
}

/* Logs every endpoint and writes it for --port-file: the deliverers', the feed's, the admin
 * listener's, then the listeners' in their registry's order (scripts wait for the last). */
static void announce(const daemon_t *d, const char *port_file)
{
    for (size_t i = 0; i < msgw_deliverers_count(d->deliverers); i++) {
        const msgw_transport_ops *ops = msgw_deliverers_ops(d->deliverers, i);
        const char *endpoint = msgw_deliverers_endpoint(d->deliverers, i);
        msgw_log(MSGW_LOG_INFO, "delivering", "transport", ops->name, "detail", endpoint, NULL);
        if (endpoint && port_file && ops->port_file)
            write_endpoint(port_file, ops->port_file, endpoint);
    }
    const char *feed = d->feed ? msgw_feed_endpoint(d->feed) : NULL;
    if (feed) msgw_log(MSGW_LOG_INFO, "feed listening", "detail", feed, NULL);
    if (feed && port_file) write_endpoint(port_file, "feed", feed);
    if (d->admin) {
        char admin_port[16];
        snprintf(admin_port, sizeof admin_port, "%d", msgw_admin_port(d->admin));
        msgw_log(MSGW_LOG_INFO, "admin listening", "detail", admin_port, NULL);
        if (port_file) write_endpoint(port_file, "admin", admin_port);
    }
    for (size_t i = 0; i < msgw_listeners_count(d->listeners); i++) {
        const msgw_listener_ops *ops = msgw_listeners_ops(d->listeners, i);
        const char *endpoint = msgw_listeners_endpoint(d->listeners, i);
        msgw_log(MSGW_LOG_INFO, "listening", "transport", ops->name, "detail", endpoint, NULL);
        if (port_file && ops->port_file) write_endpoint(port_file, ops->port_file, endpoint);
    }
}

/* GET /v1/transports on the admin listener: what each running listener and deliverer knows. */
static json_t *transports_stats(void *ud)
{
    const daemon_t *d = ud;
    return json_pack("{s:o,s:o}", "listeners", msgw_listeners_stats(d->listeners), "deliverers",
                     msgw_deliverers_stats(d->deliverers));
}

static bool start(daemon_t *d, const char *config, msgw_errors *e)
{
    d->config_path = config;
    d->dict = msgw_dict_new_default(e);
    d->schemas = d->dict ? msgw_schemas_new(e) : NULL;
    d->cfg = d->schemas ? msgw_config_load(config, d->dict, e) : NULL;
    if (!d->cfg) return false;
    d->cat = load_catalogue(d->dict, d->cfg, e);
    if (!d->cat) return false;
    mkdir(d->cfg->data_dir, 0700);
    char *spec = d->store_spec;
    if (!msgw_store_address(d->store_option ? d->store_option : d->cfg->store, d->cfg->data_dir, spec,
                            sizeof d->store_spec, e))
        return false;
    d->store = msgw_store_open(spec, 0, e);
    if (!d->store) return false;
    msgw_adapter_ctx_defaults(&d->ctx, d->dict, d->schemas);
    d->ctx.max_document_bytes = d->cfg->max_body_bytes;
    d->base = event_base_new();
    if (needs_zmq(d->cfg) && !(d->hub = msgw_zmq_hub_new(d->base, d->cfg, e))) return false;
    /* the feed runs for its listener and for the admin dashboard's live events */
    if ((d->cfg->zmq_feed_listen || d->cfg->admin_listen) && !(d->feed = msgw_feed_new(d->hub, d->cfg->zmq_feed_listen, e)))
        return false;
    /* a descriptor for each deliverer that will run, by index (msgw_deliverers_start) */
    d->bell = msgw_doorbell_new(msgw_deliverers_wanted(msgw_transports_registered(), d->cfg));
    if (!(d->audit = open_audit(d->cfg, e))) return false;
    d->metrics = msgw_metrics_new();
    msgw_audit_set_metrics(d->audit, d->metrics);
    d->ingest = msgw_ingest_new(d->base, d->cfg, &d->ctx, d->store, spec, d->cat, d->feed, d->bell, d->audit, e);
    if (!d->ingest) return false;
    msgw_ingest_set_metrics(d->ingest, d->metrics);
    if (d->cfg->npeers && !(d->peers = msgw_peers_new(d->cfg, e))) return false;
    msgw_ingest_set_peers(d->ingest, d->peers);
    msgw_listener_env listeners = listener_env(d, d->cfg, d->peers);
    if (!(d->listeners = msgw_listeners_start(msgw_listeners_registered(), &listeners, e)))
        return false;
    if (d->cfg->admin_listen && !(d->admin = msgw_admin_new(d->base, d->cfg, d->cat, d->ingest, e))) return false;
    if (d->admin) msgw_admin_set_metrics(d->admin, d->metrics, spec);
    if (d->admin) msgw_admin_set_audit(d->admin, d->audit, d->bell);
    if (d->admin) msgw_admin_set_context(d->admin, &d->ctx);
    certificates_in_use(d);
    if (d->admin)
        msgw_admin_set_live(d->admin, msgw_zmq_hub_context(d->hub),
                            msgw_feed_local_endpoint(d->feed));
    msgw_transport_env env = {.cfg = d->cfg,
                              .hub = d->hub,
                              .store_address = spec,
                              .feed = d->feed,
                              .audit = d->audit,
                              .metrics = d->metrics};
    if (!(d->deliverers = msgw_deliverers_start(msgw_transports_registered(), &env, d->bell, e)))
        return false;
    if (d->admin) msgw_admin_set_transports(d->admin, transports_stats, d);
    d->sigterm = evsignal_new(d->base, SIGTERM, on_stop, d);
    d->sigint = evsignal_new(d->base, SIGINT, on_stop, d);
    d->sighup = evsignal_new(d->base, SIGHUP, on_hup, d);
    event_add(d->sigterm, NULL);
    event_add(d->sigint, NULL);
    event_add(d->sighup, NULL);
    return true;
}

static void stop(daemon_t *d)
{
    if (d->sigterm) event_free(d->sigterm);
    if (d->sigint) event_free(d->sigint);
    if (d->sighup) event_free(d->sighup);
    if (d->drain) event_free(d->drain);
    msgw_listeners_stop(&d->listeners);
    msgw_admin_destroy(&d->admin);
    msgw_ingest_destroy(&d->ingest); /* commits what is queued; its event lives on the base */
    msgw_deliverers_stop(&d->deliverers);      /* the deliverers' feed publishers close first */
    msgw_feed_destroy(&d->feed);               /* after every publisher */
    msgw_zmq_hub_destroy(&d->hub);   /* after every socket made from its context */
    if (d->base) event_base_free(d->base);
    msgw_store_close(&d->store);
    msgw_doorbell_destroy(&d->bell); /* after the deliverers and the worker */
    msgw_peers_destroy(&d->peers);   /* after the worker, which seals with it */
    msgw_audit_destroy(&d->audit);   /* after everyone who appends: a final checkpoint */
    msgw_metrics_destroy(&d->metrics); /* after everyone who counts */
    msgw_catalogue_destroy(&d->cat);
    msgw_config_destroy(&d->cfg);
    msgw_schemas_destroy(&d->schemas);
    msgw_dict_destroy(&d->dict);
}

/*
 * --check: what start() loads before it touches a certificate, the store or a socket, so an
 * operator can try an edited file before a restart or a SIGHUP (which would refuse it too).
 */
static int check_config(const char *config)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_dict *dict = msgw_dict_new_default(&e);
    msgw_config *cfg = dict ? msgw_config_load(config, dict, &e) : NULL;
    msgw_catalogue *cat = cfg ? load_catalogue(dict, cfg, &e) : NULL;
    msgw_cli_print_errors(stderr, "msgw serve: ", &e);
    bool ok = cat != NULL;
    if (ok)
        printf("%s: ok: region %s, catalogue %s (%zu services), %zu departments, %zu peers, "
               "data in %s, store %s\n",
               config, cfg->region, cat->id, cat->nservices, cfg->ndepartments - cfg->npeers,
               cfg->npeers, cfg->data_dir, cfg->store ? cfg->store : "(default)");
    else
        printf("%s: does not load\n", config);
    msgw_catalogue_destroy(&cat);
    msgw_config_destroy(&cfg);
    msgw_dict_destroy(&dict);
    msgw_errors_clear(&e);
    return ok ? MSGW_EXIT_OK : MSGW_EXIT_USAGE;
}

int msgw_cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, 0, 'c'},
                                             {"store", required_argument, 0, 's'},
                                             {"port-file", required_argument, 0, 'p'},
                                             {"check", no_argument, 0, 'k'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *config = NULL, *port_file = NULL, *store = NULL;
    bool check = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:s:p:kh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'k': check = true; break;
        case 's': store = optarg; break;
        case 'p': port_file = optarg; break;
        case 'h': fputs(serve_help, stdout); return MSGW_EXIT_OK;
        default: fputs(serve_help, stderr); return MSGW_EXIT_USAGE;
        }
    }
    if (!config) {
        fputs(serve_help, stderr);
        return MSGW_EXIT_USAGE;
    }
    if (check) return check_config(config);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    daemon_t d;
    memset(&d, 0, sizeof d);
    d.store_option = store;
    msgw_errors e;
    msgw_errors_init(&e);
    int rc = MSGW_EXIT_OK;
    if (!start(&d, config, &e)) {
        msgw_log_errors(MSGW_LOG_ERROR, "configuration", &e);
        rc = MSGW_EXIT_USAGE;
    } else {
        announce(&d, port_file);
        event_base_dispatch(d.base);
        msgw_log(MSGW_LOG_INFO, "stopped", NULL);
    }
    msgw_errors_clear(&e);
    stop(&d);
    curl_global_cleanup();
    return rc;
}
