/*
 * The explanation as JSON (include/msgw/model/explanation.h): made once, where it
 * is written out — the canonical notice, `msgw eval --json`, the scenario
 * tests.  Members in the order docs/eligibility.md shows; optional ones only
 * when they hold something.
 */
#include "msgw/model/canon.h"
#include "msgw/model/explanation.h"

static json_t *date_or_null(msgw_date d)
{
    char b[11];
    return d == MSGW_DATE_NONE ? json_null() : json_string(msgw_date_format(d, b));
}

static json_t *fact_json(const msgw_expl_fact *f)
{
    json_t *o = json_object(), *attrs = json_object();
    char b[11], t[28];
    json_object_set_new(o, "type", json_string(f->type));
    if (f->valid_from != MSGW_DATE_NONE) json_object_set_new(o, "valid_from", json_string(msgw_date_format(f->valid_from, b)));
    if (f->valid_to != MSGW_DATE_NONE) json_object_set_new(o, "valid_to", json_string(msgw_date_format(f->valid_to, b)));
    for (size_t i = 0; i < f->nattrs; i++) json_object_set_new(attrs, f->attrs[i].name, msgw_canon_value(&f->attrs[i].v));
    json_object_set_new(o, "attributes", attrs);
    json_object_set_new(o, "department", json_string(f->department ? f->department : ""));
    json_object_set_new(o, "message_id", json_string(f->message_id ? f->message_id : ""));
    json_object_set_new(o, "recorded_at", json_string(msgw_time_format(f->recorded_at, t)));
    return o;
}

static json_t *param_json(const msgw_expl_param *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(p->name));
    if (p->value != MSGW_ABSENT) {
        json_object_set_new(o, "value", json_integer(p->value));
        json_object_set_new(o, "from", date_or_null(p->from));
        if (p->source) json_object_set_new(o, "source", json_string(p->source));
    }
    return o;
}

static json_t *cause_json(const msgw_expl_cause *c, msgw_transition_kind kind)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(msgw_cause_kind_name(c->kind)));
    if (c->kind == MSGW_CAUSE_RECORD) {
        json_object_set_new(o, "department", json_string(c->department ? c->department : ""));
        json_object_set_new(o, "message_id", json_string(c->message_id ? c->message_id : ""));
        json_t *changes = json_array();
        for (size_t i = 0; i < c->nchanges; i++) {
            const msgw_expl_change *ch = &c->changes[i];
            json_array_append_new(changes, json_pack("{s:s,s:s,s:o,s:s}", "fact", ch->fact, "attribute", ch->attribute,
                                                     "from", ch->from ? json_string(ch->from) : json_null(), "to", ch->to));
        }
        json_object_set_new(o, "changes", changes);
    } else if (c->kind == MSGW_CAUSE_PARAMETER) {
        json_object_set_new(o, "parameter", json_string(c->parameter));
        json_object_set_new(o, "from", date_or_null(c->param_from));
        json_object_set_new(o, "old", c->old_value == MSGW_ABSENT ? json_null() : json_integer(c->old_value));
        json_object_set_new(o, "new", json_integer(c->new_value));
    }
    if (c->death) json_object_set_new(o, "death", json_true());
    if (c->jurisdiction_region && kind == MSGW_TR_LOST)
        json_object_set_new(o, "jurisdiction",
                            json_pack("{s:s,s:s,s:s,s:s,s:s}", "decided_by", c->jurisdiction_by, "region",
                                      c->jurisdiction_region, "region_of", c->jurisdiction_of, "source",
                                      c->jurisdiction_source, "served", c->jurisdiction_served));
    return o;
}

json_t *msgw_explanation_json(const msgw_explanation *x)
{
    json_t *o = json_object();
    char b[11];
    json_object_set_new(o, "kind", json_string(msgw_transition_kind_name(x->kind)));
    json_object_set_new(o, "service", json_string(x->service));
    json_object_set_new(o, "name", json_string(x->name));
    json_object_set_new(o, "person", json_string(x->person));
    json_object_set_new(o, "date", json_string(msgw_date_format(x->date, b)));
    if (x->since != MSGW_DATE_NONE) json_object_set_new(o, "since", json_string(msgw_date_format(x->since, b)));
    if (x->tier) json_object_set_new(o, "tier", json_string(x->tier));
    if (x->amount != MSGW_ABSENT) json_object_set_new(o, "amount_fen", json_integer(x->amount));
    if (x->has_previous) {
        json_t *prev = json_object();
        if (x->previous_tier) json_object_set_new(prev, "tier", json_string(x->previous_tier));
        if (x->previous_amount != MSGW_ABSENT) json_object_set_new(prev, "amount_fen", json_integer(x->previous_amount));
        json_object_set_new(o, "previous", prev);
    }
    if (x->amount_period) json_object_set_new(o, "amount_period", json_string(x->amount_period));
    json_t *depts = json_array();
    for (size_t i = 0; i < x->ndepartments; i++) json_array_append_new(depts, json_string(x->departments[i]));
    json_object_set_new(o, "departments", depts);
    json_object_set_new(o, "rule", json_string(x->rule ? x->rule : ""));
    if (x->rule_source) json_object_set_new(o, "rule_source", json_deep_copy(x->rule_source));
    json_t *params = json_array(), *facts = json_array(), *person = json_object();
    for (size_t i = 0; i < x->nparams; i++) json_array_append_new(params, param_json(&x->params[i]));
    json_object_set_new(o, "parameters", params);
    for (size_t i = 0; i < x->nfacts; i++) json_array_append_new(facts, fact_json(&x->facts[i]));
    json_object_set_new(o, "facts", facts);
    if (x->hukou_region) json_object_set_new(person, "hukou_region", json_string(x->hukou_region));
    if (x->residence_region) json_object_set_new(person, "residence_region", json_string(x->residence_region));
    if (x->age >= 0) json_object_set_new(person, "age", json_integer(x->age));
    json_object_set_new(o, "person_facts", person);
    if (x->household) {
        json_t *hh = json_object();
        json_object_set_new(hh, "size", json_integer(x->household_size));
        if (x->per_capita_income != MSGW_ABSENT)
            json_object_set_new(hh, "per_capita_income_fen", json_integer(x->per_capita_income));
        json_object_set_new(o, "household", hh);
    }
    json_object_set_new(o, "cause", cause_json(&x->cause, x->kind));
    return o;
}
