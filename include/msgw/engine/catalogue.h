/*
 * A jurisdiction's service catalogue (schemas/catalogue/<id>.json): every
 * service of its standard with its metadata, and for the services that have
 * machine rules, the compiled rules and the dated parameters they use.
 * Loaded once; read-only afterwards.
 */
#ifndef MSGW_CATALOGUE_H
#define MSGW_CATALOGUE_H

#include <jansson.h>

#include "msgw/model/dict.h"
#include "msgw/base/error.h"
#include "msgw/engine/rules.h"

typedef struct msgw_param_value {
    msgw_date from;
    int64_t value;
    const char *source; /* citation text */
} msgw_param_value;

typedef struct msgw_param {
    const char *name;
    msgw_rtype type;
    const char *unit;
    msgw_param_value *values; /* sorted by from */
    size_t nvalues;
    bool local;     /* the standard leaves the value to the deployment */
    json_t *source; /* the parameter's own citation ({"file", "line", ...}), may be NULL */
} msgw_param;

typedef struct msgw_tier {
    const char *name;
    msgw_rule *when;   /* bool */
    msgw_rule *amount; /* money, may be NULL (a service in kind) */
} msgw_tier;

typedef enum { MSGW_BY_HUKOU, MSGW_BY_RESIDENCE } msgw_decided_by;

/*
 * How far the gateway can decide a service (schemas/catalogue/README.md, "decidability"): by its
 * machine rule; not at all because it is universal (no individual eligibility); or not until
 * facts no department pushes today arrive.  NONE: the catalogue does not say (check rejects it).
 */
typedef enum {
    MSGW_DECIDE_NONE,
    MSGW_DECIDE_RULE,
    MSGW_DECIDE_UNIVERSAL,
    MSGW_DECIDE_NEEDS_FACTS,
    MSGW_DECIDE_COUNT
} msgw_decidability;

/* A fact that would decide a service (or the part of it its rule cannot), and its holder. */
typedef struct msgw_missing_fact {
    const char *fact;    /* what it is, in words */
    const char *held_by; /* a department id of departments.json */
} msgw_missing_fact;

typedef struct msgw_service {
    const char *code, *name, *domain;
    const char **departments;
    size_t ndepartments;
    msgw_decided_by decided_by;
    /* machine rule (NULL eligible: a service described but not decided by data) */
    msgw_rule *eligible;
    msgw_rule *since; /* date, may be NULL */
    msgw_tier *tiers;
    size_t ntiers;
    const char *amount_period; /* "per person per month" ... */
    uint64_t depends;          /* fact-type bitmask, bit 63 person / household fields */
    uint64_t params;           /* parameter bitmask */
    json_t *source;            /* the rule's citation */
    msgw_decidability decidability;
    const char *decidability_note; /* why, in words; may be NULL for a rule */
    msgw_missing_fact *missing;    /* what would decide it (or the rest of it) */
    size_t nmissing;
} msgw_service;

typedef struct msgw_catalogue {
    const char *id, *name, *region;
    msgw_rule_env *env;
    msgw_service *services;
    size_t nservices;
    msgw_param params[64];
    size_t nparams;
    json_t *doc; /* owns the strings above */
} msgw_catalogue;

/* "rule", "universal", "needs_facts" ("none" for MSGW_DECIDE_NONE). */
const char *msgw_decidability_name(msgw_decidability d);
/* name: "tianjin", "langfang" (embedded) or a path to a catalogue file.  A service's
 * decidability, when given, is checked against its rule and departments.json (the one beside a
 * catalogue file, else the embedded one). */
msgw_catalogue *msgw_catalogue_load(const msgw_dict *d, const char *name, msgw_errors *e);
/* Overlays a deployment's parameter values ({"parameters": {...}} with the same shape). */
bool msgw_catalogue_overlay(msgw_catalogue *c, const char *path, msgw_errors *e);
void msgw_catalogue_destroy(msgw_catalogue **c);
const msgw_service *msgw_catalogue_service(const msgw_catalogue *c, const char *code);
size_t msgw_catalogue_count_rules(const msgw_catalogue *c);
/* A copy of s owned by the catalogue (lives as long as it): for values added after loading. */
const char *msgw_catalogue_keep(msgw_catalogue *c, const char *s);
/* Each parameter's value on date into out[] (MSGW_ABSENT where it has none). */
void msgw_catalogue_params_at(const msgw_catalogue *c, msgw_date date, int64_t *out);
/* The entry in force on date, or NULL. */
const msgw_param_value *msgw_param_at(const msgw_param *p, msgw_date date);

#endif
