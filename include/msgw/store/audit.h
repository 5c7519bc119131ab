/*
 * The audit log: an append-only, hash-chained record of every push,
 * delivery, administrator action and configuration change.  Each entry holds
 * the SHA-256 of the one before it; checkpoints in the chain are signed with
 * the gateway's private key, and every segment file starts with one, so
 * whole old segments can be pruned and the rest still verifies from a signed
 * anchor.  docs/audit.md describes the format and what verification can and
 * cannot detect.
 */
#ifndef MSGW_AUDIT_H
#define MSGW_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/base/metrics.h"

typedef struct msgw_audit msgw_audit;

/* Zero fields take the defaults in brackets. */
typedef struct msgw_audit_options {
    size_t segment_entries;  /* entries per segment file, its checkpoint included [10000] */
    size_t checkpoint_every; /* a signed checkpoint after this many entries [1000] */
    int checkpoint_seconds;  /* ... or at the first append this long after the last one [60] */
    int retention_days;      /* msgw_audit_prune_expired keeps this many days [365] */
    size_t held_max; /* entries held while the log cannot be written; beyond, lost [10000] */
} msgw_audit_options;

/* Opens (creating dir, mode 0700, if needed) the log for appending.  The key signs
 * checkpoints; the certificate must hold its public key.  Each open starts a new
 * segment with a checkpoint anchored on the last entry already written.  NULL after
 * saying why in e.  opt may be NULL. */
msgw_audit *msgw_audit_open(const char *dir, const char *key_pem_path, const char *cert_pem_path,
                            const msgw_audit_options *opt, msgw_errors *e);
/* Writes a final checkpoint if entries follow the last one, syncs and closes. */
void msgw_audit_destroy(msgw_audit **a);

/*
 * Appends one entry; any thread.  kind is "push", "delivery", "admin" or "config";
 * fields (a JSON object, stolen even on failure) hold identifiers and outcomes, never
 * record bodies, and no real numbers.  A string that looks like an unmasked GB 11643
 * ID number is refused.  True once the line is written to the kernel.  While the log
 * cannot be written the entry is held in memory, in order, and written after the
 * failure's record when it recovers (false, rule audit.held), up to opt.held_max
 * entries; beyond, it is lost (false, rule audit.lost), and the number lost recorded.
 */
bool msgw_audit_append(msgw_audit *a, const char *kind, json_t *fields, msgw_errors *e);
/* Writes a signed checkpoint now and syncs the segment to disk. */
bool msgw_audit_checkpoint(msgw_audit *a, msgw_errors *e);
/*
 * Signs with another key from now on (the gateway's certificate rotated; SIGHUP).  A checkpoint
 * signed with the old key names the new certificate's fingerprint (the hand-over), then one
 * signed with the new key carries the certificate.  True, changing nothing, when the certificate
 * is the one in use; false, keeping the old key, when the key or certificate cannot be read or
 * do not match.
 */
bool msgw_audit_rekey(msgw_audit *a, const char *key_pem_path, const char *cert_pem_path,
                      msgw_errors *e);
/*
 * Removes the oldest whole segments whose every entry is older than older_than
 * (never the segment being written), then records the prune in the chain.  The
 * first remaining segment starts with a signed checkpoint, which verification
 * takes as its anchor.  *removed (may be NULL) gets the number of files removed.
 */
bool msgw_audit_prune(msgw_audit *a, msgw_time older_than, size_t *removed, msgw_errors *e);
/* msgw_audit_prune with older_than = now - retention_days. */
bool msgw_audit_prune_expired(msgw_audit *a, size_t *removed, msgw_errors *e);

/*
 * NULL while the log can be written; else what failed and how many entries are held (into buf).
 * A write or sync that failed makes the log hold appends; it recovers — the segment cut back to
 * its last whole entry, the failure recorded in the chain, the held entries written after it — at
 * the next append or this call, at most once a second.  For /readyz, and for the threads that
 * stop while it cannot be written (the deliverers; the commit worker tries it every second).
 */
const char *msgw_audit_problem(msgw_audit *a, char *buf, size_t len);
/* True while the log cannot be written, with what failed in buf; never waits for the log's lock
 * nor tries to recover it: for the event loop, on every push (pushes are refused meanwhile). */
bool msgw_audit_refusing(msgw_audit *a, char *buf, size_t len);
/* Counts failures in m's msgw_failures_total (component audit, or fsync for a sync), and the
 * entries held and lost (msgw_audit_held_entries, msgw_audit_lost_total). */
void msgw_audit_set_metrics(msgw_audit *a, msgw_metrics *m);

/* Last sequence number written (0 when empty). */
uint64_t msgw_audit_seq(msgw_audit *a);

typedef enum {
    MSGW_AUDIT_OK = 0, /* every entry verifies */
    MSGW_AUDIT_BROKEN, /* the chain is broken: problem/file/line/seq say where */
    MSGW_AUDIT_IOERROR /* the log or certificate could not be read: see the errors */
} msgw_audit_status;

typedef struct msgw_audit_report {
    msgw_audit_status status;
    char problem[512]; /* the first problem, one sentence with file, line and seq */
    char file[64];     /* segment of the first problem */
    size_t line;       /* its line (1-based) */
    uint64_t seq;      /* the entry's seq (or the one expected there) */
    size_t segments, entries, checkpoints; /* what was read, checkpoints included in entries */
    uint64_t first_seq, last_seq;
    uint64_t start_checkpoint;    /* 0: the chain starts at seq 1; else the anchoring checkpoint */
    char start_file[64];          /* the first segment */
    uint64_t last_checkpoint; /* seq of the last checkpoint signed with a trusted key (0: none) */
    size_t after_last_checkpoint; /* entries after it, covered by no trusted signature yet */
    char last_cert_sha256[65];    /* the certificate that signed the newest checkpoint */
    size_t key_changes;           /* times the signing certificate changed along the log */
} msgw_audit_report;

/*
 * Walks every segment of dir in order and checks each line's canonical form and
 * hash, the seq sequence, the prev links, every checkpoint's signature, and that
 * the chain starts at seq 1 or where the last recorded prune said.  Every certificate
 * in cert_pem_path is trusted, and those a trusted checkpoint hands over to; a
 * checkpoint signed with another certificate the log carries verifies with it but
 * anchors nothing (the entries before it count as anchored once a trusted checkpoint
 * follows, the chain's hashes linking them).  A log no trusted checkpoint anchors is
 * broken.  True when the log verifies; otherwise r->status says whether it is broken
 * (r->problem) or unreadable (e).
 */
bool msgw_audit_verify(const char *dir, const char *cert_pem_path, msgw_audit_report *r,
                       msgw_errors *e);

/* The same a segment at a time, for the admin listener's event loop (GET /v1/audit/verify). */
typedef struct msgw_audit_verifier msgw_audit_verifier;
msgw_audit_verifier *msgw_audit_verifier_new(const char *dir, const char *cert_pem_path,
                                             msgw_errors *e);
/* For the log a is writing: it verifies the entries written when it is made, while the writer
 * goes on appending; a prune waits (is skipped, removing nothing) until it is destroyed. */
msgw_audit_verifier *msgw_audit_verifier_own(msgw_audit *a, const char *cert_pem_path,
                                             msgw_errors *e);
/* Checks the next segment: 1 when more remain, 0 when the verification is over (whatever it
 * found: see the report), -1 with an error when a segment cannot be read. */
int msgw_audit_verifier_step(msgw_audit_verifier *v, msgw_errors *e);
const msgw_audit_report *msgw_audit_verifier_report(const msgw_audit_verifier *v);
void msgw_audit_verifier_destroy(msgw_audit_verifier **v);

/* Calls cb with every whole entry of the log in dir, oldest first ({"seq", "time", "kind",
 * "fields", ...}, borrowed), until cb returns false; with containing, only the entries whose line
 * (canonical JSON) holds those bytes, the others skipped unparsed.  It only reads: whether the
 * chain holds is msgw_audit_verify's question.  False, with an error, when a segment cannot be
 * read. */
bool msgw_audit_each(const char *dir, const char *containing, bool (*cb)(void *ud, json_t *entry),
                     void *ud, msgw_errors *e);

/* The same a segment at a time, for a caller that must not read the whole log at once (the admin
 * listener's event loop).  The segments are those of dir when the reader is made; one pruned
 * since is skipped. */
typedef struct msgw_audit_reader msgw_audit_reader;
msgw_audit_reader *msgw_audit_reader_new(const char *dir, const char *containing, msgw_errors *e);
/* Reads the next segment, calling cb for its entries: 1 when segments remain, 0 when all are read
 * (or cb returned false), -1 with an error when the segment cannot be read. */
int msgw_audit_reader_next(msgw_audit_reader *r, bool (*cb)(void *ud, json_t *entry), void *ud,
                           msgw_errors *e);
void msgw_audit_reader_destroy(msgw_audit_reader **r);

#endif
