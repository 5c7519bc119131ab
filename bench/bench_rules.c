/*
 * make bench, issue 3: the eligibility evaluator.
 *
 * 1. Every machine rule of the Tianjin catalogue for N generated persons
 *    held in compact form (a 32-byte record each), views filled from it:
 *    persons/s on one core, median of several runs.
 * 2. The baseline of the same run: the minimum living allowance test as
 *    one SQL query in SQLite over the same data, against the same test
 *    through the compiled rule.
 * 3. A raise of the allowance standard over M persons: time to find the
 *    affected households through the sorted per-capita-income index and
 *    re-evaluate them, against the time to re-evaluate everyone.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msgw/engine/catalogue.h"

typedef struct cperson { /* the compact form: what the rules read, nothing else */
    int32_t birth, region, household;
    int8_t sex, hukou_type, grade, category, assistance, care, orphan, placement;
    int64_t income;
} cperson;

typedef struct slots_map {
    int birth, sex, region, hukou_type, dis_present, dis_grade, dis_category, dis_from, inc_present,
        inc_value, as_present, as_cat, care_present, care_level, orph_present, orph_status, orph_place;
} slots_map;

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void) /* splitmix64: deterministic populations */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const int32_t regions[] = {120101, 120102, 120103, 120104, 120105, 120106, 120110, 120111, 120112,
                                  120113, 120114, 120115, 120116, 120117, 120118, 120119, 110105, 131082};

/* Households of 1-4; Tianjin mostly; incomes around the allowance standard for a share of them. */
static cperson *generate(size_t n, size_t *nhouseholds)
{
    cperson *p = calloc(n, sizeof *p);
    if (!p) abort();
    size_t i = 0, h = 0;
    msgw_date today = msgw_date_from_ymd(2026, 11, 25);
    while (i < n) {
        size_t size = 1 + rnd() % 4;
        int32_t region = regions[rnd() % (sizeof regions / sizeof regions[0])];
        int8_t type = (int8_t)(1 + rnd() % 2);
        bool poor = rnd() % 10 == 0;
        for (size_t k = 0; k < size && i < n; k++, i++) {
            cperson *c = &p[i];
            c->birth = (int32_t)(today - (int32_t)(rnd() % (100 * 365)));
            c->region = region;
            c->household = (int32_t)h;
            c->sex = (int8_t)(1 + rnd() % 2);
            c->hukou_type = type;
            c->income = poor ? (int64_t)(rnd() % 150000) : (int64_t)(80000 + rnd() % 900000);
            if (rnd() % 16 == 0) {
                c->grade = (int8_t)(1 + rnd() % 4);
                c->category = (int8_t)(1 + rnd() % 7);
            }
            if (poor && rnd() % 2) c->assistance = (int8_t)(1 + rnd() % 5);
            if (rnd() % 30 == 0) c->care = (int8_t)(1 + rnd() % 3);
            if (rnd() % 500 == 0) {
                c->orphan = (int8_t)(1 + rnd() % 2);
                c->placement = (int8_t)(1 + rnd() % 2);
            }
        }
        h++;
    }
    *nhouseholds = h;
    return p;
}

static slots_map map_slots(const msgw_rule_env *env)
{
    slots_map m = {
        msgw_rule_env_slot(env, NULL, "birth_date"),
        msgw_rule_env_slot(env, NULL, "sex"),
        msgw_rule_env_slot(env, NULL, "hukou_region"),
        msgw_rule_env_slot(env, NULL, "hukou_type"),
        msgw_rule_env_slot(env, "disability", "present"),
        msgw_rule_env_slot(env, "disability", "disability_grade"),
        msgw_rule_env_slot(env, "disability", "disability_category"),
        msgw_rule_env_slot(env, "disability", "valid_from"),
        msgw_rule_env_slot(env, "income", "present"),
        msgw_rule_env_slot(env, "income", "income_monthly_fen"),
        msgw_rule_env_slot(env, "assistance", "present"),
        msgw_rule_env_slot(env, "assistance", "assistance_category"),
        msgw_rule_env_slot(env, "care_assessment", "present"),
        msgw_rule_env_slot(env, "care_assessment", "care_level"),
        msgw_rule_env_slot(env, "orphan", "present"),
        msgw_rule_env_slot(env, "orphan", "orphan_status"),
        msgw_rule_env_slot(env, "orphan", "care_placement"),
    };
    return m;
}

/* Code encodings: compact values are code-list positions + 1 already (codes listed in order). */
static void fill_view(const msgw_rule_env *env, const slots_map *m, const cperson *c, msgw_view *v,
                      const int64_t *blank, size_t nslots)
{
    (void)env;
    memcpy(v->slots, blank, nslots * sizeof *blank);
    int64_t *s = v->slots;
    s[m->birth] = c->birth;
    s[m->sex] = c->sex + 1; /* sex codes 0,1,2,9: "1" is position 2 */
    s[m->region] = c->region;
    s[m->hukou_type] = c->hukou_type;
    s[m->inc_present] = 1;
    s[m->inc_value] = c->income;
    if (c->grade) {
        s[m->dis_present] = 1;
        s[m->dis_grade] = c->grade;
        s[m->dis_category] = c->category;
        s[m->dis_from] = msgw_date_from_ymd(2020, 1, 1);
    }
    if (c->assistance) {
        s[m->as_present] = 1;
        s[m->as_cat] = c->assistance;
    }
    if (c->care) {
        s[m->care_present] = 1;
        s[m->care_level] = c->care;
    }
    if (c->orphan) {
        s[m->orph_present] = 1;
        s[m->orph_status] = c->orphan;
        s[m->orph_place] = c->placement;
    }
}

typedef struct evaluator {
    const msgw_catalogue *cat;
    slots_map m;
    int64_t *blank, *slots, params[64];
    msgw_view views[16];
    size_t nslots;
    msgw_date date;
} evaluator;

/* Evaluates the services selected (all with rules, or one) for the household starting at p[i]. */
static size_t eval_household(evaluator *ev, const cperson *p, size_t i, size_t n, const msgw_service *only,
                             size_t *eligible)
{
    size_t k = 0;
    while (i + k < n && p[i + k].household == p[i].household && k < 16) {
        ev->views[k].slots = ev->slots + k * ev->nslots;
        fill_view(ev->cat->env, &ev->m, &p[i + k], &ev->views[k], ev->blank, ev->nslots);
        k++;
    }
    msgw_hview h = {ev->views, k, 0, 0, p[i].region, p[i].hukou_type};
    msgw_hview_compute(ev->cat->env, &h);
    for (size_t j = 0; j < k; j++) {
        msgw_eval_ctx ctx = {ev->date, ev->params, &ev->views[j], &h, NULL};
        uint64_t presence = msgw_view_presence(ev->cat->env, &ev->views[j]);
        for (size_t s = 0; s < ev->cat->nservices; s++) {
            const msgw_service *svc = &ev->cat->services[s];
            if (!svc->eligible || (only && svc != only)) continue;
            if (msgw_rule_required(svc->eligible) & ~presence) continue; /* as the engine does */
            int64_t ok = 0, amount = 0;
            int bad;
            msgw_rule_eval(svc->eligible, &ctx, &ok, &bad);
            if (ok != 1) continue;
            (*eligible)++;
            for (size_t t = 0; t < svc->ntiers; t++) {
                int64_t w = 0;
                msgw_rule_eval(svc->tiers[t].when, &ctx, &w, &bad);
                if (w != 1) continue;
                if (svc->tiers[t].amount) msgw_rule_eval(svc->tiers[t].amount, &ctx, &amount, &bad);
                break;
            }
        }
    }
    return k;
}

static double run_all(evaluator *ev, const cperson *p, size_t n, const msgw_service *only, size_t *eligible)
{
    double t0 = now_s();
    *eligible = 0;
    for (size_t i = 0; i < n;) i += eval_household(ev, p, i, n, only, eligible);
    return now_s() - t0;
}

static double sqlite_baseline(const cperson *p, size_t n, int64_t standard, long long *count)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    sqlite3_exec(db, "CREATE TABLE person(region INTEGER, household INTEGER, income INTEGER);"
                     "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO person VALUES(?,?,?)", -1, &ins, NULL);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int(ins, 1, p[i].region);
        sqlite3_bind_int(ins, 2, p[i].household);
        sqlite3_bind_int64(ins, 3, p[i].income);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    const char *q = "SELECT count(*) FROM person p JOIN "
                    "(SELECT household, sum(income) / count(*) AS pci FROM person GROUP BY household) h "
                    "USING (household) WHERE p.region / 10000 = 12 AND h.pci < ?";
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, q, -1, &st, NULL);
    sqlite3_bind_int64(st, 1, standard);
    double t0 = now_s();
    sqlite3_step(st);
    *count = sqlite3_column_int64(st, 0);
    double t = now_s() - t0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return t;
}

typedef struct hkey {
    int64_t pci;
    int32_t first; /* index of the household's first person */
} hkey;

static int cmp_hkey(const void *a, const void *b)
{
    const hkey *x = a, *y = b;
    return (x->pci > y->pci) - (x->pci < y->pci);
}

int main(int argc, char **argv)
{
    size_t n = 1000000, m = 10000000;
    int runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--persons") == 0) n = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--raise-persons") == 0) m = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--runs") == 0) runs = atoi(argv[i + 1]);
    }
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_dict *d = msgw_dict_new_default(&e);
    msgw_catalogue *cat = d ? msgw_catalogue_load(d, "tianjin", &e) : NULL;
    if (!cat) {
        fprintf(stderr, "bench_rules: cannot load the catalogue\n");
        return 1;
    }
    evaluator ev = {cat, map_slots(cat->env), NULL, NULL, {0}, {{0}}, msgw_rule_env_slots(cat->env),
                    msgw_date_from_ymd(2026, 11, 25)};
    ev.blank = malloc(ev.nslots * sizeof *ev.blank);
    ev.slots = malloc(16 * ev.nslots * sizeof *ev.slots);
    msgw_view bv = {ev.blank};
    msgw_view_init(cat->env, &bv, ev.blank);
    msgw_catalogue_params_at(cat, ev.date, ev.params);
    const msgw_service *dibao = msgw_catalogue_service(cat, "TJ-D7-01");
    int dibao_param = msgw_rule_env_param_find(cat->env, "dibao_standard");
    size_t nh;
    cperson *p = generate(n, &nh);
    printf("eligibility bench: %zu persons in %zu households, %zu machine rules, one core, median of %d runs\n", n, nh,
           msgw_catalogue_count_rules(cat), runs);
    double *t = calloc((size_t)runs, sizeof *t);
    size_t eligible = 0;
    for (int r = 0; r < runs; r++) t[r] = run_all(&ev, p, n, NULL, &eligible);
    double all = median(t, runs);
    printf("  all rules:            %10.0f persons/s  (%zu eligible verdicts; target >= 1,000,000)\n", n / all, eligible);
    for (int r = 0; r < runs; r++) t[r] = run_all(&ev, p, n, dibao, &eligible);
    double one = median(t, runs);
    long long sql_count = 0;
    for (int r = 0; r < runs; r++) t[r] = sqlite_baseline(p, n, ev.params[dibao_param], &sql_count);
    double sql = median(t, runs);
    printf("  低保 rule only:       %10.0f persons/s  (%zu eligible)\n", n / one, eligible);
    printf("  SQLite, same test:    %10.0f persons/s  (%lld eligible; one SQL query, in memory)\n", n / sql, sql_count);
    printf("  ratio rule / SQLite:  %10.1fx\n", sql / one);
    free(p);

    /* the raise: 10M persons, index by per-capita income, re-evaluate only the affected households */
    p = generate(m, &nh);
    hkey *ix = malloc(nh * sizeof *ix);
    double t0 = now_s();
    size_t h = 0;
    for (size_t i = 0; i < m;) {
        size_t k = i;
        int64_t total = 0;
        while (k < m && p[k].household == p[i].household) total += p[k++].income;
        ix[h++] = (hkey){total / (int64_t)(k - i), (int32_t)i};
        i = k;
    }
    qsort(ix, h, sizeof *ix, cmp_hkey);
    double build = now_s() - t0;
    int64_t oldv = ev.params[dibao_param], newv = 104500;
    for (int r = 0; r < runs; r++) {
        t0 = now_s();
        size_t lo = 0, hi = h;
        while (lo < hi) { /* first household at or above the old standard */
            size_t mid = (lo + hi) / 2;
            if (ix[mid].pci < oldv - 1) lo = mid + 1;
            else hi = mid;
        }
        ev.params[dibao_param] = newv;
        size_t affected = 0;
        eligible = 0;
        for (size_t k = lo; k < h && ix[k].pci <= newv + 1; k++)
            affected += eval_household(&ev, p, (size_t)ix[k].first, m, NULL, &eligible);
        t[r] = now_s() - t0;
        ev.params[dibao_param] = oldv;
        if (r == 0) printf("raise 1010 -> 1045 yuan over %zu persons (%zu households): %zu persons affected\n", m, h, affected);
    }
    double raise = median(t, runs);
    ev.params[dibao_param] = newv;
    double full = run_all(&ev, p, m, NULL, &eligible);
    printf("  index build (once):   %10.3f s\n", build);
    printf("  find + re-evaluate:   %10.4f s  (target < 1 s)\n", raise);
    printf("  re-evaluate everyone: %10.3f s  (%.0fx the indexed raise)\n", full, full / raise);
    free(ix);
    free(p);
    free(t);
    free(ev.blank);
    free(ev.slots);
    msgw_catalogue_destroy(&cat);
    msgw_dict_destroy(&d);
    return 0;
}
