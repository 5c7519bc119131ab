/*
 * Value and record checks against the dictionary: the C validators.  Each
 * failure is one located error naming the sender's field and a stable rule
 * id, so a department engineer can find and fix it.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/model/dict.h"
#include "msgw/base/idnum.h"
#include "msgw/base/text.h"

#define ERR(...) msgw_error_add(e, rec, loc, field, __VA_ARGS__)

static const char *fname(const msgw_element *el, const char *field)
{
    return field ? field : el->id;
}

/* Quotes at most 40 bytes of a bad value so an error never echoes a whole document. */
static void quote(char *out, size_t outlen, const char *s, size_t len)
{
    size_t n = len < 40 ? len : 40;
    n = msgw_utf8_valid_prefix(s, n);
    snprintf(out, outlen, "\"%.*s\"%s", (int)n, s, n < len ? "..." : "");
}

/*
 * Whether an ID number's address code starts with a province-level code: one GB/T 2260 has (the
 * dictionary's region list, retired codes included: a county code retired since the number was
 * issued stays valid, its province does not change), or 83, the address code of the residence
 * permits of Taiwan residents (港澳台居民居住证: 810000, 820000, 830000), which GB/T 2260 does
 * not list.
 */
static bool province_known(const msgw_dict *d, const char id[18])
{
    if (id[0] == '8' && id[1] == '3') return true;
    const msgw_codelist *regions = msgw_dict_codelist(d, "region");
    if (!regions) return true; /* a test dictionary without the region list */
    char province[7] = {id[0], id[1], '0', '0', '0', '0', 0};
    return msgw_codelist_find(regions, province, 6) != NULL;
}

static bool parse_idnum(const msgw_dict *d, const msgw_element *el, const char *s, size_t len,
                        msgw_value *out, msgw_arena *a, msgw_errors *e, int rec, const char *loc,
                        const char *field)
{
    char id[19], want = 0, found = 0, q[64];
    field = fname(el, field);
    switch (msgw_idnum_normalize(s, len, id, &want, &found)) {
    case MSGW_IDNUM_OK: break;
    case MSGW_IDNUM_CONVERTED:
        msgw_warning_add(e, rec, loc, field, "gb11643.legacy_converted",
                         "legacy 15-digit number converted to 18 characters (%.6s...)", id);
        break;
    case MSGW_IDNUM_LENGTH:
        quote(q, sizeof q, s, len);
        ERR("gb11643.length", "should be 18 characters (or a legacy 15-digit number), found %zu: %s",
            len, q);
        return false;
    case MSGW_IDNUM_SYNTAX:
        ERR("gb11643.syntax", "must be 17 digits and a digit or X (address code not starting with 0)");
        return false;
    case MSGW_IDNUM_DATE:
        ERR("gb11643.birth_date", "birth date %.8s in positions 7-14 is not a real calendar date",
            len == 18 ? s + 6 : "(legacy)");
        return false;
    case MSGW_IDNUM_FUTURE:
        ERR("gb11643.birth_date", "birth date in positions 7-14 is in the future");
        return false;
    case MSGW_IDNUM_CHECK:
        ERR("gb11643.check_character", "check character should be %c, found %c", want, found);
        return false;
    }
    if (!province_known(d, id)) {
        ERR("gb11643.province",
            "address code %.6s in positions 1-6: %.2s is not a province-level code of GB/T 2260",
            id, id);
        return false;
    }
    out->kind = MSGW_V_STRING;
    out->u.s = msgw_arena_strndup(a, id, 18);
    return true;
}

static bool parse_certno(const msgw_element *el, const char *s, size_t len, msgw_value *out,
                         msgw_arena *a, msgw_errors *e, int rec, const char *loc, const char *field)
{
    field = fname(el, field);
    if (len != 20) {
        ERR("certificate.format", "disability certificate number must be 20 characters "
                                  "(ID number + category + grade), found %zu",
            len);
        return false;
    }
    char id[19], want = 0, found = 0;
    msgw_idnum_status st = msgw_idnum_normalize(s, 18, id, &want, &found);
    if (st == MSGW_IDNUM_CHECK) {
        ERR("certificate.format", "first 18 characters are not a valid ID number: check "
                                  "character should be %c, found %c",
            want, found);
        return false;
    }
    if (st != MSGW_IDNUM_OK) {
        ERR("certificate.format", "first 18 characters are not a valid resident ID number");
        return false;
    }
    if (s[18] < '1' || s[18] > '7' || s[19] < '1' || s[19] > '4') {
        ERR("certificate.format", "characters 19-20 must be a category 1-7 and a grade 1-4, "
                                  "found %c%c",
            s[18], s[19]);
        return false;
    }
    char *v = msgw_arena_strndup(a, s, 20);
    memcpy(v, id, 18); /* normalises a lower-case x */
    out->kind = MSGW_V_STRING;
    out->u.s = v;
    return true;
}

static bool parse_code(const msgw_element *el, const char *s, size_t len, msgw_value *out,
                       msgw_errors *e, int rec, const char *loc, const char *field)
{
    char q[64];
    field = fname(el, field);
    const msgw_code *c = msgw_codelist_find(el->codes, s, len);
    if (!c) {
        quote(q, sizeof q, s, len);
        ERR("code.member", "%s is not a code of %s (%s)", q, el->codes->id,
            el->codes->standard ? el->codes->standard : "msgw");
        return false;
    }
    if (el->levels && c->level) {
        bool ok = false;
        for (const char *const *l = el->levels; *l; l++) ok = ok || strcmp(*l, c->level) == 0;
        if (!ok) {
            ERR("code.level", "%s (%s) is a %s-level code; %s needs one of level %s", c->code,
                c->label ? c->label : "", c->level, el->id, el->levels[0]);
            return false;
        }
    }
    if (c->warning) msgw_warning_add(e, rec, loc, field, "code.warning", "%s", c->warning);
    out->kind = MSGW_V_CODE;
    out->u.s = c->code; /* interned: lives as long as the dictionary */
    return true;
}

static bool parse_int_text(const char *s, size_t len, int64_t *v)
{
    if (len == 0 || len > 19) return false;
    size_t i = s[0] == '-' ? 1 : 0;
    if (i == len) return false;
    int64_t acc = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        acc = acc * 10 + (s[i] - '0');
    }
    *v = s[0] == '-' ? -acc : acc;
    return true;
}

bool msgw_dict_check_int(const msgw_element *el, int64_t v, msgw_errors *e, int rec,
                         const char *loc, const char *field)
{
    field = fname(el, field);
    if (v < el->min || v > el->max) {
        if (el->type == MSGW_TY_MONEY)
            ERR("range", "%lld fen is outside %lld..%lld fen", (long long)v, (long long)el->min,
                (long long)el->max);
        else
            ERR("range", "%lld is outside %lld..%lld", (long long)v, (long long)el->min,
                (long long)el->max);
        return false;
    }
    return true;
}

static bool check_string(const msgw_element *el, const char *s, size_t len, msgw_errors *e,
                         int rec, const char *loc, const char *field)
{
    field = fname(el, field);
    size_t valid = msgw_utf8_valid_prefix(s, len);
    if (valid != len) {
        ERR("text.utf8", "invalid UTF-8 at byte %zu of the value", valid);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
            ERR("text.control", "control character 0x%02x in text", (unsigned)s[i]);
            return false;
        }
    size_t chars = msgw_utf8_strlen(s, len);
    if ((el->min != INT64_MIN && (int64_t)chars < el->min) ||
        (el->max != INT64_MAX && (int64_t)chars > el->max)) {
        ERR("length", "%zu characters, must be %lld..%lld", chars, (long long)el->min,
            (long long)el->max);
        return false;
    }
    if (el->regex) {
        char *z = strndup(s, len);
        int m = z ? regexec(el->regex, z, 0, NULL, 0) : REG_NOMATCH;
        free(z);
        if (m != 0) {
            char q[64];
            quote(q, sizeof q, s, len);
            ERR("pattern", "%s does not match %s", q, el->pattern);
            return false;
        }
    }
    return true;
}

bool msgw_dict_parse(const msgw_dict *d, const msgw_element *el, const char *s, size_t len,
                     msgw_value *out, msgw_arena *a, msgw_errors *e, int rec, const char *loc,
                     const char *field)
{
    char q[64];
    switch (el->type) {
    case MSGW_TY_IDNUM: return parse_idnum(d, el, s, len, out, a, e, rec, loc, field);
    case MSGW_TY_CERTNO: return parse_certno(el, s, len, out, a, e, rec, loc, field);
    case MSGW_TY_CODE: return parse_code(el, s, len, out, e, rec, loc, field);
    case MSGW_TY_DATE:
        if (!msgw_date_parse_iso(s, len, &out->u.d)) {
            field = fname(el, field);
            quote(q, sizeof q, s, len);
            bool shaped = len == 10 && s[4] == '-' && s[7] == '-';
            ERR(shaped ? "date.calendar" : "date.format",
                shaped ? "%s is not a real calendar date" : "%s is not a date YYYY-MM-DD", q);
            return false;
        }
        out->kind = MSGW_V_DATE;
        return true;
    case MSGW_TY_INT:
    case MSGW_TY_MONEY:
        if (!parse_int_text(s, len, &out->u.i)) {
            field = fname(el, field);
            quote(q, sizeof q, s, len);
            ERR(el->type == MSGW_TY_MONEY ? "money.format" : "int.format",
                el->type == MSGW_TY_MONEY ? "%s is not an integer amount in fen"
                                          : "%s is not an integer",
                q);
            return false;
        }
        out->kind = el->type == MSGW_TY_MONEY ? MSGW_V_MONEY : MSGW_V_INT;
        return msgw_dict_check_int(el, out->u.i, e, rec, loc, field);
    case MSGW_TY_BOOL:
        if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 1 && s[0] == '1'))
            out->u.b = true;
        else if ((len == 5 && memcmp(s, "false", 5) == 0) || (len == 1 && s[0] == '0'))
            out->u.b = false;
        else {
            field = fname(el, field);
            ERR("bool.format", "must be true or false");
            return false;
        }
        out->kind = MSGW_V_BOOL;
        return true;
    case MSGW_TY_STRING:
        if (!check_string(el, s, len, e, rec, loc, field)) return false;
        out->kind = MSGW_V_STRING;
        out->u.s = msgw_arena_strndup(a, s, len);
        return true;
    }
    return false;
}

bool msgw_dict_check_value(const msgw_dict *d, const msgw_element *el, const msgw_value *v,
                           msgw_errors *e, int rec, const char *loc, const char *field)
{
    switch (el->type) {
    case MSGW_TY_INT:
    case MSGW_TY_MONEY:
        if (v->kind != (el->type == MSGW_TY_MONEY ? MSGW_V_MONEY : MSGW_V_INT)) break;
        return msgw_dict_check_int(el, v->u.i, e, rec, loc, field);
    case MSGW_TY_DATE:
        if (v->kind != MSGW_V_DATE || v->u.d == MSGW_DATE_NONE) break;
        return true;
    case MSGW_TY_BOOL:
        if (v->kind != MSGW_V_BOOL) break;
        return true;
    default: {
        if (v->kind != MSGW_V_STRING && v->kind != MSGW_V_CODE) break;
        /* Re-parse the text form: one set of rules for all entry points. */
        msgw_value tmp;
        msgw_arena *a = msgw_arena_new(256);
        bool ok = msgw_dict_parse(d, el, v->u.s, strlen(v->u.s), &tmp, a, e, rec, loc, field);
        msgw_arena_destroy(&a);
        return ok;
    }
    }
    msgw_error_add(e, rec, loc, fname(el, field), "type", "value has the wrong type for %s",
                   el->id);
    return false;
}

/* ---- record-level rules ---- */

/*
 * Sorted ID numbers of a record's persons: membership and duplicates in
 * O(n log n), since a roster household or a batch record may name
 * thousands of people and pairwise checks would be quadratic.
 */
typedef struct id_index {
    const char **ids;
    size_t n;
} id_index;

static int cmp_idp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static id_index id_index_of_persons(const msgw_record *r)
{
    id_index ix = {calloc(r->npersons + 1, sizeof(char *)), r->npersons};
    if (!ix.ids) abort();
    for (size_t i = 0; i < r->npersons; i++) ix.ids[i] = r->persons[i].id_number;
    qsort(ix.ids, ix.n, sizeof *ix.ids, cmp_idp);
    return ix;
}

static bool id_index_has(const id_index *ix, const char *id)
{
    return bsearch(&id, ix->ids, ix->n, sizeof *ix->ids, cmp_idp) != NULL;
}

static bool fact_type_allowed(const msgw_record_kind *k, const char *type)
{
    for (size_t i = 0; i < k->nfacts; i++)
        if (strcmp(k->facts[i]->id, type) == 0) return true;
    return false;
}

static void check_person(const msgw_person *p, msgw_errors *e, int rec)
{
    const char *loc = p->loc;
    if (p->birth_date != MSGW_DATE_NONE && p->birth_date != msgw_idnum_birth_date(p->id_number)) {
        char b[11];
        msgw_error_add(e, rec, loc, "birth_date", "person.birth_date_agrees",
                       "birth date %s disagrees with ID number %.6s********%.4s (positions 7-14)",
                       msgw_date_format(p->birth_date, b), p->id_number, p->id_number + 14);
    }
    if (p->sex && (strcmp(p->sex, "1") == 0 || strcmp(p->sex, "2") == 0) &&
        (p->sex[0] - '0') != msgw_idnum_sex(p->id_number))
        msgw_error_add(e, rec, loc, "sex", "person.sex_agrees",
                       "sex %s disagrees with the ID number's sequence digit (odd = male)", p->sex);
}

static void check_certificate(const msgw_fact *f, msgw_errors *e, int rec)
{
    const msgw_attr *no = msgw_fact_attr(f, "disability_certificate_no");
    const msgw_attr *cat = msgw_fact_attr(f, "disability_category");
    const msgw_attr *grade = msgw_fact_attr(f, "disability_grade");
    if (!no || no->v.kind != MSGW_V_STRING || strlen(no->v.u.s) != 20) return;
    const char *n = no->v.u.s;
    if (memcmp(n, f->subject, 18) != 0)
        msgw_error_add(e, rec, f->loc, "disability_certificate_no", "certificate.agrees",
                       "certificate number %.6s...%.4s does not start with the holder's ID "
                       "number %.6s********%.4s",
                       n, n + 16, f->subject, f->subject + 14);
    if (cat && cat->v.u.s && (cat->v.u.s[0] != n[18] || cat->v.u.s[1]))
        msgw_error_add(e, rec, f->loc, "disability_category", "certificate.agrees",
                       "certificate number says category %c, the record says %s", n[18],
                       cat->v.u.s);
    if (grade && grade->v.u.s && (grade->v.u.s[0] != n[19] || grade->v.u.s[1]))
        msgw_error_add(e, rec, f->loc, "disability_grade", "certificate.agrees",
                       "certificate number says grade %c, the record says %s", n[19],
                       grade->v.u.s);
}

static void check_fact(const msgw_dict *d, const id_index *persons, const msgw_record_kind *k,
                       const msgw_fact *f, msgw_errors *e, int rec)
{
    const msgw_fact_type *ft = f->type ? msgw_dict_fact_type(d, f->type) : NULL;
    if (!ft) {
        msgw_error_add(e, rec, f->loc, "type", "fact.type", "unknown fact type %s",
                       f->type ? f->type : "(none)");
        return;
    }
    if (k && !fact_type_allowed(k, f->type))
        msgw_error_add(e, rec, f->loc, "type", "record.fact_type",
                       "a %s record cannot carry a %s fact", k->id, f->type);
    if (f->subject[0] && !id_index_has(persons, f->subject))
        msgw_error_add(e, rec, f->loc, "subject", "fact.subject",
                       "fact about %.6s********%.4s, who is not among the record's persons",
                       f->subject, f->subject + 14);
    for (size_t i = 0; i < ft->nattrs; i++)
        if (ft->required[i] && !msgw_fact_attr(f, ft->attrs[i]->id))
            msgw_error_add(e, rec, f->loc, ft->attrs[i]->id, "fact.required",
                           "a %s fact needs %s (%s)", ft->id, ft->attrs[i]->id,
                           ft->attrs[i]->label ? ft->attrs[i]->label : "");
    for (size_t i = 0; i < f->nattrs; i++) {
        bool known = false;
        for (size_t j = 0; j < ft->nattrs && !known; j++)
            known = strcmp(ft->attrs[j]->id, f->attrs[i].name) == 0;
        if (!known)
            msgw_error_add(e, rec, f->loc, f->attrs[i].name, "fact.attribute",
                           "a %s fact has no attribute %s", ft->id, f->attrs[i].name);
    }
    if (f->valid_from != MSGW_DATE_NONE && f->valid_to != MSGW_DATE_NONE &&
        f->valid_to < f->valid_from) {
        char a[11], b[11];
        msgw_error_add(e, rec, f->loc, "valid_to", "period.order", "period ends %s before it starts %s",
                       msgw_date_format(f->valid_to, a), msgw_date_format(f->valid_from, b));
    }
    if (strcmp(f->type, "disability") == 0) check_certificate(f, e, rec);
}

static void check_household(const msgw_record *r, const id_index *persons, msgw_errors *e, int rec)
{
    const msgw_household *h = r->household;
    size_t heads = 0;
    id_index members = {calloc(h->nmembers + 1, sizeof(char *)), h->nmembers};
    if (!members.ids) abort();
    for (size_t i = 0; i < h->nmembers; i++) {
        const msgw_member *m = &h->members[i];
        members.ids[i] = m->id_number;
        if (m->relationship &&
            (strcmp(m->relationship, "02") == 0 || strcmp(m->relationship, "01") == 0))
            heads++;
        if (!id_index_has(persons, m->id_number))
            msgw_error_add(e, rec, h->loc, "members", "household.member_person",
                           "member %.6s********%.4s has no person entry", m->id_number,
                           m->id_number + 14);
    }
    qsort(members.ids, members.n, sizeof *members.ids, cmp_idp);
    for (size_t i = 1; i < members.n; i++)
        if (strcmp(members.ids[i - 1], members.ids[i]) == 0 &&
            (i + 1 == members.n || strcmp(members.ids[i], members.ids[i + 1]) != 0))
            msgw_error_add(e, rec, h->loc, "members", "household.duplicate_member",
                           "member %.6s********%.4s is listed twice", members.ids[i], members.ids[i] + 14);
    free(members.ids);
    if (heads != 1)
        msgw_error_add(e, rec, h->loc, "family_relationship", "household.head",
                       "a household needs exactly one head (relationship 02 户主 or 01 本人), "
                       "found %zu",
                       heads);
}

bool msgw_dict_check_record(const msgw_dict *d, const msgw_record *r, msgw_errors *e, int rec)
{
    size_t before = e->nerrors;
    const msgw_record_kind *k = r->kind ? msgw_dict_record_kind(d, r->kind) : NULL;
    if (!k)
        msgw_error_add(e, rec, r->loc, "kind", "record.kind", "unknown record kind %s",
                       r->kind ? r->kind : "(none)");
    if (r->npersons == 0)
        msgw_error_add(e, rec, r->loc, "persons", "record.persons", "a record names at least one person");
    id_index persons = id_index_of_persons(r);
    for (size_t i = 0; i < r->npersons; i++) check_person(&r->persons[i], e, rec);
    for (size_t i = 1; i < persons.n; i++)
        if (strcmp(persons.ids[i - 1], persons.ids[i]) == 0 &&
            (i + 1 == persons.n || strcmp(persons.ids[i], persons.ids[i + 1]) != 0)) {
            const msgw_person *p = msgw_record_person(r, persons.ids[i]);
            msgw_error_add(e, rec, p ? p->loc : r->loc, "id_number", "record.duplicate_person",
                           "person %.6s********%.4s appears twice", persons.ids[i], persons.ids[i] + 14);
        }
    if (k && k->needs_household && !r->household)
        msgw_error_add(e, rec, r->loc, "household", "record.household",
                       "a %s record needs a household", k->id);
    if (r->household) check_household(r, &persons, e, rec);
    for (size_t i = 0; i < r->nfacts; i++) check_fact(d, &persons, k, &r->facts[i], e, rec);
    free(persons.ids);
    return e->nerrors == before;
}
