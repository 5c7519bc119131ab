/*
 * The rule language (docs/rules.md): typed expressions over a person's
 * current facts, their household and dated parameters, compiled once to
 * bytecode and evaluated on compact views (int64 slots per person).
 *
 * A msgw_rule_env describes what rules may name: the slot layout derived
 * from the dictionary's fact types, and the parameters.  A msgw_rule is one
 * compiled expression.  A msgw_view is one person's facts on one date.
 */
#ifndef MSGW_RULES_H
#define MSGW_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "msgw/base/date.h"
#include "msgw/model/dict.h"
#include "msgw/base/error.h"
#include "msgw/model/model.h"


typedef enum {
    MSGW_RT_BOOL,
    MSGW_RT_INT,
    MSGW_RT_MONEY,
    MSGW_RT_DATE,
    MSGW_RT_CODE,
    MSGW_RT_REGION,
    MSGW_RT_STRING,
} msgw_rtype;

typedef struct msgw_rule_env msgw_rule_env;
typedef struct msgw_rule msgw_rule;

/* The slot layout for every fact type and attribute of the dictionary. */
msgw_rule_env *msgw_rule_env_new(const msgw_dict *d);
void msgw_rule_env_destroy(msgw_rule_env **env);
size_t msgw_rule_env_slots(const msgw_rule_env *env);
/* Declares a parameter; returns its index (the same name twice is the same index). */
int msgw_rule_env_param(msgw_rule_env *env, const char *name, msgw_rtype type);
int msgw_rule_env_param_find(const msgw_rule_env *env, const char *name);
size_t msgw_rule_env_nparams(const msgw_rule_env *env);
/* Number of fact types (the dependency bitmask has one bit per fact type). */
size_t msgw_rule_env_nfact_types(const msgw_rule_env *env);
int msgw_rule_env_fact_index(const msgw_rule_env *env, const char *fact_type);
const char *msgw_rule_env_fact_name(const msgw_rule_env *env, int index);
/*
 * Slot of FACT.ATTR in views ("present", "valid_from", "valid_to" name the
 * fact's own slots; fact NULL names person slots: "birth_date", "sex",
 * "hukou_region", "hukou_type", "residence_region"); -1 if unknown.  For
 * code that fills views directly from a compact store.
 */
int msgw_rule_env_slot(const msgw_rule_env *env, const char *fact, const char *attr);
/* The slot encoding of a code of element (its code-list position + 1), or MSGW_ABSENT. */
int64_t msgw_rule_env_code(const msgw_rule_env *env, const char *element, const char *code);
/* Parses a literal of a parameter's type ("1010yuan", "2026-01-01", "65"). */
bool msgw_rule_parse_literal(msgw_rtype type, const char *s, int64_t *out);

/*
 * Compiles src, which must have type want.  On error adds one error with
 * location "WHERE, column N" (where names the file and service) and
 * returns NULL.
 */
msgw_rule *msgw_rule_compile(msgw_rule_env *env, const char *src, msgw_rtype want,
                             const char *where, msgw_errors *e);
void msgw_rule_destroy(msgw_rule **r);
/* Bitmask over fact-type indexes: the facts this rule reads (bit 63: person fields). */
uint64_t msgw_rule_depends(const msgw_rule *r);
/*
 * Fact types that must be present (current) for the rule to be true, found
 * by the compiler: a comparison with an absent value is false.  A person
 * without them is not eligible, and need not be evaluated at all.
 */
uint64_t msgw_rule_required(const msgw_rule *r);
/* Parameter indexes the rule reads, as a bitmask (at most 64 parameters per env). */
uint64_t msgw_rule_params(const msgw_rule *r);
const char *msgw_rule_source(const msgw_rule *r);

/*
 * Thresholds: comparisons of one field (a person slot or a household field)
 * with an expression of one parameter, e.g. household.per_capita_income <
 * $dibao_standard * 150 / 100.  A parameter change can then find the
 * persons it affects by the field's value, without evaluating everyone.
 */
typedef struct msgw_threshold {
    int param;
    bool household; /* key is a household field (per_capita_income ...) rather than a slot */
    int key;        /* slot index or household field */
} msgw_threshold;
size_t msgw_rule_count_thresholds(const msgw_rule *r);
const msgw_threshold *msgw_rule_threshold(const msgw_rule *r, size_t i);
/* The threshold's expression evaluated with the parameter at value. */
int64_t msgw_rule_threshold_value(const msgw_rule *r, size_t i, int64_t value);
/*
 * Time thresholds: `days_since(X) op K` / `years_since(X) op K` where X is a
 * date slot.  The verdict can flip on X + K (and the day after) without any
 * record arriving, so the engine schedules a re-evaluation for those days.
 */
typedef struct msgw_time_threshold {
    int slot;
    bool years;
    int64_t k;
} msgw_time_threshold;
size_t msgw_rule_count_time_thresholds(const msgw_rule *r);
const msgw_time_threshold *msgw_rule_time_threshold(const msgw_rule *r, size_t i);
/* Which fact type's block a slot is in, and whether it is the fact's valid_from / valid_to
 * (-1 for person slots). */
int msgw_rule_env_slot_fact(const msgw_rule_env *env, int slot);
/* True when every use of param in r is inside a threshold (so the index finds all affected). */
bool msgw_rule_param_indexed(const msgw_rule *r, int param);

/* One person's facts on one date: slots laid out by the env. */
typedef struct msgw_view {
    int64_t *slots;
} msgw_view;

/* A household on one date: members' views and the derived household slots. */
typedef struct msgw_hview {
    const msgw_view *members;
    size_t nmembers;
    int64_t size, per_capita_income, region, hukou_type;
} msgw_hview;

typedef struct msgw_eval_ctx {
    msgw_date date;
    const int64_t *params;      /* resolved parameter values on date (MSGW_ABSENT: no value) */
    const msgw_view *person;
    const msgw_hview *household; /* may be NULL: treated as a household of one */
    const msgw_date *param_from; /* the day each value in params took effect; may be NULL */
} msgw_eval_ctx;

typedef enum { MSGW_EVAL_OK = 0, MSGW_EVAL_NO_PARAM, MSGW_EVAL_DIV_ZERO } msgw_eval_status;

/* Evaluates r; *out receives the value (bools 0/1).  On a parameter without value, *bad_param
 * gets its index. */
msgw_eval_status msgw_rule_eval(const msgw_rule *r, const msgw_eval_ctx *ctx, int64_t *out,
                                int *bad_param);

/*
 * Evaluates r as msgw_rule_eval does and dates the result: *since receives the
 * day from which the value has held as far as the data shows, the latest of
 * the start of every fact it read (or the day after one ended, for a fact it
 * found missing), the day each parameter value it read took effect
 * (ctx->param_from), and the birthday on which an age comparison last turned
 * (`person.age >= 65` holds from the 65th birthday).  Of `A and B` both count;
 * of `A or B`, the side that decided.  MSGW_DATE_NONE when nothing dates it
 * (`not has(death)` alone).  Slower than msgw_rule_eval: for verdicts that change.
 */
msgw_eval_status msgw_rule_eval_dated(const msgw_rule *r, const msgw_eval_ctx *ctx, int64_t *out,
                                      msgw_date *since, int *bad_param);

/*
 * Builds a person's view on date from canonical facts (any number of
 * records about the person): the current fact of each type wins.
 */
void msgw_view_init(const msgw_rule_env *env, msgw_view *v, int64_t *slots);
void msgw_view_set_person(const msgw_rule_env *env, msgw_view *v, const msgw_person *p);
/* The days the person's hukou and registered residence last changed (MSGW_DATE_NONE: never, as far
 * as is known): msgw_rule_eval_dated dates `person.hukou_region within "12"` from the move. */
void msgw_view_set_moves(const msgw_rule_env *env, msgw_view *v, msgw_date hukou, msgw_date residence);
/* Applies one fact if it is current on date and newer than what the view holds. */
void msgw_view_apply_fact(const msgw_rule_env *env, msgw_view *v, const msgw_fact *f,
                          msgw_date date);
/* Bitmask of the fact types present in a view (compare with msgw_rule_required). */
uint64_t msgw_view_presence(const msgw_rule_env *env, const msgw_view *v);
/* Household slots from its members' views. */
void msgw_hview_compute(const msgw_rule_env *env, msgw_hview *h);
/* A person's value of a threshold key, from their view and household. */
int64_t msgw_threshold_key(const msgw_threshold *t, const msgw_view *v, const msgw_hview *h);

#endif
