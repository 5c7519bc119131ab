/*
 * The gateway's configuration (docs/config.md, example deploy/msgw.json):
 * listeners, TLS material, the store, the catalogue, and per department
 * what it may push, what it receives (subscriptions with field
 * projections) and how it is delivered to.  Loaded from JSON and checked
 * against the dictionary: an unknown record kind, department or field is a
 * load error naming the JSON pointer, never a silent misroute.
 */
#ifndef MSGW_CONFIG_H
#define MSGW_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/model/dict.h"
#include "msgw/base/error.h"

typedef struct msgw_subscription {
    const char **kinds; /* record kinds received */
    size_t nkinds;
    const char **from; /* sending departments (empty: any) */
    size_t nfrom;
    const char **fields; /* dictionary elements the recipient may see (projection) */
    size_t nfields;
} msgw_subscription;

/* deliver.*.notices_per_message when not configured. */
#define MSGW_NOTICES_PER_MESSAGE 100
/* Envelopes in one request to a peer at most (X-Msgw-Envelopes), and peers[].envelopes_per_message
 * when not configured. */
#define MSGW_ENVELOPES_PER_REQUEST 1000
#define MSGW_ENVELOPES_PER_MESSAGE 100

typedef enum { MSGW_DELIVER_NONE, MSGW_DELIVER_WEBHOOK, MSGW_DELIVER_ZMQ } msgw_deliver_kind;

typedef struct msgw_department {
    const char *id;   /* adapter-independent department id: mca, hrss, health, cdpf, ... */
    const char *name; /* display name */
    const char *adapter;       /* format it speaks (adapter name); defaults to id */
    const char *cert_organization, *cert_unit; /* client certificate subject O and OU */
    const char *curve_public;  /* Z85 public key for ZeroMQ (ingress, delivery, feed), may be NULL */
    const char **push;         /* record kinds it may push */
    size_t npush;
    msgw_subscription *subs;
    size_t nsubs;
    bool eligibility; /* receives eligibility transitions of the services naming it */
    msgw_deliver_kind deliver;
    const char *deliver_url; /* webhook URL (ZeroMQ: the department connects to zmq.deliver_listen) */
    const char *deliver_media_type;
    const char *deliver_ca, *deliver_cert, *deliver_key;
    /* Eligibility notices per delivered message: 1, each its own document; more, up to that many
     * in one list document of its format (docs/eligibility.md, "Several notices in one message"). */
    size_t notices_per_message;
    /* A peer: envelopes per request (1: each alone; docs/federation.md). */
    size_t envelopes_per_message;
    /* Its pushes' limit (config "limit", docs/ingress.md "Limits per department"): a token bucket
     * of rate_burst requests refilled at rate_per_s a second; 0: no limit. */
    unsigned rate_per_s, rate_burst;
    size_t max_connections; /* "limit": {"connections"}: its open HTTPS connections; 0: no cap */
    /* A peer gateway (config "peers", docs/federation.md) is kept as a department of its own, so
     * routing, the outbox and delivery treat it alike: it pushes envelopes to the peering listener,
     * and records about persons of its region go to it as signed envelopes. */
    const char *peer_region; /* GB/T 2260 prefix it serves; NULL: a department */
    const char *peer_ca;     /* the CA that issues its gateway certificate */
    const char
        *peer_crl; /* that CA's CRL (PEM); NULL: its certificates are not checked for revocation */
    bool relay;              /* forward what came from another peer on to it */
} msgw_department;

/* A client certificate subject admitted to the administrators' listener. */
typedef struct msgw_admin_cert {
    const char *organization, *unit;
} msgw_admin_cert;

typedef struct msgw_config {
    const char *region;    /* GB/T 2260 prefix served */
    const char *catalogue; /* built-in name or file */
    const char *catalogue_overlay;
    const char *data_dir;
    const char *store; /* "sqlite:PATH" */
    const char *tls_ca, *tls_cert, *tls_key;
    const char *tls_crl; /* the CRLs of tls.ca's CAs (PEM, several); NULL: no revocation checking */
    const char *https_listen;
    size_t max_body_bytes, max_header_bytes, max_connections;
    unsigned request_timeout_s; /* https.timeout_s: an idle connection's */
    /* Deadlines of a request (docs/ingress.md, "Connections"): its headers from its first byte, its
     * body body_timeout_s and a second more per body_min_rate bytes; open connections per address. */
    unsigned header_timeout_s, body_timeout_s;
    size_t body_min_rate, max_connections_per_address;
    const char *zmq_listen;
    const char *zmq_secret_file;
    const char *zmq_deliver_listen; /* ROUTER the zmq-delivered departments connect to, or NULL */
    size_t zmq_deliver_window;      /* unacknowledged messages per department */
    const char *zmq_feed_listen;    /* XPUB of the monitoring feed, or NULL */
    /* the commit queue (docs/ingress.md, "Back-pressure"): records and request bytes accepted but not
     * yet committed; one department may hold department_percent of it; a commit takes up to
     * group_records records from many requests (group commit) */
    size_t queue_max_records, queue_max_bytes, queue_group_records;
    unsigned queue_department_percent;
    unsigned delivery_max_attempts, delivery_max_age_s, backoff_initial_ms, backoff_max_ms;
    unsigned webhook_parallel; /* posts to one webhook recipient side by side */
    unsigned delivery_ack_timeout_ms; /* ZeroMQ: unacknowledged this long, a message is sent again */
    msgw_department *departments; /* the departments, then the peers */
    size_t ndepartments, npeers;  /* npeers of them (the last ones) are peers */
    const char *peering_listen;   /* where peer gateways push envelopes (NULL: no peering) */
    const char *admin_listen; /* NULL: no administrators' listener */
    msgw_admin_cert *admins;
    size_t nadmins;
    const char **admin_curve; /* administrators' CURVE public keys (Z85): the only keys the feed admits */
    size_t nadmin_curve;
    unsigned admin_cert_warning_days;
    /* retention (docs/store.md): delivered messages and dead letters older than this are removed
     * once a day (dead_days 0: dead letters are kept until replayed) */
    unsigned retention_delivered_days, retention_dead_days, retention_transitions_days, retention_records_days;
    /* several instances over one PostgreSQL store (docs/cluster.md): this instance's name (NULL:
     * HOST-PID), the evaluator lease's period, how often an instance that does not evaluate
     * follows the one that does */
    const char *cluster_instance;
    unsigned cluster_lease_ms, cluster_follow_ms;
    /* the audit log (docs/audit.md): its directory (default DATA_DIR/audit), retention,
     * checkpoints, the entries held in memory while it cannot be written */
    const char *audit_dir;
    unsigned audit_retention_days, audit_checkpoint_seconds;
    size_t audit_checkpoint_every, audit_held_max;
    json_t *doc;   /* owns every string above */
    json_t *owned; /* strings made while loading (peers' delivery URLs) */
} msgw_config;

/* Loads and checks a configuration file; NULL with errors naming JSON pointers on failure. */
msgw_config *msgw_config_load(const char *path, const msgw_dict *d, msgw_errors *e);
msgw_config *msgw_config_parse(const char *text, size_t len, const msgw_dict *d, msgw_errors *e);
void msgw_config_destroy(msgw_config **c);
const msgw_department *msgw_config_department(const msgw_config *c, const char *id);
/* Where the audit log is kept: audit.dir, or data_dir/audit. */
void msgw_config_audit_dir(const msgw_config *c, char *buf, size_t len);
/* The department a client certificate's subject O / OU names, or NULL. */
const msgw_department *msgw_config_department_for_cert(const msgw_config *c, const char *organization,
                                                       const char *unit);
bool msgw_department_may_push(const msgw_department *d, const char *kind);

#endif
