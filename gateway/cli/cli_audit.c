/*
 * `msgw audit verify|append|prune`: check an audit log's hash chain and
 * signed checkpoints (docs/audit.md), and the operator's tools to record a
 * manual intervention in it or prune it by age.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "msgw/store/audit.h"

static const char audit_help[] =
    "Usage: msgw audit verify --dir DIR --cert FILE\n"
    "       msgw audit append --dir DIR --key FILE --cert FILE KIND JSON\n"
    "       msgw audit prune  --dir DIR --key FILE --cert FILE --older-than-days N\n"
    "\n"
    "verify: walks every segment of the audit log in DIR and checks each entry's hash, the\n"
    "        seq sequence, the prev links and every checkpoint's signature; the gateway\n"
    "        certificates in FILE are trusted, and those they handed over to at a rotation;\n"
    "        prints the first problem with its file, line and seq.\n"
    "append: (operator tool) records one entry, e.g. a manual intervention: KIND is push,\n"
    "        delivery, admin or config, JSON an object of fields (ID numbers masked). The\n"
    "        key signs the checkpoints written when the log is opened and closed.\n"
    "prune:  removes whole segments older than N days; the rest still verifies from the\n"
    "        signed checkpoint that starts it, and the prune is recorded in the chain.\n"
    "\n"
    "Exit status: 0 ok, 1 the log does not verify (or the entry is refused), 2 usage or I/O.\n";

static void print_errors(const msgw_errors *e)
{
    char buf[2048];
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "msgw audit: %s\n", msgw_error_format(&e->v[i], buf, sizeof buf));
}

typedef struct audit_args {
    const char *dir, *key, *cert;
    long days;
    int nargs;
    char **args;
} audit_args;

static void print_ok(const msgw_audit_report *r, const char *dir)
{
    printf("%s: ok: %zu entries (%zu signed checkpoints) in %zu segments, seq %llu..%llu\n", dir,
           r->entries, r->checkpoints, r->segments, (unsigned long long)r->first_seq,
           (unsigned long long)r->last_seq);
    if (r->start_checkpoint)
        printf("chain starts at checkpoint %llu (%s line 1): entries before it were pruned\n",
               (unsigned long long)r->start_checkpoint, r->start_file);
    else
        printf("chain starts at seq 1 (%s)\n", r->start_file);
    printf("last checkpoint: seq %llu; %zu entries after it are not yet covered by a signature\n",
           (unsigned long long)r->last_checkpoint, r->after_last_checkpoint);
    if (r->key_changes)
        printf("the signing key changed %zu time%s; the newest checkpoint is signed by sha256 %s\n",
               r->key_changes, r->key_changes == 1 ? "" : "s", r->last_cert_sha256);
}

static int verify(const audit_args *a)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_report r;
    msgw_audit_verify(a->dir, a->cert, &r, &e);
    int rc = MSGW_EXIT_OK;
    if (r.status == MSGW_AUDIT_OK) {
        print_ok(&r, a->dir);
    } else if (r.status == MSGW_AUDIT_BROKEN) {
        printf("%s: BROKEN: %s\n", a->dir, r.problem);
        printf("entries verified before it: %zu\n", r.entries);
        rc = MSGW_EXIT_INVALID;
    } else {
        print_errors(&e);
        rc = MSGW_EXIT_USAGE;
    }
    msgw_errors_clear(&e);
    return rc;
}

static int append(const audit_args *a)
{
    json_error_t err;
    json_t *fields = json_loads(a->args[1], JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(fields)) {
        fprintf(stderr, "msgw audit append: JSON must be an object: %s\n", fields ? "" : err.text);
        json_decref(fields);
        return MSGW_EXIT_USAGE;
    }
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit *log = msgw_audit_open(a->dir, a->key, a->cert, NULL, &e);
    int rc = MSGW_EXIT_USAGE;
    if (!log) {
        json_decref(fields);
    } else if (msgw_audit_append(log, a->args[0], fields, &e)) {
        printf("%s: entry %llu recorded\n", a->dir, (unsigned long long)msgw_audit_seq(log));
        rc = MSGW_EXIT_OK;
    } else {
        rc = MSGW_EXIT_INVALID;
    }
    msgw_audit_destroy(&log);
    print_errors(&e);
    msgw_errors_clear(&e);
    return rc;
}

static int prune(const audit_args *a)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit *log = msgw_audit_open(a->dir, a->key, a->cert, NULL, &e);
    size_t removed = 0;
    int rc = MSGW_EXIT_USAGE;
    if (log && msgw_audit_prune(log, msgw_time_now() - a->days * 86400 * 1000000LL, &removed, &e)) {
        printf("%s: %zu segments removed\n", a->dir, removed);
        rc = MSGW_EXIT_OK;
    }
    msgw_audit_destroy(&log);
    print_errors(&e);
    msgw_errors_clear(&e);
    return rc;
}

/* Options after the verb; false (after printing the help) on a usage error. */
static bool parse(int argc, char **argv, audit_args *a, int *rc)
{
    static const struct option longopts[] = {
        {"dir", required_argument, 0, 'd'},  {"key", required_argument, 0, 'k'},
        {"cert", required_argument, 0, 'c'}, {"older-than-days", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    char *end;
    int ch;
    optind = 1;
    *rc = MSGW_EXIT_USAGE;
    while ((ch = getopt_long(argc, argv, "d:k:c:o:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            a->dir = optarg;
            break;
        case 'k':
            a->key = optarg;
            break;
        case 'c':
            a->cert = optarg;
            break;
        case 'o':
            a->days = strtol(optarg, &end, 10);
            if (*end || end == optarg || a->days < 0) a->days = -1;
            break;
        case 'h':
            *rc = MSGW_EXIT_OK;
            fputs(audit_help, stdout);
            return false;
        default:
            fputs(audit_help, stderr);
            return false;
        }
    }
    a->nargs = argc - optind;
    a->args = argv + optind;
    return true;
}

static bool usable(const char *verb, const audit_args *a)
{
    if (!a->dir || !a->cert) return false;
    if (strcmp(verb, "verify") == 0) return a->nargs == 0;
    if (strcmp(verb, "append") == 0) return a->key && a->nargs == 2;
    if (strcmp(verb, "prune") == 0) return a->key && a->nargs == 0 && a->days >= 0;
    return false;
}

int msgw_cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(audit_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? MSGW_EXIT_USAGE : MSGW_EXIT_OK;
    }
    const char *verb = argv[1];
    audit_args a = {.days = -1};
    int rc;
    if (!parse(argc - 1, argv + 1, &a, &rc)) return rc;
    if (strcmp(verb, "verify") != 0 && strcmp(verb, "prune") != 0) a.days = 0;
    if (!usable(verb, &a)) {
        fprintf(stderr, "msgw audit: missing or extra arguments for '%s'\n\n%s", verb, audit_help);
        return MSGW_EXIT_USAGE;
    }
    if (strcmp(verb, "verify") == 0) return verify(&a);
    return strcmp(verb, "append") == 0 ? append(&a) : prune(&a);
}
