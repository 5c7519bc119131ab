/*
 * FHIR R4 JSON -> canonical records.
 *
 * A document is a Bundle (transaction, batch, searchset, collection) or one
 * resource.  Patients are decoded first, because a Condition may refer to a
 * Patient that comes later in the Bundle; then every entry is mapped in
 * document order, so record indexes follow the sender's entry order.
 *
 * msgw keys people by the resident ID number, so a Patient without one (an
 * identifier of type v2-0203 "NI" or of the configured system) cannot become
 * a person, and everything that refers to it is rejected saying why.  Real
 * FHIR carries far more than msgw maps: unmapped resource types are skipped
 * with one warning each, unmapped elements with one warning per element name
 * and resource type (counted, first location given), and a Bundle ends with a
 * summary of what was mapped, rejected and skipped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_internal.h"
#include "msgw/base/idmap.h"
#include "msgw/base/date.h"
#include "msgw/model/dict.h"
#include "msgw/validate/jsonschema.h"
#include "msgw/model/model.h"
#include "msgw/base/text.h"

#define DEFAULT_MAX_DEPTH 64
#define MAX_SKIP_KINDS 64 /* distinct skipped types/elements reported per document */

/* A Patient of the document, decoded before anything refers to it. */
typedef struct patient {
    size_t entry;         /* its entry index (SIZE_MAX: contained) */
    const char *full_url; /* Bundle entry fullUrl, may be NULL */
    const char *id;       /* resource id, may be NULL */
    const char *label;    /* "Patient/example" for messages */
    const char *ptr;      /* JSON pointer of the resource */
    bool keyed;           /* a valid resident ID number was found */
    bool failed;          /* decoding it produced errors */
    const char *no_key_why;
    msgw_person person;
    struct residence {
        const char *region;
        msgw_date from, to;
        const char *loc;
    } *res;
    size_t nres;
    bool deceased;
    msgw_date death_date;
    const char *death_loc;
    msgw_errors errs; /* moved to its record when its entry is reached */
} patient;

/* How often one kind of thing was skipped, and where first. */
typedef struct skip_count {
    const char *what; /* "MedicationRequest" or "Observation.referenceRange" */
    const char *first;
    size_t n;
} skip_count;

/* An Observation 11778-8 that may give a pregnancy its expected delivery date. */
typedef struct edd_obs {
    size_t entry;
    const patient *pat;
    msgw_date date;
    size_t claimed_by; /* entry of the pregnancy that takes it, SIZE_MAX: none */
} edd_obs;

typedef struct dec {
    const msgw_adapter_ctx *ctx;
    msgw_batch *out;
    msgw_arena *a;
    struct {
        const msgw_element *id, *name, *sex, *birth, *ethnic, *marital, *hukou_region,
            *hukou_type, *residence_region, *death_date, *cond_code, *cond_cat, *clinical,
            *obs_code, *obs_value, *preg_status, *edd;
    } el;
    fhir_icd_table icd;
    bool icd_ok;
    json_t *root;
    json_t **res;       /* resource of each entry (NULL if none) */
    const char **ptrs;  /* JSON pointer of each entry's resource */
    msgw_errors *schema; /* schema errors per entry */
    size_t nentries;
    patient *pats;
    size_t npats;
    long *pat_of_entry;      /* entry index -> index in pats, -1 */
    const char **urls;       /* each entry's fullUrl (NULL: none, or not a Bundle) */
    size_t cur_entry;        /* the entry whose references are being resolved (SIZE_MAX: none) */
    msgw_idmap *pat_by_url;  /* fullUrl (without /_history/N) -> index in pats */
    msgw_idmap *pat_by_id;   /* Patient.id -> index in pats, PAT_AMBIGUOUS when several have it */
    edd_obs *edds;
    size_t nedds;
    skip_count types[MAX_SKIP_KINDS], elems[MAX_SKIP_KINDS];
    size_t ntypes, nelems;
    size_t mapped, rejected, skipped;
    size_t skip_warnings_left_out; /* per-resource skip warnings not added (error list full) */
    bool records_full;
} dec;

/* ---- small helpers ---------------------------------------------------- */

/* A resource msgw does not record: its problems cannot reject anything, so they become warnings. */
static void drop_resource(dec *d, const char *type, msgw_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        msgw_errors_add(&d->out->errors, MSGW_SEV_WARNING, -1, e->v[i].location, e->v[i].field,
                        e->v[i].rule, "%s%s%s%s", e->v[i].message ? e->v[i].message : "",
                        e->v[i].severity == MSGW_SEV_ERROR ? " (ignored: this " : "",
                        e->v[i].severity == MSGW_SEV_ERROR ? type : "",
                        e->v[i].severity == MSGW_SEV_ERROR ? " is not recorded)" : "");
    msgw_errors_clear(e);
}

static char *ptr_join(msgw_arena *a, const char *base, const char *key)
{
    /* RFC 6901: "~" and "/" in a member name are escaped. */
    size_t n = strlen(key), extra = 0;
    for (size_t i = 0; i < n; i++) extra += key[i] == '~' || key[i] == '/';
    char *esc = msgw_arena_alloc(a, n + extra + 1), *p = esc;
    for (size_t i = 0; i < n; i++) {
        if (key[i] == '~') *p++ = '~', *p++ = '0';
        else if (key[i] == '/') *p++ = '~', *p++ = '1';
        else *p++ = key[i];
    }
    return msgw_arena_printf(a, "%s/%s", base, esc);
}

static char *ptr_index(msgw_arena *a, const char *base, size_t i)
{
    return msgw_arena_printf(a, "%s/%zu", base, i);
}

/* The root resource's own pointer is "" (RFC 6901); people read "/" better. */
static const char *loc_of(const char *ptr)
{
    return *ptr ? ptr : "/";
}

static const json_t *jget(const json_t *o, const char *key)
{
    return json_is_object(o) ? json_object_get(o, key) : NULL;
}

static const json_t *coding_array(const json_t *concept)
{
    const json_t *c = jget(concept, "coding");
    return json_is_array(c) ? c : NULL;
}

/* The first coding of a CodeableConcept with this system (NULL system: any). */
static const json_t *find_coding(const json_t *concept, const char *system, size_t *index)
{
    const json_t *codings = coding_array(concept), *c;
    size_t i;
    json_array_foreach(codings, i, c) {
        const char *sys = fhir_str(c, "system");
        if (fhir_str(c, "code") && (!system || (sys && strcmp(sys, system) == 0))) {
            if (index) *index = i;
            return c;
        }
    }
    return NULL;
}

/* "system code 'display'" of every coding, for messages that say what was sent instead. */
static const char *describe_codings(msgw_arena *a, const json_t *concept)
{
    const json_t *codings = coding_array(concept), *c;
    size_t i;
    char *s = msgw_arena_strdup(a, "");
    json_array_foreach(codings, i, c) {
        if (i == 3) {
            s = msgw_arena_printf(a, "%s, ...", s);
            break;
        }
        const char *sys = fhir_str(c, "system"), *code = fhir_str(c, "code");
        const char *disp = fhir_str(c, "display");
        s = msgw_arena_printf(a, "%s%s%s %s%s%s%s", s, i ? ", " : "", sys ? sys : "(no system)",
                              code ? code : "(no code)", disp ? " '" : "", disp ? disp : "",
                              disp ? "'" : "");
    }
    if (!*s) {
        const char *text = fhir_str(concept, "text");
        return text ? msgw_arena_printf(a, "only the text '%s'", text) : "nothing";
    }
    return s;
}

static void note_skip(dec *d, skip_count *tab, size_t *n, const char *what, const char *where)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(tab[i].what, what) == 0) {
            tab[i].n++;
            return;
        }
    if (*n == MAX_SKIP_KINDS) return;
    tab[*n] = (skip_count){msgw_arena_strdup(d->a, what), msgw_arena_strdup(d->a, where), 1};
    (*n)++;
}

/* Unmapped members of a mapped resource: listed once per document, so 340 alike stay readable. */
static void note_unmapped_members(dec *d, const json_t *res, const char *rtype, const char *ptr,
                                  const char *const *mapped)
{
    static const char *const always[] = {"resourceType", "id", "meta", "text", "implicitRules",
                                         "language", "contained", "extension", NULL};
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)res, key, v) {
        bool known = false;
        for (const char *const *m = always; *m && !known; m++) known = strcmp(*m, key) == 0;
        for (const char *const *m = mapped; *m && !known; m++) known = strcmp(*m, key) == 0;
        if (!known)
            note_skip(d, d->elems, &d->nelems, msgw_arena_printf(d->a, "%s.%s", rtype, key),
                      ptr_join(d->a, ptr, key));
    }
    const json_t *exts = jget(res, "extension"), *x;
    size_t i;
    json_array_foreach(exts, i, x) {
        const char *url = fhir_str(x, "url");
        if (url && strncmp(url, FHIR_EXT_PREFIX, strlen(FHIR_EXT_PREFIX)) == 0) continue;
        note_skip(d, d->elems, &d->nelems,
                  msgw_arena_printf(d->a, "%s.extension(%s)", rtype, url ? url : "no url"),
                  ptr_index(d->a, ptr_join(d->a, ptr, "extension"), i));
    }
}

static const json_t *find_extension(const json_t *res, const char *url, size_t *index)
{
    const json_t *exts = jget(res, "extension"), *x;
    size_t i;
    json_array_foreach(exts, i, x) {
        const char *u = fhir_str(x, "url");
        if (u && strcmp(u, url) == 0) {
            if (index) *index = i;
            return x;
        }
    }
    return NULL;
}

/* Parses one textual value with the dictionary; false (and an error in e) when it is bad. */
static bool parse_value(dec *d, const msgw_element *el, const char *text, msgw_value *v,
                        msgw_errors *e, const char *loc, const char *field)
{
    return msgw_dict_parse(d->ctx->dict, el, text, strlen(text), v, d->a, e, -1, loc, field);
}

/*
 * The calendar date of a FHIR date or dateTime as the sender wrote it (the
 * local date of "2012-05-24T23:30:00+08:00" is the 24th).  A partial date
 * ("2012", "2012-05") is legal FHIR but no day: *out stays MSGW_DATE_NONE and
 * a warning says so.  Returns false only for text that is no date at all.
 */
static bool parse_fhir_date(dec *d, const char *s, msgw_date *out, msgw_errors *e, const char *loc,
                            const char *field)
{
    *out = MSGW_DATE_NONE;
    size_t n = strlen(s);
    if (n >= 10 && (n == 10 || s[10] == 'T') && msgw_date_parse_iso(s, 10, out)) return true;
    bool partial = (n == 4 || n == 7);
    for (size_t i = 0; partial && i < n; i++)
        partial = (i == 4) ? s[i] == '-' : (s[i] >= '0' && s[i] <= '9');
    if (partial) {
        msgw_warning_add(e, -1, loc, field, "fhir.date.partial",
                         "%s is only a year or month: msgw records whole days, so this date is "
                         "left open",
                         s);
        return true;
    }
    msgw_error_add(e, -1, loc, field, "fhir.date",
                   "'%s' is not a FHIR date (YYYY-MM-DD, optionally followed by Thh:mm:ss and a "
                   "zone) or names a day that does not exist",
                   s);
    return false;
}

static msgw_record *new_record(dec *d, const char *kind, const char *loc)
{
    msgw_record *r = msgw_arena_alloc(d->a, sizeof *r);
    r->kind = kind;
    r->source_department = "health";
    r->loc = loc;
    return r;
}

static void add_person(dec *d, msgw_record *r, const msgw_person *p)
{
    size_t cap = 0;
    msgw_person *q = msgw_record_add_person(r, d->a, &cap);
    *q = *p;
}

static msgw_fact *add_fact(dec *d, msgw_record *r, size_t *cap, const char *type,
                           const char *subject, const char *loc)
{
    msgw_fact *f = msgw_record_add_fact(r, d->a, cap, type, subject);
    f->valid_from = f->valid_to = MSGW_DATE_NONE;
    f->loc = loc;
    return f;
}

/* Emits one item: the record when e holds no error, else a rejected item carrying e. */
static void emit(dec *d, msgw_record *r, const char *loc, msgw_errors *e)
{
    size_t limit = d->ctx->max_records;
    if (limit && d->out->nitems >= limit) {
        if (!d->records_full)
            msgw_error_add(&d->out->errors, -1, loc, NULL, "fhir.document.too_many_records",
                           "more than %zu records in one document: the rest is not decoded; "
                           "split the Bundle",
                           limit);
        d->records_full = true;
        msgw_errors_clear(e);
        return;
    }
    bool bad = e->nerrors > 0;
    int idx = msgw_batch_add(d->out, bad ? NULL : r, loc);
    msgw_errors_move(&d->out->errors, e, idx);
}

/* ---- resident ID and Patient ------------------------------------------ */

static bool identifier_is_resident_id(const dec *d, const json_t *ident)
{
    const char *sys = fhir_str(ident, "system");
    if (d->ctx->fhir_id_system && sys && strcmp(sys, d->ctx->fhir_id_system) == 0) return true;
    const json_t *c = find_coding(jget(ident, "type"), FHIR_SYS_V2_0203, NULL);
    return c && strcmp(fhir_str(c, "code"), "NI") == 0;
}

static const char *id_rule_text(const dec *d)
{
    return d->ctx->fhir_id_system
               ? msgw_arena_printf(d->a, "of type NI (" FHIR_SYS_V2_0203 ") or system %s",
                                   d->ctx->fhir_id_system)
               : "of type NI (" FHIR_SYS_V2_0203 ") (and no resident-ID identifier system is "
                 "configured)";
}

/* "MR 12345 (urn:oid:...)" for each identifier, so the sender sees what it did send. */
static const char *describe_identifiers(dec *d, const json_t *idents)
{
    const json_t *it;
    size_t i;
    char *s = msgw_arena_strdup(d->a, "");
    json_array_foreach(idents, i, it) {
        if (i == 3) {
            s = msgw_arena_printf(d->a, "%s, ...", s);
            break;
        }
        const json_t *c = find_coding(jget(it, "type"), NULL, NULL);
        const char *type = c ? fhir_str(c, "code") : "identifier";
        const char *val = fhir_str(it, "value"), *sys = fhir_str(it, "system");
        s = msgw_arena_printf(d->a, "%s%s%s %s%s%s%s", s, i ? ", " : "", type,
                              val ? val : "(no value)", sys ? " (" : "", sys ? sys : "",
                              sys ? ")" : "");
    }
    return *s ? s : NULL;
}

/* Finds and checks the resident ID; false with an error in e when there is none usable. */
static bool patient_resident_id(dec *d, const json_t *res, const char *ptr, const char *label,
                                char out[19], const char **why, msgw_errors *e)
{
    const json_t *idents = jget(res, "identifier"), *it;
    const char *iptr = ptr_join(d->a, ptr, "identifier");
    const char *found = NULL, *found_loc = NULL;
    size_t i;
    json_array_foreach(idents, i, it) {
        if (!identifier_is_resident_id(d, it)) continue;
        const char *loc = ptr_join(d->a, ptr_index(d->a, iptr, i), "value");
        const char *val = fhir_str(it, "value");
        msgw_value v;
        if (!val) {
            msgw_error_add(e, -1, loc, "Patient.identifier.value", "fhir.patient.resident_id",
                           "%s: the resident-ID identifier has no value", label);
            *why = "its resident-ID identifier has no value";
            return false;
        }
        if (!parse_value(d, d->el.id, val, &v, e, loc, "Patient.identifier.value")) {
            *why = "its resident ID number is not valid";
            return false;
        }
        if (found && strcmp(found, v.u.s) != 0) {
            msgw_error_add(e, -1, loc, "Patient.identifier.value",
                           "fhir.patient.ambiguous_resident_id",
                           "%s has two different resident ID numbers (%s at %s and this one): "
                           "msgw will not choose",
                           label, found, found_loc);
            *why = "it has two different resident ID numbers";
            return false;
        }
        found = v.u.s;
        found_loc = loc;
    }
    if (found) {
        snprintf(out, 19, "%s", found);
        return true;
    }
    const char *sent = json_is_array(idents) ? describe_identifiers(d, idents) : NULL;
    msgw_error_add(e, -1, json_is_array(idents) ? iptr : loc_of(ptr), "Patient.identifier",
                   "fhir.patient.no_resident_id",
                   "%s has no identifier %s: msgw keys persons by the resident ID number "
                   "(GB 11643) and will not guess one from %s%s",
                   label, id_rule_text(d), sent ? sent : "a Patient without identifiers",
                   sent && !d->ctx->fhir_id_system
                       ? " (if one of these systems carries the resident ID, configure it as "
                         "fhir_id_system)"
                       : "");
    *why = d->ctx->fhir_id_system
               ? msgw_arena_printf(d->a,
                                   "it has no resident ID number (no identifier of type NI or "
                                   "system %s)",
                                   d->ctx->fhir_id_system)
               : "it has no resident ID number (no identifier of type NI)";
    return false;
}

/* name.text, else family + given joined: Chinese names are written without a space. */
static const char *patient_name_text(dec *d, const json_t *res, const char **loc, const char *ptr)
{
    const json_t *names = jget(res, "name"), *n, *pick = NULL;
    size_t i, at = 0;
    json_array_foreach(names, i, n) {
        const char *use = fhir_str(n, "use");
        if (!pick || (use && strcmp(use, "official") == 0 && !fhir_str(pick, "use"))) {
            pick = n;
            at = i;
        }
        if (use && strcmp(use, "official") == 0) {
            pick = n;
            at = i;
            break;
        }
    }
    if (!pick) return NULL;
    *loc = ptr_index(d->a, ptr_join(d->a, ptr, "name"), at);
    const char *text = fhir_str(pick, "text");
    if (text) return text;
    const char *family = fhir_str(pick, "family");
    char *s = msgw_arena_strdup(d->a, family ? family : "");
    const json_t *given = jget(pick, "given"), *g;
    json_array_foreach(given, i, g) {
        if (json_is_string(g)) s = msgw_arena_printf(d->a, "%s%s", s, json_string_value(g));
    }
    return *s ? s : NULL;
}

static void patient_code_ext(dec *d, const json_t *res, const char *ptr, const char *url,
                             const msgw_element *el, const char **dst, msgw_errors *e)
{
    size_t at;
    const json_t *x = find_extension(res, url, &at);
    if (!x) return;
    const char *code = fhir_str(x, "valueCode");
    if (!code) code = fhir_str(jget(x, "valueCoding"), "code");
    const char *loc = ptr_index(d->a, ptr_join(d->a, ptr, "extension"), at);
    msgw_value v;
    if (!code)
        msgw_error_add(e, -1, loc, url, "fhir.extension.value",
                       "extension %s needs a valueCode or valueCoding", url);
    else if (parse_value(d, el, code, &v, e, loc, url))
        *dst = v.u.s;
}

static void patient_marital(dec *d, const json_t *res, const char *ptr, patient *p)
{
    const json_t *ms = jget(res, "maritalStatus");
    if (!ms) return;
    const char *loc = ptr_join(d->a, ptr, "maritalStatus");
    const json_t *gb = find_coding(ms, FHIR_CODELIST_PREFIX "marital_status", NULL);
    const json_t *v3 = find_coding(ms, FHIR_SYS_V3_MARITAL, NULL);
    const char *code = gb ? fhir_str(gb, "code") : v3 ? fhir_marital_to_gb(fhir_str(v3, "code")) : NULL;
    msgw_value v;
    if (code) {
        if (parse_value(d, d->el.marital, code, &v, &p->errs, loc, "Patient.maritalStatus"))
            p->person.marital = v.u.s;
    } else
        note_skip(d, d->elems, &d->nelems, "Patient.maritalStatus (no GB/T 2261.2 counterpart)",
                  loc);
}

/* The GB/T 2260 code of an address: the msgw extension, else a 6-digit district. */
static const char *address_region_text(const json_t *addr)
{
    const json_t *x = find_extension(addr, FHIR_EXT_REGION, NULL);
    const char *code = x ? fhir_str(x, "valueCode") : NULL;
    if (code) return code;
    const char *district = fhir_str(addr, "district");
    if (district && strlen(district) == 6 && strspn(district, "0123456789") == 6) return district;
    return NULL;
}

static void patient_address(dec *d, const json_t *addr, const char *loc, patient *p)
{
    const char *code = address_region_text(addr);
    const char *district = fhir_str(addr, "district");
    if (!code) {
        if (district)
            msgw_warning_add(&p->errs, -1, ptr_join(d->a, loc, "district"), "Patient.address.district",
                             "fhir.address.region",
                             "district '%s' is not a GB/T 2260 code (6 digits): no region is "
                             "recorded from this address",
                             district);
        return;
    }
    const json_t *role_x = find_extension(addr, FHIR_EXT_ADDRESS_ROLE, NULL);
    const char *role = role_x ? fhir_str(role_x, "valueCode") : NULL;
    bool hukou = role && strcmp(role, "hukou") == 0;
    const char *field = district && strcmp(district, code) == 0 ? "Patient.address.district"
                                                                : "Patient.address.extension";
    msgw_value v;
    if (!parse_value(d, hukou ? d->el.hukou_region : d->el.residence_region, code, &v, &p->errs,
                     loc, field))
        return;
    const json_t *period = jget(addr, "period");
    msgw_date from = MSGW_DATE_NONE, to = MSGW_DATE_NONE;
    const char *start = fhir_str(period, "start"), *end = fhir_str(period, "end");
    const char *pptr = ptr_join(d->a, loc, "period");
    if (start)
        parse_fhir_date(d, start, &from, &p->errs, ptr_join(d->a, pptr, "start"),
                        "Address.period.start");
    if (end)
        parse_fhir_date(d, end, &to, &p->errs, ptr_join(d->a, pptr, "end"), "Address.period.end");
    if (from != MSGW_DATE_NONE && to != MSGW_DATE_NONE && to < from) {
        /* Checked here, not only by the record rules: a bad address must not leave the death
           record of the same Patient standing alone. */
        msgw_error_add(&p->errs, -1, ptr_join(d->a, loc, "period"), "Address.period",
                       "fhir.period.order", "the address period ends %s before it starts %s", end,
                       start);
        return;
    }
    const char *use = fhir_str(addr, "use");
    bool current = !end && !(use && strcmp(use, "old") == 0);
    if (hukou) {
        if (current || !p->person.hukou_region) p->person.hukou_region = v.u.s;
        return;
    }
    if (current && !p->person.residence_region) p->person.residence_region = v.u.s;
    p->res = msgw_arena_grow(d->a, p->res, sizeof *p->res, &(size_t){p->nres}, p->nres + 1);
    p->res[p->nres++] = (struct residence){v.u.s, from, to, loc};
}

static void patient_deceased(dec *d, const json_t *res, const char *ptr, patient *p)
{
    const json_t *b = jget(res, "deceasedBoolean");
    const char *dt = fhir_str(res, "deceasedDateTime");
    if (dt) {
        const char *loc = ptr_join(d->a, ptr, "deceasedDateTime");
        msgw_date day;
        p->deceased = true;
        if (parse_fhir_date(d, dt, &day, &p->errs, loc, "Patient.deceasedDateTime") &&
            day != MSGW_DATE_NONE) {
            p->death_date = day;
            p->death_loc = loc;
        }
    } else if (json_is_true(b)) {
        p->deceased = true;
        msgw_warning_add(&p->errs, -1, ptr_join(d->a, ptr, "deceasedBoolean"),
                         "Patient.deceasedBoolean", "fhir.patient.death_date",
                         "the Patient is deceased but no deceasedDateTime is given: no death "
                         "record is made (death_date is required)");
    }
}

static const char *const patient_mapped[] = {
    "identifier", "name", "gender", "birthDate", "deceasedBoolean", "deceasedDateTime",
    "address", "maritalStatus", NULL};

/* Members the schema types too: a wrong JSON type is an error here as well, not a silent skip. */
static void check_patient_types(dec *d, const json_t *res, const char *ptr, msgw_errors *e)
{
    static const struct {
        const char *key;
        json_type type;
        const char *name;
    } members[] = {{"gender", JSON_STRING, "a string"},
                   {"birthDate", JSON_STRING, "a string"},
                   {"deceasedDateTime", JSON_STRING, "a string"},
                   {"deceasedBoolean", JSON_TRUE, "true or false"}};
    for (size_t i = 0; i < sizeof members / sizeof *members; i++) {
        const json_t *v = jget(res, members[i].key);
        if (!v || json_typeof(v) == members[i].type ||
            (members[i].type == JSON_TRUE && json_is_boolean(v)))
            continue;
        msgw_error_add(e, -1, ptr_join(d->a, ptr, members[i].key),
                       msgw_arena_printf(d->a, "Patient.%s", members[i].key), "fhir.type",
                       "Patient.%s must be %s", members[i].key, members[i].name);
    }
}

static void decode_patient(dec *d, const json_t *res, const char *ptr, patient *p)
{
    msgw_person_init(&p->person);
    p->person.loc = loc_of(ptr);
    p->death_date = MSGW_DATE_NONE;
    p->id = fhir_str(res, "id");
    p->ptr = ptr;
    p->label = p->id ? msgw_arena_printf(d->a, "Patient/%s", p->id)
               : p->full_url ? p->full_url
                             : msgw_arena_printf(d->a, "the Patient at %s", loc_of(ptr));
    note_unmapped_members(d, res, "Patient", ptr, patient_mapped);
    check_patient_types(d, res, ptr, &p->errs);
    p->keyed = patient_resident_id(d, res, ptr, p->label, p->person.id_number, &p->no_key_why,
                                   &p->errs);
    msgw_value v;
    const char *nloc = NULL, *name = patient_name_text(d, res, &nloc, ptr);
    if (name && parse_value(d, d->el.name, name, &v, &p->errs, nloc, "Patient.name"))
        p->person.name = v.u.s;
    const char *gender = fhir_str(res, "gender");
    if (gender) {
        const char *sex = fhir_gender_to_gb(gender);
        const char *gloc = ptr_join(d->a, ptr, "gender");
        if (!sex)
            msgw_error_add(&p->errs, -1, gloc, "Patient.gender", "fhir.patient.gender",
                           "gender '%s' is not one of male, female, other, unknown", gender);
        else if (parse_value(d, d->el.sex, sex, &v, &p->errs, gloc, "Patient.gender"))
            p->person.sex = v.u.s;
    }
    const char *birth = fhir_str(res, "birthDate");
    if (birth && parse_value(d, d->el.birth, birth, &v, &p->errs, ptr_join(d->a, ptr, "birthDate"),
                             "Patient.birthDate"))
        p->person.birth_date = v.u.d;
    patient_code_ext(d, res, ptr, FHIR_EXT_ETHNIC, d->el.ethnic, &p->person.ethnic, &p->errs);
    patient_code_ext(d, res, ptr, FHIR_EXT_HUKOU_TYPE, d->el.hukou_type, &p->person.hukou_type,
                     &p->errs);
    patient_marital(d, res, ptr, p);
    const json_t *addrs = jget(res, "address"), *addr;
    size_t i;
    json_array_foreach(addrs, i, addr) {
        patient_address(d, addr, ptr_index(d->a, ptr_join(d->a, ptr, "address"), i), p);
    }
    patient_deceased(d, res, ptr, p);
    p->failed = p->errs.nerrors > 0;
}

/* ---- references -------------------------------------------------------- */

#define PAT_AMBIGUOUS (-2L)

/* ref without a trailing "/_history/N" (a version-specific reference names the same entry). */
static const char *unversioned(dec *d, const char *ref)
{
    const char *h = strstr(ref, "/_history/");
    return h ? msgw_arena_strndup(d->a, ref, (size_t)(h - ref)) : ref;
}

/*
 * The service base of a RESTful fullUrl ("http://host/fhir/Observation/7" -> "http://host/fhir"),
 * NULL for a urn:uuid or urn:oid, or a URL not ending in TYPE/ID.
 */
static const char *restful_base(dec *d, const char *full_url)
{
    if (!full_url || (strncmp(full_url, "http://", 7) != 0 && strncmp(full_url, "https://", 8) != 0)) return NULL;
    const char *u = unversioned(d, full_url);
    const char *id = strrchr(u, '/');
    if (!id || id == u || !id[1]) return NULL;
    const char *type = id - 1;
    while (type > u && *type != '/') type--;
    if (type == u || type[1] < 'A' || type[1] > 'Z') return NULL;
    return msgw_arena_strndup(d->a, u, (size_t)(type - u));
}

/*
 * The Patient of this document a reference names, as FHIR R4 resolves references in a Bundle
 * (Bundle, "Resolving references in Bundles"): an absolute URL or a urn:uuid names the entry with
 * that fullUrl; a relative "Patient/x" is relative to the base of the referencing entry's fullUrl
 * when that is a RESTful URL, and otherwise names the Patient with id x, which must be the only
 * one.  A version-specific reference names its entry.  Hash lookups: a Bundle of tens of
 * thousands of entries, each referring to its Patient, must not cost a scan per reference.
 * NULL when it names none; *ambiguous when it names several.
 */
static patient *find_patient(dec *d, const char *ref, bool *ambiguous)
{
    *ambiguous = false;
    if (!d->pat_by_url) return NULL;
    const char *r = unversioned(d, ref);
    long i = msgw_idmap_get(d->pat_by_url, r);
    if (i >= 0) return &d->pats[i];
    bool absolute = strncmp(r, "urn:", 4) == 0 || strstr(r, "://") != NULL;
    if (absolute || strncmp(r, "Patient/", 8) != 0 || strchr(r + 8, '/')) return NULL;
    const char *from = d->cur_entry < d->nentries && d->urls ? d->urls[d->cur_entry] : NULL;
    const char *base = restful_base(d, from);
    if (base) {
        i = msgw_idmap_get(d->pat_by_url, msgw_arena_printf(d->a, "%s/%s", base, r));
        return i >= 0 ? &d->pats[i] : NULL;
    }
    i = msgw_idmap_get(d->pat_by_id, r + 8);
    *ambiguous = i == PAT_AMBIGUOUS;
    return i >= 0 ? &d->pats[i] : NULL;
}

/* A reference "#p1" to a Patient contained in the resource itself. */
static const msgw_person *contained_patient(dec *d, const json_t *res, const char *ptr,
                                            const char *ref, const char *field, msgw_errors *e)
{
    const json_t *list = jget(res, "contained"), *c;
    size_t i;
    json_array_foreach(list, i, c) {
        const char *id = fhir_str(c, "id");
        if (!id || strcmp(id, ref + 1) != 0) continue;
        const char *cptr = ptr_index(d->a, ptr_join(d->a, ptr, "contained"), i);
        const char *type = fhir_str(c, "resourceType");
        if (!type || strcmp(type, "Patient") != 0) {
            msgw_error_add(e, -1, cptr, field, "fhir.subject.not_patient",
                           "%s refers to a contained %s, not a Patient", ref, type ? type : "resource");
            return NULL;
        }
        patient *p = msgw_arena_alloc(d->a, sizeof *p);
        p->entry = SIZE_MAX;
        decode_patient(d, c, cptr, p);
        bool ok = !p->failed && p->keyed;
        msgw_errors_move(e, &p->errs, -1);
        return ok ? &p->person : NULL;
    }
    msgw_error_add(e, -1, ptr, field, "fhir.subject.unresolved",
                   "%s names no contained resource of this resource", ref);
    return NULL;
}

/* A logical reference {"identifier": {...}}: the resident ID itself, without a Patient. */
static const msgw_person *identifier_patient(dec *d, const json_t *ident, const char *loc,
                                             const char *field, msgw_errors *e)
{
    const char *val = fhir_str(ident, "value");
    if (!identifier_is_resident_id(d, ident) || !val) {
        msgw_error_add(e, -1, loc, field, "fhir.subject.unkeyable",
                       "the subject's identifier %s is not a resident ID number (identifier %s): "
                       "msgw keys persons by the resident ID number (GB 11643)",
                       val ? val : "(no value)", id_rule_text(d));
        return NULL;
    }
    msgw_value v;
    const char *vloc = ptr_join(d->a, loc, "value");
    if (!parse_value(d, d->el.id, val, &v, e, vloc, msgw_arena_printf(d->a, "%s.value", field)))
        return NULL;
    msgw_person *p = msgw_arena_alloc(d->a, sizeof *p);
    msgw_person_init(p);
    snprintf(p->id_number, sizeof p->id_number, "%s", v.u.s);
    p->loc = loc;
    return p;
}

/*
 * The person a resource is about: a Patient of this Bundle (by fullUrl,
 * "Patient/id" or a URL ending in it), a contained Patient, or a logical
 * identifier reference.  NULL, with an error that says why, when none of those
 * yields a resident ID number.
 */
static const msgw_person *resolve_subject(dec *d, const json_t *res, const char *ptr,
                                          const char *rtype, const char *key, msgw_errors *e)
{
    const json_t *subj = jget(res, key);
    const char *field = msgw_arena_printf(d->a, "%s.%s", rtype, key);
    const char *sloc = ptr_join(d->a, ptr, key);
    if (!json_is_object(subj)) {
        msgw_error_add(e, -1, loc_of(ptr), field, "fhir.subject.missing",
                       "the %s has no %s: msgw records it against a person, keyed by the resident "
                       "ID number",
                       rtype, key);
        return NULL;
    }
    const char *ref = fhir_str(subj, "reference");
    const json_t *ident = jget(subj, "identifier");
    const char *rloc = ptr_join(d->a, sloc, "reference");
    if (ref && ref[0] == '#') return contained_patient(d, res, ptr, ref, field, e);
    if (ref) {
        bool ambiguous = false;
        patient *p = find_patient(d, ref, &ambiguous);
        if (ambiguous) {
            msgw_error_add(e, -1, rloc, field, "fhir.subject.ambiguous",
                           "%s names Patients of several entries (a relative reference from an entry "
                           "whose fullUrl is not a RESTful URL, and several Patients with that id): "
                           "refer to the Patient by its fullUrl; this %s is rejected",
                           ref, rtype);
            return NULL;
        }
        if (p && !p->keyed) {
            msgw_error_add(e, -1, rloc, field, "fhir.subject.unkeyable",
                           "%s refers to %s, which cannot be keyed to a person because %s (see "
                           "%s): this %s is rejected",
                           field, p->label, p->no_key_why, loc_of(p->ptr), rtype);
            return NULL;
        }
        if (p && p->failed) {
            msgw_error_add(e, -1, rloc, field, "fhir.subject.rejected",
                           "%s refers to %s, which was rejected (see %s): this %s is rejected "
                           "with it",
                           field, p->label, loc_of(p->ptr), rtype);
            return NULL;
        }
        if (p) return &p->person;
        if (!json_is_object(ident)) {
            bool is_patient = strncmp(ref, "urn:", 4) == 0 || strstr(ref, "Patient/") != NULL;
            msgw_error_add(e, -1, rloc, field,
                           is_patient ? "fhir.subject.unresolved" : "fhir.subject.not_patient",
                           is_patient
                               ? "%s is not in this document: send the Patient (with its resident "
                                 "ID number) in the same Bundle, contained, or as "
                                 "%s.identifier"
                               : "%s is not a Patient: msgw records %s only about persons",
                           ref, is_patient ? field : rtype);
            return NULL;
        }
    }
    if (json_is_object(ident))
        return identifier_patient(d, ident, ptr_join(d->a, sloc, "identifier"),
                                  msgw_arena_printf(d->a, "%s.identifier", field), e);
    msgw_error_add(e, -1, sloc, field, "fhir.subject.unresolved",
                   "%s has neither a reference nor an identifier", field);
    return NULL;
}

/* ---- Patient entries -> person_registration (+ death) ------------------ */

static patient *patient_of_entry(dec *d, size_t entry)
{
    long i = entry < d->nentries && d->pat_of_entry ? d->pat_of_entry[entry] : -1;
    return i >= 0 ? &d->pats[i] : NULL;
}

static void map_patient(dec *d, patient *p, msgw_errors *e)
{
    msgw_errors_move(e, &p->errs, -1);
    const char *loc = loc_of(p->ptr);
    msgw_record *reg = new_record(d, "person_registration", loc);
    add_person(d, reg, &p->person);
    size_t cap = 0;
    for (size_t i = 0; i < p->nres; i++) {
        msgw_fact *f = add_fact(d, reg, &cap, "residence", p->person.id_number, p->res[i].loc);
        f->valid_from = p->res[i].from;
        f->valid_to = p->res[i].to;
        msgw_fact_add_attr(f, d->a, "residence_region",
                           (msgw_value){.kind = MSGW_V_CODE, .u.s = p->res[i].region});
    }
    bool ok = e->nerrors == 0;
    emit(d, reg, loc, e);
    if (!ok || p->death_date == MSGW_DATE_NONE) {
        d->mapped += ok;
        return;
    }
    msgw_record *death = new_record(d, "death", p->death_loc);
    add_person(d, death, &p->person);
    cap = 0;
    msgw_fact *f = add_fact(d, death, &cap, "death", p->person.id_number, p->death_loc);
    f->valid_from = p->death_date;
    msgw_fact_add_attr(f, d->a, "death_date", (msgw_value){.kind = MSGW_V_DATE, .u.d = p->death_date});
    emit(d, death, p->death_loc, e);
    d->mapped++;
}

/* ---- Condition --------------------------------------------------------- */

static const json_t *icd10_coding(const json_t *code)
{
    const json_t *c = find_coding(code, FHIR_SYS_ICD10, NULL);
    return c ? c : find_coding(code, FHIR_SYS_ICD10_CN, NULL);
}

static bool condition_is_pregnancy(const json_t *res)
{
    const json_t *code = jget(res, "code");
    const json_t *icd = icd10_coding(code);
    if (icd && fhir_icd_is_pregnancy(fhir_str(icd, "code"))) return true;
    const json_t *sn = find_coding(code, FHIR_SYS_SNOMED, NULL);
    return sn && strcmp(fhir_str(sn, "code"), FHIR_SNOMED_PREGNANCY) == 0;
}

/* True when the sender says the diagnosis is wrong: such a Condition is not recorded. */
static bool condition_refuted(dec *d, const json_t *res, const char *ptr, msgw_errors *e)
{
    const json_t *c = find_coding(jget(res, "verificationStatus"), NULL, NULL);
    const char *vs = c ? fhir_str(c, "code") : NULL;
    if (!vs || (strcmp(vs, "refuted") != 0 && strcmp(vs, "entered-in-error") != 0)) return false;
    msgw_warning_add(e, -1, ptr_join(d->a, ptr, "verificationStatus"), "Condition.verificationStatus",
                     "fhir.condition.refuted",
                     "verificationStatus is %s: this Condition is not recorded", vs);
    return true;
}

static void fact_period(dec *d, msgw_fact *f, const json_t *res, const char *ptr, const char *rtype,
                        const char *from_key, const char *to_key, msgw_errors *e)
{
    const char *from = fhir_str(res, from_key), *to = fhir_str(res, to_key);
    if (from)
        parse_fhir_date(d, from, &f->valid_from, e, ptr_join(d->a, ptr, from_key),
                        msgw_arena_printf(d->a, "%s.%s", rtype, from_key));
    if (to)
        parse_fhir_date(d, to, &f->valid_to, e, ptr_join(d->a, ptr, to_key),
                        msgw_arena_printf(d->a, "%s.%s", rtype, to_key));
}

static const char *const condition_mapped[] = {
    "subject", "code", "clinicalStatus", "verificationStatus", "onsetDateTime",
    "abatementDateTime", "category", NULL};

static void map_condition(dec *d, const json_t *res, const char *ptr, msgw_errors *e)
{
    note_unmapped_members(d, res, "Condition", ptr, condition_mapped);
    if (condition_refuted(d, res, ptr, e)) {
        drop_resource(d, "Condition", e);
        d->skipped++;
        return;
    }
    const msgw_person *who = resolve_subject(d, res, ptr, "Condition", "subject", e);
    const char *loc = loc_of(ptr);
    const json_t *code = jget(res, "code");
    const json_t *icd = icd10_coding(code);
    const char *cloc = ptr_join(d->a, ptr, "code");
    msgw_record *r = new_record(d, "condition", loc);
    size_t cap = 0;
    msgw_fact *f = add_fact(d, r, &cap, "condition", who ? who->id_number : "", loc);
    msgw_value v;
    if (!icd) {
        msgw_error_add(e, -1, cloc, "Condition.code", "fhir.condition.no_icd10",
                       "the Condition has no ICD-10 coding (system " FHIR_SYS_ICD10 " or "
                       FHIR_SYS_ICD10_CN "), only %s: msgw records diagnoses by ICD-10 code",
                       describe_codings(d->a, code));
    } else if (parse_value(d, d->el.cond_code, fhir_str(icd, "code"), &v, e, cloc, "Condition.code")) {
        msgw_fact_add_attr(f, d->a, "condition_code", v);
        const json_t *own = NULL;
        const json_t *cats = jget(res, "category"), *cat;
        size_t i;
        json_array_foreach(cats, i, cat) {
            if (!own) own = find_coding(cat, FHIR_CODELIST_PREFIX "condition_category", NULL);
        }
        const char *category = own ? fhir_str(own, "code") : fhir_icd_category(&d->icd, v.u.s);
        if (parse_value(d, d->el.cond_cat, category, &v, e, ptr_join(d->a, ptr, "category"),
                        "Condition.category"))
            msgw_fact_add_attr(f, d->a, "condition_category", v);
    }
    const json_t *cs = find_coding(jget(res, "clinicalStatus"), NULL, NULL);
    if (cs && parse_value(d, d->el.clinical, fhir_str(cs, "code"), &v, e,
                          ptr_join(d->a, ptr, "clinicalStatus"), "Condition.clinicalStatus"))
        msgw_fact_add_attr(f, d->a, "clinical_status", v);
    fact_period(d, f, res, ptr, "Condition", "onsetDateTime", "abatementDateTime", e);
    if (who) add_person(d, r, who);
    d->mapped += e->nerrors == 0;
    d->rejected += e->nerrors > 0;
    emit(d, r, loc, e);
}

/* ---- pregnancy (EpisodeOfCare or Condition Z33 / SNOMED 77386006) ------- */

static bool episode_is_pregnancy(const json_t *res)
{
    const json_t *types = jget(res, "type"), *t;
    size_t i;
    json_array_foreach(types, i, t) {
        const json_t *sn = find_coding(t, FHIR_SYS_SNOMED, NULL);
        if (sn && strcmp(fhir_str(sn, "code"), FHIR_SNOMED_PREGNANCY) == 0) return true;
        const json_t *codings = coding_array(t), *c;
        size_t j;
        json_array_foreach(codings, j, c) {
            const char *code = fhir_str(c, "code");
            if (code && strcmp(code, "pregnancy") == 0) return true;
        }
    }
    return false;
}

/* The expected delivery date: the msgw extension, else an Observation 11778-8 for the same person. */
static void pregnancy_edd(dec *d, size_t entry, const json_t *res, const char *ptr,
                          const char *rtype, msgw_fact *f, msgw_errors *e)
{
    size_t at;
    const json_t *x = find_extension(res, FHIR_EXT_EDD, &at);
    msgw_value v;
    if (x) {
        const char *date = fhir_str(x, "valueDate");
        const char *loc = ptr_index(d->a, ptr_join(d->a, ptr, "extension"), at);
        if (!date)
            msgw_error_add(e, -1, loc, FHIR_EXT_EDD, "fhir.extension.value",
                           "extension " FHIR_EXT_EDD " needs a valueDate");
        else if (parse_value(d, d->el.edd, date, &v, e, loc,
                             msgw_arena_printf(d->a, "%s.extension(expected-delivery-date)", rtype)))
            msgw_fact_add_attr(f, d->a, "expected_delivery_date", v);
        return;
    }
    for (size_t i = 0; i < d->nedds; i++)
        if (d->edds[i].claimed_by == entry) {
            msgw_fact_add_attr(f, d->a, "expected_delivery_date",
                               (msgw_value){.kind = MSGW_V_DATE, .u.d = d->edds[i].date});
            return;
        }
}

static const char *pregnancy_status(dec *d, const json_t *res, const char *ptr, bool episode,
                                    msgw_errors *e)
{
    size_t at;
    const json_t *x = find_extension(res, FHIR_EXT_PREGNANCY_STATUS, &at);
    if (x && fhir_str(x, "valueCode")) return fhir_str(x, "valueCode");
    if (episode) {
        const char *status = fhir_str(res, "status");
        const char *s = fhir_episode_status_to_pregnancy(status);
        if (!s)
            msgw_error_add(e, -1, ptr_join(d->a, ptr, "status"), "EpisodeOfCare.status",
                           "fhir.pregnancy.status",
                           "EpisodeOfCare.status '%s' says nothing about the pregnancy: use "
                           "planned/active/onhold (pregnant), finished (delivered) or cancelled "
                           "(terminated)",
                           status ? status : "(missing)");
        return s;
    }
    const json_t *cs = find_coding(jget(res, "clinicalStatus"), NULL, NULL);
    const char *c = cs ? fhir_str(cs, "code") : "active";
    return strcmp(c, "active") == 0 || strcmp(c, "recurrence") == 0 || strcmp(c, "relapse") == 0
               ? "1"
               : "2";
}

static const char *const episode_mapped[] = {"status", "type", "patient", "period", NULL};
static const char *const preg_condition_mapped[] = {
    "subject", "code", "clinicalStatus", "verificationStatus", "onsetDateTime", "abatementDateTime",
    "category", NULL};

static void map_pregnancy(dec *d, size_t entry, const json_t *res, const char *ptr, bool episode,
                          msgw_errors *e)
{
    const char *rtype = episode ? "EpisodeOfCare" : "Condition";
    note_unmapped_members(d, res, rtype, ptr, episode ? episode_mapped : preg_condition_mapped);
    if (!episode && condition_refuted(d, res, ptr, e)) {
        drop_resource(d, "Condition", e);
        d->skipped++;
        return;
    }
    const msgw_person *who = resolve_subject(d, res, ptr, rtype, episode ? "patient" : "subject", e);
    const char *loc = loc_of(ptr);
    msgw_record *r = new_record(d, "pregnancy", loc);
    size_t cap = 0;
    msgw_fact *f = add_fact(d, r, &cap, "pregnancy", who ? who->id_number : "", loc);
    const char *status = pregnancy_status(d, res, ptr, episode, e);
    msgw_value v;
    if (status && parse_value(d, d->el.preg_status, status, &v, e, loc,
                              msgw_arena_printf(d->a, "%s.status", rtype)))
        msgw_fact_add_attr(f, d->a, "pregnancy_status", v);
    pregnancy_edd(d, entry, res, ptr, rtype, f, e);
    if (episode) {
        const json_t *period = jget(res, "period");
        const char *pptr = ptr_join(d->a, ptr, "period");
        fact_period(d, f, period, pptr, "EpisodeOfCare.period", "start", "end", e);
    } else
        fact_period(d, f, res, ptr, rtype, "onsetDateTime", "abatementDateTime", e);
    if (who) add_person(d, r, who);
    d->mapped += e->nerrors == 0;
    d->rejected += e->nerrors > 0;
    emit(d, r, loc, e);
}

/* ---- Observation ------------------------------------------------------- */

/* The shortest decimal text that reads back as the same double (10.2, not 10.199999999999999). */
static const char *number_text(dec *d, const json_t *n)
{
    if (json_is_integer(n)) return msgw_arena_printf(d->a, "%" PRId64, (int64_t)json_integer_value(n));
    if (json_is_string(n)) return json_string_value(n);
    double x = json_real_value(n);
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    return msgw_arena_strdup(d->a, buf);
}

/* value[x] as text; NULL (and a skip note) for kinds msgw does not carry. */
static const char *observation_value_text(dec *d, const json_t *res, const char *ptr,
                                          const char **key_out)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)res, key, v) {
        if (strncmp(key, "value", 5) != 0) continue;
        *key_out = key;
        if (strcmp(key, "valueQuantity") == 0) {
            const json_t *num = jget(v, "value");
            const char *unit = fhir_str(v, "unit");
            if (!unit) unit = fhir_str(v, "code");
            const char *cmp = fhir_str(v, "comparator");
            if (!num) return NULL;
            return msgw_arena_printf(d->a, "%s%s%s%s", cmp ? cmp : "", number_text(d, num),
                                     unit ? " " : "", unit ? unit : "");
        }
        if (strcmp(key, "valueString") == 0 || strcmp(key, "valueDateTime") == 0 ||
            strcmp(key, "valueTime") == 0)
            return json_is_string(v) ? json_string_value(v) : NULL;
        if (strcmp(key, "valueBoolean") == 0) return json_is_true(v) ? "true" : "false";
        if (strcmp(key, "valueInteger") == 0) return number_text(d, v);
        if (strcmp(key, "valueCodeableConcept") == 0) {
            const char *text = fhir_str(v, "text");
            const json_t *c = find_coding(v, NULL, NULL);
            if (text) return text;
            if (c && fhir_str(c, "display")) return fhir_str(c, "display");
            return c ? fhir_str(c, "code") : NULL;
        }
        note_skip(d, d->elems, &d->nelems, msgw_arena_printf(d->a, "Observation.%s", key),
                  ptr_join(d->a, ptr, key));
        return NULL;
    }
    return NULL;
}

static bool observation_withdrawn(dec *d, const json_t *res, const char *ptr, msgw_errors *e)
{
    const char *st = fhir_str(res, "status");
    if (!st || (strcmp(st, "cancelled") != 0 && strcmp(st, "entered-in-error") != 0)) return false;
    msgw_warning_add(e, -1, ptr_join(d->a, ptr, "status"), "Observation.status",
                     "fhir.observation.status", "status is %s: this Observation is not recorded", st);
    return true;
}

static const char *const observation_mapped[] = {
    "status", "code", "subject", "effectiveDateTime", "effectivePeriod", "valueQuantity",
    "valueString", "valueBoolean", "valueInteger", "valueCodeableConcept", "valueDateTime",
    "valueTime", NULL};

static void map_observation(dec *d, size_t entry, const json_t *res, const char *ptr, msgw_errors *e)
{
    for (size_t i = 0; i < d->nedds; i++)
        if (d->edds[i].entry == entry && d->edds[i].claimed_by != SIZE_MAX) {
            msgw_warning_add(&d->out->errors, -1, loc_of(ptr), "Observation.code",
                             "fhir.observation.folded",
                             "Observation " FHIR_LOINC_EDD " (estimated delivery date) is recorded "
                             "as the expected_delivery_date of the pregnancy of the same person");
            drop_resource(d, "Observation", e);
            d->mapped++;
            return;
        }
    note_unmapped_members(d, res, "Observation", ptr, observation_mapped);
    if (observation_withdrawn(d, res, ptr, e)) {
        drop_resource(d, "Observation", e);
        d->skipped++;
        return;
    }
    const msgw_person *who = resolve_subject(d, res, ptr, "Observation", "subject", e);
    const char *loc = loc_of(ptr);
    msgw_record *r = new_record(d, "observation", loc);
    size_t cap = 0;
    msgw_fact *f = add_fact(d, r, &cap, "observation", who ? who->id_number : "", loc);
    const json_t *code = jget(res, "code");
    const json_t *loinc = find_coding(code, FHIR_SYS_LOINC, NULL);
    const char *cloc = ptr_join(d->a, ptr, "code");
    msgw_value v;
    if (!loinc)
        msgw_error_add(e, -1, cloc, "Observation.code", "fhir.observation.no_loinc",
                       "the Observation code has no LOINC coding (system " FHIR_SYS_LOINC "), only "
                       "%s: msgw records observations by LOINC code",
                       describe_codings(d->a, code));
    else if (parse_value(d, d->el.obs_code, fhir_str(loinc, "code"), &v, e, cloc, "Observation.code"))
        msgw_fact_add_attr(f, d->a, "observation_code", v);
    const char *vkey = NULL, *text = observation_value_text(d, res, ptr, &vkey);
    if (text && parse_value(d, d->el.obs_value, text, &v, e, ptr_join(d->a, ptr, vkey),
                            msgw_arena_printf(d->a, "Observation.%s", vkey)))
        msgw_fact_add_attr(f, d->a, "observation_value", v);
    if (fhir_str(res, "effectiveDateTime"))
        fact_period(d, f, res, ptr, "Observation", "effectiveDateTime", "", e);
    else if (json_is_object(jget(res, "effectivePeriod")))
        fact_period(d, f, jget(res, "effectivePeriod"), ptr_join(d->a, ptr, "effectivePeriod"),
                    "Observation.effectivePeriod", "start", "end", e);
    if (who) add_person(d, r, who);
    d->mapped += e->nerrors == 0;
    d->rejected += e->nerrors > 0;
    emit(d, r, loc, e);
}

/* Observations 11778-8 of a keyed Patient, found before mapping so a pregnancy anywhere can use them. */
static void collect_edd_observation(dec *d, size_t entry, const json_t *res)
{
    const json_t *loinc = find_coding(jget(res, "code"), FHIR_SYS_LOINC, NULL);
    if (!loinc || strcmp(fhir_str(loinc, "code"), FHIR_LOINC_EDD) != 0) return;
    const char *val = fhir_str(res, "valueDateTime");
    const char *ref = fhir_str(jget(res, "subject"), "reference");
    msgw_date day = MSGW_DATE_NONE;
    if (!val || !ref || strlen(val) < 10 || !msgw_date_parse_iso(val, 10, &day)) return;
    bool ambiguous;
    d->cur_entry = entry;
    const patient *p = find_patient(d, ref, &ambiguous);
    if (!p || !p->keyed || p->failed) return;
    d->edds = msgw_arena_grow(d->a, d->edds, sizeof *d->edds, &(size_t){d->nedds}, d->nedds + 1);
    d->edds[d->nedds++] = (edd_obs){entry, p, day, SIZE_MAX};
}

/* A pregnancy without its own expected-delivery-date extension takes its person's first 11778-8. */
static void claim_edd_observations(dec *d)
{
    for (size_t i = 0; i < d->nentries && d->nedds; i++) {
        const json_t *res = d->res[i];
        const char *type = fhir_str(res, "resourceType");
        bool episode = type && strcmp(type, "EpisodeOfCare") == 0 && episode_is_pregnancy(res);
        bool cond = type && strcmp(type, "Condition") == 0 && condition_is_pregnancy(res);
        if ((!episode && !cond) || find_extension(res, FHIR_EXT_EDD, NULL)) continue;
        const char *ref = fhir_str(jget(res, episode ? "patient" : "subject"), "reference");
        bool ambiguous;
        d->cur_entry = i;
        const patient *p = ref ? find_patient(d, ref, &ambiguous) : NULL;
        for (size_t k = 0; p && k < d->nedds; k++)
            if (d->edds[k].pat == p && d->edds[k].claimed_by == SIZE_MAX) {
                d->edds[k].claimed_by = i;
                break;
            }
    }
}

/* ---- document ---------------------------------------------------------- */

/*
 * Room left in the bounded error list (error.c keeps 1000 entries unless told
 * otherwise) for the element warnings and the summary, which say more about a
 * large Bundle than its 5000th "skipped" line; skipped resources stay counted.
 */
static bool room_for_skip_warning(dec *d)
{
    size_t limit = d->out->errors.limit ? d->out->errors.limit : 1000;
    if (d->out->errors.n + MAX_SKIP_KINDS + 2 < limit) return true;
    d->skip_warnings_left_out++;
    return false;
}

static void skip_resource(dec *d, const char *type, const char *ptr, msgw_errors *e)
{
    drop_resource(d, type, e);
    note_skip(d, d->types, &d->ntypes, type, ptr);
    d->skipped++;
    if (!room_for_skip_warning(d)) return;
    msgw_warning_add(&d->out->errors, -1, loc_of(ptr), NULL, "fhir.resource.skipped",
                     "%s skipped: msgw maps " FHIR_MAPPED_TYPES, type);
}

static void map_entry(dec *d, size_t i)
{
    d->cur_entry = i;
    const json_t *res = d->res[i];
    const char *ptr = d->ptrs[i];
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_errors_move(&e, &d->schema[i], -1);
    const char *type = fhir_str(res, "resourceType");
    if (!type) {
        msgw_error_add(&e, -1, loc_of(ptr), "resourceType", "fhir.resource.type",
                       "the resource has no resourceType (a string naming its FHIR type)");
        emit(d, NULL, loc_of(ptr), &e);
        d->rejected++;
        return;
    }
    if (strcmp(type, "Patient") == 0) {
        patient *p = patient_of_entry(d, i);
        d->rejected += p->failed || !p->keyed || e.nerrors;
        map_patient(d, p, &e);
    } else if (strcmp(type, "Condition") == 0)
        condition_is_pregnancy(res) ? map_pregnancy(d, i, res, ptr, false, &e)
                                    : map_condition(d, res, ptr, &e);
    else if (strcmp(type, "Observation") == 0)
        map_observation(d, i, res, ptr, &e);
    else if (strcmp(type, "EpisodeOfCare") == 0 && episode_is_pregnancy(res))
        map_pregnancy(d, i, res, ptr, true, &e);
    else if (strcmp(type, "EpisodeOfCare") == 0) {
        skip_resource(d, "EpisodeOfCare (not of type pregnancy)", ptr, &e);
    } else
        skip_resource(d, type, ptr, &e);
}

static void find_elements(dec *d)
{
    const msgw_dict *dict = d->ctx->dict;
    d->el.id = msgw_dict_element(dict, "id_number");
    d->el.name = msgw_dict_element(dict, "name");
    d->el.sex = msgw_dict_element(dict, "sex");
    d->el.birth = msgw_dict_element(dict, "birth_date");
    d->el.ethnic = msgw_dict_element(dict, "ethnic_group");
    d->el.marital = msgw_dict_element(dict, "marital_status");
    d->el.hukou_region = msgw_dict_element(dict, "hukou_region");
    d->el.hukou_type = msgw_dict_element(dict, "hukou_type");
    d->el.residence_region = msgw_dict_element(dict, "residence_region");
    d->el.death_date = msgw_dict_element(dict, "death_date");
    d->el.cond_code = msgw_dict_element(dict, "condition_code");
    d->el.cond_cat = msgw_dict_element(dict, "condition_category");
    d->el.clinical = msgw_dict_element(dict, "clinical_status");
    d->el.obs_code = msgw_dict_element(dict, "observation_code");
    d->el.obs_value = msgw_dict_element(dict, "observation_value");
    d->el.preg_status = msgw_dict_element(dict, "pregnancy_status");
    d->el.edd = msgw_dict_element(dict, "expected_delivery_date");
}

/* Line and column of a byte offset, for errors found before there is any JSON tree. */
static const char *byte_location(msgw_arena *a, const char *buf, size_t off)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') line++, col = 1;
        else col++;
    }
    return msgw_arena_printf(a, "line %zu, column %zu (byte %zu)", line, col, off);
}

/* Nesting depth, counted on the bytes so a hostile document is refused before it is parsed. */
static bool depth_ok(const char *buf, size_t len, unsigned max, size_t *at)
{
    unsigned depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') in_str = false;
        } else if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > max) {
                *at = i;
                return false;
            }
        } else if ((c == '}' || c == ']') && depth)
            depth--;
    }
    return true;
}

/* The charset parameter of a media type, e.g. "gb18030" from "...; charset=GB18030". */
static bool media_type_is_gb(const char *media_type)
{
    const char *cs = media_type ? strcasestr(media_type, "charset=") : NULL;
    if (!cs) return false;
    cs += strlen("charset=");
    if (*cs == '"') cs++;
    return msgw_charset_is_gb(cs, strcspn(cs, "\"; \t"));
}

/*
 * FHIR JSON is UTF-8; a legacy system that says charset=GB18030 in the media
 * type is converted first, and a UTF-8 byte order mark is tolerated.
 */
static const char *document_text(dec *d, const char *media_type, const char *buf, size_t *len)
{
    if (media_type_is_gb(media_type)) {
        size_t bad = 0, n = 0;
        char *u = msgw_gb18030_to_utf8(buf, *len, d->a, &n, &bad);
        if (!u) {
            msgw_error_add(&d->out->errors, -1, byte_location(d->a, buf, bad), NULL,
                           "fhir.json.gb18030",
                           "invalid GB18030 at byte %zu (the media type says charset=GB18030)", bad);
            return NULL;
        }
        *len = n;
        return u;
    }
    if (*len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        *len -= 3;
        return buf + 3;
    }
    return buf;
}

static json_t *parse_document(dec *d, const char *buf, size_t len)
{
    msgw_errors *err = &d->out->errors;
    size_t good = msgw_utf8_valid_prefix(buf, len);
    if (good != len) {
        msgw_error_add(err, -1, byte_location(d->a, buf, good), NULL, "fhir.json.utf8",
                       "invalid UTF-8 at byte %zu: FHIR JSON must be UTF-8 (RFC 8259); a legacy "
                       "GB18030 document must say so in its media type (; charset=GB18030)",
                       good);
        return NULL;
    }
    unsigned max = d->ctx->max_depth ? d->ctx->max_depth : DEFAULT_MAX_DEPTH;
    size_t at;
    if (!depth_ok(buf, len, max, &at)) {
        msgw_error_add(err, -1, byte_location(d->a, buf, at), NULL, "fhir.json.too_deep",
                       "the document nests deeper than %u levels: it was not parsed", max);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        enum json_error_code code = json_error_code(&jerr);
        const char *rule = code == json_error_duplicate_key      ? "fhir.json.duplicate_key"
                           : code == json_error_numeric_overflow ? "fhir.json.number_range"
                           : code == json_error_invalid_utf8     ? "fhir.json.utf8"
                                                                 : "fhir.json.syntax";
        msgw_error_add(err, -1, byte_location(d->a, buf, (size_t)jerr.position), NULL, rule,
                       "not valid JSON: %s", jerr.text);
        return NULL;
    }
    return root;
}

/* Entry index a schema error's JSON pointer belongs to; -1 for the document itself. */
static long schema_error_entry(const dec *d, const char *loc, bool bundle)
{
    if (!loc) return -1;
    if (!bundle) return *loc && strcmp(loc, "/") != 0 ? 0 : -1;
    if (strncmp(loc, "/entry/", 7) != 0) return -1;
    char *end;
    errno = 0;
    unsigned long i = strtoul(loc + 7, &end, 10);
    if (errno || end == loc + 7 || (*end && *end != '/') || i >= d->nentries) return -1;
    return (long)i;
}

static void validate_schema(dec *d, bool bundle)
{
    const msgw_jsonschema *s =
        d->ctx->schemas ? msgw_schemas_json(d->ctx->schemas, "fhir.schema.json") : NULL;
    if (!s) return;
    msgw_errors tmp;
    msgw_errors_init(&tmp);
    msgw_jsonschema_validate(s, d->root, &tmp, -1);
    for (size_t k = 0; k < tmp.n; k++) {
        const msgw_error *er = &tmp.v[k];
        long i = schema_error_entry(d, er->location, bundle);
        msgw_errors *dst = i < 0 ? &d->out->errors : &d->schema[i];
        msgw_errors_add(dst, er->severity, -1, er->location, er->field, er->rule, "%s",
                        er->message ? er->message : "");
    }
    msgw_errors_clear(&tmp);
}

static bool bundle_type_ok(dec *d)
{
    const char *t = fhir_str(d->root, "type");
    static const char *const ok[] = {"transaction", "batch", "searchset", "collection", NULL};
    for (const char *const *k = ok; t && *k; k++)
        if (strcmp(t, *k) == 0) return true;
    msgw_error_add(&d->out->errors, -1, "/type", "Bundle.type", "fhir.bundle.type",
                   "Bundle type %s is not accepted: msgw takes transaction, batch, searchset or "
                   "collection Bundles",
                   t ? t : "(missing)");
    return false;
}

/* The version an entry's resource says it is (meta.versionId), NULL when it says none. */
static const char *version_of(const json_t *ent)
{
    return fhir_str(jget(jget(ent, "resource"), "meta"), "versionId");
}

/*
 * The Bundle invariant bdl-7: "FullUrl must be unique in a bundle, or else entries with the same
 * fullUrl must have different meta.versionId (except in history bundles)".  Two entries that are
 * the same resource would make every reference to it name either: the Bundle is refused, naming
 * both entries.  Also keeps each entry's fullUrl for resolving references.
 */
static bool full_urls_unique(dec *d, const json_t *entries)
{
    bool history = fhir_str(d->root, "type") && strcmp(fhir_str(d->root, "type"), "history") == 0;
    msgw_idmap *seen = msgw_idmap_new();
    bool ok = true;
    for (size_t i = 0; i < d->nentries && ok; i++) {
        const json_t *ent = json_array_get(entries, i);
        const char *url = d->urls[i] = fhir_str(ent, "fullUrl");
        if (!url || history) continue;
        const char *v = version_of(ent);
        const char *key = msgw_arena_printf(d->a, "%s\x1f%s", url, v ? v : "");
        long other = msgw_idmap_get(seen, key);
        if (other >= 0) {
            msgw_error_add(&d->out->errors, -1, ptr_join(d->a, ptr_index(d->a, "/entry", i), "fullUrl"),
                           "Bundle.entry.fullUrl", "fhir.bundle.bdl-7",
                           "entries %ld and %zu have the same fullUrl %s%s (Bundle invariant bdl-7): "
                           "a reference to it would name either; the Bundle is refused",
                           other, i, url, v ? " and the same meta.versionId" : "");
            ok = false;
        }
        msgw_idmap_put(seen, key, (long)i);
    }
    msgw_idmap_destroy(&seen);
    return ok;
}

/* Lists a Bundle's entries; a DELETE or an entry without a resource is skipped with a warning. */
static bool collect_entries(dec *d, bool bundle)
{
    const json_t *entries = bundle ? jget(d->root, "entry") : NULL;
    if (bundle && entries && !json_is_array(entries)) {
        msgw_error_add(&d->out->errors, -1, "/entry", "Bundle.entry", "fhir.bundle.entry",
                       "Bundle.entry must be an array");
        return false;
    }
    d->nentries = bundle ? json_array_size(entries) : 1;
    size_t n = d->nentries ? d->nentries : 1;
    d->res = msgw_arena_alloc(d->a, n * sizeof *d->res);
    d->ptrs = msgw_arena_alloc(d->a, n * sizeof *d->ptrs);
    d->schema = calloc(n, sizeof *d->schema);
    d->pats = msgw_arena_alloc(d->a, n * sizeof *d->pats);
    d->urls = msgw_arena_alloc(d->a, n * sizeof *d->urls);
    d->cur_entry = SIZE_MAX;
    if (!d->schema) abort();
    if (!bundle) {
        d->res[0] = d->root;
        d->ptrs[0] = "";
        return true;
    }
    if (!full_urls_unique(d, entries)) return false;
    const json_t *ent;
    size_t i;
    json_array_foreach(entries, i, ent) {
        const char *eptr = ptr_index(d->a, "/entry", i);
        d->ptrs[i] = ptr_join(d->a, eptr, "resource");
        const json_t *res = jget(ent, "resource");
        const char *method = fhir_str(jget(ent, "request"), "method");
        if (method && strcmp(method, "DELETE") == 0) {
            msgw_warning_add(&d->out->errors, -1, eptr, "Bundle.entry.request", "fhir.entry.delete",
                             "a DELETE entry is skipped: msgw records facts and never deletes them");
            d->skipped++;
        } else if (!json_is_object(res)) {
            msgw_warning_add(&d->out->errors, -1, eptr, "Bundle.entry.resource",
                             "fhir.entry.no_resource", "the entry carries no resource: skipped");
            d->skipped++;
        } else
            d->res[i] = (json_t *)res;
    }
    return true;
}

static void decode_patients(dec *d, bool bundle)
{
    d->pat_of_entry = msgw_arena_alloc(d->a, (d->nentries + 1) * sizeof *d->pat_of_entry);
    d->pat_by_url = msgw_idmap_new();
    d->pat_by_id = msgw_idmap_new();
    for (size_t i = 0; i < d->nentries; i++) {
        d->pat_of_entry[i] = -1;
        const char *type = fhir_str(d->res[i], "resourceType");
        if (!type || strcmp(type, "Patient") != 0) continue;
        d->pat_of_entry[i] = (long)d->npats;
        patient *p = &d->pats[d->npats++];
        p->entry = i;
        p->full_url = bundle ? fhir_str(json_array_get(jget(d->root, "entry"), i), "fullUrl") : NULL;
        decode_patient(d, d->res[i], d->ptrs[i], p);
        p->failed = p->failed || d->schema[i].nerrors > 0;
        if (p->full_url) msgw_idmap_put(d->pat_by_url, unversioned(d, p->full_url), d->pat_of_entry[i]);
        if (p->id) /* an id two Patients have names neither (find_patient) */
            msgw_idmap_put(d->pat_by_id, p->id,
                           msgw_idmap_get(d->pat_by_id, p->id) == -1 ? d->pat_of_entry[i] : PAT_AMBIGUOUS);
    }
}

static void report_skips(dec *d, bool bundle)
{
    for (size_t i = 0; i < d->nelems; i++)
        msgw_warning_add(&d->out->errors, -1, d->elems[i].first, d->elems[i].what,
                         "fhir.element.skipped",
                         "not mapped: msgw does not carry this element (%zu occurrence%s; the "
                         "first is here)",
                         d->elems[i].n, d->elems[i].n == 1 ? "" : "s");
    if (!bundle) return;
    char *types = msgw_arena_strdup(d->a, "");
    for (size_t i = 0; i < d->ntypes; i++)
        types = msgw_arena_printf(d->a, "%s%s%s %zu", types, i ? ", " : "", d->types[i].what,
                                  d->types[i].n);
    msgw_warning_add(&d->out->errors, -1, "/", "Bundle", "fhir.bundle.summary",
                     "Bundle %s of %zu entries: %zu mapped, %zu rejected, %zu skipped%s%s%s%s",
                     fhir_str(d->root, "type"), d->nentries, d->mapped, d->rejected, d->skipped,
                     *types ? " (" : "", types, *types ? ")" : "",
                     d->skip_warnings_left_out
                         ? msgw_arena_printf(d->a,
                                             "; %zu 'skipped' warnings left out to keep room",
                                             d->skip_warnings_left_out)
                         : "");
}

static void free_state(dec *d)
{
    for (size_t i = 0; i < d->nentries; i++) msgw_errors_clear(&d->schema[i]);
    for (size_t i = 0; i < d->npats; i++) msgw_errors_clear(&d->pats[i].errs);
    msgw_idmap_destroy(&d->pat_by_url);
    msgw_idmap_destroy(&d->pat_by_id);
    free(d->schema);
    json_decref(d->root);
}

void fhir_decode(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf, size_t len,
                 msgw_batch *out)
{
    dec d = {.ctx = ctx, .out = out, .a = out->arena};
    if (!fhir_media_type_ok(media_type)) {
        msgw_error_add(&out->errors, -1, NULL, NULL, "fhir.media_type",
                       "media type %s is not FHIR JSON: send application/fhir+json", media_type);
        return;
    }
    if (d.ctx->max_document_bytes && len > d.ctx->max_document_bytes) {
        msgw_error_add(&out->errors, -1, NULL, NULL, "fhir.document.too_large",
                       "the document is %zu bytes; the limit is %zu: it was not parsed", len,
                       d.ctx->max_document_bytes);
        return;
    }
    const char *text = document_text(&d, media_type, buf, &len);
    if (!text) return;
    d.root = parse_document(&d, text, len);
    if (!d.root) return;
    const char *rtype = fhir_str(d.root, "resourceType");
    if (!json_is_object(d.root) || !rtype) {
        msgw_error_add(&out->errors, -1, "/", "resourceType", "fhir.document.not_resource",
                       "the document is not a FHIR resource: a JSON object with resourceType is "
                       "expected");
        json_decref(d.root);
        return;
    }
    bool bundle = strcmp(rtype, "Bundle") == 0;
    find_elements(&d);
    if ((bundle && !bundle_type_ok(&d)) || !collect_entries(&d, bundle) ||
        !fhir_icd_table_load(&d.icd, d.a, &out->errors)) {
        free_state(&d);
        return;
    }
    validate_schema(&d, bundle);
    if (!msgw_errors_record_failed(&out->errors, -1)) {
        decode_patients(&d, bundle);
        for (size_t i = 0; i < d.nentries; i++)
            if (d.res[i] && fhir_str(d.res[i], "resourceType") &&
                strcmp(fhir_str(d.res[i], "resourceType"), "Observation") == 0)
                collect_edd_observation(&d, i, d.res[i]);
        claim_edd_observations(&d);
        for (size_t i = 0; i < d.nentries && !d.records_full; i++)
            if (d.res[i]) map_entry(&d, i);
        report_skips(&d, bundle);
    } else
        for (size_t i = 0; i < d.nentries; i++) msgw_errors_move(&out->errors, &d.schema[i], -1);
    free_state(&d);
}
