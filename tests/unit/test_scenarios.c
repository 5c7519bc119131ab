/*
 * Runs the eligibility scenarios (tests/scenarios/NAME.scn, format in
 * docs/scenarios.md): each line builds a real canonical record, checked by
 * the dictionary's record rules, applied to a fresh engine; expectations
 * are matched against the transitions it emits.  One cmocka test per file.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/engine/eligibility.h"
#include "testutil.h"

typedef struct hh {
    char id[41], region[7], type[2];
    char members[16][19], rel[16][3];
    int n;
} hh;

typedef struct run {
    const char *file;
    int line;
    msgw_catalogue *cat;
    msgw_elig *elig;
    msgw_date date;
    msgw_transitions tr;
    bool *matched;
    size_t nmatched_cap;
    msgw_errors errs;
    size_t errs_seen; /* errors before this one are accounted for by an expect */
    bool ignore_others;
    hh households[16];
    int nh;
    msgw_batch *last; /* for replay */
    int failures;
    char scenario[256];
    bool compact_each; /* compact the engine after every line (msgw_elig_compact) */
} run;

/* A scenario file, run as written or with the engine compacted after every line: compaction must
 * change nothing the engine says (and ASan finds any pointer left into the arena it freed). */
typedef struct scn_file {
    char *name;
    bool compact_each;
} scn_file;

static void failf(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: [%s] ", r->file, r->line, r->scenario);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    r->failures++;
}

static void dump_transitions(run *r)
{
    for (size_t i = 0; i < r->tr.n; i++)
        fprintf(stderr, "    %s %s\n", i < r->nmatched_cap && r->matched[i] ? "(matched)" : "         ", r->tr.v[i].text);
}

static void sync_matched(run *r)
{
    if (r->nmatched_cap < r->tr.n) {
        r->matched = realloc(r->matched, (r->tr.n + 1) * sizeof *r->matched);
        memset(r->matched + r->nmatched_cap, 0, (r->tr.n + 1 - r->nmatched_cap) * sizeof *r->matched);
        r->nmatched_cap = r->tr.n;
    }
}

static void end_scenario(run *r)
{
    if (!r->cat) return;
    sync_matched(r);
    for (size_t i = 0; i < r->tr.n && !r->ignore_others; i++)
        if (!r->matched[i]) {
            failf(r, "transition not expected at the end of the scenario: %s", r->tr.v[i].text);
            dump_transitions(r);
            break;
        }
    msgw_transitions_clear(&r->tr);
    free(r->matched);
    r->matched = NULL;
    r->nmatched_cap = 0;
    msgw_errors_clear(&r->errs);
    r->errs_seen = 0;
    msgw_elig_destroy(&r->elig);
    msgw_catalogue_destroy(&r->cat);
    msgw_batch_destroy(&r->last);
    r->nh = 0;
    r->ignore_others = false;
}

/* Money as written in scenarios: 1010yuan, 101000fen. Other values as they are. */
static const char *scenario_value(const char *v, char *buf, size_t len)
{
    size_t n = strlen(v);
    if (n > 4 && strcmp(v + n - 4, "yuan") == 0) {
        snprintf(buf, len, "%.*s00", (int)(n - 4), v);
        return buf;
    }
    if (n > 3 && strcmp(v + n - 3, "fen") == 0) {
        snprintf(buf, len, "%.*s", (int)(n - 3), v);
        return buf;
    }
    return v;
}

/* The household whose latest roster names the person (a roster is the household as of now). */
static hh *household_of(run *r, const char *id)
{
    for (int i = r->nh; i-- > 0;)
        for (int m = 0; m < r->households[i].n; m++)
            if (strcmp(r->households[i].members[m], id) == 0) return &r->households[i];
    return NULL;
}

static msgw_household *record_household(msgw_batch *b, msgw_record *rec, const hh *h, size_t *pcap)
{
    msgw_household *out = msgw_arena_alloc(b->arena, sizeof *out);
    out->id = msgw_arena_strdup(b->arena, h->id);
    out->region = h->region[0] ? msgw_arena_strdup(b->arena, h->region) : NULL;
    out->hukou_type = h->type[0] ? msgw_arena_strdup(b->arena, h->type) : NULL;
    out->members = msgw_arena_alloc(b->arena, (size_t)(h->n + 1) * sizeof *out->members);
    for (int m = 0; m < h->n; m++) {
        memcpy(out->members[m].id_number, h->members[m], 19);
        out->members[m].relationship = msgw_arena_strdup(b->arena, h->rel[m]);
        if (!msgw_record_person(rec, h->members[m])) {
            msgw_person *p = msgw_record_add_person(rec, b->arena, pcap);
            memcpy(p->id_number, h->members[m], 19);
        }
    }
    out->nmembers = (size_t)h->n;
    return out;
}

static void apply_batch(run *r, msgw_batch *b)
{
    msgw_record *rec = b->items[0].record;
    msgw_errors e;
    msgw_errors_init(&e);
    if (!msgw_dict_check_record(tu_ctx()->dict, rec, &e, 0)) {
        char buf[512];
        failf(r, "the scenario's record is invalid: %s", msgw_error_format(&e.v[0], buf, sizeof buf));
        msgw_errors_clear(&e);
        msgw_batch_destroy(&b);
        return;
    }
    msgw_errors_clear(&e);
    msgw_elig_apply(r->elig, rec, r->date, &r->tr, &r->errs);
    msgw_batch_destroy(&r->last);
    r->last = b;
}

static msgw_record *new_record(run *r, msgw_batch **bp, const char *kind, const char *via)
{
    msgw_batch *b = msgw_batch_new();
    msgw_record *rec = msgw_arena_alloc(b->arena, sizeof *rec);
    msgw_batch_add(b, rec, "scenario");
    rec->kind = kind;
    char dept[64] = "test", mid[128];
    snprintf(mid, sizeof mid, "%s:%d", r->file, r->line);
    if (via) {
        const char *colon = strchr(via, ':');
        snprintf(dept, sizeof dept, "%.*s", colon ? (int)(colon - via) : (int)strlen(via), via);
        if (colon) snprintf(mid, sizeof mid, "%s", colon + 1);
    }
    rec->source_department = msgw_arena_strdup(b->arena, dept);
    rec->source_message_id = msgw_arena_strdup(b->arena, mid);
    rec->message_id = msgw_arena_printf(b->arena, "%s:%s", dept, mid);
    *bp = b;
    return rec;
}

static bool parse_date(run *r, const char *s, msgw_date *d)
{
    if (s && msgw_date_parse_iso(s, strlen(s), d)) return true;
    failf(r, "'%s' is not a date", s ? s : "(missing)");
    return false;
}

/* Scenario ID numbers go through the dictionary like any sender's: a wrong check character fails. */
static bool check_id(run *r, const char *id)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_arena *a = msgw_arena_new(0);
    msgw_value v;
    bool ok = msgw_dict_parse(tu_ctx()->dict, msgw_dict_element(tu_ctx()->dict, "id_number"), id, strlen(id), &v, a,
                              &e, 0, "scenario", "ID");
    if (!ok) {
        char buf[512];
        failf(r, "%s: %s", id, msgw_error_format(&e.v[0], buf, sizeof buf));
    }
    msgw_arena_destroy(&a);
    msgw_errors_clear(&e);
    return ok;
}

static void do_person(run *r, char **tok, int n)
{
    if (!check_id(r, tok[1])) return;
    const char *via = NULL;
    for (int i = 2; i + 1 < n; i++)
        if (strcmp(tok[i], "via") == 0) via = tok[i + 1];
    msgw_batch *b;
    msgw_record *rec = new_record(r, &b, "person_registration", via);
    size_t cap = 0;
    msgw_person *p = msgw_record_add_person(rec, b->arena, &cap);
    snprintf(p->id_number, sizeof p->id_number, "%s", tok[1]);
    for (int i = 2; i < n; i++) {
        if (strcmp(tok[i], "via") == 0 && i + 1 < n) i++;
        else if (strcmp(tok[i], "born") == 0 && i + 1 < n) parse_date(r, tok[++i], &p->birth_date);
        else if (strcmp(tok[i], "sex") == 0 && i + 1 < n) p->sex = msgw_arena_strdup(b->arena, tok[++i]);
        else if (strcmp(tok[i], "hukou") == 0 && i + 1 < n) p->hukou_region = msgw_arena_strdup(b->arena, tok[++i]);
        else if (strcmp(tok[i], "residence") == 0 && i + 1 < n) p->residence_region = msgw_arena_strdup(b->arena, tok[++i]);
        else if (strcmp(tok[i], "urban") == 0) p->hukou_type = "1";
        else if (strcmp(tok[i], "rural") == 0) p->hukou_type = "2";
        else failf(r, "person: unknown word '%s'", tok[i]);
    }
    apply_batch(r, b);
}

static void do_household(run *r, char **tok, int n)
{
    hh *h = NULL;
    for (int i = 0; i < r->nh && !h; i++) /* a new roster of a household replaces its last */
        if (strcmp(r->households[i].id, tok[1]) == 0) h = &r->households[i];
    if (!h) h = &r->households[r->nh++];
    memset(h, 0, sizeof *h);
    snprintf(h->id, sizeof h->id, "%s", tok[1]);
    int i = 2;
    for (; i < n && strcmp(tok[i], "members") != 0; i++) {
        if (strcmp(tok[i], "region") == 0 && i + 1 < n) snprintf(h->region, sizeof h->region, "%s", tok[++i]);
        else if (strcmp(tok[i], "urban") == 0) strcpy(h->type, "1");
        else if (strcmp(tok[i], "rural") == 0) strcpy(h->type, "2");
        else failf(r, "household: unknown word '%s'", tok[i]);
    }
    for (i++; i < n && h->n < 16; i++) {
        char *colon = strchr(tok[i], ':');
        if (!colon) {
            failf(r, "household member '%s' must be ID:RELATIONSHIP", tok[i]);
            continue;
        }
        snprintf(h->members[h->n], 19, "%.*s", (int)(colon - tok[i]), tok[i]);
        snprintf(h->rel[h->n], 3, "%s", colon + 1);
        h->n++;
    }
    msgw_batch *b;
    msgw_record *rec = new_record(r, &b, "household_assistance_roster", NULL);
    size_t cap = 0;
    rec->household = record_household(b, rec, h, &cap);
    for (size_t k = 0; k < rec->npersons; k++) {
        rec->persons[k].hukou_region = h->region[0] ? rec->household->region : NULL;
        rec->persons[k].hukou_type = rec->household->hukou_type;
    }
    apply_batch(r, b);
}

/* The first record kind that may carry the fact type, preferring kinds without a household. */
static const char *kind_for(const msgw_dict *d, const char *type, bool *needs_household)
{
    static const char *const kinds[] = {"disability_certificate", "condition", "observation", "pregnancy", "death",
                                        "care_assessment", "orphan_registration", "insurance_enrolment",
                                        "employment_registration", "family_planning_status", "person_registration",
                                        "household_assistance_roster", NULL};
    for (const char *const *k = kinds; *k; k++) {
        const msgw_record_kind *rk = msgw_dict_record_kind(d, *k);
        for (size_t i = 0; rk && i < rk->nfacts; i++)
            if (strcmp(rk->facts[i]->id, type) == 0) {
                *needs_household = rk->needs_household;
                return rk->id;
            }
    }
    return NULL;
}

static void do_fact(run *r, char **tok, int n)
{
    const msgw_dict *d = tu_ctx()->dict;
    bool needs_household = false;
    const char *kind = n > 2 ? kind_for(d, tok[2], &needs_household) : NULL;
    if (!kind) {
        failf(r, "fact: no record kind carries fact type '%s'", n > 2 ? tok[2] : "");
        return;
    }
    if (!check_id(r, tok[1])) return;
    const char *via = NULL;
    for (int i = 3; i < n; i++)
        if (strcmp(tok[i], "via") == 0 && i + 1 < n) via = tok[i + 1];
    msgw_batch *b;
    msgw_record *rec = new_record(r, &b, kind, via);
    size_t pcap = 0, fcap = 0;
    msgw_person *p = msgw_record_add_person(rec, b->arena, &pcap);
    snprintf(p->id_number, sizeof p->id_number, "%s", tok[1]);
    if (needs_household) {
        hh *h = household_of(r, tok[1]), solo;
        if (!h) { /* a household of one, the person its head */
            memset(&solo, 0, sizeof solo);
            snprintf(solo.id, sizeof solo.id, "H-%s", tok[1]);
            snprintf(solo.members[0], 19, "%s", tok[1]);
            strcpy(solo.rel[0], "02");
            solo.n = 1;
            h = &solo;
        }
        rec->household = record_household(b, rec, h, &pcap);
    }
    msgw_fact *f = msgw_record_add_fact(rec, b->arena, &fcap, msgw_dict_fact_type(d, tok[2])->id, tok[1]);
    for (int i = 3; i < n; i++) {
        if (strcmp(tok[i], "via") == 0) {
            i++;
        } else if (strcmp(tok[i], "from") == 0 && i + 1 < n) {
            parse_date(r, tok[++i], &f->valid_from);
        } else if (strcmp(tok[i], "to") == 0 && i + 1 < n) {
            parse_date(r, tok[++i], &f->valid_to);
        } else if (strchr(tok[i], '=')) {
            char *eq = strchr(tok[i], '=');
            *eq = '\0';
            const msgw_element *el = msgw_dict_element(d, tok[i]);
            char vb[64];
            const char *val = scenario_value(eq + 1, vb, sizeof vb);
            msgw_value v;
            if (!el || !msgw_dict_parse(d, el, val, strlen(val), &v, b->arena, &b->errors, 0, "scenario", tok[i])) {
                failf(r, "fact: bad attribute %s=%s", tok[i], eq + 1);
                msgw_batch_destroy(&b);
                return;
            }
            msgw_fact_add_attr(f, b->arena, el->id, v);
        } else {
            failf(r, "fact: unknown word '%s'", tok[i]);
        }
    }
    apply_batch(r, b);
}

/* `json PATH=VALUE`: the explanation's member at the dotted PATH (array elements by index) has VALUE
 * (a string as it is, a number, true, false or null as written in JSON). */
static bool explanation_has(const json_t *x, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq) return false;
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)(eq - spec), spec);
    const json_t *v = x;
    char *save = NULL;
    for (char *k = strtok_r(path, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10)) : json_object_get(v, k);
    if (!v) return false;
    const char *want = eq + 1;
    char got[64];
    if (json_is_string(v)) return strcmp(json_string_value(v), want) == 0;
    if (json_is_integer(v)) snprintf(got, sizeof got, "%lld", (long long)json_integer_value(v));
    else if (json_is_true(v)) snprintf(got, sizeof got, "true");
    else if (json_is_false(v)) snprintf(got, sizeof got, "false");
    else if (json_is_null(v)) snprintf(got, sizeof got, "null");
    else return false;
    return strcmp(got, want) == 0;
}

static bool transition_matches(const msgw_transition *t, char **tok, int n, run *r)
{
    const char *kinds[] = {"NEW", "LOST", "CHANGED"};
    if (strcmp(kinds[t->kind], tok[1]) != 0 || strcmp(t->service->code, tok[2]) != 0 ||
        strcmp(t->person, tok[3]) != 0)
        return false;
    for (int i = 4; i + 1 < n; i += 2) {
        const msgw_verdict *v = t->kind == MSGW_TR_LOST ? &t->before : &t->after;
        if (strcmp(tok[i], "tier") == 0) {
            if (v->tier < 0 || strcmp(t->service->tiers[v->tier].name, tok[i + 1]) != 0) return false;
        } else if (strcmp(tok[i], "amount") == 0) {
            char vb[64];
            const char *fen = scenario_value(tok[i + 1], vb, sizeof vb);
            if (v->amount != strtoll(fen, NULL, 10)) return false;
        } else if (strcmp(tok[i], "since") == 0) {
            msgw_date d;
            if (!parse_date(r, tok[i + 1], &d) || t->after.since != d) return false;
        } else if (strcmp(tok[i], "cause") == 0) {
            if (!strstr(t->text, tok[i + 1])) return false;
        } else if (strcmp(tok[i], "json") == 0) {
            json_t *x = msgw_explanation_json(&t->explanation);
            bool has = explanation_has(x, tok[i + 1]);
            json_decref(x);
            if (!has) return false;
        } else {
            failf(r, "expect: unknown word '%s'", tok[i]);
            return false;
        }
    }
    return true;
}

static void do_expect(run *r, char **tok, int n)
{
    sync_matched(r);
    if (n >= 2 && strcmp(tok[1], "nothing") == 0) {
        const char *only = n >= 4 && strcmp(tok[2], "for") == 0 ? tok[3] : NULL;
        for (size_t i = 0; i < r->tr.n; i++)
            if (!r->matched[i] && (!only || strcmp(r->tr.v[i].service->code, only) == 0)) {
                failf(r, "expected nothing%s%s, got: %s", only ? " for " : "", only ? only : "", r->tr.v[i].text);
                r->matched[i] = true;
            }
        if (!only) /* everything so far is accounted for */
            for (size_t i = 0; i < r->tr.n; i++) r->matched[i] = true;
        return;
    }
    if (n >= 3 && strcmp(tok[1], "error") == 0) {
        bool found = false;
        for (size_t i = r->errs_seen; i < r->errs.n; i++)
            found = found || (r->errs.v[i].location && strncmp(r->errs.v[i].location, tok[2], strlen(tok[2])) == 0);
        if (!found) failf(r, "expected an evaluation error for %s", tok[2]);
        r->errs_seen = r->errs.n;
        return;
    }
    if (n >= 3 && strcmp(tok[1], "no") == 0 && strcmp(tok[2], "error") == 0) {
        const char *only = n >= 5 && strcmp(tok[3], "for") == 0 ? tok[4] : NULL;
        for (size_t i = r->errs_seen; i < r->errs.n; i++)
            if (!only || (r->errs.v[i].location && strncmp(r->errs.v[i].location, only, strlen(only)) == 0))
                failf(r, "expected no evaluation error%s%s, got one at %s", only ? " for " : "", only ? only : "",
                      r->errs.v[i].location ? r->errs.v[i].location : "?");
        r->errs_seen = r->errs.n;
        return;
    }
    if (n < 4) {
        failf(r, "expect needs KIND SERVICE PERSON");
        return;
    }
    for (size_t i = 0; i < r->tr.n; i++)
        if (!r->matched[i] && transition_matches(&r->tr.v[i], tok, n, r)) {
            r->matched[i] = true;
            return;
        }
    failf(r, "expected transition not emitted: %s %s %s ...", tok[1], tok[2], tok[3]);
    dump_transitions(r);
}

static void do_line(run *r, char **tok, int n)
{
    const char *w = tok[0];
    if (strcmp(w, "scenario") == 0) {
        end_scenario(r);
        r->scenario[0] = '\0';
        for (int i = 1; i < n; i++) {
            strncat(r->scenario, tok[i], sizeof r->scenario - strlen(r->scenario) - 2);
            strcat(r->scenario, " ");
        }
        return;
    }
    if (strcmp(w, "catalogue") == 0 && n == 2) {
        msgw_errors e;
        msgw_errors_init(&e);
        char path[4096];
        const char *name = strchr(tok[1], '/') ? tu_path(tok[1], path, sizeof path) : tok[1];
        r->cat = msgw_catalogue_load(tu_ctx()->dict, name, &e);
        if (!r->cat) {
            char buf[512];
            failf(r, "catalogue %s does not load: %s", tok[1], e.n ? msgw_error_format(&e.v[0], buf, sizeof buf) : "?");
        } else {
            r->elig = msgw_elig_new(r->cat);
        }
        msgw_errors_clear(&e);
        return;
    }
    if (!r->elig) {
        failf(r, "'%s' before a loadable catalogue", w);
        return;
    }
    if (strcmp(w, "on") == 0 && n == 2) parse_date(r, tok[1], &r->date);
    else if (strcmp(w, "person") == 0 && n >= 2) do_person(r, tok, n);
    else if (strcmp(w, "household") == 0 && n >= 3) do_household(r, tok, n);
    else if (strcmp(w, "fact") == 0 && n >= 3) do_fact(r, tok, n);
    else if (strcmp(w, "expect") == 0) do_expect(r, tok, n);
    else if (strcmp(w, "sweep") == 0) msgw_elig_sweep(r->elig, r->date, &r->tr, &r->errs);
    else if (strcmp(w, "replay") == 0 && r->last) msgw_elig_apply(r->elig, r->last->items[0].record, r->date, &r->tr, &r->errs);
    else if (strcmp(w, "ignore") == 0) r->ignore_others = true;
    else if (strcmp(w, "savepoint") == 0) msgw_elig_begin(r->elig);
    else if (strcmp(w, "rollback") == 0) msgw_elig_rollback(r->elig);
    else if (strcmp(w, "release") == 0) msgw_elig_release(r->elig);
    else if (strcmp(w, "held") == 0 && n == 3) { /* held PERSON N: the engine holds N facts of them */
        json_t *pj = msgw_elig_person_json(r->elig, tok[1], r->date);
        json_int_t held = pj ? json_integer_value(json_object_get(pj, "facts_held")) : -1;
        if (held != strtoll(tok[2], NULL, 10)) failf(r, "held %s: %lld facts, expected %s", tok[1], (long long)held, tok[2]);
        json_decref(pj);
    }
    else if (strcmp(w, "overlay") == 0 && n == 2) {
        msgw_errors e;
        msgw_errors_init(&e);
        char path[4096];
        if (!msgw_catalogue_overlay(r->cat, tu_path(tok[1], path, sizeof path), &e)) {
            char buf[512];
            failf(r, "overlay %s: %s", tok[1], e.n ? msgw_error_format(&e.v[0], buf, sizeof buf) : "?");
        }
        msgw_errors_clear(&e);
    }
    else if (strcmp(w, "param") == 0 && n == 6) {
        msgw_date from;
        int64_t value;
        msgw_errors e;
        msgw_errors_init(&e);
        int pidx = msgw_rule_env_param_find(r->cat->env, tok[1]);
        msgw_rtype ptype = pidx >= 0 ? r->cat->params[pidx].type : MSGW_RT_MONEY;
        if (!msgw_rule_parse_literal(ptype, tok[5], &value)) failf(r, "param %s: bad value %s", tok[1], tok[5]);
        else if (parse_date(r, tok[3], &from))
            if (!msgw_elig_param_change(r->elig, r->cat, tok[1], from, value, "scenario", r->date, &r->tr, &r->errs))
                failf(r, "param %s: not a parameter of the catalogue", tok[1]);
        msgw_errors_clear(&e);
    } else failf(r, "cannot read this line");
}

/* Splits a line at blanks; "a quoted text" is one word (without its quotes). */
static int tokenize(char *line, char **tok, int max)
{
    int n = 0;
    for (char *p = line; *p && n < max;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        bool quoted = *p == '"';
        if (quoted) p++;
        tok[n++] = p;
        while (*p && (quoted ? *p != '"' : (*p != ' ' && *p != '\t' && *p != '\r'))) p++;
        if (*p) *p++ = '\0';
    }
    return n;
}

static void read_id(void *ud, const char *message_id)
{
    *(size_t *)ud += strlen(message_id);
}

/* Compacts, then reads every provenance id the state holds: one left pointing into the old arena
 * is a heap-use-after-free under ASan. */
static void compact(run *r)
{
    assert_true(msgw_elig_compact(r->elig));
    size_t bytes = 0;
    msgw_elig_each_live_record(r->elig, r->date, read_id, &bytes);
    assert_true(bytes < SIZE_MAX);
}

static void run_file(void **state)
{
    const scn_file *sf = *state;
    const char *name = sf->name;
    char rel[512];
    snprintf(rel, sizeof rel, "tests/scenarios/%s", name);
    size_t len;
    char *text = tu_read_file(rel, &len);
    run r;
    memset(&r, 0, sizeof r);
    r.file = name;
    r.compact_each = sf->compact_each;
    msgw_transitions_init(&r.tr);
    msgw_errors_init(&r.errs);
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        r.line++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *tok[64];
        int n = tokenize(line, tok, 64);
        if (n) do_line(&r, tok, n);
        if (r.compact_each && r.elig && !msgw_elig_savepoints(r.elig)) compact(&r);
    }
    end_scenario(&r);
    free(text);
    assert_int_equal(r.failures, 0);
}

int main(void)
{
    char dir[4096];
    tu_path("tests/scenarios", dir, sizeof dir);
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    struct CMUnitTest *tests = calloc(512, sizeof *tests);
    scn_file files[512];
    size_t n = 0;
    for (struct dirent *de; (de = readdir(dp)) && n < 512;) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".scn") != 0) continue;
        for (int compact = 0; compact < 2; compact++) {
            files[n] = (scn_file){.name = strdup(de->d_name), .compact_each = compact};
            char *title = NULL;
            if (compact && asprintf(&title, "%s compacted", files[n].name) < 0) abort();
            tests[n].name = compact ? title : files[n].name;
            tests[n].test_func = run_file;
            tests[n].initial_state = &files[n];
            n++;
        }
    }
    closedir(dp);
    int rc = _cmocka_run_group_tests("scenarios", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (files[i].compact_each) free((char *)tests[i].name);
        free(files[i].name);
    }
    free(tests);
    tu_ctx_free();
    return rc;
}
