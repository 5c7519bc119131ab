/*
 * `msgw admin`: an administrator's commands against a running gateway's
 * administrators' listener (docs/admin.md), over HTTPS with the
 * administrator's client certificate (libcurl).  The gateway does the work;
 * this prints its answers for a person.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "msgw/base/buf.h"
#include "progress.h"

static const char admin_help[] =
    "Usage: msgw admin --url URL --cert FILE --key FILE --ca FILE COMMAND\n"
    "\n"
    "Commands (answered by the gateway's administrators' listener at URL, e.g.\n"
    "https://localhost:8444, with an administrator's client certificate):\n"
    "  status                    readiness: every check, and whether the gateway is ready\n"
    "  certs                     the certificates the gateway uses and when each expires\n"
    "  deadletters [list]        the dead letters, oldest first, with their last error\n"
    "  deadletters replay ID     one dead letter pending again\n"
    "  deadletters replay --all  every dead letter pending again, in steps, with progress\n"
    "  audit verify              the gateway verifies its audit log's hash chain and signatures\n"
    "  reevaluate [--service CODE]\n"
    "                            every person re-evaluated on today's date (for one service, or\n"
    "                            all), with progress; the changes found are notified\n"
    "\n"
    "Exit status: 0 done (status: ready), 1 not ready / refused / not found, 2 usage or connection.\n";

typedef struct conn {
    const char *url, *cert, *key, *ca;
} conn;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    msgw_buf_append(ud, p, size * n);
    return size * n;
}

/* One request; the answer's JSON in *out (NULL when not JSON); returns the HTTP status, 0 when none. */
static long request(const conn *c, const char *method, const char *path, json_t **out)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    msgw_buf body;
    msgw_buf_init(&body);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
    curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L); /* long operations answer at once and are followed */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else fprintf(stderr, "msgw admin: %s: %s\n", url, curl_easy_strerror(rc));
    curl_easy_cleanup(h);
    *out = body.len ? json_loadb(body.data, body.len, 0, NULL) : NULL;
    msgw_buf_free(&body);
    return status;
}

static const char *s_of(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static int refused(long status, const json_t *j)
{
    const json_t *err = json_array_get(json_object_get(j, "errors"), 0);
    fprintf(stderr, "msgw admin: HTTP %ld%s%s\n", status, err ? ": " : "", err ? s_of(err, "message") : "");
    return status ? MSGW_EXIT_INVALID : MSGW_EXIT_USAGE;
}

/* GET path expecting 200: the answer in *j, or (refused, reported) the exit status in *rc. */
static bool get_ok(const conn *c, const char *path, json_t **j, int *rc)
{
    long st = request(c, "GET", path, j);
    if (st == 200) return true;
    *rc = refused(st, *j);
    json_decref(*j);
    *j = NULL;
    return false;
}

/* status, certs: the readiness checks (certs: only the certificates'). */
static int show_checks(const conn *c, bool certs_only)
{
    json_t *j = NULL;
    long st = request(c, "GET", "/readyz", &j);
    if (st != 200 && st != 503) {
        int rc = refused(st, j);
        json_decref(j);
        return rc;
    }
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "checks"), i, x) {
        if (certs_only && strncmp(s_of(x, "name"), "certificate.", 12) != 0) continue;
        printf("%-4s %-32s %s\n", json_is_true(json_object_get(x, "ok")) ? "ok" : "FAIL", s_of(x, "name"),
               s_of(x, "detail"));
    }
    bool ready = json_is_true(json_object_get(j, "ready"));
    if (!certs_only) printf("%s\n", ready ? "ready" : "NOT READY");
    json_decref(j);
    return ready ? MSGW_EXIT_OK : MSGW_EXIT_INVALID;
}

static int list_dead(const conn *c)
{
    json_t *j = NULL;
    int rc = MSGW_EXIT_OK;
    if (!get_ok(c, "/v1/deadletters", &j, &rc)) return rc;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "dead_letters"), i, x)
        printf("%-8lld %-10s %-12s %s  %lld attempts  %s\n", (long long)json_integer_value(json_object_get(x, "id")),
               s_of(x, "recipient"), s_of(x, "kind"), s_of(x, "person"),
               (long long)json_integer_value(json_object_get(x, "attempts")), s_of(x, "last_error"));
    printf("%zu dead letters\n", json_array_size(json_object_get(j, "dead_letters")));
    json_decref(j);
    return MSGW_EXIT_OK;
}

enum { REPLAY_STEP = 500 };

/* Every dead letter, REPLAY_STEP at a time, with progress; how many dead letters there were is
 * read first, so letters that die meanwhile are left for the next run. */
static int replay_all(const conn *c)
{
    json_t *j = NULL;
    int rc = MSGW_EXIT_OK;
    if (!get_ok(c, "/v1/deadletters", &j, &rc)) return rc;
    long long total = json_integer_value(json_object_get(j, "total")), done = 0;
    json_decref(j);
    msgw_progress *p = msgw_progress_new(stderr, "replay", "dead letters");
    while (done < total) {
        char path[96];
        long long step = total - done < REPLAY_STEP ? total - done : REPLAY_STEP;
        snprintf(path, sizeof path, "/v1/deadletters/replay?limit=%lld", step);
        long st = request(c, "POST", path, &j);
        long long n = st == 200 ? json_integer_value(json_object_get(j, "replayed")) : 0;
        if (st != 200) rc = refused(st, j);
        json_decref(j);
        if (st != 200 || n == 0) break;
        done += n;
        msgw_progress_update(p, done, total, NULL);
    }
    msgw_progress_destroy(&p);
    if (rc == MSGW_EXIT_OK) printf("%lld replayed\n", done);
    return rc;
}

static int replay(const conn *c, const char *which)
{
    if (strcmp(which, "--all") == 0) return replay_all(c);
    char path[128];
    snprintf(path, sizeof path, "/v1/deadletters/%lld/replay", atoll(which));
    json_t *j = NULL;
    long st = request(c, "POST", path, &j);
    int rc = st == 200 ? MSGW_EXIT_OK : refused(st, j);
    if (st == 200) printf("%lld replayed\n", (long long)json_integer_value(json_object_get(j, "replayed")));
    json_decref(j);
    return rc;
}

/* Follows an operation (GET /v1/operations/ID) until it ends, showing its progress. */
static int follow(const conn *c, const char *href, json_t **last)
{
    msgw_progress *p = msgw_progress_new(stderr, "re-evaluation", "persons");
    int rc = MSGW_EXIT_OK;
    for (;;) {
        json_t *j = NULL;
        if (!get_ok(c, href, &j, &rc)) break;
        const char *state = s_of(j, "state");
        char note[64];
        snprintf(note, sizeof note, "%lld transitions", (long long)json_integer_value(json_object_get(j, "transitions")));
        if (strcmp(state, "queued") != 0)
            msgw_progress_update(p, json_integer_value(json_object_get(j, "done")),
                                 json_integer_value(json_object_get(j, "total")), note);
        if (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0) {
            *last = j;
            break;
        }
        json_decref(j);
        usleep(200 * 1000);
    }
    msgw_progress_destroy(&p);
    return rc;
}

static int audit_verify(const conn *c)
{
    json_t *j = NULL;
    long st = request(c, "GET", "/v1/audit/verify", &j);
    int rc = MSGW_EXIT_OK;
    if (st == 200) {
        printf("audit log verifies: %lld entries (%lld checkpoints) in %lld segments, seq %lld..%lld; %lld entries "
               "after the last checkpoint\n",
               (long long)json_integer_value(json_object_get(j, "entries")),
               (long long)json_integer_value(json_object_get(j, "checkpoints")),
               (long long)json_integer_value(json_object_get(j, "segments")),
               (long long)json_integer_value(json_object_get(j, "first_seq")),
               (long long)json_integer_value(json_object_get(j, "last_seq")),
               (long long)json_integer_value(json_object_get(j, "after_last_checkpoint")));
    } else if (st == 409) {
        printf("audit log BROKEN: %s\n", s_of(json_object_get(j, "problem"), "message"));
        rc = MSGW_EXIT_INVALID;
    } else {
        rc = refused(st, j);
    }
    json_decref(j);
    return rc;
}

static int reevaluate(const conn *c, const char *service)
{
    char path[160];
    if (service) {
        char *esc = curl_easy_escape(NULL, service, 0);
        snprintf(path, sizeof path, "/v1/reevaluate?service=%s", esc ? esc : "");
        curl_free(esc);
    } else {
        snprintf(path, sizeof path, "/v1/reevaluate");
    }
    json_t *j = NULL, *end = NULL;
    long st = request(c, "POST", path, &j);
    int rc = st == 202 ? follow(c, s_of(j, "href"), &end) : refused(st, j);
    json_decref(j);
    if (end) {
        const char *state = s_of(end, "state");
        if (strcmp(state, "done") == 0)
            printf("%lld persons re-evaluated%s%s, %lld transitions notified\n",
                   (long long)json_integer_value(json_object_get(end, "done")), service ? " for " : "",
                   service ? service : "", (long long)json_integer_value(json_object_get(end, "transitions")));
        else {
            fprintf(stderr, "msgw admin: the re-evaluation %s after %lld persons\n", state,
                    (long long)json_integer_value(json_object_get(end, "done")));
            rc = MSGW_EXIT_INVALID;
        }
        json_decref(end);
    }
    return rc;
}

/* ---- msgw person: a person's disclosure record (docs/disclosure.md) ---- */

static const char person_help[] =
    "Usage: msgw person --url URL --cert FILE --key FILE --ca FILE [--json] ID_NUMBER\n"
    "\n"
    "A person's disclosure record, from a running gateway's administrators' listener: every record\n"
    "held about them, every verdict and change with its explanation, every disclosure (which\n"
    "department or peer gateway received which fields, when, on which rule) and who looked them up.\n"
    "Asking is itself recorded in the gateway's audit log, with the administrator who asked.\n"
    "--json prints the report as the gateway gives it (GET /v1/persons/ID/disclosures).\n"
    "\n"
    "Exit status: 0 printed, 1 refused (an invalid ID number), 2 usage or connection.\n";

static const char *str_or(const json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

/* fen as yuan, without floating point */
static void print_amount(const json_t *fen)
{
    if (!json_is_integer(fen)) return;
    json_int_t f = json_integer_value(fen);
    printf(" %s%lld.%02lld 元", f < 0 ? "-" : "", (long long)(f < 0 ? -f : f) / 100, (long long)(f < 0 ? -f : f) % 100);
}

static void print_list(const char *label, const json_t *a)
{
    printf("      %s", label);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) printf("%s%s", i ? ", " : " ", json_string_value(x));
    if (!json_array_size(a)) printf(" —");
    putchar('\n');
}

static void print_report(const json_t *r)
{
    size_t i;
    json_t *x;
    printf("个人信息记录 Personal information record: %s\n", str_or(r, "person", "?"));
    printf("民生网关 Minsheng Gateway, region %s, as of %s\n\n", str_or(r, "gateway_region", "?"),
           str_or(r, "generated_at", "?"));
    printf("一、持有的记录 Records held about you (%zu)\n", json_array_size(json_object_get(r, "records")));
    json_array_foreach(json_object_get(r, "records"), i, x)
        printf("  %s  from %s: %s (%s)\n", str_or(x, "recorded_at", "?"), str_or(x, "department", "?"),
               str_or(x, "kind", "?"), str_or(x, "message_id", "?"));
    printf("\n二、资格判定 What you qualify for\n");
    json_array_foreach(json_object_get(r, "verdicts"), i, x) {
        printf("  %s: %s", str_or(x, "service", "?"), json_is_true(json_object_get(x, "eligible")) ? "eligible" : "not eligible");
        if (json_is_string(json_object_get(x, "since"))) printf(" since %s", str_or(x, "since", ""));
        if (json_is_string(json_object_get(x, "tier"))) printf(", tier %s", str_or(x, "tier", ""));
        print_amount(json_object_get(x, "amount_fen"));
        putchar('\n');
    }
    printf("  变化 Changes:\n");
    json_array_foreach(json_object_get(r, "transitions"), i, x)
        printf("  %s  %s %s: %s\n", str_or(x, "at", "?"), str_or(x, "kind", "?"), str_or(x, "service", "?"),
               str_or(x, "explanation", "(no explanation)"));
    printf("\n三、提供给他人的信息 Who was given information about you (%zu)\n",
           json_array_size(json_object_get(r, "disclosures")));
    json_array_foreach(json_object_get(r, "disclosures"), i, x) {
        const json_t *b = json_object_get(x, "basis");
        printf("  %s  %s (%s): %s%s%s — %s\n", str_or(x, "delivered_at", str_or(x, "queued_at", "?")),
               str_or(x, "recipient", "?"), str_or(x, "recipient_type", "?"), str_or(x, "what", "?"),
               json_is_string(json_object_get(x, "record")) ? " " : "", str_or(x, "record", ""), str_or(x, "state", "?"));
        if (json_is_array(json_object_get(x, "fields"))) print_list("fields:", json_object_get(x, "fields"));
        else printf("      fields: %s\n", str_or(x, "fields_note", "not held"));
        if (b) printf("      on: %s — %s\n", str_or(b, "rule", "not recorded"), str_or(b, "explanation", ""));
    }
    printf("\n四、查询记录 Who looked you up (%zu)\n", json_array_size(json_object_get(r, "accesses")));
    json_array_foreach(json_object_get(r, "accesses"), i, x)
        printf("  %s  %s: %s\n", str_or(x, "at", "?"), str_or(x, "by", "?"), str_or(x, "action", "?"));
    if (!json_is_true(json_object_get(r, "complete"))) printf("\n(the lists were cut at 1,000 entries each)\n");
}

int msgw_cmd_person(int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, 0, 'u'}, {"cert", required_argument, 0, 'c'},
                                             {"key", required_argument, 0, 'k'},  {"ca", required_argument, 0, 'a'},
                                             {"json", no_argument, 0, 'j'},       {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    conn c = {0};
    bool as_json = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "u:c:k:a:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': c.url = optarg; break;
        case 'c': c.cert = optarg; break;
        case 'k': c.key = optarg; break;
        case 'a': c.ca = optarg; break;
        case 'j': as_json = true; break;
        case 'h': fputs(person_help, stdout); return MSGW_EXIT_OK;
        default: fputs(person_help, stderr); return MSGW_EXIT_USAGE;
        }
    }
    if (!c.url || !c.cert || !c.key || !c.ca || argc - optind != 1 || strlen(argv[optind]) > 32) {
        fputs(person_help, stderr);
        return MSGW_EXIT_USAGE;
    }
    char path[96];
    snprintf(path, sizeof path, "/v1/persons/%s/disclosures", argv[optind]);
    json_t *j = NULL;
    int rc;
    if (!get_ok(&c, path, &j, &rc)) return rc;
    if (as_json) {
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
    } else {
        print_report(j);
    }
    json_decref(j);
    return MSGW_EXIT_OK;
}

int msgw_cmd_admin(int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, 0, 'u'}, {"cert", required_argument, 0, 'c'},
                                             {"key", required_argument, 0, 'k'},  {"ca", required_argument, 0, 'a'},
                                             {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    conn c = {0};
    optind = 1;
    int ch;
    /* "+": options stop at the command, so "replay --all" reaches the command */
    while ((ch = getopt_long(argc, argv, "+u:c:k:a:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': c.url = optarg; break;
        case 'c': c.cert = optarg; break;
        case 'k': c.key = optarg; break;
        case 'a': c.ca = optarg; break;
        case 'h': fputs(admin_help, stdout); return MSGW_EXIT_OK;
        default: fputs(admin_help, stderr); return MSGW_EXIT_USAGE;
        }
    }
    int n = argc - optind;
    char **a = argv + optind;
    if (!c.url || !c.cert || !c.key || !c.ca || n < 1) {
        fputs(admin_help, stderr);
        return MSGW_EXIT_USAGE;
    }
    if (strcmp(a[0], "status") == 0 && n == 1) return show_checks(&c, false);
    if (strcmp(a[0], "certs") == 0 && n == 1) return show_checks(&c, true);
    if (strcmp(a[0], "deadletters") == 0 && (n == 1 || (n == 2 && strcmp(a[1], "list") == 0))) return list_dead(&c);
    if (strcmp(a[0], "deadletters") == 0 && n == 3 && strcmp(a[1], "replay") == 0) return replay(&c, a[2]);
    if (strcmp(a[0], "audit") == 0 && n == 2 && strcmp(a[1], "verify") == 0) return audit_verify(&c);
    if (strcmp(a[0], "reevaluate") == 0 && n == 1) return reevaluate(&c, NULL);
    if (strcmp(a[0], "reevaluate") == 0 && n == 3 && strcmp(a[1], "--service") == 0) return reevaluate(&c, a[2]);
    fputs(admin_help, stderr);
    return MSGW_EXIT_USAGE;
}
