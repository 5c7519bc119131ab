/*
 * msgw-popgen: writes one seeded synthetic population in every department's
 * format (docs/popgen.md), for demos, tests and benchmarks.  Each format is
 * written by its adapter's own encoder; one that is missing or refuses the
 * records is reported and the others are still written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "msgw/validate/adapter.h"
#include "msgw/validate/schemas.h"
#include "popgen_lib.h"

static const char usage[] =
    "Usage: msgw-popgen --seed N --households N --out DIR [--region R] [--format F]\n"
    "                   [--records-per-file N] [--as-of YYYY-MM-DD]\n"
    "\n"
    "Generates a deterministic synthetic population and writes the same people in each\n"
    "department's format, each file valid for `msgw validate --from DEPT FILE`.\n"
    "\n"
    "  --seed N               PRNG seed (same seed and options: same people)\n"
    "  --households N         number of households (1-6 persons each)\n"
    "  --region R             beijing | tianjin | langfang | all (default all)\n"
    "  --out DIR              output directory (created if missing)\n"
    "  --format F             mca | hrss | health | cdpf | canonical | all (default all);\n"
    "                         cdpf writes both cdpf-events.xml and cdpf-roster.csv\n"
    "  --records-per-file N   split outputs into files of about N records (default 10000,\n"
    "                         0 = one file per format)\n"
    "  --as-of DATE           reference day for ages and periods (default 2026-06-30)\n"
    "\n"
    "Exit status: 0 every requested file written, 1 an encoder refused or is missing\n"
    "(the other formats are still written), 2 usage or I/O error.\n";

typedef struct cli {
    popgen_opts o;
    const char *out, *format;
    size_t per_file;
} cli;

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || *s == '-') return false;
    *out = (size_t)v;
    return true;
}

static bool parse_opt(cli *c, int opt, const char *arg)
{
    size_t n;
    switch (opt) {
    case 's':
        if (!parse_size(arg, &n)) return false;
        c->o.seed = n;
        return true;
    case 'n': return parse_size(arg, &c->o.households);
    case 'r': c->o.region = arg; return true;
    case 'o': c->out = arg; return true;
    case 'f': c->format = arg; return true;
    case 'p': return parse_size(arg, &c->per_file);
    case 'a': return msgw_date_parse_iso(arg, strlen(arg), &c->o.as_of);
    default: return false;
    }
}

/* Returns 0 when parsed, 1 on --help, -1 on a usage error (already printed). */
static int parse_args(int argc, char **argv, cli *c)
{
    static const struct option longopts[] = {
        {"seed", required_argument, 0, 's'},   {"households", required_argument, 0, 'n'},
        {"region", required_argument, 0, 'r'}, {"out", required_argument, 0, 'o'},
        {"format", required_argument, 0, 'f'}, {"records-per-file", required_argument, 0, 'p'},
        {"as-of", required_argument, 0, 'a'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    popgen_opts_defaults(&c->o);
    c->format = "all";
    c->per_file = 10000;
    int opt;
    bool seed = false, households = false;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        seed |= opt == 's';
        households |= opt == 'n';
        if (!parse_opt(c, opt, optarg)) {
            fprintf(stderr, "msgw-popgen: bad value '%s' for an option\n\n%s", optarg ? optarg : "", usage);
            return -1;
        }
    }
    if (!seed || !households || !c->out || optind != argc) {
        fprintf(stderr, "msgw-popgen: --seed, --households and --out are required\n\n%s", usage);
        return -1;
    }
    return 0;
}

/* Whether format f is asked for by --format (cdpf names both of its documents). */
static bool wanted(const char *format, popgen_format f)
{
    const popgen_format_info *fi = popgen_format_get(f);
    return strcmp(format, "all") == 0 || strcmp(format, fi->name) == 0 ||
           strcmp(format, fi->adapter) == 0;
}

static bool known_format(const char *format)
{
    for (int f = 0; f < POPGEN_NFORMATS; f++)
        if (wanted(format, (popgen_format)f)) return true;
    return false;
}

static void print_errors(const char *prefix, const msgw_errors *e, size_t max)
{
    char buf[1024];
    for (size_t i = 0; i < e->n && i < max; i++)
        fprintf(stderr, "%s%s\n", prefix, msgw_error_format(&e->v[i], buf, sizeof buf));
    if (e->n > max) fprintf(stderr, "%s... and %zu more\n", prefix, e->n - max);
}

static void print_kinds(const msgw_record *const *recs, size_t n)
{
    popgen_kind_count kinds[POPGEN_MAX_KINDS];
    size_t nk = popgen_count_kinds(recs, n, kinds);
    for (size_t k = 0; k < nk; k++) printf("%s%s %zu", k ? ", " : " (", kinds[k].kind, kinds[k].n);
    printf("%s\n", nk ? ")" : "");
}

/* Writes one format; false (after saying why) when its encoder is missing or refused. */
static bool write_format(popgen *p, const msgw_adapter_ctx *ctx, const cli *c, popgen_format f)
{
    const popgen_format_info *fi = popgen_format_get(f);
    size_t n, files = 0;
    const msgw_record *const *recs = popgen_records(p, f, &n, NULL);
    if (n == 0) {
        printf("%-10s no records of this kind in the population: nothing written\n", fi->name);
        return true;
    }
    msgw_errors e;
    msgw_errors_init(&e);
    bool ok = popgen_write(p, ctx, f, c->out, c->per_file, &files, &e);
    if (ok) {
        char path[4096];
        printf("%-10s %zu records in %zu file%s (%s%s)", fi->name, n, files, files == 1 ? "" : "s",
               popgen_file_path(f, c->out, 0, files, path, sizeof path), files > 1 ? ", ..." : "");
        print_kinds(recs, n);
    } else {
        fprintf(stderr, "msgw-popgen: %s: the %s encoder could not write these records; "
                        "skipped, continuing with the other formats:\n", fi->name, fi->adapter);
        print_errors("  ", &e, 10);
    }
    msgw_errors_clear(&e);
    return ok;
}

static bool make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return true;
    fprintf(stderr, "msgw-popgen: cannot create %s: %s\n", dir, strerror(errno));
    return false;
}

static int run(const cli *c)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_dict *dict = msgw_dict_new_default(&e);
    msgw_schemas *schemas = dict ? msgw_schemas_new(&e) : NULL;
    popgen *p = schemas ? popgen_new(dict, &c->o, &e) : NULL;
    int rc = 2;
    if (p) {
        msgw_adapter_ctx ctx;
        msgw_adapter_ctx_defaults(&ctx, dict, schemas);
        ctx.fhir_id_system = getenv("MSGW_FHIR_ID_SYSTEM");
        printf("population: seed %" PRIu64 ", %zu households, %zu persons, region %s\n", c->o.seed,
               popgen_household_count(p), popgen_person_count(p), c->o.region);
        rc = 0;
        for (int f = 0; f < POPGEN_NFORMATS; f++)
            if (wanted(c->format, (popgen_format)f) && !write_format(p, &ctx, c, (popgen_format)f))
                rc = 1;
    } else {
        print_errors("msgw-popgen: ", &e, 20);
    }
    popgen_destroy(&p);
    msgw_schemas_destroy(&schemas);
    msgw_dict_destroy(&dict);
    msgw_errors_clear(&e);
    return rc;
}

int main(int argc, char **argv)
{
    cli c = {0};
    int parsed = parse_args(argc, argv, &c);
    if (parsed != 0) return parsed > 0 ? 0 : 2;
    if (!known_format(c.format)) {
        fprintf(stderr, "msgw-popgen: unknown format '%s'\n\n%s", c.format, usage);
        return 2;
    }
    if (!make_dir(c.out)) return 2;
    return run(&c);
}
