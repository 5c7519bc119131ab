/* Private structures shared by the rule compiler, the VM and the environment. */
#ifndef MSGW_RULES_INTERNAL_H
#define MSGW_RULES_INTERNAL_H

#include "msgw/engine/rules.h"

/* Person slots come first; fact types follow, each with a block of slots. */
enum {
    P_BIRTH = 0, P_SEX, P_HUKOU_REGION, P_HUKOU_TYPE, P_RESIDENCE,
    P_HUKOU_MOVED, P_RESIDENCE_MOVED, /* the day each region last changed, when known: for dating */
    P_NSLOTS
};

#define MSGW_MAX_FACT_TYPES 62 /* dependency masks are uint64_t; bit 63 = person fields */
#define MSGW_MAX_PARAMS 64

typedef struct fact_layout {
    const msgw_fact_type *ft;
    int present;    /* slot: 1 when a current fact of this type exists */
    int valid_from; /* slot: valid_from of the current fact */
    int valid_to;   /* slot */
    int *attr;      /* slot per attribute of ft */
    int *set;       /* per attribute: slot of the bitmask of codes over all current facts, -1 if none */
} fact_layout;

struct msgw_rule_env {
    const msgw_dict *dict;
    size_t nslots;
    fact_layout facts[MSGW_MAX_FACT_TYPES];
    size_t nfacts;
    const msgw_element *sex, *hukou_type;
    int *slot_fact;  /* per slot: the fact type whose block holds it, -1 for person slots */
    int income_fact; /* the fact type household.per_capita_income sums, -1 if none */
    char *param_names[MSGW_MAX_PARAMS];
    msgw_rtype param_types[MSGW_MAX_PARAMS];
    size_t nparams;
};

typedef enum {
    OP_CONST, OP_SLOT, OP_HOUSEHOLD, OP_PARAM, OP_AGE, OP_YEARS_SINCE, OP_DAYS_SINCE, OP_TODAY,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_NOT, OP_JF_KEEP, OP_JT_KEEP, OP_POP,
    OP_IN_MASK, OP_WITHIN, OP_INCLUDES, OP_PRESENT,
    OP_AGG, OP_RET, OP_PLACE,
    /* superinstructions made by the peephole pass (rules.c: fuse) */
    OP_SLOT_CMP_CONST, OP_SLOT_WITHIN, OP_SLOT_IN_MASK, OP_AGE_CMP_CONST,
} rule_op;

typedef enum { AGG_ANY, AGG_ALL, AGG_COUNT, AGG_SUM } agg_kind;
typedef enum { H_SIZE, H_PER_CAPITA_INCOME, H_REGION, H_HUKOU_TYPE } household_field;

typedef struct rule_insn {
    uint8_t op;
    uint8_t aux;  /* AGG kind, HOUSEHOLD field */
    int32_t len;  /* AGG body length, jump offset */
    int64_t arg;  /* constant, slot, param index, mask, divisor */
    int64_t arg2; /* WITHIN prefix */
} rule_insn;

typedef struct threshold_code {
    msgw_threshold t;
    size_t start, len; /* the parameter's expression */
} threshold_code;

struct msgw_rule {
    rule_insn *code;
    size_t ncode;
    threshold_code *thresholds;
    size_t nthresholds;
    msgw_time_threshold *time_thresholds;
    size_t ntime_thresholds;
    int stack;
    uint64_t depends, params;
    uint64_t required; /* fact types without which the rule cannot be true */
    msgw_rtype type;
    const msgw_rule_env *env; /* outlives its rules: the dated evaluation reads the slot layout */
    char *source;
};

#endif
