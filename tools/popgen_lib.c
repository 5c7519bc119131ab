/*
 * The synthetic population generator (see popgen_lib.h and docs/popgen.md).
 *
 * Generation is two steps.  First the people: households of 1-6 persons with
 * GB/T 4761 relationships, an age pyramid, valid resident ID numbers, incomes
 * in fen, employment, disabilities, chronic conditions, deaths, care
 * assessments and orphans, all drawn from one seeded xoshiro256** stream so a
 * seed names a population.  Then the records: for each department the
 * canonical records it would send about those same people, written through
 * the department adapter's own encoder, so every output is exactly what the
 * gateway reads.  Shares and thresholds are policy-shaped (Tianjin's
 * minimum living allowance), not statistics; they are documented in
 * docs/popgen.md.
 */
#include "popgen_lib.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/decode/decode.h"
#include "msgw/base/idnum.h"

/* ---- formats ------------------------------------------------------------ */

static const popgen_format_info FORMATS[POPGEN_NFORMATS] = {
    [POPGEN_MCA] = {"mca", "mca", "application/vnd.msgw.mca.roster+xml", "mca-roster", "xml"},
    [POPGEN_HRSS] = {"hrss", "hrss", "application/vnd.msgw.hrss+json", "hrss", "json"},
    [POPGEN_HEALTH] = {"health", "health", "application/fhir+json", "health-bundle", "json"},
    [POPGEN_CDPF_XML] = {"cdpf-xml", "cdpf", "application/vnd.msgw.cdpf.certificate+xml",
                         "cdpf-events", "xml"},
    [POPGEN_CDPF_CSV] = {"cdpf-csv", "cdpf", "text/csv", "cdpf-roster", "csv"},
    [POPGEN_CANONICAL] = {"canonical", "canonical", "application/vnd.msgw.canonical+json",
                          "canonical", "json"},
};

const popgen_format_info *popgen_format_get(popgen_format f)
{
    return f < POPGEN_NFORMATS ? &FORMATS[f] : NULL;
}

/* ---- the random stream: splitmix64 seeds xoshiro256** ------------------- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n) by rejection, so small ranges carry no modulo bias. */
static uint64_t rng_below(rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = rng_next(r);
    while (x >= limit);
    return x % n;
}

static int64_t rng_range(rng *r, int64_t lo, int64_t hi) /* inclusive */
{
    return hi <= lo ? lo : lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* True with probability per_mille / 1000. */
static bool rng_chance(rng *r, unsigned per_mille)
{
    return rng_below(r, 1000) < per_mille;
}

/* Index into a table of integer weights. */
static size_t rng_pick(rng *r, const unsigned *w, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++) total += w[i];
    uint64_t x = rng_below(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i]) return i;
        x -= w[i];
    }
    return n - 1;
}

#define PICK(r, w) rng_pick((r), (w), sizeof(w) / sizeof((w)[0]))

/* ---- dates ---------------------------------------------------------------- */

/* The same day years later; 29 February becomes 28 February in a common year. */
static msgw_date add_years(msgw_date d, int years)
{
    int y, m, dd;
    msgw_date_to_ymd(d, &y, &m, &dd);
    msgw_date r = msgw_date_from_ymd(y + years, m, dd);
    return r != MSGW_DATE_NONE ? r : msgw_date_from_ymd(y + years, m, dd - 1);
}

static msgw_date max_date(msgw_date a, msgw_date b)
{
    return a > b ? a : b;
}

/* A day in [lo, hi]; lo when the range is empty. */
static msgw_date date_between(rng *r, msgw_date lo, msgw_date hi)
{
    return (msgw_date)rng_range(r, lo, hi);
}

/* ---- names ---------------------------------------------------------------- */

static const char *const SURNAMES[] = {
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱",
    "高", "林", "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于",
    "董", "肖", "程", "曹", "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "欧阳", "司马"};
static const char *const MALE_GIVEN[] = {
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏",
    "华", "飞", "鑫", "波", "宇", "浩", "建国", "志强", "国庆", "德福", "子轩", "浩然", "俊杰"};
static const char *const FEMALE_GIVEN[] = {
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "雪", "慧", "洁", "琳", "颖",
    "倩", "秀兰", "桂英", "玉兰", "淑珍", "凤英", "欣怡", "子涵", "梓萱", "雨桐", "佳怡"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the population ------------------------------------------------------- */

enum { COND_HYPERTENSION, COND_DIABETES, COND_SCHIZOPHRENIA, NCONDITIONS };

static const struct {
    const char *icd, *category;
} CONDITIONS[NCONDITIONS] = {
    [COND_HYPERTENSION] = {"I10", "1"},
    [COND_DIABETES] = {"E11.9", "2"},
    [COND_SCHIZOPHRENIA] = {"F20.0", "3"},
};

typedef struct pg_person {
    char id[19];
    const char *name, *sex, *ethnic, *marital, *relationship;
    const char *surname; /* passed on to children */
    msgw_date birth;
    int age; /* on the reference day */
    size_t household;
    int64_t income_fen;
    const char *income_source;
    const char *employment; /* employment_status code, NULL for children and students */
    const char *employer;
    msgw_date employment_from;
    int dis_cat, dis_grade, dis_first_grade; /* 0: no certificate */
    msgw_date dis_issued, dis_regraded;      /* regraded: MSGW_DATE_NONE if never */
    msgw_date onset[NCONDITIONS];            /* MSGW_DATE_NONE: no such condition */
    msgw_date death;
    const char *care_level, *ability_level;
    msgw_date care_date;
    const char *orphan;
} pg_person;

typedef struct pg_household {
    const char *id, *region, *hukou_type;
    size_t first, n; /* persons[first .. first+n) */
    const char *assistance; /* assistance_category code, NULL: none */
    msgw_date assist_from;
    int64_t benefit_fen; /* 0: none paid */
    bool low_band, skipped_generation;
} pg_household;

typedef struct pg_records {
    const msgw_record **v;
    size_t *groups;
    size_t n, cap;
    bool built;
} pg_records;

/* ID numbers in use, keyed by their first 17 digits as a number (fits in 57 bits). */
typedef struct id_set {
    uint64_t *slots; /* 0 = empty */
    size_t mask, used;
} id_set;

struct popgen {
    popgen_opts o;
    msgw_arena *a;
    rng r;
    const char **counties;
    size_t ncounties;
    pg_person *persons;
    size_t npersons, pcap;
    pg_household *households;
    size_t nhouseholds;
    id_set ids;
    uint64_t serial; /* record ids */
    pg_records out[POPGEN_NFORMATS];
};

void popgen_opts_defaults(popgen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->households = 100;
    o->region = "all";
    o->as_of = MSGW_DATE_NONE;
}

static void id_set_init(id_set *s, size_t expected)
{
    size_t cap = 1024;
    while (cap < expected * 2) cap <<= 1;
    s->slots = calloc(cap, sizeof *s->slots);
    if (!s->slots) abort();
    s->mask = cap - 1;
    s->used = 0;
}

static void id_set_grow(id_set *s);

/* Adds key; false when it was already there. */
static bool id_set_add(id_set *s, uint64_t key)
{
    if ((s->used + 1) * 2 > s->mask + 1) id_set_grow(s);
    size_t i = (size_t)(key * 0x9e3779b97f4a7c15u >> 7) & s->mask;
    while (s->slots[i]) {
        if (s->slots[i] == key) return false;
        i = (i + 1) & s->mask;
    }
    s->slots[i] = key;
    s->used++;
    return true;
}

static void id_set_grow(id_set *s)
{
    id_set n;
    id_set_init(&n, (s->mask + 1));
    for (size_t i = 0; i <= s->mask; i++)
        if (s->slots[i]) id_set_add(&n, s->slots[i]);
    free(s->slots);
    *s = n;
}

/* ---- regions -------------------------------------------------------------- */

static bool region_prefixes(const char *region, const char **pfx, size_t *n)
{
    static const char *const all[] = {"11", "12", "1310"};
    if (strcmp(region, "all") == 0) {
        memcpy(pfx, all, sizeof all);
        *n = 3;
        return true;
    }
    for (size_t i = 0; i < 3; i++) {
        static const char *const names[] = {"beijing", "tianjin", "langfang"};
        if (strcmp(region, names[i]) == 0) {
            pfx[0] = all[i];
            *n = 1;
            return true;
        }
    }
    return false;
}

/* County-level codes of the chosen region(s), in code list order. */
static bool load_counties(popgen *p, const msgw_dict *dict, msgw_errors *e)
{
    const char *pfx[3];
    size_t npfx = 0;
    if (!region_prefixes(p->o.region, pfx, &npfx)) {
        msgw_error_add(e, -1, "--region", "region", "popgen.region",
                       "unknown region '%s' (beijing, tianjin, langfang or all)", p->o.region);
        return false;
    }
    const msgw_codelist *cl = msgw_dict_codelist(dict, "region");
    if (!cl) {
        msgw_error_add(e, -1, NULL, "region", "popgen.dictionary",
                       "the dictionary has no region code list");
        return false;
    }
    p->counties = msgw_arena_alloc(p->a, (cl->ncodes + 1) * sizeof *p->counties);
    for (size_t i = 0; i < cl->ncodes; i++) {
        const msgw_code *c = &cl->codes[i];
        if (!c->level || strcmp(c->level, "county") != 0) continue;
        for (size_t k = 0; k < npfx; k++)
            if (strncmp(c->code, pfx[k], strlen(pfx[k])) == 0) p->counties[p->ncounties++] = c->code;
    }
    if (p->ncounties == 0) {
        msgw_error_add(e, -1, NULL, "region", "popgen.dictionary",
                       "the region code list has no county-level code for '%s'", p->o.region);
        return false;
    }
    return true;
}

/* Beijing, Tianjin and Langfang weighted roughly by population, then a county uniformly. */
static const char *pick_county(popgen *p)
{
    static const unsigned w[] = {45, 40, 15};
    static const char *const pfx[] = {"11", "12", "1310"};
    for (int tries = 0; tries < 8; tries++) {
        const char *want = pfx[PICK(&p->r, w)];
        size_t first = p->ncounties, n = 0;
        for (size_t i = 0; i < p->ncounties; i++)
            if (strncmp(p->counties[i], want, strlen(want)) == 0) {
                if (first == p->ncounties) first = i;
                n++;
            }
        if (n) return p->counties[first + rng_below(&p->r, n)];
    }
    return p->counties[rng_below(&p->r, p->ncounties)];
}

/* ---- persons -------------------------------------------------------------- */

/*
 * A resident ID number: address code, birth date, a sequence whose last digit
 * is odd for men and even for women, and the ISO 7064 MOD 11-2 check
 * character.  Sequences are redrawn until the number is unused.
 */
static void make_id(popgen *p, pg_person *ps, const char *address)
{
    int y, m, d;
    msgw_date_to_ymd(ps->birth, &y, &m, &d);
    bool male = strcmp(ps->sex, "1") == 0;
    for (;;) {
        unsigned seq = (unsigned)rng_below(&p->r, 500) * 2 + (male ? 1 : 0);
        char digits[18];
        snprintf(digits, sizeof digits, "%.6s%04d%02d%02d%03u", address, y, m, d, seq);
        if (!id_set_add(&p->ids, strtoull(digits, NULL, 10))) continue;
        memcpy(ps->id, digits, 17);
        ps->id[17] = msgw_idnum_check_char(digits);
        ps->id[18] = '\0';
        return;
    }
}

/* Born `age` whole years before the reference day, on a random day of that year of life. */
static msgw_date birth_for_age(popgen *p, int age)
{
    msgw_date latest = add_years(p->o.as_of, -age);
    msgw_date b = latest - (msgw_date)rng_below(&p->r, 365);
    msgw_date floor1900 = msgw_date_from_ymd(1900, 1, 1);
    return b < floor1900 ? floor1900 : b;
}

static const char *given_name(popgen *p, bool male)
{
    return male ? MALE_GIVEN[rng_below(&p->r, COUNT(MALE_GIVEN))]
                : FEMALE_GIVEN[rng_below(&p->r, COUNT(FEMALE_GIVEN))];
}

static const char *pick_ethnic(popgen *p)
{
    static const unsigned w[] = {920, 25, 30, 20, 5}; /* 汉 回 满 蒙古 朝鲜 */
    static const char *const codes[] = {"01", "03", "11", "02", "10"};
    return codes[PICK(&p->r, w)];
}

/*
 * Room for a whole household up front: members refer to each other (a child
 * takes the head's surname) while the household is built, so the array must
 * not move in between.
 */
static void reserve_persons(popgen *p, size_t more)
{
    if (p->npersons + more <= p->pcap) return;
    while (p->npersons + more > p->pcap) p->pcap = p->pcap ? p->pcap * 2 : 1024;
    p->persons = realloc(p->persons, p->pcap * sizeof *p->persons);
    if (!p->persons) abort();
}

static pg_person *new_person(popgen *p, size_t household, const char *rel, int age, bool male,
                             const char *surname, const char *address)
{
    if (p->npersons == p->pcap) abort(); /* reserve_persons was not called */
    pg_person *ps = &p->persons[p->npersons++];
    memset(ps, 0, sizeof *ps);
    ps->household = household;
    ps->relationship = rel;
    ps->sex = male ? "1" : "2";
    ps->birth = birth_for_age(p, age < 0 ? 0 : age);
    ps->age = msgw_date_age(ps->birth, p->o.as_of);
    ps->surname = surname ? surname : SURNAMES[rng_below(&p->r, COUNT(SURNAMES))];
    ps->name = msgw_arena_printf(p->a, "%s%s", ps->surname, given_name(p, male));
    ps->ethnic = pick_ethnic(p);
    ps->marital = "10";
    ps->employment_from = ps->dis_issued = ps->dis_regraded = ps->death = ps->care_date =
        MSGW_DATE_NONE;
    for (int c = 0; c < NCONDITIONS; c++) ps->onset[c] = MSGW_DATE_NONE;
    make_id(p, ps, address);
    return ps;
}

/* ---- households ----------------------------------------------------------- */

static bool is_male(const pg_person *ps)
{
    return strcmp(ps->sex, "1") == 0;
}

static void marry(pg_person *a, pg_person *b)
{
    a->marital = b->marital = "20";
}


static int clamp_age(int age)
{
    return age < 0 ? 0 : age > 105 ? 105 : age;
}

/* The age pyramid of heads of household, with a thin tail past 100. */
static int head_age(popgen *p, bool single)
{
    static const unsigned w_head[] = {140, 170, 310, 180, 120, 60, 16, 4};
    static const unsigned w_single[] = {250, 100, 200, 160, 120, 120, 40, 10};
    static const int lo[] = {22, 35, 45, 60, 70, 80, 90, 100}, hi[] = {34, 44, 59, 69, 79, 89, 99, 104};
    size_t band = single ? PICK(&p->r, w_single) : PICK(&p->r, w_head);
    int from = single && band == 0 ? 18 : lo[band];
    return (int)rng_range(&p->r, from, hi[band]);
}

static size_t household_size(popgen *p)
{
    static const unsigned w[] = {18, 28, 25, 15, 9, 5};
    return PICK(&p->r, w) + 1;
}

/* Where the ID number says a person was first registered: usually the household's county. */
static const char *birth_county(popgen *p, const char *hukou)
{
    return rng_chance(&p->r, 900) ? hukou : pick_county(p);
}

typedef struct hh_builder {
    popgen *p;
    size_t index;
    const char *region;
    size_t left; /* members still to add */
} hh_builder;

static pg_person *add_member(hh_builder *b, const char *rel, int age, bool male, const char *surname)
{
    b->left--;
    return new_person(b->p, b->index, rel, clamp_age(age), male, surname,
                      birth_county(b->p, b->region));
}

static void add_children(hh_builder *b, const pg_person *head, int parent_age, int count)
{
    for (int i = 0; i < count && b->left > 0; i++) {
        bool male = rng_chance(&b->p->r, 515);
        const char *rel = count == 1 ? (male ? "21" : "31") : (male ? "20" : "30");
        int age = parent_age - (int)rng_range(&b->p->r, 22, 36);
        add_member(b, rel, age, male, head->surname);
    }
}

/* A grandparent raising grandchildren whose parents are absent or dead (留守 / 孤儿). */
static void build_skipped_generation(hh_builder *b, pg_household *h)
{
    h->skipped_generation = true;
    bool male = rng_chance(&b->p->r, 500);
    pg_person *head = add_member(b, "02", (int)rng_range(&b->p->r, 55, 80), male, NULL);
    if (b->left > 1 && rng_chance(&b->p->r, 600)) {
        marry(head, add_member(b, male ? "12" : "11", head->age + (int)rng_range(&b->p->r, -4, 4), !male, NULL));
    } else {
        head->marital = "30";
    }
    while (b->left > 0) {
        bool boy = rng_chance(&b->p->r, 515);
        add_member(b, boy ? "41" : "42", (int)rng_range(&b->p->r, 1, 16), boy, head->surname);
    }
}

/* Spouse within six years of the head, of the other sex: 夫 11 or 妻 12. */
static void add_spouse(hh_builder *b, pg_person *head)
{
    if (b->left == 0 || !rng_chance(&b->p->r, 880)) return;
    bool male = is_male(head);
    int age = head->age + (int)rng_range(&b->p->r, -6, 6);
    marry(head, add_member(b, male ? "12" : "11", age < 20 ? 20 : age, !male, NULL));
}

/* An older head's grown children, one married with its spouse (儿媳 38 / 女婿 28) and children. */
static void add_grown_family(hh_builder *b, pg_person *head)
{
    popgen *p = b->p;
    int kids = b->left > 0 ? (int)rng_range(&p->r, 1, b->left > 2 ? 2 : (int)b->left) : 0;
    size_t first_child = p->npersons;
    add_children(b, head, head->age, kids);
    if (b->left == 0 || p->npersons == first_child || p->persons[first_child].age < 24) return;
    pg_person *child = &p->persons[first_child];
    bool son = is_male(child);
    marry(child, add_member(b, son ? "38" : "28", child->age + (int)rng_range(&p->r, -3, 3), !son, NULL));
    while (b->left > 0) {
        bool boy = rng_chance(&p->r, 515);
        add_member(b, boy ? "41" : "42", child->age - (int)rng_range(&p->r, 22, 34), boy,
                   son ? child->surname : NULL);
    }
}

/* A younger head's parents (父亲 51 / 母亲 52) living with the family. */
static void add_parents(hh_builder *b, const pg_person *head)
{
    popgen *p = b->p;
    if (b->left == 0 || head->age > 60 || !rng_chance(&p->r, 350)) return;
    int n = b->left >= 2 && rng_chance(&p->r, 500) ? 2 : 1;
    int base = head->age + (int)rng_range(&p->r, 22, 34);
    for (int i = 0; i < n; i++) {
        bool father = n == 2 ? i == 0 : rng_chance(&p->r, 400);
        pg_person *par = add_member(b, father ? "51" : "52", base + (int)rng_range(&p->r, -3, 3),
                                    father, father && is_male(head) ? head->surname : NULL);
        par->marital = n == 2 ? "20" : "30";
    }
}

/* The persons array does not move while a household is built (reserve_persons). */
static void build_family(hh_builder *b, bool single)
{
    popgen *p = b->p;
    bool male = rng_chance(&p->r, single ? 450 : 700);
    pg_person *head = add_member(b, "02", head_age(p, single), male, NULL);
    if (single) {
        head->marital = head->age >= 70 && rng_chance(&p->r, 700) ? "30"
                        : head->age >= 30 && rng_chance(&p->r, 400) ? "40" : "10";
        return;
    }
    add_spouse(b, head);
    if (head->age >= 55) {
        add_grown_family(b, head);
        return;
    }
    add_parents(b, head);
    add_children(b, head, head->age, (int)b->left);
}

static pg_household *new_household(popgen *p, size_t index)
{
    pg_household *h = &p->households[index];
    memset(h, 0, sizeof *h);
    h->region = pick_county(p);
    unsigned urban = strncmp(h->region, "11", 2) == 0 ? 850 : strncmp(h->region, "12", 2) == 0 ? 750 : 450;
    h->hukou_type = rng_chance(&p->r, urban) ? "1" : "2";
    h->id = msgw_arena_printf(p->a, "HH%s%07zu", h->region, index + 1);
    h->first = p->npersons;
    h->assist_from = MSGW_DATE_NONE;
    size_t size = household_size(p);
    reserve_persons(p, size);
    hh_builder b = {.p = p, .index = index, .region = h->region, .left = size};
    if (size >= 2 && size <= 4 && rng_chance(&p->r, 30))
        build_skipped_generation(&b, h);
    else
        build_family(&b, size == 1);
    h->n = p->npersons - h->first;
    return h;
}

/* ---- what happens to people ------------------------------------------------ */

static int retirement_age(const pg_person *ps)
{
    return is_male(ps) ? 60 : 55;
}

static msgw_date adult_since(const popgen *p, const pg_person *ps, int age)
{
    (void)p;
    return add_years(ps->birth, age);
}

static void assign_employment(popgen *p, pg_person *ps, bool urban, bool low)
{
    static const char *const codes[] = {"11", "12", "20", "21"};
    static const unsigned w_urban[] = {62, 15, 6, 17}, w_rural[] = {35, 30, 3, 32},
                          w_low[] = {15, 25, 20, 40};
    if (ps->age < 16 || (ps->age < 23 && rng_chance(&p->r, 600))) return; /* child or student */
    if (ps->age >= retirement_age(ps)) {
        ps->employment = rng_chance(&p->r, urban ? 850 : 250) ? "30" : "21";
        if (strcmp(ps->employment, "30") == 0)
            ps->employment_from = adult_since(p, ps, retirement_age(ps));
        return;
    }
    ps->employment = codes[low ? PICK(&p->r, w_low) : urban ? PICK(&p->r, w_urban) : PICK(&p->r, w_rural)];
    msgw_date lo = max_date(adult_since(p, ps, 16), add_years(p->o.as_of, -15));
    if (strcmp(ps->employment, "20") == 0) lo = max_date(lo, p->o.as_of - 700);
    ps->employment_from = date_between(&p->r, lo, p->o.as_of - 1);
    if (strcmp(ps->employment, "11") == 0)
        ps->employer = msgw_arena_printf(p->a, "91%s%09" PRIu64 "%" PRIu64, p->households[ps->household].region,
                                         rng_below(&p->r, 1000000000u), rng_below(&p->r, 10));
}

static void assign_conditions(popgen *p, pg_person *ps)
{
    unsigned ht = ps->age >= 60 ? 450 : ps->age >= 45 ? 220 : ps->age >= 35 ? 80 : 0;
    unsigned dm = ps->age >= 60 ? 180 : ps->age >= 40 ? 80 : 0;
    unsigned sz = ps->age >= 18 ? 6 : 0;
    const unsigned chance[NCONDITIONS] = {ht, dm, sz};
    const int from_age[NCONDITIONS] = {30, 35, 18};
    for (int c = 0; c < NCONDITIONS; c++)
        if (rng_chance(&p->r, chance[c]))
            ps->onset[c] = date_between(&p->r, max_date(adult_since(p, ps, from_age[c]),
                                                         add_years(p->o.as_of, -20)),
                                        p->o.as_of - 30);
}

static unsigned disability_per_mille(const popgen *p, const pg_person *ps)
{
    if (p->o.disability_percent) return p->o.disability_percent * 10;
    if (ps->onset[COND_SCHIZOPHRENIA] != MSGW_DATE_NONE) return 600;
    return ps->age >= 80 ? 200 : ps->age >= 60 ? 110 : ps->age >= 18 ? 45 : 15;
}

/* A 第二代残疾人证: category and grade (GB/T 26341), issued within the last nine years. */
static void assign_disability(popgen *p, pg_person *ps)
{
    static const unsigned w_cat[] = {14, 20, 1, 42, 8, 9, 6}, w_grade[] = {10, 20, 30, 40};
    if (!rng_chance(&p->r, disability_per_mille(p, ps))) return;
    msgw_date lo = max_date(ps->birth + 60, add_years(p->o.as_of, -9));
    if (lo >= p->o.as_of - 30) return; /* too young for a certificate */
    ps->dis_cat = ps->onset[COND_SCHIZOPHRENIA] != MSGW_DATE_NONE ? 6 : (int)PICK(&p->r, w_cat) + 1;
    ps->dis_grade = ps->dis_first_grade = (int)PICK(&p->r, w_grade) + 1;
    ps->dis_issued = date_between(&p->r, lo, p->o.as_of - 30);
    ps->dis_regraded = MSGW_DATE_NONE;
    if (ps->dis_issued + 400 < p->o.as_of && rng_chance(&p->r, 120)) {
        ps->dis_regraded = date_between(&p->r, ps->dis_issued + 180, p->o.as_of - 1);
        int g = ps->dis_first_grade > 1 ? ps->dis_first_grade - 1 : 2; /* usually worse */
        ps->dis_grade = g;
    }
}

/* Deaths in the last year, never the head (the household would need a new one). */
static void assign_death(popgen *p, pg_person *ps)
{
    unsigned pm = ps->age >= 100 ? 300 : ps->age >= 90 ? 150 : ps->age >= 80 ? 60 : ps->age >= 60 ? 15 : 1;
    if (ps->age < 1 || strcmp(ps->relationship, "02") == 0 || !rng_chance(&p->r, pm)) return;
    ps->death = date_between(&p->r, max_date(ps->birth + 1, p->o.as_of - 364), p->o.as_of - 1);
    if (ps->employment_from != MSGW_DATE_NONE && ps->employment_from >= ps->death)
        ps->employment_from = max_date(ps->birth, ps->death - 1);
    for (int c = 0; c < NCONDITIONS; c++)
        if (ps->onset[c] != MSGW_DATE_NONE && ps->onset[c] >= ps->death) ps->onset[c] = MSGW_DATE_NONE;
    if (ps->dis_cat && (ps->dis_issued >= ps->death ||
                        (ps->dis_regraded != MSGW_DATE_NONE && ps->dis_regraded >= ps->death)))
        ps->dis_cat = 0;
}

static bool alive(const pg_person *ps)
{
    return ps->death == MSGW_DATE_NONE;
}

/* ---- income and assistance --------------------------------------------------- */

/*
 * Per-capita monthly income of a household, in fen: a share below the
 * allowance standard, a share just above it (100%-150%: 低保边缘) and a long
 * tail, all in integer steps.
 */
static int64_t per_capita_income(popgen *p, pg_household *h)
{
    const int64_t std = POPGEN_DIBAO_STANDARD_FEN;
    unsigned low = p->o.low_income_percent ? p->o.low_income_percent * 10 : 70;
    if (h->skipped_generation && !p->o.low_income_percent) low = 700;
    if (rng_chance(&p->r, low)) {
        h->low_band = true;
        return rng_chance(&p->r, 300) ? 0 : rng_range(&p->r, 0, std - 1) / 100 * 100;
    }
    static const unsigned w[] = {60, 80, 420, 280, 120, 40};
    static const int64_t lo[] = {100, 150, 200, 600, 1200, 3000}, hi[] = {149, 199, 599, 1199, 2999, 9999};
    size_t band = PICK(&p->r, w);
    return rng_range(&p->r, std * lo[band] / 100, std * hi[band] / 100 + 99) / 100 * 100;
}

static bool earns(const pg_person *ps)
{
    return alive(ps) && ps->employment &&
           (strcmp(ps->employment, "11") == 0 || strcmp(ps->employment, "12") == 0 ||
            strcmp(ps->employment, "30") == 0);
}

/* Splits the household's total among its earners (wages, pensions); without one the head has it. */
static void distribute_income(popgen *p, pg_household *h, int64_t total)
{
    size_t nearn = 0;
    for (size_t i = 0; i < h->n; i++) nearn += earns(&p->persons[h->first + i]);
    int64_t left = total;
    for (size_t i = 0; i < h->n && nearn; i++) {
        pg_person *ps = &p->persons[h->first + i];
        if (!earns(ps)) continue;
        int64_t share = nearn == 1 ? left : left / (int64_t)nearn / 100 * 100;
        nearn--;
        ps->income_fen = share;
        ps->income_source = strcmp(ps->employment, "30") == 0 ? "4" : strcmp(ps->employment, "12") == 0 ? "2" : "1";
        left -= share;
    }
    pg_person *head = &p->persons[h->first];
    if (left > 0 || !head->income_source) {
        head->income_fen += left;
        if (!head->income_source && head->income_fen > 0) head->income_source = total > 300000 ? "3" : "4";
    }
}

static size_t living_members(const popgen *p, const pg_household *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++) n += alive(&p->persons[h->first + i]);
    return n;
}

/*
 * The household's assistance status from its per-capita income: 特困 for a
 * lone person who cannot work and has no income, 低保 below the standard,
 * 低保边缘 or 低收入 up to 150% of it; not everyone eligible is enrolled.
 */
static void assign_assistance(popgen *p, pg_household *h, int64_t pc)
{
    const int64_t std = POPGEN_DIBAO_STANDARD_FEN;
    const pg_person *head = &p->persons[h->first];
    size_t n = living_members(p, h);
    bool forced = p->o.low_income_percent >= 100;
    if (pc < std) {
        if (!forced && !h->skipped_generation && !rng_chance(&p->r, 900)) return;
        bool cannot_work = head->age >= 60 || head->age < 18 || (head->dis_cat && head->dis_grade <= 2);
        if (n == 1 && pc == 0 && cannot_work) {
            h->assistance = rng_chance(&p->r, 150) ? "21" : "22";
            h->benefit_fen = std * 13 / 10;
        } else {
            h->assistance = "10";
            h->benefit_fen = (std - pc) * (int64_t)n / 100 * 100;
        }
    } else if (pc < std * 3 / 2) {
        if (!rng_chance(&p->r, 800)) return;
        h->assistance = rng_chance(&p->r, 650) ? "40" : "30";
    } else {
        return;
    }
    h->assist_from = date_between(&p->r, add_years(p->o.as_of, -5), p->o.as_of - 30);
}

/* 失能 assessments for some elderly members of assisted households. */
static void assign_care(popgen *p, pg_person *ps)
{
    static const unsigned w[] = {50, 30, 20};
    static const char *const levels[] = {"1", "2", "3"};
    if (ps->age < 65 || !alive(ps) || !rng_chance(&p->r, 350)) return;
    size_t lv = PICK(&p->r, w);
    ps->care_level = levels[lv];
    ps->ability_level = lv == 2 && rng_chance(&p->r, 500) ? "4" : levels[lv];
    ps->care_date = date_between(&p->r, p->o.as_of - 730, p->o.as_of - 1);
}

static void assign_household_facts(popgen *p, pg_household *h)
{
    bool urban = strcmp(h->hukou_type, "1") == 0;
    int64_t pc = per_capita_income(p, h);
    for (size_t i = 0; i < h->n; i++) {
        pg_person *ps = &p->persons[h->first + i];
        assign_conditions(p, ps);
        assign_disability(p, ps);
        assign_employment(p, ps, urban, h->low_band);
        assign_death(p, ps);
    }
    int64_t total = pc * (int64_t)living_members(p, h);
    distribute_income(p, h, total);
    assign_assistance(p, h, pc);
    for (size_t i = 0; h->assistance && i < h->n; i++) {
        pg_person *ps = &p->persons[h->first + i];
        assign_care(p, ps);
        if (h->skipped_generation && ps->age < 18 && alive(ps) && strcmp(ps->relationship, "02") != 0)
            ps->orphan = rng_chance(&p->r, 400) ? "1" : "2";
    }
}

static void generate(popgen *p)
{
    p->households = msgw_arena_alloc(p->a, p->o.households * sizeof *p->households);
    id_set_init(&p->ids, p->o.households * 3);
    for (size_t i = 0; i < p->o.households; i++) {
        pg_household *h = new_household(p, i);
        p->nhouseholds++;
        assign_household_facts(p, h);
    }
}

popgen *popgen_new(const msgw_dict *dict, const popgen_opts *o, msgw_errors *e)
{
    if (o->households == 0) {
        msgw_error_add(e, -1, "--households", "households", "popgen.households",
                       "at least one household is needed");
        return NULL;
    }
    popgen *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->o = *o;
    if (p->o.as_of == MSGW_DATE_NONE)
        p->o.as_of = msgw_date_from_ymd(POPGEN_DEFAULT_AS_OF_Y, POPGEN_DEFAULT_AS_OF_M,
                                        POPGEN_DEFAULT_AS_OF_D);
    if (!p->o.region) p->o.region = "all";
    p->a = msgw_arena_new(1u << 20);
    rng_seed(&p->r, o->seed);
    if (!load_counties(p, dict, e)) {
        popgen_destroy(&p);
        return NULL;
    }
    generate(p);
    return p;
}

void popgen_destroy(popgen **pp)
{
    popgen *p = *pp;
    if (!p) return;
    for (int f = 0; f < POPGEN_NFORMATS; f++) {
        free(p->out[f].v);
        free(p->out[f].groups);
    }
    free(p->ids.slots);
    free(p->persons);
    msgw_arena_destroy(&p->a);
    free(p);
    *pp = NULL;
}

size_t popgen_household_count(const popgen *p)
{
    return p->nhouseholds;
}

size_t popgen_person_count(const popgen *p)
{
    return p->npersons;
}

/* ---- canonical records ------------------------------------------------------- */

static void push_record(pg_records *rs, const msgw_record *r, size_t group)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 256;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
        rs->groups = realloc(rs->groups, rs->cap * sizeof *rs->groups);
        if (!rs->v || !rs->groups) abort();
    }
    rs->v[rs->n] = r;
    rs->groups[rs->n++] = group;
}

typedef struct rec_builder {
    msgw_record *r;
    size_t pcap, fcap;
    msgw_arena *a;
} rec_builder;

static rec_builder record_begin(popgen *p, const char *kind, const char *dept, const char *prefix)
{
    rec_builder b = {.a = p->a};
    b.r = msgw_arena_alloc(p->a, sizeof *b.r);
    b.r->kind = kind;
    b.r->source_department = dept;
    if (prefix) b.r->source_message_id = msgw_arena_printf(p->a, "%s-%" PRIu64 "-%07" PRIu64, prefix, p->o.seed, ++p->serial);
    return b;
}

/* Which demographics a department's format carries (and so what its decoder gives back). */
enum { D_NAME = 1, D_SEX = 2, D_BIRTH = 4, D_ETHNIC = 8, D_MARITAL = 16, D_HUKOU = 32 };
#define D_ALL (D_NAME | D_SEX | D_BIRTH | D_ETHNIC | D_MARITAL | D_HUKOU)

static void add_person(rec_builder *b, const popgen *p, const pg_person *ps, unsigned what)
{
    msgw_person *out = msgw_record_add_person(b->r, b->a, &b->pcap);
    const pg_household *h = &p->households[ps->household];
    memcpy(out->id_number, ps->id, sizeof out->id_number);
    if (what & D_NAME) out->name = ps->name;
    if (what & D_SEX) out->sex = ps->sex;
    if (what & D_BIRTH) out->birth_date = ps->birth;
    if (what & D_ETHNIC) out->ethnic = ps->ethnic;
    if (what & D_MARITAL) out->marital = ps->marital;
    if (what & D_HUKOU) {
        out->hukou_region = h->region;
        out->hukou_type = h->hukou_type;
    }
}

static msgw_fact *add_fact(rec_builder *b, const char *type, const char *subject, msgw_date from,
                           msgw_date to)
{
    msgw_fact *f = msgw_record_add_fact(b->r, b->a, &b->fcap, type, subject);
    f->valid_from = from;
    f->valid_to = to;
    return f;
}

static void attr_code(rec_builder *b, msgw_fact *f, const char *name, const char *code)
{
    if (code) msgw_fact_add_attr(f, b->a, name, (msgw_value){.kind = MSGW_V_CODE, .u.s = code});
}

static void attr_str(rec_builder *b, msgw_fact *f, const char *name, const char *s)
{
    if (s) msgw_fact_add_attr(f, b->a, name, (msgw_value){.kind = MSGW_V_STRING, .u.s = s});
}

static void attr_money(rec_builder *b, msgw_fact *f, const char *name, int64_t fen)
{
    msgw_fact_add_attr(f, b->a, name, (msgw_value){.kind = MSGW_V_MONEY, .u.i = fen});
}

static void attr_date(rec_builder *b, msgw_fact *f, const char *name, msgw_date d)
{
    msgw_fact_add_attr(f, b->a, name, (msgw_value){.kind = MSGW_V_DATE, .u.d = d});
}

/* --- 民政: one roster record per assisted household, living members only --- */

static void roster_member_facts(rec_builder *b, const pg_household *h, const pg_person *ps,
                                bool head)
{
    msgw_fact *f = add_fact(b, "assistance", ps->id, h->assist_from, MSGW_DATE_NONE);
    attr_code(b, f, "assistance_category", h->assistance);
    if (head && h->benefit_fen > 0) attr_money(b, f, "benefit_monthly_fen", h->benefit_fen);
    f = add_fact(b, "income", ps->id, h->assist_from, MSGW_DATE_NONE);
    attr_money(b, f, "income_monthly_fen", ps->income_fen);
    attr_code(b, f, "income_source", ps->income_fen > 0 ? ps->income_source : NULL);
    if (ps->employment) attr_code(b, add_fact(b, "employment", ps->id, MSGW_DATE_NONE, MSGW_DATE_NONE),
                                  "employment_status", ps->employment);
    if (ps->care_level) {
        f = add_fact(b, "care_assessment", ps->id, ps->care_date, MSGW_DATE_NONE);
        attr_code(b, f, "care_level", ps->care_level);
        attr_code(b, f, "ability_level", ps->ability_level);
        attr_date(b, f, "assessment_date", ps->care_date);
    }
    if (ps->orphan) {
        f = add_fact(b, "orphan", ps->id, MSGW_DATE_NONE, MSGW_DATE_NONE);
        attr_code(b, f, "orphan_status", ps->orphan);
        attr_code(b, f, "care_placement", "2");
    }
}

static void build_roster_record(popgen *p, size_t hi)
{
    const pg_household *h = &p->households[hi];
    rec_builder b = record_begin(p, "household_assistance_roster", "mca", "MCA");
    msgw_household *out = msgw_arena_alloc(p->a, sizeof *out);
    out->id = h->id;
    out->region = h->region;
    out->hukou_type = h->hukou_type;
    out->members = msgw_arena_alloc(p->a, h->n * sizeof *out->members);
    b.r->household = out;
    for (size_t i = 0; i < h->n; i++) {
        const pg_person *ps = &p->persons[h->first + i];
        if (!alive(ps)) continue;
        msgw_member *m = &out->members[out->nmembers++];
        memcpy(m->id_number, ps->id, sizeof m->id_number);
        m->relationship = ps->relationship;
        add_person(&b, p, ps, D_ALL);
        roster_member_facts(&b, h, ps, i == 0);
    }
    push_record(&p->out[POPGEN_MCA], b.r, hi);
}

/* --- 人社: insurance enrolments, terminations, employment and retirement --- */

#define HRSS_PERSON (D_NAME | D_SEX | D_BIRTH | D_ETHNIC | D_HUKOU)

static void hrss_insurance(popgen *p, const pg_person *ps, const char *kind, const char *type,
                           const char *status, msgw_date from, msgw_date to)
{
    rec_builder b = record_begin(p, kind, "hrss", "HRSS");
    add_person(&b, p, ps, HRSS_PERSON);
    msgw_fact *f = add_fact(&b, "insurance", ps->id, from, to);
    attr_code(&b, f, "insurance_type", type);
    attr_code(&b, f, "contribution_status", status);
    attr_code(&b, f, "insured_region", p->households[ps->household].region);
    push_record(&p->out[POPGEN_HRSS], b.r, (size_t)(ps - p->persons));
}

static void hrss_employment(popgen *p, const pg_person *ps)
{
    const char *st = ps->employment;
    if (!st || strcmp(st, "21") == 0) return;
    const char *kind = strcmp(st, "20") == 0   ? "unemployment_registration"
                       : strcmp(st, "30") == 0 ? "retirement"
                                               : "employment_registration";
    rec_builder b = record_begin(p, kind, "hrss", "HRSS");
    add_person(&b, p, ps, HRSS_PERSON);
    msgw_fact *f = add_fact(&b, "employment", ps->id, ps->employment_from, MSGW_DATE_NONE);
    attr_code(&b, f, "employment_status", st);
    attr_str(&b, f, "employer_id", ps->employer);
    push_record(&p->out[POPGEN_HRSS], b.r, (size_t)(ps - p->persons));
}

/* The insurance types (AAE140) a person is enrolled in, by employment. */
static size_t insurance_types(const pg_person *ps, const char **types)
{
    const char *st = ps->employment ? ps->employment : "";
    static const char *const unit[] = {"110", "210", "310", "410", "510"};
    if (strcmp(st, "11") == 0) {
        memcpy(types, unit, sizeof unit);
        return 5;
    }
    if (strcmp(st, "12") == 0 || strcmp(st, "30") == 0) {
        types[0] = "110";
        types[1] = "310";
        return 2;
    }
    if (ps->age >= 16 && ps->employment) {
        types[0] = "170";
        types[1] = "390";
        return 2;
    }
    types[0] = "390";
    return 1;
}

static void build_hrss_records(popgen *p, const pg_person *ps)
{
    const char *types[5];
    size_t n = insurance_types(ps, types);
    bool employed = ps->employment_from != MSGW_DATE_NONE && ps->employment &&
                    strcmp(ps->employment, "20") != 0 && strcmp(ps->employment, "30") != 0;
    for (size_t i = 0; i < n; i++) {
        msgw_date from = employed ? ps->employment_from
                                  : max_date(ps->birth, add_years(p->o.as_of, -10) + (msgw_date)(ps->birth % 300));
        hrss_insurance(p, ps, "insurance_enrolment", types[i], "1", from, MSGW_DATE_NONE);
        bool pension = strcmp(types[i], "110") == 0 || strcmp(types[i], "170") == 0;
        if (!alive(ps) && pension)
            hrss_insurance(p, ps, "insurance_termination", types[i], "3", from, ps->death);
    }
    hrss_employment(p, ps);
}

/* --- 卫健: a Patient for everyone, deaths and chronic-disease diagnoses --- */

static void build_health_records(popgen *p, const pg_person *ps)
{
    size_t group = (size_t)(ps - p->persons);
    rec_builder b = record_begin(p, "person_registration", "health", NULL);
    add_person(&b, p, ps, D_ALL);
    push_record(&p->out[POPGEN_HEALTH], b.r, group);
    if (!alive(ps)) {
        b = record_begin(p, "death", "health", NULL);
        add_person(&b, p, ps, D_ALL);
        attr_date(&b, add_fact(&b, "death", ps->id, ps->death, MSGW_DATE_NONE), "death_date", ps->death);
        push_record(&p->out[POPGEN_HEALTH], b.r, group);
    }
    for (int c = 0; c < NCONDITIONS; c++) {
        if (ps->onset[c] == MSGW_DATE_NONE) continue;
        b = record_begin(p, "condition", "health", NULL);
        add_person(&b, p, ps, D_ALL);
        msgw_fact *f = add_fact(&b, "condition", ps->id, ps->onset[c], MSGW_DATE_NONE);
        attr_str(&b, f, "condition_code", CONDITIONS[c].icd);
        attr_code(&b, f, "condition_category", CONDITIONS[c].category);
        attr_code(&b, f, "clinical_status", "active");
        push_record(&p->out[POPGEN_HEALTH], b.r, group);
    }
}

/* --- 残联: certificate events (issue, regrade, revoke) and the roster of valid ones --- */

#define CDPF_PERSON (D_NAME | D_SEX | D_BIRTH | D_HUKOU)

static const char *certificate_no(popgen *p, const pg_person *ps, int grade)
{
    return msgw_arena_printf(p->a, "%s%d%d", ps->id, ps->dis_cat, grade);
}

static const msgw_record *cdpf_record(popgen *p, const pg_person *ps, const char *event, int grade,
                                      msgw_date from, msgw_date to, bool with_id)
{
    rec_builder b = record_begin(p, "disability_certificate", "cdpf", with_id ? "CDPF" : NULL);
    add_person(&b, p, ps, CDPF_PERSON);
    msgw_fact *f = add_fact(&b, "disability", ps->id, from, to);
    attr_str(&b, f, "disability_certificate_no", certificate_no(p, ps, grade));
    static const char *const digits[] = {"0", "1", "2", "3", "4", "5", "6", "7"};
    attr_code(&b, f, "disability_category", digits[ps->dis_cat]);
    attr_code(&b, f, "disability_grade", digits[grade]);
    attr_code(&b, f, "certificate_event", event);
    return b.r;
}

static void build_cdpf_records(popgen *p, const pg_person *ps)
{
    if (!ps->dis_cat) return;
    size_t group = (size_t)(ps - p->persons);
    pg_records *ev = &p->out[POPGEN_CDPF_XML];
    msgw_date issued = ps->dis_issued, current = issued;
    push_record(ev, cdpf_record(p, ps, "issue", ps->dis_first_grade, issued, add_years(issued, 10) - 1, true), group);
    if (ps->dis_regraded != MSGW_DATE_NONE) {
        current = ps->dis_regraded;
        push_record(ev, cdpf_record(p, ps, "regrade", ps->dis_grade, current, add_years(current, 10) - 1, true), group);
    }
    if (!alive(ps)) {
        push_record(ev, cdpf_record(p, ps, "revoke", ps->dis_grade, current, ps->death, true), group);
        return;
    }
    push_record(&p->out[POPGEN_CDPF_CSV],
                cdpf_record(p, ps, "issue", ps->dis_grade, current, add_years(current, 10) - 1, false), group);
}

static void build_canonical(popgen *p)
{
    static const popgen_format parts[] = {POPGEN_MCA, POPGEN_HRSS, POPGEN_HEALTH, POPGEN_CDPF_XML};
    pg_records *out = &p->out[POPGEN_CANONICAL];
    for (size_t k = 0; k < COUNT(parts); k++) {
        const pg_records *in = &p->out[parts[k]];
        for (size_t i = 0; i < in->n; i++) push_record(out, in->v[i], out->n);
    }
}

/* All formats at once: the record ids then do not depend on which format was asked first. */
static void build_all(popgen *p)
{
    for (size_t h = 0; h < p->nhouseholds; h++)
        if (p->households[h].assistance) build_roster_record(p, h);
    for (size_t i = 0; i < p->npersons; i++) build_hrss_records(p, &p->persons[i]);
    for (size_t i = 0; i < p->npersons; i++) build_health_records(p, &p->persons[i]);
    for (size_t i = 0; i < p->npersons; i++) build_cdpf_records(p, &p->persons[i]);
    build_canonical(p);
    for (int f = 0; f < POPGEN_NFORMATS; f++) p->out[f].built = true;
}

const msgw_record *const *popgen_records(popgen *p, popgen_format f, size_t *n,
                                         const size_t **groups)
{
    if (!p->out[0].built) build_all(p);
    *n = p->out[f].n;
    if (groups) *groups = p->out[f].groups;
    return (const msgw_record *const *)p->out[f].v;
}

size_t popgen_count_kinds(const msgw_record *const *recs, size_t n,
                          popgen_kind_count out[POPGEN_MAX_KINDS])
{
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nk && strcmp(out[k].kind, recs[i]->kind) != 0) k++;
        if (k == nk) {
            if (nk == POPGEN_MAX_KINDS) continue;
            out[nk++] = (popgen_kind_count){recs[i]->kind, 0};
        }
        out[k].n++;
    }
    return nk;
}

/* ---- encoding and files -------------------------------------------------------- */

bool popgen_encode(const msgw_adapter_ctx *ctx, popgen_format f, const msgw_record *const *recs,
                   size_t n, msgw_buf *out, msgw_errors *e)
{
    const popgen_format_info *fi = &FORMATS[f];
    const msgw_adapter *ad = msgw_adapter_find(fi->adapter);
    if (!ad || !ad->encode) {
        msgw_error_add(e, -1, fi->adapter, NULL, "popgen.encoder",
                       "no %s encoder is registered yet: %s was not written", fi->adapter, fi->stem);
        return false;
    }
    return ad->encode(ctx, fi->media_type, recs, n, out, e);
}

char *popgen_file_path(popgen_format f, const char *dir, size_t i, size_t nfiles, char *buf,
                       size_t len)
{
    const popgen_format_info *fi = &FORMATS[f];
    if (nfiles <= 1)
        snprintf(buf, len, "%s/%s.%s", dir, fi->stem, fi->ext);
    else
        snprintf(buf, len, "%s/%s-%03zu.%s", dir, fi->stem, i + 1, fi->ext);
    return buf;
}

/* Where document k ends: per_file records, moved on to the end of the group there. */
static size_t chunk_end(const size_t *groups, size_t n, size_t start, size_t per_file)
{
    if (per_file == 0 || n - start <= per_file) return n;
    size_t end = start + per_file;
    while (end < n && groups[end] == groups[end - 1]) end++;
    return end;
}

static size_t count_chunks(const size_t *groups, size_t n, size_t per_file)
{
    size_t k = 0;
    for (size_t s = 0; s < n; s = chunk_end(groups, n, s, per_file)) k++;
    return k;
}

static bool write_file(const char *path, const msgw_buf *b, msgw_errors *e)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(b->data, 1, b->len, f) == b->len;
    if (f && fclose(f) != 0) ok = false;
    if (!ok)
        msgw_error_add(e, -1, path, NULL, "popgen.write", "cannot write %s: %s", path, strerror(errno));
    return ok;
}

bool popgen_write(popgen *p, const msgw_adapter_ctx *ctx, popgen_format f, const char *dir,
                  size_t per_file, size_t *files, msgw_errors *e)
{
    const size_t *groups;
    size_t n;
    const msgw_record *const *recs = popgen_records(p, f, &n, &groups);
    *files = 0;
    size_t nfiles = count_chunks(groups, n, per_file);
    bool ok = true;
    for (size_t s = 0, k = 0; s < n && ok; k++) {
        size_t end = chunk_end(groups, n, s, per_file);
        msgw_buf b;
        msgw_buf_init(&b);
        char path[4096];
        ok = popgen_encode(ctx, f, recs + s, end - s, &b, e) &&
             write_file(popgen_file_path(f, dir, k, nfiles, path, sizeof path), &b, e);
        msgw_buf_free(&b);
        *files += ok;
        s = end;
    }
    return ok;
}
