/*
 * Tests of the synthetic population generator (tools/popgen_lib.c): a small
 * population is written into a temporary directory in every format and each
 * file is decoded again through the whole decode stage (msgw_decode) and by
 * the msgw CLI: no errors, the expected number of records of each kind, and
 * the same people, with the same birth dates, in every department's files.
 * It also checks the population itself: valid ID numbers, the age pyramid,
 * households with one head, and assistance statuses that agree with incomes.
 *
 * tests/meson.build links the unit tests with the core library only, so the
 * generator's core is compiled into this test directly; the test then runs
 * the very code msgw-popgen and the benchmark run, under the sanitizers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tools/popgen_lib.c"
#include "msgw/decode/decode.h"
#include "msgw/base/idnum.h"
#include "testutil.h"

#define SEED 20261125u
#define HOUSEHOLDS 400

typedef struct fixture {
    popgen *pop;
    char dir[64];
} fixture;

static popgen *make_population(uint64_t seed, size_t households, const char *region)
{
    popgen_opts o;
    popgen_opts_defaults(&o);
    o.seed = seed;
    o.households = households;
    o.region = region;
    msgw_errors e;
    msgw_errors_init(&e);
    popgen *p = popgen_new(tu_ctx()->dict, &o, &e);
    if (!p) {
        char buf[512];
        for (size_t i = 0; i < e.n; i++) fprintf(stderr, "%s\n", msgw_error_format(&e.v[i], buf, sizeof buf));
    }
    msgw_errors_clear(&e);
    return p;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->pop = make_population(SEED, HOUSEHOLDS, "all");
    assert_non_null(fx->pop);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/msgw-popgen-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static void remove_outputs(const char *dir)
{
    for (int f = 0; f < POPGEN_NFORMATS; f++)
        for (size_t i = 0; i < 100; i++) {
            char path[256];
            unlink(popgen_file_path((popgen_format)f, dir, i, 1, path, sizeof path));
            unlink(popgen_file_path((popgen_format)f, dir, i, 2, path, sizeof path));
        }
}

static int teardown(void **state)
{
    fixture *fx = *state;
    remove_outputs(fx->dir);
    rmdir(fx->dir);
    popgen_destroy(&fx->pop);
    free(fx);
    tu_ctx_free();
    return 0;
}

static char *read_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Writes format f as one file and decodes it again; the caller destroys the batch. */
static msgw_batch *write_and_decode(fixture *fx, popgen_format f)
{
    msgw_errors e;
    msgw_errors_init(&e);
    size_t files = 0;
    bool ok = popgen_write(fx->pop, tu_ctx(), f, fx->dir, 0, &files, &e);
    if (!ok) {
        char buf[512];
        for (size_t i = 0; i < e.n; i++) fprintf(stderr, "%s\n", msgw_error_format(&e.v[i], buf, sizeof buf));
    }
    msgw_errors_clear(&e);
    assert_true(ok);
    assert_int_equal(files, 1);
    char path[256];
    size_t len;
    char *buf = read_path(popgen_file_path(f, fx->dir, 0, 1, path, sizeof path), &len);
    msgw_batch *b = tu_decode(popgen_format_get(f)->adapter, popgen_format_get(f)->media_type, buf, len);
    free(buf);
    return b;
}

static size_t kind_count(const popgen_kind_count *k, size_t nk, const char *kind)
{
    for (size_t i = 0; i < nk; i++)
        if (strcmp(k[i].kind, kind) == 0) return k[i].n;
    return 0;
}

/* Every record decodes without error and each kind comes back as often as it was written. */
static void assert_decodes_as_written(fixture *fx, popgen_format f, const msgw_batch *b)
{
    size_t n;
    const msgw_record *const *recs = popgen_records(fx->pop, f, &n, NULL);
    if (b->errors.nerrors) tu_dump_errors(b);
    assert_int_equal(b->errors.nerrors, 0);
    assert_int_equal(b->nitems, n);
    assert_int_equal(msgw_batch_count_ok(b), n);
    const msgw_record **got = malloc((n + 1) * sizeof *got);
    assert_non_null(got);
    for (size_t i = 0; i < n; i++) got[i] = b->items[i].record;
    popgen_kind_count want[POPGEN_MAX_KINDS], have[POPGEN_MAX_KINDS];
    size_t nw = popgen_count_kinds(recs, n, want), nh = popgen_count_kinds(got, n, have);
    assert_int_equal(nw, nh);
    for (size_t k = 0; k < nw; k++) {
        if (kind_count(have, nh, want[k].kind) != want[k].n)
            fprintf(stderr, "%s: %s written %zu, decoded %zu\n", popgen_format_get(f)->name,
                    want[k].kind, want[k].n, kind_count(have, nh, want[k].kind));
        assert_int_equal(kind_count(have, nh, want[k].kind), want[k].n);
    }
    free(got);
}

/* The msgw CLI accepts the file too (exit 0), as a department's engineer would check it. */
static void assert_cli_validates(fixture *fx, popgen_format f)
{
    const char *bin = getenv("MSGW_BIN");
    if (!bin) return;
    char path[256], cmd[1024];
    popgen_file_path(f, fx->dir, 0, 1, path, sizeof path);
    snprintf(cmd, sizeof cmd, "'%s' validate --quiet --from %s '%s' >/dev/null", bin,
             popgen_format_get(f)->adapter, path);
    assert_int_equal(system(cmd), 0);
}

static void check_format(void **state, popgen_format f)
{
    fixture *fx = *state;
    msgw_batch *b = write_and_decode(fx, f);
    assert_decodes_as_written(fx, f, b);
    msgw_batch_destroy(&b);
    assert_cli_validates(fx, f);
}

static void test_mca_roster(void **state)
{
    check_format(state, POPGEN_MCA);
}

static void test_hrss(void **state)
{
    check_format(state, POPGEN_HRSS);
}

static void test_health_bundle(void **state)
{
    check_format(state, POPGEN_HEALTH);
}

static void test_cdpf_events(void **state)
{
    check_format(state, POPGEN_CDPF_XML);
}

static void test_cdpf_roster(void **state)
{
    check_format(state, POPGEN_CDPF_CSV);
}

static void test_canonical(void **state)
{
    check_format(state, POPGEN_CANONICAL);
}

/* ---- the same people in every department's files ------------------------ */

typedef struct birth_map {
    char (*id)[19];
    msgw_date *birth;
    size_t n;
} birth_map;

static void birth_map_from(birth_map *m, const msgw_batch *b)
{
    m->id = malloc((b->nitems + 1) * sizeof *m->id);
    m->birth = malloc((b->nitems + 1) * sizeof *m->birth);
    assert_true(m->id && m->birth);
    m->n = 0;
    for (size_t i = 0; i < b->nitems; i++) {
        const msgw_record *r = b->items[i].record;
        if (!r || strcmp(r->kind, "person_registration") != 0) continue;
        memcpy(m->id[m->n], r->persons[0].id_number, 19);
        m->birth[m->n++] = r->persons[0].birth_date;
    }
}

static bool birth_map_has(const birth_map *m, const msgw_person *p)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->id[i], p->id_number) == 0) return m->birth[i] == p->birth_date;
    return false;
}

static void assert_all_registered(const birth_map *m, const msgw_batch *b, size_t *checked)
{
    for (size_t i = 0; i < b->nitems; i++) {
        const msgw_record *r = b->items[i].record;
        assert_non_null(r);
        for (size_t k = 0; k < r->npersons; k++) {
            if (!birth_map_has(m, &r->persons[k]))
                fprintf(stderr, "%s %.6s... not in the health bundle with the same birth date\n",
                        r->kind, r->persons[k].id_number);
            assert_true(birth_map_has(m, &r->persons[k]));
            (*checked)++;
        }
    }
}

static void test_same_people_everywhere(void **state)
{
    fixture *fx = *state;
    msgw_batch *health = write_and_decode(fx, POPGEN_HEALTH);
    birth_map m;
    birth_map_from(&m, health);
    assert_int_equal(m.n, popgen_person_count(fx->pop));
    static const popgen_format others[] = {POPGEN_CDPF_CSV, POPGEN_CDPF_XML, POPGEN_MCA, POPGEN_HRSS};
    for (size_t k = 0; k < sizeof others / sizeof *others; k++) {
        msgw_batch *b = write_and_decode(fx, others[k]);
        size_t checked = 0;
        assert_all_registered(&m, b, &checked);
        assert_true(checked > 0);
        msgw_batch_destroy(&b);
    }
    free(m.id);
    free(m.birth);
    msgw_batch_destroy(&health);
}

/* ---- the population itself ------------------------------------------------ */

static void test_persons_are_plausible(void **state)
{
    fixture *fx = *state;
    popgen *p = fx->pop;
    size_t old80 = 0, children = 0, disabled = 0;
    for (size_t i = 0; i < p->npersons; i++) {
        const pg_person *ps = &p->persons[i];
        char canon[19], exp = 0, found = 0;
        assert_int_equal(msgw_idnum_normalize(ps->id, 18, canon, &exp, &found), MSGW_IDNUM_OK);
        assert_int_equal(msgw_idnum_birth_date(ps->id), ps->birth);
        assert_int_equal(msgw_idnum_sex(ps->id), ps->sex[0] - '0');
        assert_true(ps->age >= 0 && ps->age <= 105);
        old80 += ps->age >= 80;
        children += ps->age < 18;
        disabled += ps->dis_cat != 0;
        bool county = false;
        for (size_t c = 0; c < p->ncounties; c++) county |= strncmp(p->counties[c], ps->id, 6) == 0;
        assert_true(county);
    }
    assert_true(old80 > 0);
    assert_true(children > p->npersons / 20);
    /* about 6% hold a disability certificate */
    assert_true(disabled * 100 > p->npersons * 3 && disabled * 100 < p->npersons * 12);
}

static void test_households_have_one_head(void **state)
{
    fixture *fx = *state;
    popgen *p = fx->pop;
    size_t sizes[7] = {0};
    for (size_t h = 0; h < p->nhouseholds; h++) {
        const pg_household *hh = &p->households[h];
        assert_true(hh->n >= 1 && hh->n <= 6);
        sizes[hh->n]++;
        size_t heads = 0;
        for (size_t i = 0; i < hh->n; i++) heads += strcmp(p->persons[hh->first + i].relationship, "02") == 0;
        assert_int_equal(heads, 1);
        assert_string_equal(p->persons[hh->first].relationship, "02");
    }
    for (size_t s = 1; s <= 5; s++) assert_true(sizes[s] > 0);
}

static int64_t roster_income(const msgw_record *r)
{
    int64_t total = 0;
    for (size_t i = 0; i < r->nfacts; i++)
        if (strcmp(r->facts[i].type, "income") == 0)
            total += msgw_fact_attr(&r->facts[i], "income_monthly_fen")->v.u.i;
    return total;
}

/* 低保 below the standard, 特困 with no income, 低收入/边缘 between 100% and 150%. */
static void test_assistance_agrees_with_income(void **state)
{
    fixture *fx = *state;
    size_t n, seen[5] = {0};
    const msgw_record *const *recs = popgen_records(fx->pop, POPGEN_MCA, &n, NULL);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        const msgw_record *r = recs[i];
        const char *cat = msgw_fact_attr(&r->facts[0], "assistance_category")->v.u.s;
        int64_t pc = roster_income(r) / (int64_t)r->household->nmembers;
        if (strcmp(cat, "10") == 0) {
            assert_true(pc < POPGEN_DIBAO_STANDARD_FEN);
            seen[0]++;
        } else if (cat[0] == '2') {
            assert_int_equal(roster_income(r), 0);
            seen[1]++;
        } else {
            assert_true(pc >= POPGEN_DIBAO_STANDARD_FEN && pc < POPGEN_DIBAO_STANDARD_FEN * 3 / 2);
            seen[cat[0] == '3' ? 2 : 3]++;
        }
    }
    assert_true(seen[0] > 0);
    assert_true(seen[2] + seen[3] > 0);
}

static void test_same_seed_same_people(void **state)
{
    (void)state;
    popgen *a = make_population(99, 60, "tianjin"), *b = make_population(99, 60, "tianjin");
    popgen *c = make_population(100, 60, "tianjin");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    msgw_buf ba, bb, bc;
    msgw_buf_init(&ba);
    msgw_buf_init(&bb);
    msgw_buf_init(&bc);
    msgw_errors e;
    msgw_errors_init(&e);
    size_t na, nb, nc;
    const msgw_record *const *ra = popgen_records(a, POPGEN_CANONICAL, &na, NULL);
    const msgw_record *const *rb = popgen_records(b, POPGEN_CANONICAL, &nb, NULL);
    const msgw_record *const *rc = popgen_records(c, POPGEN_CANONICAL, &nc, NULL);
    assert_true(popgen_encode(tu_ctx(), POPGEN_CANONICAL, ra, na, &ba, &e));
    assert_true(popgen_encode(tu_ctx(), POPGEN_CANONICAL, rb, nb, &bb, &e));
    assert_true(popgen_encode(tu_ctx(), POPGEN_CANONICAL, rc, nc, &bc, &e));
    assert_int_equal(ba.len, bb.len);
    assert_memory_equal(ba.data, bb.data, ba.len);
    assert_true(ba.len != bc.len || memcmp(ba.data, bc.data, ba.len) != 0);
    for (size_t i = 0; i < a->npersons; i++) assert_memory_equal(a->persons[i].id, "12", 2);
    msgw_buf_free(&ba);
    msgw_buf_free(&bb);
    msgw_buf_free(&bc);
    msgw_errors_clear(&e);
    popgen_destroy(&a);
    popgen_destroy(&b);
    popgen_destroy(&c);
}

/* Split outputs: groups stay whole and every piece validates on its own. */
static void test_records_per_file(void **state)
{
    fixture *fx = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    size_t files = 0, n;
    popgen_records(fx->pop, POPGEN_HEALTH, &n, NULL);
    assert_true(popgen_write(fx->pop, tu_ctx(), POPGEN_HEALTH, fx->dir, 300, &files, &e));
    assert_true(files >= 2);
    size_t total = 0;
    for (size_t i = 0; i < files; i++) {
        char path[256];
        size_t len;
        char *buf = read_path(popgen_file_path(POPGEN_HEALTH, fx->dir, i, files, path, sizeof path), &len);
        msgw_batch *b = tu_decode("health", "application/fhir+json", buf, len);
        free(buf);
        if (b->errors.nerrors) tu_dump_errors(b);
        assert_int_equal(b->errors.nerrors, 0);
        total += msgw_batch_count_ok(b);
        msgw_batch_destroy(&b);
    }
    assert_int_equal(total, n);
    msgw_errors_clear(&e);
}

static void test_unknown_region_is_an_error(void **state)
{
    (void)state;
    popgen_opts o;
    popgen_opts_defaults(&o);
    o.region = "shanghai";
    msgw_errors e;
    msgw_errors_init(&e);
    assert_null(popgen_new(tu_ctx()->dict, &o, &e));
    assert_int_equal(e.nerrors, 1);
    assert_string_equal(e.v[0].rule, "popgen.region");
    msgw_errors_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mca_roster),
        cmocka_unit_test(test_hrss),
        cmocka_unit_test(test_health_bundle),
        cmocka_unit_test(test_cdpf_events),
        cmocka_unit_test(test_cdpf_roster),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_same_people_everywhere),
        cmocka_unit_test(test_persons_are_plausible),
        cmocka_unit_test(test_households_have_one_head),
        cmocka_unit_test(test_assistance_agrees_with_income),
        cmocka_unit_test(test_same_seed_same_people),
        cmocka_unit_test(test_records_per_file),
        cmocka_unit_test(test_unknown_region_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
