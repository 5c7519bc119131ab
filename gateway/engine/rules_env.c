/*
 * The rule environment: what rules may name.  The slot layout is derived
 * from the dictionary (every fact type gets slots for presence, valid time
 * and each attribute), so a fact type added to the dictionary is usable in
 * rules without touching code.  Also builds views: one person's facts on
 * one date, packed into those slots.
 */
#include <stdlib.h>
#include <string.h>

#include "msgw/engine/rules.h"
#include "rules_internal.h"

msgw_rtype msgw_rule_rtype_of(const msgw_element *el);

msgw_rtype msgw_rule_rtype_of(const msgw_element *el)
{
    switch (el->type) {
    case MSGW_TY_CODE:
        return strcmp(el->codes->id, "region") == 0 ? MSGW_RT_REGION : MSGW_RT_CODE;
    case MSGW_TY_DATE: return MSGW_RT_DATE;
    case MSGW_TY_INT: return MSGW_RT_INT;
    case MSGW_TY_MONEY: return MSGW_RT_MONEY;
    case MSGW_TY_BOOL: return MSGW_RT_BOOL;
    default: return MSGW_RT_STRING;
    }
}

static void layout_fact(msgw_rule_env *env, const msgw_fact_type *ft)
{
    fact_layout *fl = &env->facts[env->nfacts++];
    fl->ft = ft;
    fl->present = (int)env->nslots++;
    fl->valid_from = (int)env->nslots++;
    fl->valid_to = (int)env->nslots++;
    fl->attr = calloc(ft->nattrs + 1, sizeof *fl->attr);
    fl->set = calloc(ft->nattrs + 1, sizeof *fl->set);
    if (!fl->attr || !fl->set) abort();
    for (size_t i = 0; i < ft->nattrs; i++) {
        fl->attr[i] = (int)env->nslots++;
        const msgw_element *el = ft->attrs[i];
        /* A set slot lets a rule ask "any current fact with this code" (insurance types). */
        bool small_code = el->type == MSGW_TY_CODE && el->codes->ncodes <= 63 &&
                          msgw_rule_rtype_of(el) == MSGW_RT_CODE;
        fl->set[i] = small_code ? (int)env->nslots++ : -1;
    }
}

msgw_rule_env *msgw_rule_env_new(const msgw_dict *d)
{
    msgw_rule_env *env = calloc(1, sizeof *env);
    if (!env) abort();
    env->dict = d;
    env->nslots = P_NSLOTS;
    env->sex = msgw_dict_element(d, "sex");
    env->hukou_type = msgw_dict_element(d, "hukou_type");
    for (size_t i = 0; i < msgw_dict_count_fact_types(d) && env->nfacts < MSGW_MAX_FACT_TYPES; i++)
        layout_fact(env, msgw_dict_fact_type_at(d, i));
    int *slot_fact = malloc(env->nslots * sizeof *slot_fact);
    if (!slot_fact) abort();
    for (size_t s = 0; s < env->nslots; s++) slot_fact[s] = msgw_rule_env_slot_fact(env, (int)s);
    env->slot_fact = slot_fact; /* from now on the lookup reads it */
    env->income_fact = msgw_rule_env_fact_index(env, "income");
    return env;
}

void msgw_rule_env_destroy(msgw_rule_env **envp)
{
    if (!envp || !*envp) return;
    msgw_rule_env *env = *envp;
    for (size_t i = 0; i < env->nfacts; i++) {
        free(env->facts[i].attr);
        free(env->facts[i].set);
    }
    for (size_t i = 0; i < env->nparams; i++) free(env->param_names[i]);
    free(env->slot_fact);
    free(env);
    *envp = NULL;
}

size_t msgw_rule_env_slots(const msgw_rule_env *env)
{
    return env->nslots;
}

int msgw_rule_env_param_find(const msgw_rule_env *env, const char *name)
{
    for (size_t i = 0; i < env->nparams; i++)
        if (strcmp(env->param_names[i], name) == 0) return (int)i;
    return -1;
}

int msgw_rule_env_param(msgw_rule_env *env, const char *name, msgw_rtype type)
{
    int i = msgw_rule_env_param_find(env, name);
    if (i >= 0) return env->param_types[i] == type ? i : -1;
    if (env->nparams == MSGW_MAX_PARAMS) return -1;
    env->param_names[env->nparams] = strdup(name);
    env->param_types[env->nparams] = type;
    return (int)env->nparams++;
}

size_t msgw_rule_env_nparams(const msgw_rule_env *env)
{
    return env->nparams;
}

size_t msgw_rule_env_nfact_types(const msgw_rule_env *env)
{
    return env->nfacts;
}

int msgw_rule_env_fact_index(const msgw_rule_env *env, const char *fact_type)
{
    for (size_t i = 0; i < env->nfacts; i++)
        if (strcmp(env->facts[i].ft->id, fact_type) == 0) return (int)i;
    return -1;
}

const char *msgw_rule_env_fact_name(const msgw_rule_env *env, int index)
{
    return index >= 0 && (size_t)index < env->nfacts ? env->facts[index].ft->id : NULL;
}

int msgw_rule_env_slot(const msgw_rule_env *env, const char *fact, const char *attr)
{
    if (!fact) {
        static const char *const person[P_NSLOTS] = {"birth_date",       "sex",         "hukou_region",
                                                     "hukou_type",       "residence_region", "hukou_moved",
                                                     "residence_moved"};
        for (int i = 0; i < P_NSLOTS; i++)
            if (strcmp(person[i], attr) == 0) return i;
        return -1;
    }
    int fi = msgw_rule_env_fact_index(env, fact);
    if (fi < 0) return -1;
    const fact_layout *fl = &env->facts[fi];
    if (strcmp(attr, "present") == 0) return fl->present;
    if (strcmp(attr, "valid_from") == 0) return fl->valid_from;
    if (strcmp(attr, "valid_to") == 0) return fl->valid_to;
    for (size_t a = 0; a < fl->ft->nattrs; a++)
        if (strcmp(fl->ft->attrs[a]->id, attr) == 0) return fl->attr[a];
    return -1;
}

int msgw_rule_env_slot_fact(const msgw_rule_env *env, int slot)
{
    if (env->slot_fact) return slot >= 0 && (size_t)slot < env->nslots ? env->slot_fact[slot] : -1;
    for (size_t i = 0; i < env->nfacts; i++) {
        const fact_layout *fl = &env->facts[i];
        if (slot == fl->present || slot == fl->valid_from || slot == fl->valid_to) return (int)i;
        for (size_t a = 0; a < fl->ft->nattrs; a++)
            if (slot == fl->attr[a] || slot == fl->set[a]) return (int)i;
    }
    return -1;
}

static int64_t code_index(const msgw_element *el, const char *code);

int64_t msgw_rule_env_code(const msgw_rule_env *env, const char *element, const char *code)
{
    return code_index(msgw_dict_element(env->dict, element), code);
}

/* ---- views ---- */

static int64_t code_index(const msgw_element *el, const char *code)
{
    if (!code || !el || !el->codes) return MSGW_ABSENT;
    const msgw_code *c = msgw_codelist_find(el->codes, code, strlen(code));
    return c ? (int64_t)(c - el->codes->codes) + 1 : MSGW_ABSENT;
}

static int64_t region_value(const char *code)
{
    if (!code) return MSGW_ABSENT;
    int64_t v = 0;
    for (const char *p = code; *p; p++) {
        if (*p < '0' || *p > '9') return MSGW_ABSENT;
        v = v * 10 + (*p - '0');
    }
    return v;
}

void msgw_view_init(const msgw_rule_env *env, msgw_view *v, int64_t *slots)
{
    v->slots = slots;
    for (size_t i = 0; i < env->nslots; i++) slots[i] = MSGW_ABSENT;
    for (size_t i = 0; i < env->nfacts; i++) {
        slots[env->facts[i].present] = 0;
        for (size_t a = 0; a < env->facts[i].ft->nattrs; a++)
            if (env->facts[i].set[a] >= 0) slots[env->facts[i].set[a]] = 0;
    }
}

uint64_t msgw_view_presence(const msgw_rule_env *env, const msgw_view *v)
{
    uint64_t m = 0;
    for (size_t i = 0; i < env->nfacts; i++)
        if (v->slots[env->facts[i].present] == 1) m |= (uint64_t)1 << i;
    return m;
}

void msgw_view_set_person(const msgw_rule_env *env, msgw_view *v, const msgw_person *p)
{
    if (p->birth_date != MSGW_DATE_NONE) v->slots[P_BIRTH] = p->birth_date;
    if (p->sex) v->slots[P_SEX] = code_index(env->sex, p->sex);
    if (p->hukou_region) v->slots[P_HUKOU_REGION] = region_value(p->hukou_region);
    if (p->hukou_type) v->slots[P_HUKOU_TYPE] = code_index(env->hukou_type, p->hukou_type);
    if (p->residence_region) v->slots[P_RESIDENCE] = region_value(p->residence_region);
}

void msgw_view_set_moves(const msgw_rule_env *env, msgw_view *v, msgw_date hukou, msgw_date residence)
{
    (void)env;
    v->slots[P_HUKOU_MOVED] = hukou == MSGW_DATE_NONE ? MSGW_ABSENT : hukou;
    v->slots[P_RESIDENCE_MOVED] = residence == MSGW_DATE_NONE ? MSGW_ABSENT : residence;
}

static int64_t attr_value(const msgw_element *el, const msgw_value *val)
{
    switch (val->kind) {
    case MSGW_V_CODE:
        return msgw_rule_rtype_of(el) == MSGW_RT_REGION ? region_value(val->u.s)
                                                         : code_index(el, val->u.s);
    case MSGW_V_INT:
    case MSGW_V_MONEY: return val->u.i;
    case MSGW_V_DATE: return val->u.d;
    case MSGW_V_BOOL: return val->u.b;
    default: return MSGW_ABSENT;
    }
}

/*
 * The latest-started fact of a type (started on or before date) decides; if
 * it has ended before date, the person has no current fact of that type.  So a
 * revocation (a fact that starts and ends on its date) removes an earlier
 * certificate, and a regrade replaces it.
 */
void msgw_view_apply_fact(const msgw_rule_env *env, msgw_view *v, const msgw_fact *f,
                          msgw_date date)
{
    int fi = msgw_rule_env_fact_index(env, f->type);
    if (fi < 0) return;
    const fact_layout *fl = &env->facts[fi];
    int64_t *s = v->slots;
    int64_t from = f->valid_from == MSGW_DATE_NONE ? INT32_MIN + 1 : f->valid_from;
    if (from > date) return;
    bool current = f->valid_to == MSGW_DATE_NONE || f->valid_to >= date;
    for (size_t a = 0; a < fl->ft->nattrs; a++) {
        if (fl->set[a] < 0 || !current) continue;
        const msgw_attr *at = msgw_fact_attr(f, fl->ft->attrs[a]->id);
        int64_t idx = at ? attr_value(fl->ft->attrs[a], &at->v) : MSGW_ABSENT;
        if (idx != MSGW_ABSENT) s[fl->set[a]] |= (int64_t)1 << idx;
    }
    if (s[fl->valid_from] != MSGW_ABSENT && s[fl->valid_from] > from) return;
    s[fl->present] = current;
    s[fl->valid_from] = from;
    s[fl->valid_to] = f->valid_to == MSGW_DATE_NONE ? MSGW_ABSENT : f->valid_to;
    for (size_t a = 0; a < fl->ft->nattrs; a++) {
        const msgw_attr *at = msgw_fact_attr(f, fl->ft->attrs[a]->id);
        s[fl->attr[a]] = current && at ? attr_value(fl->ft->attrs[a], &at->v) : MSGW_ABSENT;
    }
}

/*
 * Per-capita income needs every living member's income: a household where
 * someone's income is unknown has no per-capita income (absent), so no rule
 * concludes from missing data that a family is poor.
 */
void msgw_hview_compute(const msgw_rule_env *env, msgw_hview *h)
{
    int inc = msgw_rule_env_fact_index(env, "income");
    const fact_layout *fl = inc >= 0 ? &env->facts[inc] : NULL;
    int slot = -1;
    for (size_t a = 0; fl && a < fl->ft->nattrs; a++)
        if (strcmp(fl->ft->attrs[a]->id, "income_monthly_fen") == 0) slot = fl->attr[a];
    /* A member who has died no longer counts in the household's size or income. */
    int death = msgw_rule_env_fact_index(env, "death");
    int dead_slot = death >= 0 ? env->facts[death].present : -1;
    int64_t total = 0, living = 0;
    bool known = slot >= 0;
    for (size_t i = 0; i < h->nmembers; i++) { /* every living member counts, income known or not */
        if (dead_slot >= 0 && h->members[i].slots[dead_slot] == 1) continue;
        int64_t v = known ? h->members[i].slots[slot] : MSGW_ABSENT;
        if (v == MSGW_ABSENT) known = false;
        else total += v;
        living++;
    }
    h->size = living;
    h->per_capita_income = known && living > 0 ? total / living : MSGW_ABSENT;
}
