/*
 * The rule VM: runs compiled bytecode over int64 slots.  No allocation, no
 * strings, no lookups: one switch per instruction, so a person's whole
 * catalogue evaluates in about a microsecond.  Absent values propagate
 * through arithmetic and make comparisons false.
 */
#include <stdint.h>

#include "msgw/engine/rules.h"
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

/*
 * Dating (msgw_rule_eval_dated): beside each stack value, the day from which
 * it has held (NO_DATE: nothing dates it) and, for person.age, the birth date,
 * so that a comparison of an age with a number can tell on which birthday it
 * turned.  The plain evaluation compiles the same loop with the dating
 * statements removed (track is a constant in each instantiation).
 */
#define NO_DATE INT64_MIN

static int64_t later(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* The day the value of a slot started holding: its fact's start, or the day after it ended when
 * the fact is no longer current (a missing value has held since then); for the person's regions,
 * the day a record moved them (else nothing dates them). */
static int64_t slot_since(const msgw_rule_env *env, const msgw_view *view, int64_t slot)
{
    if (slot == P_HUKOU_REGION || slot == P_RESIDENCE) {
        int64_t moved = view->slots[slot == P_HUKOU_REGION ? P_HUKOU_MOVED : P_RESIDENCE_MOVED];
        return moved == MSGW_ABSENT ? NO_DATE : moved;
    }
    int f = slot >= 0 ? env->slot_fact[slot] : -1;
    if (f < 0) return NO_DATE;
    const fact_layout *fl = &env->facts[f];
    int64_t present = view->slots[fl->present], from = view->slots[fl->valid_from], to = view->slots[fl->valid_to];
    if (present == 1) return from == MSGW_ABSENT || from <= INT32_MIN + 1 ? NO_DATE : from;
    return to == MSGW_ABSENT ? NO_DATE : to + 1;
}

/* household.per_capita_income holds from the latest start among the members' incomes. */
static int64_t household_since(const msgw_rule_env *env, const msgw_eval_ctx *ctx, const msgw_view *view, int f)
{
    if (f != H_PER_CAPITA_INCOME || env->income_fact < 0) return NO_DATE;
    int64_t slot = env->facts[env->income_fact].valid_from, d = NO_DATE;
    const msgw_hview *h = ctx->household;
    for (size_t i = 0; i < (h ? h->nmembers : 1); i++) d = later(d, slot_since(env, h ? &h->members[i] : view, slot));
    return d;
}

/*
 * `age OP k` (age on the left; how is OP_EQ..OP_GE minus OP_EQ): the birthday on which its truth
 * last turned, or the birth date when it has had today's value since birth (`age <= 6` of a child).
 * Every comparison but == and != turns once, at t: true from birthday t on for >= and >, false
 * from then on for < and <=.
 */
static int64_t age_turned(int64_t birth, int64_t age, int64_t k, int how)
{
    int64_t t;
    switch (how) {
    case 0: /* ==: true from birthday k to birthday k + 1; != the opposite */
    case 1:
        return age == k ? msgw_date_birthday((msgw_date)birth, (int)k)
               : age > k ? msgw_date_birthday((msgw_date)birth, (int)k + 1) : birth;
    case 2: /* < */
    case 5: t = k; break; /* >= */
    default: t = k + 1; break; /* <=, > */
    }
    return age >= t && t > 0 ? msgw_date_birthday((msgw_date)birth, (int)t) : birth;
}

/* The date of a comparison's result: an age against a number turns on a birthday; anything
 * else holds from the later of its two sides. */
static int64_t compared_since(int64_t a, int64_t b, int64_t da, int64_t db, int64_t ba, int64_t bb, int how)
{
    static const int mirror[] = {0, 1, 4, 5, 2, 3}; /* k OP age is age OP' k */
    if (a == MSGW_ABSENT || b == MSGW_ABSENT) return later(da, db);
    if (ba != NO_DATE && bb == NO_DATE) return later(age_turned(ba, a, b, how), db);
    if (bb != NO_DATE && ba == NO_DATE) return later(age_turned(bb, b, a, mirror[how]), da);
    return later(da, db);
}

static int64_t run(vm *m, size_t pc, const msgw_view *view);
static int64_t run_dated(vm *m, size_t pc, const msgw_view *view, int64_t *since);

static int64_t years_between(msgw_date from, msgw_date to)
{
    return msgw_date_age(from, to);
}

/*
 * Household aggregates.  Dated: any_member holds from the first member who decided it;
 * all_members, when it holds, from the latest of every member's; otherwise (a false all_members,
 * count_members, sum_members) from the latest of the members who decide it.
 */
static int64_t aggregate(vm *m, size_t body, agg_kind k, bool track, int64_t *since)
{
    const msgw_hview *h = m->ctx->household;
    size_t n = h ? h->nmembers : 1;
    int64_t acc = k == AGG_ALL ? 1 : 0, d = NO_DATE, dm = NO_DATE;
    for (size_t i = 0; i < n; i++) {
        const msgw_view *mv = h ? &h->members[i] : m->ctx->person;
        int64_t v = track ? run_dated(m, body, mv, &dm) : run(m, body, mv);
        switch (k) {
        case AGG_ANY:
            if (v == 1) {
                if (track) *since = dm;
                return 1;
            }
            d = later(d, dm);
            break;
        case AGG_ALL:
            if (v != 1) {
                if (track) *since = dm;
                return 0;
            }
            d = later(d, dm);
            break;
        case AGG_COUNT:
            acc += v == 1;
            d = later(d, dm);
            break;
        case AGG_SUM:
            if (v != MSGW_ABSENT) acc += v;
            d = later(d, dm);
            break;
        }
    }
    if (track) *since = d;
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

/* Dating statements: compiled away where track is false. */
#define DATE(i, d)                                                                                 \
    do {                                                                                           \
        if (track) {                                                                               \
            dt[i] = (d);                                                                           \
            bt[i] = NO_DATE;                                                                       \
        }                                                                                          \
    } while (0)
#define BIN(expr)                                                                                  \
    do {                                                                                           \
        int64_t b = st[--sp], a = st[sp - 1];                                                      \
        st[sp - 1] = (a == MSGW_ABSENT || b == MSGW_ABSENT) ? MSGW_ABSENT : (expr);                \
        DATE(sp - 1, later(dt[sp - 1], dt[sp]));                                                   \
    } while (0)
#define CMP(how, expr)                                                                             \
    do {                                                                                           \
        int64_t b = st[--sp], a = st[sp - 1];                                                      \
        st[sp - 1] = (a != MSGW_ABSENT && b != MSGW_ABSENT && (expr));                             \
        DATE(sp - 1, compared_since(a, b, dt[sp - 1], dt[sp], bt[sp - 1], bt[sp], how));           \
    } while (0)

static inline __attribute__((always_inline)) int64_t run_impl(vm *m, size_t pc, const msgw_view *view,
                                                              const bool track, int64_t *since)
{
    int64_t st[STACK_MAX], dt[STACK_MAX], bt[STACK_MAX];
    /* `A and B`: when A holds, B's result (landing where A was) also carries A's date, merged at
     * the end of B: the pc where the and's jump would have gone */
    size_t carry_pc[STACK_MAX];
    int64_t carry_date[STACK_MAX];
    int sp = 0, ncarry = 0;
    const rule_insn *code = m->r->code;
    const msgw_eval_ctx *ctx = m->ctx;
    const msgw_rule_env *env = m->r->env;
    for (;; pc++) {
        while (track && ncarry && carry_pc[ncarry - 1] == pc) {
            if (st[sp - 1] == 1) dt[sp - 1] = later(dt[sp - 1], carry_date[ncarry - 1]);
            ncarry--;
        }
        const rule_insn *in = &code[pc];
        switch ((rule_op)in->op) {
        case OP_CONST:
            DATE(sp, NO_DATE);
            st[sp++] = in->arg;
            break;
        case OP_SLOT:
            DATE(sp, slot_since(env, view, in->arg));
            st[sp++] = view->slots[in->arg];
            break;
        case OP_HOUSEHOLD:
            DATE(sp, household_since(env, ctx, view, in->aux));
            st[sp++] = household_value(ctx, view, in->aux);
            break;
        case OP_PARAM: {
            int64_t v = ctx->params[in->arg];
            if (v == MSGW_ABSENT && m->status == MSGW_EVAL_OK) {
                m->status = MSGW_EVAL_NO_PARAM;
                m->bad_param = (int)in->arg;
            }
            DATE(sp, ctx->param_from && v != MSGW_ABSENT ? ctx->param_from[in->arg] : NO_DATE);
            st[sp++] = v;
            break;
        }
        case OP_AGE: {
            int64_t b = view->slots[P_BIRTH];
            DATE(sp, NO_DATE);
            if (track) bt[sp] = b == MSGW_ABSENT ? NO_DATE : b;
            st[sp++] = b == MSGW_ABSENT ? MSGW_ABSENT : age_on(m, (msgw_date)b);
            break;
        }
        case OP_YEARS_SINCE:
            if (st[sp - 1] != MSGW_ABSENT) st[sp - 1] = years_between((msgw_date)st[sp - 1], ctx->date);
            break;
        case OP_DAYS_SINCE:
            if (st[sp - 1] != MSGW_ABSENT) st[sp - 1] = ctx->date - st[sp - 1];
            break;
        case OP_TODAY:
            DATE(sp, NO_DATE);
            st[sp++] = ctx->date;
            break;
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
            DATE(sp - 1, later(dt[sp - 1], dt[sp]));
            break;
        }
        case OP_NEG:
            if (st[sp - 1] != MSGW_ABSENT) st[sp - 1] = -st[sp - 1];
            if (track) bt[sp - 1] = NO_DATE; /* no longer an age */
            break;
        case OP_EQ: CMP(0, a == b); break;
        case OP_NE: CMP(1, a != b); break;
        case OP_LT: CMP(2, a < b); break;
        case OP_LE: CMP(3, a <= b); break;
        case OP_GT: CMP(4, a > b); break;
        case OP_GE: CMP(5, a >= b); break;
        case OP_NOT: st[sp - 1] = st[sp - 1] != 1; break;
        case OP_JF_KEEP:
            if (st[sp - 1] != 1) pc += (size_t)in->len;
            else if (track) {
                carry_pc[ncarry] = pc + (size_t)in->len + 1;
                carry_date[ncarry++] = dt[sp - 1];
            }
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
        case OP_INCLUDES:
            DATE(sp, slot_since(env, view, in->arg));
            st[sp++] = (view->slots[in->arg] >> in->arg2) & 1;
            break;
        case OP_PRESENT:
            DATE(sp, slot_since(env, view, in->arg));
            st[sp++] = view->slots[in->arg] != MSGW_ABSENT;
            break;
        case OP_AGG: {
            int64_t d = NO_DATE;
            int64_t v = aggregate(m, pc + 1, (agg_kind)in->aux, track, &d);
            DATE(sp, d);
            st[sp++] = v;
            pc += (size_t)in->len;
            break;
        }
        case OP_RET:
            if (track) *since = sp ? dt[sp - 1] : NO_DATE;
            return sp ? st[sp - 1] : MSGW_ABSENT;
        case OP_PLACE: {
            int64_t v = residence_place(ctx, view, in->arg);
            DATE(sp, in->arg >= 0 && view->slots[in->arg] != MSGW_ABSENT ? slot_since(env, view, in->arg)
                     : view->slots[P_RESIDENCE] != MSGW_ABSENT    ? slot_since(env, view, P_RESIDENCE)
                                                                  : slot_since(env, view, P_HUKOU_REGION));
            st[sp++] = v;
            break;
        }
        case OP_SLOT_CMP_CONST:
            DATE(sp, slot_since(env, view, in->arg));
            st[sp++] = compare(view->slots[in->arg], in->arg2, in->aux);
            break;
        case OP_AGE_CMP_CONST: {
            int64_t b = view->slots[P_BIRTH], age = b == MSGW_ABSENT ? MSGW_ABSENT : age_on(m, (msgw_date)b);
            DATE(sp, age == MSGW_ABSENT ? NO_DATE : age_turned(b, age, in->arg2, in->aux));
            st[sp++] = compare(age, in->arg2, in->aux);
            break;
        }
        case OP_SLOT_WITHIN: {
            int64_t v = view->slots[in->arg];
            DATE(sp, slot_since(env, view, in->arg));
            st[sp++] = v != MSGW_ABSENT && v / in->len == in->arg2;
            break;
        }
        case OP_SLOT_IN_MASK: {
            int64_t v = view->slots[in->arg];
            DATE(sp, slot_since(env, view, in->arg));
            st[sp++] = v != MSGW_ABSENT && v >= 0 && v < 64 && ((in->arg2 >> v) & 1);
            break;
        }
        }
    }
}

static int64_t run(vm *m, size_t pc, const msgw_view *view)
{
    return run_impl(m, pc, view, false, NULL);
}

static int64_t run_dated(vm *m, size_t pc, const msgw_view *view, int64_t *since)
{
    return run_impl(m, pc, view, true, since);
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

msgw_eval_status msgw_rule_eval_dated(const msgw_rule *r, const msgw_eval_ctx *ctx, int64_t *out,
                                      msgw_date *since, int *bad_param)
{
    vm m = {r, ctx, -1, MSGW_EVAL_OK, 0, 0};
    int64_t d = NO_DATE;
    int64_t v = run_dated(&m, 0, ctx->person, &d);
    if (out) *out = v;
    if (since) *since = d == NO_DATE ? MSGW_DATE_NONE : (msgw_date)d;
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
    msgw_eval_ctx ctx = {0, NULL, v, h, NULL};
    return household_value(&ctx, v, t->key);
}
