/*
 * Loads a service catalogue: services, parameters and rules.  Every rule is
 * compiled here, so a catalogue with an unknown field, a type error or an
 * undefined parameter never loads: the error names the file, the service,
 * the rule part and the column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgw/engine/catalogue.h"
#include "msgw/base/embedded.h"

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool parse_rtype(const char *s, msgw_rtype *t)
{
    static const char *const names[] = {"bool", "int", "money", "date"};
    static const msgw_rtype types[] = {MSGW_RT_BOOL, MSGW_RT_INT, MSGW_RT_MONEY, MSGW_RT_DATE};
    for (size_t i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *t = types[i];
            return true;
        }
    return false;
}

static int cmp_values(const void *a, const void *b)
{
    const msgw_param_value *x = a, *y = b;
    return (x->from > y->from) - (x->from < y->from);
}

/* Adds or replaces the dated values of one parameter from its JSON description. */
static bool load_param(msgw_catalogue *c, const char *file, const char *name, json_t *pj,
                       msgw_errors *e)
{
    char loc[256];
    snprintf(loc, sizeof loc, "%s: parameter %s", file, name);
    msgw_rtype type;
    int idx = msgw_rule_env_param_find(c->env, name);
    if (idx < 0) {
        if (!parse_rtype(jstr(pj, "type"), &type)) {
            msgw_error_add(e, -1, loc, "type", "catalogue.parameter", "type must be money, int, date or bool");
            return false;
        }
        idx = msgw_rule_env_param(c->env, name, type);
        if (idx < 0 || (size_t)idx >= sizeof c->params / sizeof c->params[0]) {
            msgw_error_add(e, -1, loc, NULL, "catalogue.parameter", "too many parameters");
            return false;
        }
        c->nparams = (size_t)idx + 1;
        c->params[idx].name = name;
        c->params[idx].type = type;
    }
    msgw_param *p = &c->params[idx];
    if (jstr(pj, "unit")) p->unit = jstr(pj, "unit");
    p->local = p->local || json_is_true(json_object_get(pj, "local"));
    if (json_is_object(json_object_get(pj, "source"))) p->source = json_object_get(pj, "source");
    json_t *vals = json_object_get(pj, "values");
    size_t n = json_array_size(vals);
    if (!n) return true;
    msgw_param_value *v = calloc(n, sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < n; i++) {
        json_t *vj = json_array_get(vals, i);
        const char *from = jstr(vj, "from"), *val = jstr(vj, "value");
        json_t *src = json_object_get(vj, "source");
        if (!from || !msgw_date_parse_iso(from, strlen(from), &v[i].from) || !val ||
            !msgw_rule_parse_literal(p->type, val, &v[i].value)) {
            msgw_error_add(e, -1, loc, "values", "catalogue.parameter",
                           "value %zu needs \"from\" (YYYY-MM-DD) and a %s \"value\" such as 1010yuan", i,
                           p->type == MSGW_RT_MONEY ? "money" : "typed");
            free(v);
            return false;
        }
        v[i].source = json_is_string(src) ? json_string_value(src) : jstr(src, "text");
        if (!v[i].source && src) v[i].source = jstr(src, "file");
    }
    qsort(v, n, sizeof *v, cmp_values);
    free(p->values);
    p->values = v;
    p->nvalues = n;
    return true;
}

static msgw_rule *compile_part(msgw_catalogue *c, const char *file, const char *code,
                               const char *part, json_t *src, msgw_rtype want, msgw_errors *e)
{
    char where[1024];
    snprintf(where, sizeof where, "%s: service %s %s", file, code, part);
    if (!json_is_string(src)) {
        msgw_error_add(e, -1, where, part, "catalogue.rule", "must be a rule expression string");
        return NULL;
    }
    return msgw_rule_compile(c->env, json_string_value(src), want, where, e);
}

static bool load_rule(msgw_catalogue *c, const char *file, msgw_service *s, json_t *rj,
                      msgw_errors *e)
{
    s->eligible = compile_part(c, file, s->code, "rule.eligible", json_object_get(rj, "eligible"),
                               MSGW_RT_BOOL, e);
    if (!s->eligible) return false;
    s->depends = msgw_rule_depends(s->eligible);
    s->params = msgw_rule_params(s->eligible);
    json_t *since = json_object_get(rj, "since");
    if (since) {
        s->since = compile_part(c, file, s->code, "rule.since", since, MSGW_RT_DATE, e);
        if (!s->since) return false;
        s->depends |= msgw_rule_depends(s->since);
    }
    json_t *tiers = json_object_get(rj, "tiers");
    s->ntiers = json_array_size(tiers);
    s->tiers = calloc(s->ntiers + 1, sizeof *s->tiers);
    if (!s->tiers) abort();
    for (size_t i = 0; i < s->ntiers; i++) {
        json_t *tj = json_array_get(tiers, i);
        char part[64];
        msgw_tier *t = &s->tiers[i];
        t->name = jstr(tj, "tier") ? jstr(tj, "tier") : "standard";
        snprintf(part, sizeof part, "rule.tiers[%zu].when", i);
        json_t *when = json_object_get(tj, "when");
        if (!when) json_object_set_new(tj, "when", when = json_string("true"));
        t->when = compile_part(c, file, s->code, part, when, MSGW_RT_BOOL, e);
        snprintf(part, sizeof part, "rule.tiers[%zu].amount", i);
        json_t *amount = json_object_get(tj, "amount");
        if (amount) t->amount = compile_part(c, file, s->code, part, amount, MSGW_RT_MONEY, e);
        if (!t->when || (amount && !t->amount)) return false;
        s->depends |= msgw_rule_depends(t->when) | (t->amount ? msgw_rule_depends(t->amount) : 0);
        s->params |= msgw_rule_params(t->when) | (t->amount ? msgw_rule_params(t->amount) : 0);
    }
    s->amount_period = jstr(rj, "amount_period");
    s->source = json_object_get(rj, "source");
    return true;
}

static bool load_service(msgw_catalogue *c, const char *file, msgw_service *s, json_t *sj,
                         msgw_errors *e)
{
    s->code = jstr(sj, "code");
    s->name = jstr(sj, "name");
    s->domain = jstr(sj, "domain");
    if (!s->code || !s->name) {
        msgw_error_add(e, -1, file, "code", "catalogue.service", "a service needs a code and a name");
        return false;
    }
    const char *by = jstr(sj, "decided_by");
    s->decided_by = by && strcmp(by, "residence") == 0 ? MSGW_BY_RESIDENCE : MSGW_BY_HUKOU;
    json_t *deps = json_object_get(sj, "departments");
    s->ndepartments = json_array_size(deps);
    s->departments = calloc(s->ndepartments + 1, sizeof *s->departments);
    if (!s->departments) abort();
    for (size_t i = 0; i < s->ndepartments; i++)
        s->departments[i] = json_string_value(json_array_get(deps, i));
    json_t *rj = json_object_get(sj, "rule");
    return !rj || json_is_null(rj) || load_rule(c, file, s, rj, e);
}

static const char *const decidability_names[MSGW_DECIDE_COUNT] = {"none", "rule", "universal",
                                                                  "needs_facts"};

const char *msgw_decidability_name(msgw_decidability d)
{
    return d < MSGW_DECIDE_COUNT ? decidability_names[d] : "none";
}

/* A built-in catalogue (schemas/catalogue/NAME.json embedded in the binary) rather than a file. */
static bool is_embedded(const char *name)
{
    char emb[256];
    snprintf(emb, sizeof emb, "catalogue/%s.json", name);
    return !strchr(name, '/') && msgw_embedded_find(emb);
}

/*
 * The department list the decidability's holders are checked against: the departments.json
 * beside a catalogue file, so a catalogue kept elsewhere brings its own, else the embedded one.
 */
static json_t *load_departments(const char *name, msgw_errors *e)
{
    json_error_t je;
    char path[1024];
    const char *slash = strrchr(name, '/');
    if (!is_embedded(name)) {
        if (slash)
            snprintf(path, sizeof path, "%.*s/departments.json", (int)(slash - name), name);
        else
            snprintf(path, sizeof path, "departments.json");
        if (access(path, R_OK) == 0) {
            json_t *d = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
            if (!d)
                msgw_error_add(e, -1, path, NULL, "catalogue.departments", "line %d, column %d: %s",
                               je.line, je.column, je.text);
            return d;
        }
    }
    const msgw_embedded_file *f = msgw_embedded_find("catalogue/departments.json");
    json_t *d = f ? json_loadb(f->data, f->len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!d)
        msgw_error_add(e, -1, "departments.json", NULL, "catalogue.departments",
                       "the department list does not load: %s", f ? je.text : "not embedded");
    return d;
}

static bool department_known(json_t *depts, const char *id)
{
    json_t *list = json_object_get(depts, "departments"), *d;
    size_t i;
    json_array_foreach(list, i, d) if (jstr(d, "id") && strcmp(jstr(d, "id"), id) == 0) return true;
    return false;
}

/*
 * A service's decidability ("decidability": {"class", "note", "facts": [{"fact", "held_by"}]}),
 * checked against its rule: class rule exactly when the service has one; the classes that are
 * not decided say why (note), and those waiting for facts name each fact and the department of
 * departments.json that holds it.  Absent: MSGW_DECIDE_NONE, which `msgw catalogue check`
 * rejects for the shipped catalogues while test catalogues may leave it out.
 */
static bool load_decidability(const char *file, const char *name, msgw_service *s, json_t *dj,
                              json_t **depts, msgw_errors *e)
{
    char where[1024], msg[512] = "";
    snprintf(where, sizeof where, "%.800s: service %.64s", file, s->code);
    s->decidability = MSGW_DECIDE_NONE;
    if (!dj || json_is_null(dj)) return true;
    const char *cls = jstr(dj, "class");
    for (int d = MSGW_DECIDE_RULE; cls && d < MSGW_DECIDE_COUNT; d++)
        if (strcmp(cls, decidability_names[d]) == 0) s->decidability = (msgw_decidability)d;
    s->decidability_note = jstr(dj, "note");
    json_t *facts = json_object_get(dj, "facts");
    bool waits = s->decidability == MSGW_DECIDE_NEEDS_FACTS;
    if (!json_is_object(dj) || s->decidability == MSGW_DECIDE_NONE)
        snprintf(msg, sizeof msg, "class must be rule, universal or needs_facts, found %s",
                 cls ? cls : "none");
    else if (s->decidability == MSGW_DECIDE_RULE && !s->eligible)
        snprintf(msg, sizeof msg, "class rule, but the service has no rule");
    else if (s->decidability != MSGW_DECIDE_RULE && s->eligible)
        snprintf(msg, sizeof msg, "the service has a rule, so its class is rule, not %s", cls);
    else if (facts && !json_is_array(facts))
        snprintf(msg, sizeof msg, "facts must be a list of {\"fact\", \"held_by\"}");
    else if (waits && json_array_size(facts) == 0)
        snprintf(msg, sizeof msg,
                 "class %s names no facts: list each fact that would decide it and the "
                 "department that holds it",
                 cls);
    else if (s->decidability == MSGW_DECIDE_UNIVERSAL && json_array_size(facts))
        snprintf(
            msg, sizeof msg,
            "class universal (no individual eligibility) cannot name facts that would decide it");
    else if (s->decidability != MSGW_DECIDE_RULE &&
             !(s->decidability_note && *s->decidability_note))
        snprintf(msg, sizeof msg, "class %s needs a note saying why", cls);
    s->nmissing = msg[0] ? 0 : json_array_size(facts);
    s->missing = calloc(s->nmissing + 1, sizeof *s->missing);
    if (!s->missing) abort();
    for (size_t i = 0; !msg[0] && i < s->nmissing; i++) {
        json_t *fj = json_array_get(facts, i);
        msgw_missing_fact *m = &s->missing[i];
        m->fact = jstr(fj, "fact");
        m->held_by = jstr(fj, "held_by");
        if (!m->fact || !*m->fact)
            snprintf(msg, sizeof msg, "facts[%zu] needs a \"fact\": what would decide it", i);
        else if (!m->held_by)
            snprintf(msg, sizeof msg,
                     "facts[%zu] (%s) needs \"held_by\": the department that holds it", i, m->fact);
        else if (!*depts && !(*depts = load_departments(name, e)))
            return false;
        else if (!department_known(*depts, m->held_by))
            snprintf(msg, sizeof msg,
                     "facts[%zu] (%s): held_by %s is not a department of departments.json", i,
                     m->fact, m->held_by);
    }
    if (msg[0]) msgw_error_add(e, -1, where, "decidability", "catalogue.decidability", "%s", msg);
    return !msg[0];
}

static json_t *load_json(const char *name, char *file, size_t filelen, msgw_errors *e)
{
    json_error_t je;
    char emb[256];
    snprintf(emb, sizeof emb, "catalogue/%s.json", name);
    const msgw_embedded_file *f = strchr(name, '/') ? NULL : msgw_embedded_find(emb);
    json_t *doc;
    if (f) {
        snprintf(file, filelen, "%s.json", name);
        doc = json_loadb(f->data, f->len, JSON_REJECT_DUPLICATES, &je);
    } else {
        snprintf(file, filelen, "%s", name);
        doc = json_load_file(name, JSON_REJECT_DUPLICATES, &je);
    }
    if (!doc)
        msgw_error_add(e, -1, file, NULL, "catalogue.json", "line %d, column %d: %s", je.line, je.column, je.text);
    return doc;
}

static bool load_params(msgw_catalogue *c, const char *file, json_t *params, msgw_errors *e)
{
    const char *pn;
    json_t *pj;
    json_object_foreach(params, pn, pj) if (!load_param(c, file, pn, pj, e)) return false;
    return true;
}

msgw_catalogue *msgw_catalogue_load(const msgw_dict *d, const char *name, msgw_errors *e)
{
    char file[512];
    json_t *doc = load_json(name, file, sizeof file, e);
    if (!doc) return NULL;
    msgw_catalogue *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->doc = doc;
    c->env = msgw_rule_env_new(d);
    c->id = jstr(doc, "id");
    c->name = jstr(doc, "name");
    c->region = jstr(doc, "region");
    json_t *services = json_object_get(doc, "services");
    c->nservices = json_array_size(services);
    c->services = calloc(c->nservices + 1, sizeof *c->services);
    if (!c->services) abort();
    bool ok = c->id && c->region && load_params(c, file, json_object_get(doc, "parameters"), e);
    if (!c->id || !c->region)
        msgw_error_add(e, -1, file, "id", "catalogue.header", "a catalogue needs an id and a region");
    for (size_t i = 0; ok && i < c->nservices; i++)
        ok = load_service(c, file, &c->services[i], json_array_get(services, i), e);
    for (size_t i = 0; ok && i < c->nservices; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->services[i].code, c->services[j].code) == 0) {
                msgw_error_add(e, -1, file, c->services[i].code, "catalogue.service", "service code used twice");
                ok = false;
            }
    /* Every decidability error at once: they are independent, and check should list them all. */
    json_t *depts = NULL;
    bool decided = ok;
    for (size_t i = 0; ok && i < c->nservices; i++)
        decided = load_decidability(file, name, &c->services[i],
                                    json_object_get(json_array_get(services, i), "decidability"),
                                    &depts, e) &&
                  decided;
    json_decref(depts);
    ok = ok && decided;
    if (!ok) msgw_catalogue_destroy(&c);
    return c;
}

bool msgw_catalogue_overlay(msgw_catalogue *c, const char *path, msgw_errors *e)
{
    char file[512];
    json_t *doc = load_json(path, file, sizeof file, e);
    if (!doc) return false;
    /* Overlay strings must outlive the load: keep the document with the catalogue's. */
    json_t *keep = json_object_get(c->doc, "_overlays");
    if (!keep) json_object_set_new(c->doc, "_overlays", keep = json_array());
    json_array_append_new(keep, doc);
    json_t *params = json_object_get(doc, "parameters");
    const char *pn;
    json_t *pj;
    json_object_foreach(params, pn, pj) {
        if (msgw_rule_env_param_find(c->env, pn) < 0) {
            msgw_error_add(e, -1, file, pn, "catalogue.overlay",
                           "parameter %s is not used by catalogue %s", pn, c->id);
            return false;
        }
        if (!load_param(c, file, pn, pj, e)) return false;
    }
    return true;
}

void msgw_catalogue_destroy(msgw_catalogue **cp)
{
    if (!cp || !*cp) return;
    msgw_catalogue *c = *cp;
    for (size_t i = 0; i < c->nservices; i++) {
        msgw_service *s = &c->services[i];
        msgw_rule_destroy(&s->eligible);
        msgw_rule_destroy(&s->since);
        for (size_t t = 0; t < s->ntiers; t++) {
            msgw_rule_destroy(&s->tiers[t].when);
            msgw_rule_destroy(&s->tiers[t].amount);
        }
        free(s->tiers);
        free(s->departments);
        free(s->missing);
    }
    for (size_t i = 0; i < c->nparams; i++) free(c->params[i].values);
    free(c->services);
    msgw_rule_env_destroy(&c->env);
    json_decref(c->doc);
    free(c);
    *cp = NULL;
}

const msgw_service *msgw_catalogue_service(const msgw_catalogue *c, const char *code)
{
    for (size_t i = 0; i < c->nservices; i++)
        if (strcmp(c->services[i].code, code) == 0) return &c->services[i];
    return NULL;
}

size_t msgw_catalogue_count_rules(const msgw_catalogue *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nservices; i++) n += c->services[i].eligible != NULL;
    return n;
}

const msgw_param_value *msgw_param_at(const msgw_param *p, msgw_date date)
{
    const msgw_param_value *best = NULL;
    for (size_t i = 0; i < p->nvalues && p->values[i].from <= date; i++) best = &p->values[i];
    return best;
}

void msgw_catalogue_params_at(const msgw_catalogue *c, msgw_date date, int64_t *out)
{
    for (size_t i = 0; i < c->nparams; i++) {
        const msgw_param_value *v = msgw_param_at(&c->params[i], date);
        out[i] = v ? v->value : MSGW_ABSENT;
    }
}

const char *msgw_catalogue_keep(msgw_catalogue *c, const char *s)
{
    json_t *kept = json_object_get(c->doc, "_kept");
    if (!kept) json_object_set_new(c->doc, "_kept", kept = json_array());
    json_array_append_new(kept, json_string(s));
    return json_string_value(json_array_get(kept, json_array_size(kept) - 1));
}
