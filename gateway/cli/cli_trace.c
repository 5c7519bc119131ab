/*
 * `msgw trace MESSAGE_ID`: one message end to end, from the store
 * (docs/admin.md, "Message trace"): when and from whom it was received and
 * the digest of the body, the facts it wrote, the verdicts it changed, and
 * every message it caused with its delivery state.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "msgw/admin/present.h"
#include "msgw/net/config.h"
#include "msgw/store/store.h"

static const char trace_help[] =
    "Usage: msgw trace (--config FILE | --store SPEC) [--json] MESSAGE_ID\n"
    "\n"
    "Shows one message end to end: received when and from whom (with the body's SHA-256), the\n"
    "facts written (ID numbers masked), the verdicts it changed, and each message it caused\n"
    "with its delivery state (attempts, times, last error).  --config reads the store's location\n"
    "from the daemon's configuration; --store names it (sqlite:PATH, postgresql://...).  --json prints the trace\n"
    "as JSON.  The daemon may be running (the store is read, never written).\n"
    "\n"
    "Exit status: 0 found, 1 no stored record has that message id (a rejected record is never\n"
    "stored: see the audit log), 2 usage or store error.\n";

bool msgw_cli_store_of_config(const char *path, const char *command, char *spec, size_t len)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_dict *dict = msgw_dict_new_default(&e);
    msgw_config *cfg = dict ? msgw_config_load(path, dict, &e) : NULL;
    bool ok = cfg && msgw_store_address(cfg->store, cfg->data_dir, spec, len, &e);
    char buf[1024];
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "msgw %s: %s\n", command, msgw_error_format(&e.v[i], buf, sizeof buf));
    msgw_config_destroy(&cfg);
    msgw_dict_destroy(&dict);
    msgw_errors_clear(&e);
    return ok;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static const char *when(const json_t *o, const char *k, char buf[28])
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? msgw_time_format((msgw_time)json_integer_value(v), buf) : "-";
}

static void print_text(const json_t *t)
{
    char a[28], b[28];
    printf("message %s (seq %lld)\n", str(t, "message_id"), (long long)json_integer_value(json_object_get(t, "seq")));
    printf("  received  %s from %s, %s record, body sha256 %s\n", when(t, "recorded_at", a), str(t, "sender"),
           str(t, "kind"), str(t, "body_sha256"));
    const json_t *env = json_object_get(t, "envelope");
    if (env)
        printf("  envelope  from peer gateway %s, signed bytes sha256 %s (kept in the store)\n", str(env, "peer"),
               str(env, "signed_sha256"));
    printf("  outcome   %s\n", str(t, "outcome"));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(t, "facts"), i, x) {
        char *attrs = json_dumps(json_object_get(x, "attributes"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("  fact      %s about %s: %s\n", str(x, "type"), str(x, "subject"), attrs ? attrs : "{}");
        free(attrs);
    }
    json_array_foreach(json_object_get(t, "verdicts"), i, x)
        printf("  verdict   %s for %s: %s\n", str(x, "service"), str(x, "person"),
               json_is_true(json_object_get(x, "eligible")) ? "eligible" : "not eligible");
    json_array_foreach(json_object_get(t, "messages"), i, x)
        printf("  message   %s to %s (%s): %s after %lld attempt(s), queued %s, delivered %s%s%s\n",
               str(x, "kind"), str(x, "recipient"), str(x, "media_type"), str(x, "state"),
               (long long)json_integer_value(json_object_get(x, "attempts")), when(x, "created_at", a),
               when(x, "delivered_at", b), json_is_string(json_object_get(x, "last_error")) ? ", last error: " : "",
               json_is_string(json_object_get(x, "last_error")) ? str(x, "last_error") : "");
}

int msgw_cmd_trace(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, 0, 'c'},
                                             {"store", required_argument, 0, 's'},
                                             {"json", no_argument, 0, 'j'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *config = NULL, *store = NULL;
    bool as_json = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:s:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 's': store = optarg; break;
        case 'j': as_json = true; break;
        case 'h': fputs(trace_help, stdout); return MSGW_EXIT_OK;
        default: fputs(trace_help, stderr); return MSGW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || (!config && !store)) {
        fputs(trace_help, stderr);
        return MSGW_EXIT_USAGE;
    }
    char spec[4096];
    if (store) snprintf(spec, sizeof spec, "%s", store);
    else if (!msgw_cli_store_of_config(config, "trace", spec, sizeof spec)) return MSGW_EXIT_USAGE;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_store *s = msgw_store_open(spec, MSGW_STORE_DELIVERY, &e);
    json_t *t = NULL;
    bool ok = s && msgw_present_trace(s, argv[optind], &t, &e);
    char buf[1024];
    for (size_t i = 0; i < e.n; i++) fprintf(stderr, "msgw trace: %s\n", msgw_error_format(&e.v[i], buf, sizeof buf));
    int rc = !ok ? MSGW_EXIT_USAGE : t ? MSGW_EXIT_OK : MSGW_EXIT_INVALID;
    if (ok && !t) fprintf(stderr, "msgw trace: no stored record has message id %s\n", argv[optind]);
    if (t && as_json) {
        char *txt = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(txt);
        free(txt);
    } else if (t) {
        print_text(t);
    }
    json_decref(t);
    msgw_store_close(&s);
    msgw_errors_clear(&e);
    return rc;
}
