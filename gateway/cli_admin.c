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
#include "msgw/buf.h"

static const char admin_help[] =
    "Usage: msgw admin --url URL --cert FILE --key FILE --ca FILE COMMAND\n"
    "\n"
    "Commands (answered by the gateway's administrators' listener at URL, e.g.\n"
    "https://localhost:8444, with an administrator's client certificate):\n"
    "  status                    readiness: every check, and whether the gateway is ready\n"
    "  certs                     the certificates the gateway uses and when each expires\n"
    "  deadletters [list]        the dead letters, oldest first, with their last error\n"
    "  deadletters replay ID     one dead letter pending again\n"
    "  deadletters replay --all  every dead letter pending again\n"
    "  reevaluate                every person re-evaluated on today's date; changes are notified\n"
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
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, strcmp(method, "POST") == 0 ? 600000L : 30000L); /* re-evaluations run long */
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
    long st = request(c, "GET", "/v1/deadletters", &j);
    if (st != 200) {
        int rc = refused(st, j);
        json_decref(j);
        return rc;
    }
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

static int replay(const conn *c, const char *which)
{
    char path[128];
    if (strcmp(which, "--all") == 0) snprintf(path, sizeof path, "/v1/deadletters/replay");
    else snprintf(path, sizeof path, "/v1/deadletters/%lld/replay", atoll(which));
    json_t *j = NULL;
    long st = request(c, "POST", path, &j);
    int rc = st == 200 ? MSGW_EXIT_OK : refused(st, j);
    if (st == 200) printf("%lld replayed\n", (long long)json_integer_value(json_object_get(j, "replayed")));
    json_decref(j);
    return rc;
}

static int reevaluate(const conn *c)
{
    if (isatty(fileno(stderr))) fprintf(stderr, "re-evaluating every person on today's date ...\r");
    json_t *j = NULL;
    long st = request(c, "POST", "/v1/reevaluate", &j);
    int rc = st == 200 ? MSGW_EXIT_OK : refused(st, j);
    if (st == 200)
        printf("%lld persons re-evaluated, %lld transitions notified\n",
               (long long)json_integer_value(json_object_get(j, "persons")),
               (long long)json_integer_value(json_object_get(j, "transitions")));
    json_decref(j);
    return rc;
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
    if (strcmp(a[0], "reevaluate") == 0 && n == 1) return reevaluate(&c);
    fputs(admin_help, stderr);
    return MSGW_EXIT_USAGE;
}
