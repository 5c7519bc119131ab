/*
 * `msgw eval`: runs records through the decode stage and the eligibility
 * engine, printing each person's verdicts and the transitions the records
 * cause.  With --state DIR the engine's history is kept between runs (the
 * canonical records applied, replayed on start), so a sequence of runs
 * shows NEW / LOST / CHANGED relative to the previous state.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "msgw/decode/decode.h"
#include "msgw/model/canon.h"
#include "msgw/engine/eligibility.h"
#include "msgw/base/idnum.h"

static const char eval_help[] =
    "Usage: msgw eval [--catalogue NAME] [--overlay FILE] [--date YYYY-MM-DD] [--from DEPARTMENT]\n"
    "                 [--media-type TYPE] [--state DIR] [--json] FILE...\n"
    "\n"
    "Decodes and validates the records of each FILE (department format given by --from, default\n"
    "canonical JSON; the department's media type from the file extension, as validate does, or\n"
    "--media-type: e.g. a .csv file of --from cdpf is its roster CSV), applies them to the eligibility engine of the catalogue (default tianjin) on\n"
    "the date (default today), and prints each person's verdicts and every transition (NEW, LOST,\n"
    "CHANGED) with its explanation.\n"
    "\n"
    "  --state DIR   keep the engine's state in DIR: the records applied before are replayed first,\n"
    "                and everyone is re-evaluated on --date, so the transitions printed are relative\n"
    "                to the previous run\n"
    "  --json        print verdicts and transitions as JSON lines (explanations as data)\n"
    "  --overlay F   the deployment's parameter values (e.g. Langfang's local amounts)\n"
    "\n"
    "Exit status: 0 ok, 1 some record invalid or a rule could not be evaluated, 2 usage or I/O.\n";

typedef struct eval_env {
    msgw_dict *dict;
    msgw_schemas *schemas;
    msgw_catalogue *cat;
    msgw_elig *elig;
    msgw_adapter_ctx ctx;
    FILE *log; /* DIR/records.jsonl: one line per applied record, with its evaluation date */
} eval_env;

static void print_errs(const char *prefix, const msgw_errors *e)
{
    char buf[1024];
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "%s%s: %s\n", prefix, e->v[i].severity == MSGW_SEV_ERROR ? "error" : "warning",
                msgw_error_format(&e->v[i], buf, sizeof buf));
}

/* Replays DIR/records.jsonl: each line {"date": D, "record": canonical}. */
static bool replay_state(eval_env *env, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    msgw_transitions ignored;
    msgw_transitions_init(&ignored);
    bool ok = true;
    while ((n = getline(&line, &cap, f)) > 0 && ok) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        const char *ds = json_string_value(json_object_get(j, "date"));
        msgw_date date;
        msgw_batch *b = msgw_batch_new();
        if (j && ds && msgw_date_parse_iso(ds, strlen(ds), &date)) {
            msgw_canon_decode(env->dict, json_object_get(j, "record"), b);
            if (b->nitems == 1 && b->items[0].record && !b->errors.nerrors &&
                msgw_dict_check_record(env->dict, b->items[0].record, &b->errors, 0)) {
                msgw_record *r = b->items[0].record;
                if (!r->message_id) r->message_id = msgw_arena_strdup(b->arena, json_string_value(json_object_get(json_object_get(j, "record"), "message_id")));
                msgw_elig_apply(env->elig, r, date, &ignored, NULL);
            } else {
                ok = false;
            }
        } else {
            ok = false;
        }
        if (!ok) fprintf(stderr, "msgw eval: %s: cannot replay a line of the state\n", path);
        msgw_batch_destroy(&b);
        json_decref(j);
    }
    free(line);
    fclose(f);
    msgw_transitions_clear(&ignored);
    return ok;
}

static void log_record(eval_env *env, const msgw_record *r, msgw_date date)
{
    if (!env->log) return;
    char b[11];
    json_t *j = json_object();
    json_object_set_new(j, "date", json_string(msgw_date_format(date, b)));
    json_object_set_new(j, "record", msgw_canon_encode(r));
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fprintf(env->log, "%s\n", s);
    free(s);
    json_decref(j);
}

static void print_transitions(const msgw_transitions *t, bool as_json)
{
    for (size_t i = 0; i < t->n; i++) {
        if (as_json) {
            json_t *x = msgw_explanation_json(&t->v[i].explanation);
            char *s = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("{\"transition\":%s}\n", s);
            free(s);
            json_decref(x);
        } else {
            printf("  %s\n", t->v[i].text);
        }
    }
}

static void print_verdicts(eval_env *env, const char *const *ids, size_t n, msgw_date date, bool as_json)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = msgw_elig_person_json(env->elig, ids[i], date);
        if (!v) continue;
        if (as_json) {
            char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("{\"verdicts\":%s}\n", s);
            free(s);
        } else {
            char mask[19];
            json_t *arr = json_object_get(v, "eligible");
            printf("%s: %zu service%s\n", msgw_idnum_mask(ids[i], mask), json_array_size(arr),
                   json_array_size(arr) == 1 ? "" : "s");
            size_t k;
            json_t *s;
            json_array_foreach(arr, k, s) {
                json_t *amt = json_object_get(s, "amount_fen");
                printf("  %s %s%s%s%s%s", json_string_value(json_object_get(s, "service")),
                       json_string_value(json_object_get(s, "name")),
                       json_object_get(s, "error") ? " ERROR (see above)" : "",
                       json_object_get(s, "tier") ? ", tier " : "",
                       json_object_get(s, "tier") ? json_string_value(json_object_get(s, "tier")) : "",
                       json_object_get(s, "since") ? ", since " : "");
                if (json_object_get(s, "since")) printf("%s", json_string_value(json_object_get(s, "since")));
                if (amt) printf(", %lld.%02lld yuan", (long long)(json_integer_value(amt) / 100), (long long)(llabs(json_integer_value(amt)) % 100));
                printf("\n");
            }
        }
        json_decref(v);
    }
}

static int run_eval(eval_env *env, const msgw_adapter *ad, const char *media_type, int nfiles, char **files,
                    msgw_date date, bool as_json, msgw_transitions *tr, msgw_errors *err)
{
    int rc = MSGW_EXIT_OK;
    for (int i = 0; i < nfiles; i++) {
        size_t len;
        char *buf = msgw_cli_read(files[i], env->ctx.max_document_bytes, &len);
        if (!buf) {
            rc = MSGW_EXIT_USAGE;
            continue;
        }
        msgw_batch *b = msgw_batch_new();
        msgw_decode(&env->ctx, ad, media_type ? media_type : msgw_cli_media_type(ad, files[i]), buf, len, b);
        free(buf);
        char prefix[512];
        snprintf(prefix, sizeof prefix, "%s: ", files[i]);
        print_errs(prefix, &b->errors);
        if (b->errors.nerrors && rc == MSGW_EXIT_OK) rc = MSGW_EXIT_INVALID;
        const char **ids = calloc(1, sizeof *ids);
        size_t nids = 0;
        for (size_t k = 0; k < b->nitems; k++) {
            msgw_record *r = b->items[k].record;
            if (!r) continue;
            size_t before = tr->n;
            msgw_elig_apply(env->elig, r, date, tr, err);
            log_record(env, r, date);
            if (!as_json) printf("%s record %zu (%s): %zu transition%s\n", files[i], k + 1, r->message_id, tr->n - before, tr->n - before == 1 ? "" : "s");
            ids = realloc(ids, (nids + r->npersons + 1) * sizeof *ids);
            for (size_t p = 0; p < r->npersons; p++) ids[nids++] = r->persons[p].id_number;
        }
        print_transitions(tr, as_json);
        msgw_transitions_clear(tr);
        if (!as_json && nids) printf("verdicts on the evaluation date:\n");
        print_verdicts(env, ids, nids, date, as_json);
        free(ids);
        msgw_batch_destroy(&b);
    }
    return rc;
}

int msgw_cmd_eval(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"catalogue", required_argument, 0, 'c'}, {"overlay", required_argument, 0, 'o'},
        {"date", required_argument, 0, 'd'},      {"from", required_argument, 0, 'f'},
        {"state", required_argument, 0, 's'},     {"json", no_argument, 0, 'j'},
        {"media-type", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *catname = "tianjin", *overlay = NULL, *state = NULL, *from = NULL, *media_type = NULL;
    msgw_date date = msgw_date_today();
    bool as_json = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:o:d:f:s:m:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': catname = optarg; break;
        case 'o': overlay = optarg; break;
        case 'f': from = optarg; break;
        case 'm': media_type = optarg; break;
        case 's': state = optarg; break;
        case 'j': as_json = true; break;
        case 'd':
            if (!msgw_date_parse_iso(optarg, strlen(optarg), &date)) {
                fprintf(stderr, "msgw eval: --date %s is not a date YYYY-MM-DD\n", optarg);
                return MSGW_EXIT_USAGE;
            }
            break;
        case 'h': fputs(eval_help, stdout); return MSGW_EXIT_OK;
        default: fputs(eval_help, stderr); return MSGW_EXIT_USAGE;
        }
    }
    /* --media-type alone names its department; neither means canonical JSON */
    const msgw_adapter *ad = from ? msgw_adapter_find(from)
                             : media_type ? msgw_adapter_for_media_type(media_type)
                                          : msgw_adapter_find("canonical");
    if (!ad || optind >= argc) {
        fprintf(stderr, "msgw eval: %s\n\n%s",
                ad ? "no FILE given" : from ? "unknown --from department" : "unknown --media-type", eval_help);
        return MSGW_EXIT_USAGE;
    }
    if (media_type && msgw_adapter_for_media_type(media_type) != ad) {
        fprintf(stderr, "msgw eval: media type '%s' is not one of %s's (see 'msgw adapters')\n", media_type, from);
        return MSGW_EXIT_USAGE;
    }
    eval_env env;
    memset(&env, 0, sizeof env);
    msgw_errors err;
    msgw_errors_init(&err);
    env.dict = msgw_dict_new_default(&err);
    env.schemas = env.dict ? msgw_schemas_new(&err) : NULL;
    env.cat = env.schemas ? msgw_catalogue_load(env.dict, catname, &err) : NULL;
    if (env.cat && overlay && !msgw_catalogue_overlay(env.cat, overlay, &err)) msgw_catalogue_destroy(&env.cat);
    int rc = MSGW_EXIT_OK;
    if (!env.cat) {
        print_errs("msgw eval: ", &err);
        rc = MSGW_EXIT_USAGE;
        goto out;
    }
    msgw_adapter_ctx_defaults(&env.ctx, env.dict, env.schemas);
    env.elig = msgw_elig_new(env.cat);
    msgw_transitions tr;
    msgw_transitions_init(&tr);
    if (state) {
        mkdir(state, 0700);
        if (!replay_state(&env, state)) {
            rc = MSGW_EXIT_USAGE;
            goto out;
        }
        /* the state moves to the new date: ages, facts starting and ending */
        msgw_elig_reevaluate_all(env.elig, date, &tr, &err);
        if (tr.n && !as_json) printf("since the previous run (re-evaluated on the new date):\n");
        print_transitions(&tr, as_json);
        msgw_transitions_clear(&tr);
        char path[4096];
        snprintf(path, sizeof path, "%s/records.jsonl", state);
        env.log = fopen(path, "a");
    }
    rc = run_eval(&env, ad, media_type, argc - optind, argv + optind, date, as_json, &tr, &err);
    if (err.nerrors) {
        print_errs("msgw eval: ", &err);
        if (rc == MSGW_EXIT_OK) rc = MSGW_EXIT_INVALID;
    }
out:
    if (env.log) fclose(env.log);
    msgw_errors_clear(&err);
    msgw_elig_destroy(&env.elig);
    msgw_catalogue_destroy(&env.cat);
    msgw_schemas_destroy(&env.schemas);
    msgw_dict_destroy(&env.dict);
    return rc;
}
