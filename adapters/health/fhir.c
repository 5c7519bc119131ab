/*
 * The health (卫健) adapter: HL7 FHIR R4 JSON.  This file registers the
 * adapter and holds what decoder and encoder share: the code maps between
 * FHIR value sets and the GB/T code lists, and the ICD-10 -> chronic-disease
 * category table (data in schemas/codelists/icd10_category.json, so a policy
 * change is a data edit, not a code change).  Decoding is in fhir_decode.c,
 * encoding in fhir_encode.c, the eligibility notices (a Flag) in
 * fhir_notice.c; the format is described in docs/formats/health.md.
 */
#include <string.h>
#include <strings.h>

#include "fhir_internal.h"
#include "msgw/base/embedded.h"
#include "msgw/validate/schemas.h"

#define ICD_TABLE_FILE "codelists/icd10_category.json"

json_t *fhir_resident_identifier(const char *system, const char *id)
{
    json_t *ident = json_pack("{s:s, s:{s:[{s:s, s:s}]}}", "use", "official", "type", "coding",
                              "system", FHIR_SYS_V2_0203, "code", "NI");
    if (system) json_object_set_new(ident, "system", json_string(system));
    json_object_set_new(ident, "value", json_string(id));
    return ident;
}

const char *fhir_str(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A three-character ICD-10 category: letter + two digits. */
static bool icd_category_ok(const char *s)
{
    return s && strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= '0' && s[1] <= '9' &&
           s[2] >= '0' && s[2] <= '9';
}

static bool icd_range_parse(const json_t *entry, fhir_icd_range *r)
{
    const char *from = fhir_str(entry, "code");
    const char *to = fhir_str(entry, "to");
    const char *cat = fhir_str(entry, "category");
    if (!icd_category_ok(from) || (to && !icd_category_ok(to)) || !cat) return false;
    memcpy(r->from, from, 4);
    memcpy(r->to, to ? to : from, 4);
    r->category = cat;
    return true;
}

bool fhir_icd_table_load(fhir_icd_table *t, msgw_arena *a, msgw_errors *e)
{
    memset(t, 0, sizeof *t);
    const msgw_embedded_file *f = msgw_embedded_find(ICD_TABLE_FILE);
    json_error_t jerr;
    json_t *doc = f ? json_loadb(f->data, f->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    const json_t *codes = json_object_get(doc, "codes");
    if (!json_is_array(codes)) {
        msgw_error_add(e, -1, NULL, NULL, "fhir.internal.icd10_table",
                       "the embedded %s is missing or unreadable: cannot derive condition_category",
                       ICD_TABLE_FILE);
        json_decref(doc);
        return false;
    }
    t->v = msgw_arena_alloc(a, (json_array_size(codes) + 1) * sizeof *t->v);
    size_t i;
    const json_t *entry;
    json_array_foreach(codes, i, entry)
    {
        fhir_icd_range r;
        if (!icd_range_parse(entry, &r)) continue;
        r.category = msgw_arena_strdup(a, r.category);
        t->v[t->n++] = r;
    }
    const char *fallback = fhir_str(doc, "default_category");
    t->fallback = msgw_arena_strdup(a, fallback ? fallback : "9");
    json_decref(doc);
    return true;
}

const char *fhir_icd_category(const fhir_icd_table *t, const char *icd)
{
    char cat[4] = {0};
    if (!icd || strlen(icd) < 3) return t->fallback;
    memcpy(cat, icd, 3);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(cat, t->v[i].from) >= 0 && strcmp(cat, t->v[i].to) <= 0) return t->v[i].category;
    return t->fallback;
}

bool fhir_icd_is_pregnancy(const char *icd)
{
    return icd && strncmp(icd, "Z33", 3) == 0;
}

typedef struct code_pair {
    const char *fhir, *gb;
} code_pair;

/* GB/T 2261.1: 9 is "未说明的性别" (not stated), the nearest to FHIR "other". */
static const code_pair genders[] = {
    {"male", "1"}, {"female", "2"}, {"other", "9"}, {"unknown", "0"}, {NULL, NULL}};

/* v3 S/M/W/D/UNK; a sender's finer GB/T 2261.2 codes travel in a msgw coding instead. */
static const code_pair maritals[] = {
    {"S", "10"}, {"M", "20"}, {"W", "30"}, {"D", "40"}, {"UNK", "90"}, {NULL, NULL}};

/*
 * A planned or running episode is an ongoing pregnancy; "finished" means it
 * ended in delivery, "cancelled" that it ended otherwise.  A sender that means
 * something else says so with the pregnancy-status extension.
 */
static const code_pair episode_states[] = {{"active", "1"},   {"planned", "1"},
                                           {"waitlist", "1"}, {"onhold", "1"},
                                           {"finished", "2"}, {"cancelled", "3"},
                                           {NULL, NULL}};

static const char *to_gb(const code_pair *t, const char *fhir)
{
    for (; fhir && t->fhir; t++)
        if (strcmp(t->fhir, fhir) == 0) return t->gb;
    return NULL;
}

static const char *from_gb(const code_pair *t, const char *gb)
{
    for (; gb && t->gb; t++)
        if (strcmp(t->gb, gb) == 0) return t->fhir;
    return NULL;
}

const char *fhir_gender_to_gb(const char *gender)
{
    return to_gb(genders, gender);
}

const char *fhir_gender_from_gb(const char *sex)
{
    return from_gb(genders, sex);
}

const char *fhir_marital_to_gb(const char *v3)
{
    return to_gb(maritals, v3);
}

const char *fhir_marital_from_gb(const char *gb)
{
    return from_gb(maritals, gb);
}

const char *fhir_episode_status_to_pregnancy(const char *status)
{
    return to_gb(episode_states, status);
}

const char *fhir_pregnancy_to_episode_status(const char *pregnancy_status)
{
    return from_gb(episode_states, pregnancy_status);
}

bool fhir_media_type_ok(const char *media_type)
{
    if (!media_type) return true;
    size_t n = strcspn(media_type, "; \t");
    static const char *const ok[] = {"application/fhir+json", "application/json+fhir",
                                     "application/json", NULL};
    for (const char *const *m = ok; *m; m++)
        if (strlen(*m) == n && strncasecmp(media_type, *m, n) == 0) return true;
    return false;
}

static const char *const aliases[] = {"fhir", "weijian", NULL};
static const char *const media_types[] = {"application/fhir+json", "application/json+fhir", NULL};

const msgw_adapter msgw_adapter_health = {
    .name = "health",
    .department = "卫健 health (HL7 FHIR R4 JSON)",
    .aliases = aliases,
    .media_types = media_types,
    .decode = fhir_decode,
    .encode = fhir_encode,
    .encode_notice = fhir_encode_notice,
    .notice_types = fhir_notice_types,
    .join_notices = fhir_join_notices,
};
