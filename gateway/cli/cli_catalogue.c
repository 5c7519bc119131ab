/*
 * `msgw catalogue check FILE|NAME`, `msgw catalogue show [--catalogue NAME] CODE` and
 * `msgw catalogue decidability [--markdown] NAME...`: load a catalogue the way the gateway
 * does (every rule compiled, every parameter and decidability checked), describe a service
 * with its rule and parameters, and tell how much of each standard the gateway decides
 * (the table docs/eligibility.md carries, kept true to the catalogues by a test).
 * --schemas DIR loads them from an installed copy (/usr/share/msgw): the dictionary and
 * code lists of DIR, and a built-in catalogue's name read as DIR/catalogue/NAME.json.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "msgw/base/embedded.h"
#include "msgw/engine/catalogue.h"

static const char catalogue_help[] =
    "Usage: msgw catalogue check [--schemas DIR] [--overlay FILE] CATALOGUE...\n"
    "       msgw catalogue show [--schemas DIR] [--catalogue CATALOGUE] [--date YYYY-MM-DD] CODE\n"
    "       msgw catalogue decidability [--schemas DIR] [--markdown] CATALOGUE...\n"
    "\n"
    "CATALOGUE is a built-in catalogue (tianjin, langfang) or a catalogue file.\n"
    "--schemas DIR: the dictionary and code lists of DIR (e.g. /usr/share/msgw) instead of the\n"
    "       copies built into msgw, and a built-in catalogue read from DIR/catalogue/NAME.json.\n"
    "check: loads it as the gateway does (every rule parsed and type-checked, every parameter\n"
    "       checked) and prints its services, rules and parameters, or each load error; then\n"
    "       each parameter without a value, the services that need it and its source line,\n"
    "       and how many services each decidability class holds (every service needs one).\n"
    "show:  prints a service: its metadata, rule, tiers and the parameter values in force on\n"
    "       the date (default today).\n"
    "decidability: lists every service with its class (rule, universal, needs_facts),\n"
    "       the facts that would decide it and who holds them; --markdown prints the counts and\n"
    "       the lists as docs/eligibility.md shows them.\n"
    "\n"
    "Exit status: 0 ok, 1 the catalogue does not load or the service is unknown, 2 usage.\n";

static void print_errors(const msgw_errors *e)
{
    char buf[2048];
    for (size_t i = 0; i < e->n; i++) fprintf(stderr, "error: %s\n", msgw_error_format(&e->v[i], buf, sizeof buf));
}

/*
 * The parameters a deployment still has to supply: a rule that reaches one is an evaluation
 * error (docs/eligibility.md), so check names each with the services that need it and the line
 * of the standard that leaves it open.
 */
static void print_unvalued(const char *name, const msgw_catalogue *c)
{
    for (size_t p = 0; p < c->nparams; p++) {
        const msgw_param *pa = &c->params[p];
        if (pa->nvalues) continue;
        printf("%s: parameter %s has no value; needed by", name, pa->name);
        size_t n = 0;
        for (size_t i = 0; i < c->nservices; i++)
            if ((c->services[i].params >> p) & 1)
                printf("%s %s", n++ ? "," : "", c->services[i].code);
        if (!n) printf(" no service");
        const char *file = json_string_value(json_object_get(pa->source, "file"));
        json_int_t line = json_integer_value(json_object_get(pa->source, "line"));
        if (file && line > 0)
            printf("; source %s line %lld", file, (long long)line);
        else
            printf("; no source");
        printf("\n");
    }
}

static void count_classes(const msgw_catalogue *c, size_t n[MSGW_DECIDE_COUNT])
{
    memset(n, 0, MSGW_DECIDE_COUNT * sizeof *n);
    for (size_t i = 0; i < c->nservices; i++)
        n[c->services[i].decidability]++;
}

/* The counts per class; a service without a class is an error, so every service carries one. */
static bool print_classes(const char *name, const msgw_catalogue *c)
{
    size_t n[MSGW_DECIDE_COUNT];
    count_classes(c, n);
    for (size_t i = 0; i < c->nservices; i++)
        if (c->services[i].decidability == MSGW_DECIDE_NONE)
            fprintf(stderr,
                    "error: %s: service %s has no decidability (class rule, universal or "
                    "needs_facts; schemas/catalogue/README.md)\n",
                    name, c->services[i].code);
    printf("%s: decidability: %zu decided by a rule, %zu universal, %zu need facts no department "
           "pushes",
           name, n[MSGW_DECIDE_RULE], n[MSGW_DECIDE_UNIVERSAL], n[MSGW_DECIDE_NEEDS_FACTS]);
    if (n[MSGW_DECIDE_NONE]) printf(", %zu without a class", n[MSGW_DECIDE_NONE]);
    printf("\n");
    return n[MSGW_DECIDE_NONE] == 0;
}

static int check(int argc, char **argv, const char *overlay, msgw_dict *d)
{
    int rc = MSGW_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        msgw_errors e;
        msgw_errors_init(&e);
        msgw_catalogue *c = msgw_catalogue_load(d, argv[i], &e);
        if (c && overlay && !msgw_catalogue_overlay(c, overlay, &e)) msgw_catalogue_destroy(&c);
        if (!c) {
            print_errors(&e);
            printf("%s: does not load\n", argv[i]);
            rc = MSGW_EXIT_INVALID;
        } else {
            size_t local = 0;
            for (size_t p = 0; p < c->nparams; p++) local += c->params[p].nvalues == 0;
            printf("%s: ok: catalogue %s (region %s), %zu services, %zu with machine rules, "
                   "%zu parameters (%zu without a value: the deployment supplies them)\n",
                   argv[i], c->id, c->region, c->nservices, msgw_catalogue_count_rules(c), c->nparams, local);
            print_unvalued(argv[i], c);
            if (!print_classes(argv[i], c)) rc = MSGW_EXIT_INVALID;
        }
        msgw_catalogue_destroy(&c);
        msgw_errors_clear(&e);
    }
    return rc;
}

/* Text for a Markdown table cell: a '|' would end the cell, a line break the row. */
static void md_cell(const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", stdout);
        else if (*s == '\n')
            putchar(' ');
        else
            putchar(*s);
    }
}

static void print_missing(const msgw_service *s, bool markdown)
{
    for (size_t f = 0; f < s->nmissing; f++) {
        printf("%s", f ? "; " : "");
        if (markdown)
            md_cell(s->missing[f].fact);
        else
            printf("%s", s->missing[f].fact);
        printf(" (%s)", s->missing[f].held_by);
    }
}

static const char *const class_label[MSGW_DECIDE_COUNT] = {"none", "rule", "universal",
                                                           "needs facts"};

/*
 * The decidability table: counts per catalogue, then every service.  --markdown is the exact
 * text of docs/eligibility.md's section between its markers (tests/meson.build compares them).
 */
static int decidability(int argc, char **argv, bool markdown, msgw_dict *d)
{
    msgw_catalogue **cats = calloc((size_t)argc + 1, sizeof *cats);
    if (!cats) abort();
    int rc = MSGW_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        msgw_errors e;
        msgw_errors_init(&e);
        cats[i] = msgw_catalogue_load(d, argv[i], &e);
        if (!cats[i]) {
            print_errors(&e);
            fprintf(stderr, "msgw catalogue decidability: %s does not load\n", argv[i]);
            rc = MSGW_EXIT_INVALID;
        }
        msgw_errors_clear(&e);
    }
    if (markdown && rc == MSGW_EXIT_OK) {
        printf("| catalogue | services | decided by a rule | universal | needs facts |\n"
               "|---|---:|---:|---:|---:|\n");
        for (int i = 0; i < argc; i++) {
            size_t n[MSGW_DECIDE_COUNT], all = cats[i]->nservices;
            count_classes(cats[i], n);
            printf("| %s (`%s`) | %zu | %zu (%zu%%) | %zu | %zu |\n", cats[i]->name, cats[i]->id,
                   all, n[MSGW_DECIDE_RULE], all ? (100 * n[MSGW_DECIDE_RULE] + all / 2) / all : 0,
                   n[MSGW_DECIDE_UNIVERSAL], n[MSGW_DECIDE_NEEDS_FACTS]);
        }
        for (int i = 0; i < argc; i++) {
            printf("\n### %s (`%s`)\n\n", cats[i]->name, cats[i]->id);
            printf("| code | service | class | facts that would decide it (or the rest), held by | "
                   "note |\n|---|---|---|---|---|\n");
            for (size_t k = 0; k < cats[i]->nservices; k++) {
                const msgw_service *s = &cats[i]->services[k];
                printf("| %s | ", s->code);
                md_cell(s->name);
                printf(" | %s | ", class_label[s->decidability]);
                print_missing(s, true);
                printf(" | ");
                md_cell(s->decidability_note);
                printf(" |\n");
            }
        }
    } else if (rc == MSGW_EXIT_OK) {
        for (int i = 0; i < argc; i++) {
            size_t n[MSGW_DECIDE_COUNT];
            count_classes(cats[i], n);
            printf("%s: %zu services: %zu rule, %zu universal, %zu needs_facts\n", cats[i]->id,
                   cats[i]->nservices, n[MSGW_DECIDE_RULE], n[MSGW_DECIDE_UNIVERSAL],
                   n[MSGW_DECIDE_NEEDS_FACTS]);
            for (size_t k = 0; k < cats[i]->nservices; k++) {
                const msgw_service *s = &cats[i]->services[k];
                printf("%s %s %s %s", cats[i]->id, s->code, msgw_decidability_name(s->decidability),
                       s->name);
                if (s->nmissing) printf(": ");
                print_missing(s, false);
                printf("\n");
            }
        }
    }
    for (int i = 0; i < argc; i++)
        msgw_catalogue_destroy(&cats[i]);
    free(cats);
    return rc;
}

static void print_money(int64_t fen)
{
    printf("%lld.%02lld yuan", (long long)(fen / 100), (long long)(llabs(fen) % 100));
}

static int show(const char *cat, const char *code, msgw_date date, msgw_dict *d)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_catalogue *c = msgw_catalogue_load(d, cat, &e);
    if (!c) {
        print_errors(&e);
        msgw_errors_clear(&e);
        return MSGW_EXIT_INVALID;
    }
    const msgw_service *s = msgw_catalogue_service(c, code);
    int rc = MSGW_EXIT_OK;
    if (!s) {
        fprintf(stderr, "msgw catalogue show: %s has no service %s\n", c->id, code);
        rc = MSGW_EXIT_INVALID;
    } else {
        printf("%s %s (%s, domain %s)\n", s->code, s->name, c->name ? c->name : c->id, s->domain ? s->domain : "-");
        printf("decided by: %s\n", s->decided_by == MSGW_BY_RESIDENCE ? "residence (居住地)" : "household registration (户籍地)");
        printf("departments:");
        for (size_t i = 0; i < s->ndepartments; i++) printf(" %s", s->departments[i]);
        printf("\n");
        printf("decidability: %s", msgw_decidability_name(s->decidability));
        if (s->decidability_note) printf(" (%s)", s->decidability_note);
        printf("\n");
        for (size_t f = 0; f < s->nmissing; f++)
            printf("  would be decided by: %s, held by %s\n", s->missing[f].fact,
                   s->missing[f].held_by);
        if (!s->eligible) {
            printf("rule: none (described in the catalogue, not decided from data)\n");
        } else {
            printf("rule: %s\n", msgw_rule_source(s->eligible));
            if (s->since) printf("since: %s\n", msgw_rule_source(s->since));
            for (size_t t = 0; t < s->ntiers; t++)
                printf("tier %s: when %s; amount %s\n", s->tiers[t].name, msgw_rule_source(s->tiers[t].when),
                       s->tiers[t].amount ? msgw_rule_source(s->tiers[t].amount) : "(in kind)");
            if (s->amount_period) printf("amounts are %s\n", s->amount_period);
            for (size_t p = 0; p < c->nparams; p++) {
                if (!((s->params >> p) & 1)) continue;
                const msgw_param_value *v = msgw_param_at(&c->params[p], date);
                char b[11];
                printf("parameter $%s: ", c->params[p].name);
                if (!v) printf("no value on %s%s\n", msgw_date_format(date, b),
                               c->params[p].local ? " (the deployment supplies it)" : "");
                else {
                    if (c->params[p].type == MSGW_RT_MONEY) print_money(v->value);
                    else printf("%lld", (long long)v->value);
                    printf(" %s since %s (%s)\n", c->params[p].unit ? c->params[p].unit : "",
                           msgw_date_format(v->from, b), v->source ? v->source : "no source");
                }
            }
        }
    }
    msgw_catalogue_destroy(&c);
    msgw_errors_clear(&e);
    return rc;
}

/* With --schemas DIR, a built-in catalogue's name stands for the installed file
 * DIR/catalogue/NAME.json (its departments.json beside it): that path, to free; else NULL. */
static char *installed_catalogue(const char *schemas_dir, const char *name)
{
    char emb[256];
    snprintf(emb, sizeof emb, "catalogue/%s.json", name);
    if (!schemas_dir || strchr(name, '/') || !msgw_embedded_find(emb)) return NULL;
    size_t len = strlen(schemas_dir) + strlen(emb) + 2;
    char *path = malloc(len);
    if (!path) abort();
    snprintf(path, len, "%s/%s", schemas_dir, emb);
    return path;
}

int msgw_cmd_catalogue(int argc, char **argv)
{
    static const struct option longopts[] = {{"catalogue", required_argument, 0, 'c'},
                                             {"overlay", required_argument, 0, 'o'},
                                             {"date", required_argument, 0, 'd'},
                                             {"markdown", no_argument, 0, 'm'},
                                             {"schemas", required_argument, 0, 'S'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *cat = "tianjin", *overlay = NULL, *schemas_dir = NULL;
    bool markdown = false;
    msgw_date date = msgw_date_today();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(catalogue_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? MSGW_EXIT_USAGE : MSGW_EXIT_OK;
    }
    const char *verb = argv[1];
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "c:o:d:mS:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': cat = optarg; break;
        case 'o': overlay = optarg; break;
        case 'S': schemas_dir = optarg; break;
        case 'm':
            markdown = true;
            break;
        case 'd':
            if (!msgw_date_parse_iso(optarg, strlen(optarg), &date)) {
                fprintf(stderr, "msgw catalogue: --date %s is not a date YYYY-MM-DD\n", optarg);
                return MSGW_EXIT_USAGE;
            }
            break;
        case 'h': fputs(catalogue_help, stdout); return MSGW_EXIT_OK;
        default: fputs(catalogue_help, stderr); return MSGW_EXIT_USAGE;
        }
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    bool is_check = strcmp(verb, "check") == 0, is_show = strcmp(verb, "show") == 0;
    bool is_decidability = strcmp(verb, "decidability") == 0;
    if ((!is_check && !is_show && !is_decidability) || nargs < 1 || (is_show && nargs != 1) ||
        (markdown && !is_decidability)) {
        fputs(catalogue_help, stderr);
        return MSGW_EXIT_USAGE;
    }
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_dict *d = msgw_cli_dict(schemas_dir, &e);
    if (!d) {
        print_errors(&e);
        msgw_errors_clear(&e);
        return MSGW_EXIT_USAGE;
    }
    msgw_errors_clear(&e);
    char **paths = calloc((size_t)nargs + 1, sizeof *paths), *cat_path = NULL;
    if (!paths) abort();
    for (int i = 0; i < nargs && !is_show; i++)
        if ((paths[i] = installed_catalogue(schemas_dir, args[i]))) args[i] = paths[i];
    if ((cat_path = installed_catalogue(schemas_dir, cat))) cat = cat_path;
    int rc = is_check  ? check(nargs, args, overlay, d)
             : is_show ? show(cat, args[0], date, d)
                       : decidability(nargs, args, markdown, d);
    for (int i = 0; i < nargs; i++)
        free(paths[i]);
    free(paths);
    free(cat_path);
    msgw_dict_destroy(&d);
    return rc;
}
