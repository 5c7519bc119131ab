/*
 * `msgw validate` and `msgw normalize`: run department documents through
 * the decode stage of the pipeline (adapter, schema, dictionary) and report
 * each record's outcome, or print the canonical records.  --schemas DIR reads
 * the dictionary, code lists and generated schemas from an installed copy
 * (/usr/share/msgw) instead of the binary's, so what is installed is checked.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "msgw/admin/admin.h"
#include "msgw/ingress/listener.h"
#include "msgw/decode/decode.h"
#include "msgw/model/canon.h"

typedef struct cli_env {
    msgw_dict *dict;
    msgw_schemas *schemas;
    msgw_adapter_ctx ctx;
} cli_env;

void msgw_cli_print_errors(FILE *f, const char *prefix, const msgw_errors *e)
{
    char buf[1024];
    for (size_t i = 0; i < e->n; i++)
        fprintf(f, "%s%s: %s\n", prefix, e->v[i].severity == MSGW_SEV_ERROR ? "error" : "warning",
                msgw_error_format(&e->v[i], buf, sizeof buf));
}

static bool cli_env_init(cli_env *env, const char *schemas_dir)
{
    msgw_errors err;
    msgw_errors_init(&err);
    env->dict = msgw_cli_dict(schemas_dir, &err);
    env->schemas = !env->dict    ? NULL
                   : schemas_dir ? msgw_schemas_new_from_dir(schemas_dir, &err)
                                 : msgw_schemas_new(&err);
    if (!env->dict || !env->schemas) {
        msgw_cli_print_errors(stderr, "msgw: ", &err);
        msgw_errors_clear(&err);
        msgw_dict_destroy(&env->dict);
        return false;
    }
    msgw_errors_clear(&err);
    msgw_adapter_ctx_defaults(&env->ctx, env->dict, env->schemas);
    env->ctx.fhir_id_system = getenv("MSGW_FHIR_ID_SYSTEM");
    return true;
}

msgw_dict *msgw_cli_dict(const char *schemas_dir, msgw_errors *err)
{
    return schemas_dir ? msgw_dict_new_from_dir(schemas_dir, err) : msgw_dict_new_default(err);
}

static void cli_env_fini(cli_env *env)
{
    msgw_schemas_destroy(&env->schemas);
    msgw_dict_destroy(&env->dict);
}

/* Reads a whole file ("-" = stdin), refusing more than limit bytes. */
char *msgw_cli_read(const char *path, size_t limit, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "msgw: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > limit) break;
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        if (!buf) abort();
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    bool failed = ferror(f);
    if (f != stdin) fclose(f);
    if (failed) {
        fprintf(stderr, "msgw: %s: read error\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

const char *msgw_cli_media_type(const msgw_adapter *ad, const char *path)
{
    const char *ext = strrchr(path, '.');
    if (ext) {
        ext++;
        for (const char *const *mt = ad->media_types; *mt; mt++) {
            const char *sub = strchr(*mt, '/');
            size_t el = strlen(ext), sl = sub ? strlen(sub) : 0;
            if (sub && sl > el && strcmp(sub + sl - el, ext) == 0 &&
                (sub[sl - el - 1] == '+' || sub[sl - el - 1] == '/'))
                return *mt;
        }
    }
    return ad->media_types[0];
}

typedef struct cli_opts {
    const msgw_adapter *ad;
    const char *media_type;
    const char *schemas_dir; /* --schemas: an installed copy instead of the binary's */
    bool pretty, quiet;
} cli_opts;

static const char validate_help[] =
    "Usage: msgw validate --from DEPARTMENT [--media-type TYPE] [--schemas DIR] [--quiet]\n"
    "                     FILE...\n"
    "\n"
    "Checks each record of each FILE ('-' for stdin) against the department's generated\n"
    "schema and the data dictionary, and prints \"ok\" or every error with its location\n"
    "(XPath and line for XML, JSON pointer for JSON, line and column for CSV), the field\n"
    "and the rule broken.\n"
    "\n"
    "  --from DEPARTMENT   mca | hrss | health | cdpf | canonical (see 'msgw adapters')\n"
    "  --media-type TYPE   the document's media type (default: from the file extension)\n"
    "  --schemas DIR       read the dictionary, code lists and generated schemas from DIR\n"
    "                      (e.g. /usr/share/msgw) instead of the copies built into msgw\n"
    "  --quiet             print only problems and the summary\n"
    "\n"
    "Exit status: 0 every record valid, 1 any record or document invalid, 2 usage or I/O error.\n";

static const char normalize_help[] =
    "Usage: msgw normalize --from DEPARTMENT [--media-type TYPE] [--schemas DIR] [--pretty]\n"
    "                      FILE...\n"
    "\n"
    "Decodes and validates each FILE ('-' for stdin) and writes its valid records as canonical\n"
    "JSON (docs/canonical.md) to stdout, one record per line; errors and warnings go to stderr.\n"
    "\n"
    "  --from DEPARTMENT   mca | hrss | health | cdpf | canonical (see 'msgw adapters')\n"
    "  --media-type TYPE   the document's media type (default: from the file extension)\n"
    "  --schemas DIR       read the dictionary, code lists and generated schemas from DIR\n"
    "  --pretty            indent the JSON\n"
    "\n"
    "Exit status: 0 every record valid, 1 any record or document invalid, 2 usage or I/O error.\n";

/* Returns the index of the first FILE argument, or -1 after printing why not. */
static int parse_opts(int argc, char **argv, const char *help, cli_opts *o)
{
    static const struct option longopts[] = {
        {"from", required_argument, 0, 'f'},    {"media-type", required_argument, 0, 'm'},
        {"pretty", no_argument, 0, 'p'},        {"quiet", no_argument, 0, 'q'},
        {"schemas", required_argument, 0, 'S'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "f:m:pqS:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!(o->ad = msgw_adapter_find(optarg))) {
                fprintf(stderr, "msgw %s: unknown department '%s' (see 'msgw adapters')\n",
                        argv[0], optarg);
                return -1;
            }
            break;
        case 'm': o->media_type = optarg; break;
        case 'p': o->pretty = true; break;
        case 'q': o->quiet = true; break;
        case 'S': o->schemas_dir = optarg; break;
        case 'h': fputs(help, stdout); return -2;
        default: fputs(help, stderr); return -1;
        }
    }
    if (!o->ad || optind >= argc) {
        fprintf(stderr, "msgw %s: %s\n\n%s", argv[0],
                o->ad ? "no FILE given" : "--from DEPARTMENT is required", help);
        return -1;
    }
    if (o->media_type && msgw_adapter_for_media_type(o->media_type) != o->ad) {
        fprintf(stderr, "msgw %s: media type '%s' is not one of %s's\n", argv[0], o->media_type,
                o->ad->name);
        return -1;
    }
    return optind;
}

typedef void (*record_sink)(const cli_opts *o, const char *path, const msgw_batch *b, size_t i);

static int run_files(int argc, char **argv, const char *help, record_sink sink, bool report)
{
    cli_opts o;
    int first = parse_opts(argc, argv, help, &o);
    if (first == -2) return MSGW_EXIT_OK;
    if (first < 0) return MSGW_EXIT_USAGE;
    cli_env env;
    if (!cli_env_init(&env, o.schemas_dir)) return MSGW_EXIT_USAGE;
    int rc = MSGW_EXIT_OK;
    for (int i = first; i < argc; i++) {
        size_t len = 0;
        char *buf = msgw_cli_read(argv[i], env.ctx.max_document_bytes, &len);
        if (!buf) {
            rc = MSGW_EXIT_USAGE;
            continue;
        }
        const char *mt = o.media_type ? o.media_type : msgw_cli_media_type(o.ad, argv[i]);
        msgw_batch *b = msgw_batch_new();
        msgw_decode(&env.ctx, o.ad, mt, buf, len, b);
        free(buf);
        FILE *diag = report ? stdout : stderr;
        char prefix[1024];
        snprintf(prefix, sizeof prefix, "%s: ", argv[i]);
        /* Document-level problems first, then each record in order with its own problems. */
        for (size_t k = 0; k < b->errors.n; k++)
            if (b->errors.v[k].record < 0) {
                char eb[1024];
                fprintf(diag, "%s%s: %s\n", prefix,
                        b->errors.v[k].severity == MSGW_SEV_ERROR ? "error" : "warning",
                        msgw_error_format(&b->errors.v[k], eb, sizeof eb));
            }
        for (size_t r = 0; r < b->nitems; r++) {
            if (report && (!o.quiet || !b->items[r].record))
                fprintf(diag, "%srecord %zu (%s): %s\n", prefix, r + 1,
                        b->items[r].loc && b->items[r].loc[0] ? b->items[r].loc : "document",
                        b->items[r].record ? "ok" : "rejected");
            for (size_t k = 0; k < b->errors.n; k++)
                if (b->errors.v[k].record == (int)r) {
                    char eb[1024];
                    fprintf(diag, "%s  %s: %s\n", prefix,
                            b->errors.v[k].severity == MSGW_SEV_ERROR ? "error" : "warning",
                            msgw_error_format(&b->errors.v[k], eb, sizeof eb));
                }
            if (b->items[r].record && sink) sink(&o, argv[i], b, r);
        }
        if (b->errors.dropped)
            fprintf(diag, "%s%zu further problems not shown\n", prefix, b->errors.dropped);
        size_t ok = msgw_batch_count_ok(b);
        if (report || ok != b->nitems || b->errors.doc_failed)
            fprintf(diag, "%s%zu record%s: %zu ok, %zu rejected\n", prefix, b->nitems,
                    b->nitems == 1 ? "" : "s", ok, b->nitems - ok);
        if (ok != b->nitems || b->errors.doc_failed || b->nitems == 0) {
            if (b->nitems == 0 && !b->errors.doc_failed)
                fprintf(diag, "%serror: the document holds no records\n", prefix);
            if (rc == MSGW_EXIT_OK) rc = MSGW_EXIT_INVALID;
        }
        msgw_batch_destroy(&b);
    }
    cli_env_fini(&env);
    return rc;
}

int msgw_cmd_validate(int argc, char **argv)
{
    return run_files(argc, argv, validate_help, NULL, true);
}

static void print_canonical(const cli_opts *o, const char *path, const msgw_batch *b, size_t i)
{
    (void)path;
    json_t *j = msgw_canon_encode(b->items[i].record);
    char *s = json_dumps(j, JSON_PRESERVE_ORDER | (o->pretty ? JSON_INDENT(2) : JSON_COMPACT));
    puts(s);
    free(s);
    json_decref(j);
}

int msgw_cmd_normalize(int argc, char **argv)
{
    return run_files(argc, argv, normalize_help, print_canonical, false);
}

/* Every HTTP route of this build, by listener: what docs/openapi.yaml must describe. */
int msgw_cmd_routes(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("Usage: msgw routes\n\nThe HTTP routes of this build, one a line: LISTENER METHOD PATH "
             "(docs/openapi.yaml describes each).");
        return MSGW_EXIT_OK;
    }
    for (const msgw_listener_ops *const *l = msgw_listeners_registered(); *l; l++)
        for (const msgw_http_route *r = (*l)->routes; r && r->path; r++)
            printf("%-8s %-5s %s\n", (*l)->name, msgw_http_method_name(r->method), r->path);
    for (const msgw_http_route *r = msgw_admin_routes(); r->path; r++)
        printf("%-8s %-5s %s\n", "admin", msgw_http_method_name(r->method), r->path);
    return MSGW_EXIT_OK;
}

int msgw_cmd_adapters(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (const msgw_adapter *const *a = msgw_adapters(); *a; a++) {
        printf("%-10s %s\n", (*a)->name, (*a)->department);
        for (const char *const *mt = (*a)->media_types; *mt; mt++) printf("           %s\n", *mt);
    }
    return MSGW_EXIT_OK;
}
