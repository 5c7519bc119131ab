/*
 * The rule VM: runs compiled bytecode over int64 slots.  No allocation, no
 * strings, no lookups: one switch per instruction, so a person's whole
 * catalogue evaluates in about a microsecond.  Absent values propagate
 * through arithmetic and make comparisons false.
 */
#include <stdint.h>

#include "msgw/rules.h"
#include "rules_internal.h"

#define STACK_MAX 64

typedef struct vm {
    const msgw_rule *r;
    const msgw_eval_ctx *ctx;
    int bad_param;
    msgw_eval_status status;
    int at_y, at_md; /* the evaluation date as year and month*100+day, 0 until first needed */
} vm;

/* Whole years on the evaluation date, with its calendar split done once per evaluation. */
static int64_t age_on(vm *m, msgw_date birth)
{
    int y, mo, d;
    if (!m->at_y) {
        msgw_date_to_ymd(m->ctx->date, &y, &mo, &d);
        m->at_y = y;
        m->at_md = mo * 100 + d;
    }
    msgw_date_to_ymd(birth, &y, &mo, &d);
    return m->at_y - y - (m->at_md < mo * 100 + d);
}

static int64_t compare(int64_t a, int64_t b, int how)
{
    if (a == MSGW_ABSENT || b == MSGW_ABSENT) return 0;
    switch (how) {
    case 0: return a == b;
    case 1: return a != b;
    case 2: return a < b;
    case 3: return a <= b;
    case 4: return a > b;
    default: return a >= b;
    }
}

static int64_t run(vm *m, size_t pc, const msgw_view *view);

static int64_t years_between(msgw_date from, msgw_date to)
{
    return msgw_date_age(from, to);
}

static int64_t aggregate(vm *m, size_t body, agg_kind k)
{
    const msgw_hview *h = m->ctx->household;
    size_t n = h ? h->nmembers : 1;
    int64_t acc = k == AGG_ALL ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        const msgw_view *mv = h ? &h->members[i] : m->ctx->person;
        int64_t v = run(m, body, mv);
        switch (k) {
        case AGG_ANY:
            if (v == 1) return 1;
            break;
        case AGG_ALL:
            if (v != 1) return 0;
            break;
        case AGG_COUNT: acc += v == 1; break;
        case AGG_SUM:
            if (v != MSGW_ABSENT) acc += v;
            break;
        }
    }
    return acc;
}

static int64_t household_value(const msgw_eval_ctx *ctx, const msgw_view *view, int f)
{
    const msgw_hview *h = ctx->household;
    switch (f) {
    case H_SIZE: return h ? h->size : 1;
    case H_PER_CAPITA_INCOME: return h ? h->per_capita_income : MSGW_ABSENT;
    case H_REGION: return h ? h->region : view->slots[P_HUKOU_REGION];
    case H_HUKOU_TYPE: return h ? h->hukou_type : view->slots[P_HUKOU_TYPE];
    }
    return MSGW_ABSENT;
}

/* person.residence_place (rules.c): the first region known of residence fact, registered
 * residence, hukou, household.  slot is the residence fact's region, -1 without such a fact type. */
static int64_t residence_place(const msgw_eval_ctx *ctx, const msgw_view *view, int64_t slot)
{
    if (slot >= 0 && view->slots[slot] != MSGW_ABSENT) return view->slots[slot];
    if (view->slots[P_RESIDENCE] != MSGW_ABSENT) return view->slots[P_RESIDENCE];
    if (view->slots[P_HUKOU_REGION] != MSGW_ABSENT) return view->slots[P_HUKOU_REGION];
    return ctx->household ? ctx->household->region : MSGW_ABSENT;
}

#define BIN(expr)                                                                                  \
    do {                                                                                           \
        int64_t b = st[--sp], a = st[sp - 1];                                                      \
        st[sp - 1] = (a == MSGW_ABSENT || b == MSGW_ABSENT) ? MSGW_ABSENT : (expr);                \
    } while (0)
#define CMP(expr)                                                                                  \
    do {                                                                                           \
        int64_t b = st[--sp], a = st[sp - 1];                                                      \
        st[sp - 1] = (a != MSGW_ABSENT && b != MSGW_ABSENT && (expr));                             \
    } while (0)

static int64_t run(vm *m, size_t pc, const msgw_view *view)
{
    int64_t st[STACK_MAX];
    int sp = 0;
    const rule_insn *code = m->r->code;
    const msgw_eval_ctx *ctx = m->ctx;
    for (;; pc++) {
        const rule_insn *in = &code[pc];
        switch ((rule_op)in->op) {
        case OP_CONST: st[sp++] = in->arg; break;
        case OP_SLOT: st[sp++] = view->slots[in->arg]; break;
        case OP_HOUSEHOLD: st[sp++] = household_value(ctx, view, in->aux); break;
        case OP_PARAM: {
            int64_t v = ctx->params[in->arg];
            if (v == MSGW_ABSENT && m->status == MSGW_EVAL_OK) {
                m->status = MSGW_EVAL_NO_PARAM;
                m->bad_param = (int)in->arg;
            }
            st[sp++] = v;
            break;
        }
        case OP_AGE: {
            int64_t b = view->slots[P_BIRTH];
            st[sp++] = b == MSGW_ABSENT ? MSGW_ABSENT : age_on(m, (msgw_date)b);
            break;
        }
        case OP_YEARS_SINCE:
            if (st[sp - 1] != MSGW_ABSENT) st[sp - 1] = years_between((msgw_date)st[sp - 1], ctx->date);
            break;
        case OP_DAYS_SINCE:
            if (st[sp - 1] != MSGW_ABSENT) st[sp - 1] = ctx->date - st[sp - 1];
            break;
        case OP_TODAY: st[sp++] = ctx->date; break;
        case OP_ADD: BIN(a + b); break;
        case OP_SUB: BIN(a - b); break;
        case OP_MUL: BIN(a * b); break;
        case OP_DIV: {
            int64_t b = st[--sp], a = st[sp - 1];
            if (b == 0 && a != MSGW_ABSENT) {
                if (m->status == MSGW_EVAL_OK) m->status = MSGW_EVAL_DIV_ZERO;
                st[sp - 1] = MSGW_ABSENT;
            } else {
                st[sp - 1] = (a == MSGW_ABSENT || b == MSGW_ABSENT) ? MSGW_ABSENT : a / b;
            }
            break;
        }
        case OP_NEG:
            if (st[sp - 1] != MSGW_ABSENT) st[sp - 1] = -st[sp - 1];
            break;
        case OP_EQ: CMP(a == b); break;
        case OP_NE: CMP(a != b); break;
        case OP_LT: CMP(a < b); break;
        case OP_LE: CMP(a <= b); break;
        case OP_GT: CMP(a > b); break;
        case OP_GE: CMP(a >= b); break;
        case OP_NOT: st[sp - 1] = st[sp - 1] != 1; break;
        case OP_JF_KEEP:
            if (st[sp - 1] != 1) pc += (size_t)in->len;
            break;
        case OP_JT_KEEP:
            if (st[sp - 1] == 1) pc += (size_t)in->len;
            break;
        case OP_POP: sp--; break;
        case OP_IN_MASK: {
            int64_t v = st[sp - 1];
            st[sp - 1] = v != MSGW_ABSENT && v >= 0 && v < 64 && ((in->arg >> v) & 1);
            break;
        }
        case OP_WITHIN: {
            int64_t v = st[sp - 1];
            st[sp - 1] = v != MSGW_ABSENT && v / in->arg == in->arg2;
            break;
        }
        case OP_INCLUDES: st[sp++] = (view->slots[in->arg] >> in->arg2) & 1; break;
        case OP_PRESENT: st[sp++] = view->slots[in->arg] != MSGW_ABSENT; break;
        case OP_AGG:
            st[sp++] = aggregate(m, pc + 1, (agg_kind)in->aux);
            pc += (size_t)in->len;
            break;
        case OP_RET: return sp ? st[sp - 1] : MSGW_ABSENT;
        case OP_PLACE: st[sp++] = residence_place(ctx, view, in->arg); break;
        case OP_SLOT_CMP_CONST: st[sp++] = compare(view->slots[in->arg], in->arg2, in->aux); break;
        case OP_AGE_CMP_CONST: {
            int64_t b = view->slots[P_BIRTH];
            st[sp++] = compare(b == MSGW_ABSENT ? MSGW_ABSENT : age_on(m, (msgw_date)b), in->arg2, in->aux);
            break;
        }
        case OP_SLOT_WITHIN: {
            int64_t v = view->slots[in->arg];
            st[sp++] = v != MSGW_ABSENT && v / in->len == in->arg2;
            break;
        }
        case OP_SLOT_IN_MASK: {
            int64_t v = view->slots[in->arg];
            st[sp++] = v != MSGW_ABSENT && v >= 0 && v < 64 && ((in->arg2 >> v) & 1);
            break;
        }
        }
    }
}

msgw_eval_status msgw_rule_eval(const msgw_rule *r, const msgw_eval_ctx *ctx, int64_t *out,
                                int *bad_param)
{
    vm m = {r, ctx, -1, MSGW_EVAL_OK, 0, 0};
    int64_t v = run(&m, 0, ctx->person);
    if (out) *out = v;
    if (bad_param) *bad_param = m.bad_param;
    return m.status;
}

int64_t msgw_rule_threshold_value(const msgw_rule *r, size_t i, int64_t value)
{
    const threshold_code *t = &r->thresholds[i];
    int64_t st[STACK_MAX];
    int sp = 0;
    for (size_t pc = t->start; pc < t->start + t->len; pc++) {
        const rule_insn *in = &r->code[pc];
        switch ((rule_op)in->op) {
        case OP_CONST: st[sp++] = in->arg; break;
        case OP_PARAM: st[sp++] = value; break;
        case OP_ADD: sp--; st[sp - 1] += st[sp]; break;
        case OP_SUB: sp--; st[sp - 1] -= st[sp]; break;
        case OP_MUL: sp--; st[sp - 1] *= st[sp]; break;
        case OP_DIV: sp--; st[sp - 1] = st[sp] ? st[sp - 1] / st[sp] : 0; break;
        case OP_NEG: st[sp - 1] = -st[sp - 1]; break;
        default: break;
        }
    }
    return sp ? st[sp - 1] : MSGW_ABSENT;
}

int64_t msgw_threshold_key(const msgw_threshold *t, const msgw_view *v, const msgw_hview *h)
{
    if (!t->household) return v->slots[t->key];
    msgw_eval_ctx ctx = {0, NULL, v, h};
    return household_value(&ctx, v, t->key);
}
