/*
 * Canonical records -> one FHIR R4 transaction Bundle.
 *
 * Every person that has a person_registration or death record becomes one
 * Patient entry (a death adds deceasedDateTime to it), placed where that
 * person's first such record is, so decoding the Bundle again gives the same
 * records in the same order.  A condition, observation or pregnancy refers to
 * that Patient by its urn:uuid fullUrl; about anyone else it carries the
 * person as a contained Patient (when more than the ID number is known) or as
 * a logical identifier reference.  Everything the decoder reads back is
 * written with the same URIs (fhir_internal.h), which is what makes
 * decode -> encode -> decode give equal records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_internal.h"
#include "msgw/base/date.h"
#include "msgw/model/model.h"

/* A Patient entry: planned before writing, so references may point forward. */
typedef struct enc_patient {
    msgw_person person; /* what it is written from */
    char *full_url;
    size_t rec;     /* the record that writes it */
    bool death;     /* a death record adds deceasedDateTime to it */
    json_t *res;    /* borrowed once written: the entry list owns it */
} enc_patient;

typedef struct enc {
    const msgw_adapter_ctx *ctx;
    msgw_errors *e;
    json_t *entries;
    const msgw_record *const *recs;
    size_t nrecs;
    enc_patient *pats;
    size_t npats;
    unsigned next_uuid;
} enc;

/* Deterministic urn:uuid values (version 4 layout), so the same records give the same bytes. */
static char *next_full_url(enc *x)
{
    char *s = NULL;
    if (asprintf(&s, "urn:uuid:6d736777-0000-4000-8000-%012x", ++x->next_uuid) < 0) abort();
    return s;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v) json_object_set_new(o, key, json_string(v));
}

static void set_date(json_t *o, const char *key, msgw_date d)
{
    char buf[11];
    if (d != MSGW_DATE_NONE) json_object_set_new(o, key, json_string(msgw_date_format(d, buf)));
}

static json_t *coding(const char *system, const char *code)
{
    return json_pack("{s:s, s:s}", "system", system, "code", code);
}

static json_t *concept(const char *system, const char *code)
{
    return json_pack("{s:[o]}", "coding", coding(system, code));
}

static json_t *codelist_concept(const char *list, const char *code)
{
    char sys[96];
    snprintf(sys, sizeof sys, FHIR_CODELIST_PREFIX "%s", list);
    return concept(sys, code);
}

static void add_extension(json_t *res, json_t *ext)
{
    json_t *list = json_object_get(res, "extension");
    if (!list) {
        list = json_array();
        json_object_set_new(res, "extension", list);
    }
    json_array_append_new(list, ext);
}

static const char *attr_s(const msgw_fact *f, const char *name)
{
    const msgw_attr *a = msgw_fact_attr(f, name);
    return a && (a->v.kind == MSGW_V_STRING || a->v.kind == MSGW_V_CODE) ? a->v.u.s : NULL;
}

static msgw_date attr_d(const msgw_fact *f, const char *name)
{
    const msgw_attr *a = msgw_fact_attr(f, name);
    return a && a->v.kind == MSGW_V_DATE ? a->v.u.d : MSGW_DATE_NONE;
}

static json_t *resident_identifier(const enc *x, const char *id)
{
    return fhir_resident_identifier(x->ctx->fhir_id_system, id);
}

static json_t *region_address(const char *region, const char *role)
{
    json_t *addr = json_pack("{s:s, s:s}", "use", "home", "district", region);
    if (role)
        add_extension(addr, json_pack("{s:s, s:s}", "url", FHIR_EXT_ADDRESS_ROLE, "valueCode", role));
    return addr;
}

/* The Patient's own elements from a canonical person; addresses come from residence facts. */
static bool person_to_patient(enc *x, const msgw_person *p, json_t *res, const char *loc)
{
    json_object_set_new(res, "identifier", json_pack("[o]", resident_identifier(x, p->id_number)));
    if (p->name) json_object_set_new(res, "name", json_pack("[{s:s, s:s}]", "use", "official", "text", p->name));
    if (p->sex) {
        const char *g = fhir_gender_from_gb(p->sex);
        if (!g) {
            msgw_error_add(x->e, -1, loc, "sex", "fhir.encode.sex",
                           "sex %s has no FHIR administrative gender", p->sex);
            return false;
        }
        set_str(res, "gender", g);
    }
    set_date(res, "birthDate", p->birth_date);
    if (p->ethnic)
        add_extension(res, json_pack("{s:s, s:o}", "url", FHIR_EXT_ETHNIC, "valueCoding",
                                     coding(FHIR_CODELIST_PREFIX "ethnic_group", p->ethnic)));
    if (p->hukou_type)
        add_extension(res, json_pack("{s:s, s:s}", "url", FHIR_EXT_HUKOU_TYPE, "valueCode", p->hukou_type));
    if (p->marital) {
        json_t *ms = codelist_concept("marital_status", p->marital);
        const char *v3 = fhir_marital_from_gb(p->marital);
        if (v3)
            json_array_append_new(json_object_get(ms, "coding"), coding(FHIR_SYS_V3_MARITAL, v3));
        json_object_set_new(res, "maritalStatus", ms);
    }
    if (p->hukou_region)
        json_object_set_new(res, "address", json_pack("[o]", region_address(p->hukou_region, "hukou")));
    return true;
}

static bool person_has_details(const msgw_person *p)
{
    return p->name || p->sex || p->birth_date != MSGW_DATE_NONE || p->ethnic || p->marital ||
           p->hukou_region || p->hukou_type || p->residence_region;
}

static bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Same person content: only then may a clinical resource point at that Patient entry. */
static bool person_same(const msgw_person *a, const msgw_person *b)
{
    return strcmp(a->id_number, b->id_number) == 0 && str_same(a->name, b->name) &&
           str_same(a->sex, b->sex) && a->birth_date == b->birth_date &&
           str_same(a->ethnic, b->ethnic) && str_same(a->marital, b->marital) &&
           str_same(a->hukou_region, b->hukou_region) && str_same(a->hukou_type, b->hukou_type) &&
           str_same(a->residence_region, b->residence_region);
}

static enc_patient *patient_for_person(enc *x, const msgw_person *p)
{
    for (size_t i = 0; i < x->npats; i++)
        if (person_same(&x->pats[i].person, p)) return &x->pats[i];
    return NULL;
}

static void add_entry(enc *x, const char *full_url, json_t *res)
{
    json_t *entry = json_pack("{s:s, s:o, s:{s:s, s:s}}", "fullUrl", full_url, "resource", res,
                              "request", "method", "POST", "url",
                              json_string_value(json_object_get(res, "resourceType")));
    json_array_append_new(x->entries, entry);
}

/* Writes a planned Patient entry. */
static json_t *write_patient(enc *x, enc_patient *ep, const char *loc)
{
    json_t *res = json_pack("{s:s}", "resourceType", "Patient");
    if (!person_to_patient(x, &ep->person, res, loc)) {
        json_decref(res);
        return NULL;
    }
    ep->res = res;
    add_entry(x, ep->full_url, res);
    return res;
}

/*
 * The decoder takes the person's residence_region from the first current
 * address (no period end, use not "old"), so every other open-ended one is
 * written as "old".
 */
static void add_residence(json_t *pat, const msgw_fact *f, bool is_current)
{
    const char *region = attr_s(f, "residence_region");
    if (!region) return;
    json_t *addr = region_address(region, NULL);
    if (f->valid_to == MSGW_DATE_NONE && !is_current)
        json_object_set_new(addr, "use", json_string("old"));
    if (f->valid_from != MSGW_DATE_NONE || f->valid_to != MSGW_DATE_NONE) {
        json_t *period = json_object();
        set_date(period, "start", f->valid_from);
        set_date(period, "end", f->valid_to);
        json_object_set_new(addr, "period", period);
    }
    json_t *list = json_object_get(pat, "address");
    if (!list) {
        list = json_array();
        json_object_set_new(pat, "address", list);
    }
    json_array_append_new(list, addr);
}

static bool encode_deceased(json_t *pat, const msgw_record *r)
{
    for (size_t k = 0; k < r->nfacts; k++) {
        const msgw_fact *f = &r->facts[k];
        if (strcmp(f->type, "death") != 0) continue;
        msgw_date day = attr_d(f, "death_date");
        if (day == MSGW_DATE_NONE) day = f->valid_from;
        if (day == MSGW_DATE_NONE) json_object_set_new(pat, "deceasedBoolean", json_true());
        else set_date(pat, "deceasedDateTime", day);
    }
    return true;
}

static bool encode_registration(enc *x, const msgw_record *r, size_t ri)
{
    for (size_t i = 0; i < x->npats; i++) {
        enc_patient *ep = &x->pats[i];
        if (ep->rec != ri) continue;
        const msgw_person *p = &ep->person;
        json_t *pat = write_patient(x, ep, r->loc);
        if (!pat) return false;
        bool current_done = false;
        for (size_t k = 0; k < r->nfacts; k++) {
            const msgw_fact *f = &r->facts[k];
            if (strcmp(f->type, "residence") != 0 || strcmp(f->subject, p->id_number) != 0) continue;
            const char *region = attr_s(f, "residence_region");
            bool current = !current_done && f->valid_to == MSGW_DATE_NONE &&
                           str_same(region, p->residence_region);
            current_done |= current;
            add_residence(pat, f, current);
        }
        if (p->residence_region && !current_done) {
            json_t *list = json_object_get(pat, "address");
            if (!list) json_object_set_new(pat, "address", list = json_array());
            json_array_append_new(list, region_address(p->residence_region, NULL));
        }
        if (ep->death && !encode_deceased(pat, x->recs[ri + 1])) return false;
    }
    return true;
}

/* A death record not folded into the registration just before it gets a Patient of its own. */
static bool encode_death(enc *x, const msgw_record *r, size_t ri)
{
    for (size_t i = 0; i < x->npats; i++) {
        enc_patient *ep = &x->pats[i];
        if (ep->rec != ri) continue;
        json_t *pat = write_patient(x, ep, r->loc);
        if (!pat || !encode_deceased(pat, r)) return false;
    }
    return true;
}

/* How a clinical resource names its person: Bundle Patient, contained Patient, or identifier. */
static json_t *subject_reference(enc *x, const msgw_record *r, const char *id, json_t *res)
{
    const msgw_person *p = msgw_record_person(r, id);
    enc_patient *ep = p ? patient_for_person(x, p) : NULL;
    if (ep) return json_pack("{s:s}", "reference", ep->full_url);
    if (p && person_has_details(p)) {
        json_t *pat = json_pack("{s:s, s:s}", "resourceType", "Patient", "id", "p1");
        if (!person_to_patient(x, p, pat, r->loc)) {
            json_decref(pat);
            return NULL;
        }
        if (p->residence_region) {
            json_t *list = json_object_get(pat, "address");
            if (!list) json_object_set_new(pat, "address", list = json_array());
            json_array_append_new(list, region_address(p->residence_region, NULL));
        }
        json_object_set_new(res, "contained", json_pack("[o]", pat));
        return json_pack("{s:s}", "reference", "#p1");
    }
    return json_pack("{s:o}", "identifier", resident_identifier(x, id));
}

static void set_period(json_t *res, const char *key, const msgw_fact *f)
{
    json_t *period = json_object();
    set_date(period, "start", f->valid_from);
    set_date(period, "end", f->valid_to);
    if (json_object_size(period)) json_object_set_new(res, key, period);
    else json_decref(period);
}

static json_t *condition_resource(const msgw_fact *f)
{
    json_t *res = json_pack("{s:s}", "resourceType", "Condition");
    const char *cs = attr_s(f, "clinical_status"), *cat = attr_s(f, "condition_category");
    if (cs) json_object_set_new(res, "clinicalStatus", concept(FHIR_SYS_CLINICAL, cs));
    if (cat)
        json_object_set_new(res, "category",
                            json_pack("[o]", codelist_concept("condition_category", cat)));
    const char *code = attr_s(f, "condition_code");
    if (code) json_object_set_new(res, "code", concept(FHIR_SYS_ICD10, code));
    set_date(res, "onsetDateTime", f->valid_from);
    set_date(res, "abatementDateTime", f->valid_to);
    return res;
}

static json_t *observation_resource(const msgw_fact *f)
{
    json_t *res = json_pack("{s:s, s:s}", "resourceType", "Observation", "status", "final");
    const char *code = attr_s(f, "observation_code"), *value = attr_s(f, "observation_value");
    if (code) json_object_set_new(res, "code", concept(FHIR_SYS_LOINC, code));
    if (f->valid_to == MSGW_DATE_NONE) set_date(res, "effectiveDateTime", f->valid_from);
    else set_period(res, "effectivePeriod", f);
    set_str(res, "valueString", value);
    return res;
}

static json_t *pregnancy_resource(enc *x, const msgw_fact *f, const char *loc)
{
    const char *st = attr_s(f, "pregnancy_status");
    const char *status = fhir_pregnancy_to_episode_status(st);
    if (!status) {
        msgw_error_add(x->e, -1, loc, "pregnancy_status", "fhir.encode.pregnancy_status",
                       "pregnancy_status %s has no EpisodeOfCare.status", st ? st : "(missing)");
        return NULL;
    }
    json_t *res = json_pack("{s:s}", "resourceType", "EpisodeOfCare");
    msgw_date edd = attr_d(f, "expected_delivery_date");
    if (edd != MSGW_DATE_NONE) {
        char buf[11];
        add_extension(res, json_pack("{s:s, s:s}", "url", FHIR_EXT_EDD, "valueDate",
                                     msgw_date_format(edd, buf)));
    }
    set_str(res, "status", status);
    json_object_set_new(res, "type",
                        json_pack("[{s:[{s:s, s:s, s:s}], s:s}]", "coding", "system", FHIR_SYS_SNOMED,
                                  "code", FHIR_SNOMED_PREGNANCY, "display", "Pregnancy", "text",
                                  "孕产期"));
    set_period(res, "period", f);
    return res;
}

/* One resource per fact of a condition, observation or pregnancy record. */
static bool encode_clinical(enc *x, const msgw_record *r)
{
    for (size_t k = 0; k < r->nfacts; k++) {
        const msgw_fact *f = &r->facts[k];
        json_t *res = strcmp(f->type, "condition") == 0     ? condition_resource(f)
                      : strcmp(f->type, "observation") == 0 ? observation_resource(f)
                      : strcmp(f->type, "pregnancy") == 0   ? pregnancy_resource(x, f, r->loc)
                                                            : NULL;
        if (!res) {
            if (x->e->nerrors == 0)
                msgw_error_add(x->e, -1, r->loc, f->type, "fhir.encode.fact",
                               "a %s fact cannot be carried in a %s record", f->type, r->kind);
            return false;
        }
        json_t *subj = subject_reference(x, r, f->subject, res);
        if (!subj) {
            json_decref(res);
            return false;
        }
        json_object_set_new(res, strcmp(f->type, "pregnancy") == 0 ? "patient" : "subject", subj);
        char *url = next_full_url(x);
        add_entry(x, url, res);
        free(url);
    }
    return true;
}

static bool kind_ok(const char *kind)
{
    static const char *const kinds[] = {"person_registration", "death", "condition", "observation",
                                        "pregnancy", NULL};
    for (const char *const *k = kinds; kind && *k; k++)
        if (strcmp(kind, *k) == 0) return true;
    return false;
}

static enc_patient *plan_patient(enc *x, const msgw_person *p, size_t ri)
{
    enc_patient *ep = &x->pats[x->npats++];
    ep->person = *p;
    ep->full_url = next_full_url(x);
    ep->rec = ri;
    return ep;
}

/* The death's person, as the record names it (or just the ID number). */
static msgw_person death_person(const msgw_record *r, const msgw_fact *f)
{
    const msgw_person *p = msgw_record_person(r, f->subject);
    msgw_person bare;
    msgw_person_init(&bare);
    snprintf(bare.id_number, sizeof bare.id_number, "%s", f->subject);
    return p ? *p : bare;
}

/*
 * One Patient per person of a registration; a death right after the
 * registration of the same person (as the decoder produces them) is folded
 * into it.  Planned first, so a Condition before its Patient can refer to it.
 */
static void plan_patients(enc *x)
{
    for (size_t i = 0; i < x->nrecs; i++) {
        const msgw_record *r = x->recs[i];
        if (strcmp(r->kind, "person_registration") == 0) {
            for (size_t k = 0; k < r->npersons; k++) plan_patient(x, &r->persons[k], i);
            continue;
        }
        if (strcmp(r->kind, "death") != 0) continue;
        const msgw_record *prev = i ? x->recs[i - 1] : NULL;
        enc_patient *last = x->npats ? &x->pats[x->npats - 1] : NULL;
        for (size_t k = 0; k < r->nfacts; k++) {
            if (strcmp(r->facts[k].type, "death") != 0) continue;
            msgw_person p = death_person(r, &r->facts[k]);
            bool fold = r->nfacts == 1 && prev && last && last->rec == i - 1 && !last->death &&
                        strcmp(prev->kind, "person_registration") == 0 && prev->npersons == 1 &&
                        person_same(&last->person, &p);
            if (fold) last->death = true;
            else plan_patient(x, &p, i);
        }
    }
}

static size_t count_patient_slots(const msgw_record *const *recs, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += recs[i]->npersons + recs[i]->nfacts;
    return c;
}

bool fhir_encode(const msgw_adapter_ctx *ctx, const char *media_type,
                 const msgw_record *const *recs, size_t n, msgw_buf *out, msgw_errors *e)
{
    if (!fhir_media_type_ok(media_type)) {
        msgw_error_add(e, -1, NULL, NULL, "fhir.media_type",
                       "media type %s is not FHIR JSON: the health adapter writes "
                       "application/fhir+json",
                       media_type);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        if (!kind_ok(recs[i]->kind)) {
            msgw_error_add(e, (int)i, recs[i]->loc, "kind", "fhir.encode.kind",
                           "record kind %s cannot be carried in FHIR: the health adapter encodes "
                           "person_registration, death, condition, observation and pregnancy",
                           recs[i]->kind ? recs[i]->kind : "(none)");
            ok = false;
        }
    if (!ok) return false;
    enc x = {.ctx = ctx, .e = e, .entries = json_array(), .recs = recs, .nrecs = n};
    x.pats = calloc(count_patient_slots(recs, n) + 1, sizeof *x.pats);
    if (!x.pats) abort();
    plan_patients(&x);
    for (size_t i = 0; i < n && ok; i++) {
        const msgw_record *r = recs[i];
        size_t before = e->n;
        ok = strcmp(r->kind, "person_registration") == 0 ? encode_registration(&x, r, i)
             : strcmp(r->kind, "death") == 0             ? encode_death(&x, r, i)
                                                         : encode_clinical(&x, r);
        for (size_t k = before; k < e->n; k++) e->v[k].record = (int)i;
    }
    if (ok) {
        json_t *bundle = json_pack("{s:s, s:s, s:O}", "resourceType", "Bundle", "type",
                                   "transaction", "entry", x.entries);
        char *text = json_dumps(bundle, JSON_INDENT(1));
        msgw_buf_puts(out, text);
        msgw_buf_puts(out, "\n");
        free(text);
        json_decref(bundle);
    }
    for (size_t i = 0; i < x.npats; i++) free(x.pats[i].full_url);
    free(x.pats);
    json_decref(x.entries);
    return ok;
}
