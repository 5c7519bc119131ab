/*
 * The rule compiler: lexer, recursive-descent parser with type checking as
 * it goes, and code generation to the bytecode of rules_vm.c.  A rule that
 * names an unknown field, mixes types, uses a code outside its code list or
 * an undeclared parameter fails here, at load, with the column it is at.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/engine/rules.h"
#include "rules_internal.h"

msgw_rtype msgw_rule_rtype_of(const msgw_element *el);

typedef enum {
    T_EOF, T_IDENT, T_NUMBER, T_MONEY, T_DATE, T_STRING, T_PARAM,
    T_LP, T_RP, T_LB, T_RB, T_COMMA, T_DOT,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_PLUS, T_MINUS, T_STAR, T_SLASH,
} tok_kind;

typedef struct token {
    tok_kind kind;
    const char *start;
    size_t len;
    int64_t num; /* NUMBER, MONEY (fen), DATE (day) */
    int col;
} token;

/* A typed value on the compile-time side: what an expression produces. */
typedef struct etype {
    msgw_rtype t;
    const msgw_element *el; /* CODE: the element whose code list applies */
    int set_slot;           /* CODE from a fact attribute with a code-set slot, else -1 */
    bool is_string_lit;
    const char *lit;        /* STRING literal text */
    size_t litlen;
    uint64_t req; /* fact types that must be present for it to be true (or not absent) */
} etype;

typedef struct compiler {
    msgw_rule_env *env;
    const char *src, *p;
    token tok;
    msgw_rule *r;
    size_t cap;
    int depth, maxdepth;
    const char *where;
    msgw_errors *e;
    jmp_buf fail;
} compiler;

static void cerror(compiler *c, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

static void cerror(compiler *c, int col, const char *fmt, ...)
{
    char loc[512], msg[512];
    snprintf(loc, sizeof loc, "%s, column %d", c->where ? c->where : "rule", col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    msgw_error_add(c->e, -1, loc, NULL, "rule.compile", "%s (in: %s)", msg, c->src);
    longjmp(c->fail, 1);
}

/* ---- lexer ---- */

static bool lex_date(const char *p, int64_t *day)
{
    msgw_date d;
    if (!msgw_date_parse_iso(p, 10, &d)) return false;
    *day = d;
    return true;
}

static void next(compiler *c)
{
    const char *p = c->p;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    token *t = &c->tok;
    t->start = p;
    t->col = (int)(p - c->src) + 1;
    t->num = 0;
    if (!*p) {
        t->kind = T_EOF;
        t->len = 0;
        c->p = p;
        return;
    }
    if (isdigit((unsigned char)*p)) {
        if (strlen(p) >= 10 && p[4] == '-' && p[7] == '-' && isdigit((unsigned char)p[5])) {
            if (!lex_date(p, &t->num)) cerror(c, t->col, "%.10s is not a real calendar date", p);
            t->kind = T_DATE;
            p += 10;
        } else {
            int64_t v = 0;
            while (isdigit((unsigned char)*p)) {
                if (v > (INT64_MAX - 9) / 10) cerror(c, t->col, "number too large");
                v = v * 10 + (*p++ - '0');
            }
            t->kind = T_NUMBER;
            if (strncmp(p, "yuan", 4) == 0 && !isalnum((unsigned char)p[4])) {
                if (v > INT64_MAX / 100) cerror(c, t->col, "amount too large");
                v *= 100;
                p += 4;
                t->kind = T_MONEY;
            } else if (strncmp(p, "fen", 3) == 0 && !isalnum((unsigned char)p[3])) {
                p += 3;
                t->kind = T_MONEY;
            } else if (isalpha((unsigned char)*p) || *p == '.') {
                cerror(c, t->col, "money is written 1010yuan or 150fen, never with decimals");
            }
            t->num = v;
        }
    } else if (isalpha((unsigned char)*p) || *p == '_' || *p == '$') {
        t->kind = *p == '$' ? T_PARAM : T_IDENT;
        if (*p == '$') p++;
        while (isalnum((unsigned char)*p) || *p == '_') p++;
        if (t->kind == T_PARAM && p == t->start + 1) cerror(c, t->col, "$ must name a parameter");
    } else if (*p == '"') {
        p++;
        while (*p && *p != '"') p++;
        if (!*p) cerror(c, t->col, "unterminated string");
        p++;
        t->kind = T_STRING;
    } else {
        static const struct {
            const char *s;
            tok_kind k;
        } ops[] = {{"==", T_EQ}, {"!=", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"<", T_LT},
                   {">", T_GT},  {"(", T_LP},  {")", T_RP},  {"[", T_LB},  {"]", T_RB},
                   {",", T_COMMA}, {".", T_DOT}, {"+", T_PLUS}, {"-", T_MINUS}, {"*", T_STAR},
                   {"/", T_SLASH}};
        size_t i;
        for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (strncmp(p, ops[i].s, strlen(ops[i].s)) == 0) break;
        if (i == sizeof ops / sizeof ops[0]) cerror(c, t->col, "unexpected character '%c'", *p);
        t->kind = ops[i].k;
        p += strlen(ops[i].s);
    }
    t->len = (size_t)(p - t->start);
    c->p = p;
}

static bool is_word(const token *t, const char *w)
{
    return t->kind == T_IDENT && t->len == strlen(w) && strncmp(t->start, w, t->len) == 0;
}

static void expect(compiler *c, tok_kind k, const char *what)
{
    if (c->tok.kind != k) cerror(c, c->tok.col, "expected %s", what);
    next(c);
}

/* ---- code generation ---- */

static void emit(compiler *c, rule_op op, int64_t arg, int stack_delta)
{
    if (c->r->ncode == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->r->code = realloc(c->r->code, c->cap * sizeof *c->r->code);
        if (!c->r->code) abort();
    }
    rule_insn *in = &c->r->code[c->r->ncode++];
    memset(in, 0, sizeof *in);
    in->op = (uint8_t)op;
    in->arg = arg;
    c->depth += stack_delta;
    if (c->depth > c->maxdepth) c->maxdepth = c->depth;
}

static const char *type_name(msgw_rtype t)
{
    static const char *const names[] = {"bool", "int", "money", "date", "code", "region", "string"};
    return names[t];
}

static etype simple(msgw_rtype t)
{
    etype e = {t, NULL, -1, false, NULL, 0, 0};
    return e;
}

static etype parse_expr(compiler *c);

/* Resolves a STRING literal against a code element: the code's index + 1. */
static int64_t code_literal(compiler *c, const msgw_element *el, const char *s, size_t len, int col)
{
    const msgw_code *code = msgw_codelist_find(el->codes, s, len);
    if (!code)
        cerror(c, col, "\"%.*s\" is not a code of %s (%s)", (int)len, s, el->codes->id, el->id);
    return (int64_t)(code - el->codes->codes) + 1;
}

static int64_t region_literal(compiler *c, const char *s, size_t len, int col, bool prefix)
{
    if (len == 0 || len > 6 || len % 2 || (!prefix && len != 6)) cerror(c, col, "a region is 2, 4 or 6 digits");
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) cerror(c, col, "a region is digits");
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Materialises a string literal that met its typed partner. */
static void coerce_literal(compiler *c, etype *lit, const etype *other, size_t insn, int col)
{
    if (other->t == MSGW_RT_CODE)
        c->r->code[insn].arg = code_literal(c, other->el, lit->lit, lit->litlen, col);
    else if (other->t == MSGW_RT_REGION)
        c->r->code[insn].arg = region_literal(c, lit->lit, lit->litlen, col, false);
    else
        cerror(c, col, "a string can only be compared with a code or a region");
    lit->t = other->t;
    lit->el = other->el;
    lit->is_string_lit = false;
}

/*
 * person.residence_place: where the person lives, found as the engine's
 * jurisdiction finds it (docs/eligibility.md): the current residence fact,
 * else the registration's residence, else the hukou (the person's, else the
 * household's).  People live where they are registered unless told otherwise,
 * so a person known only by hukou still gets the services of the place.
 */
static etype residence_place(compiler *c)
{
    int fi = msgw_rule_env_fact_index(c->env, "residence");
    int slot = fi >= 0 ? msgw_rule_env_slot(c->env, "residence", "residence_region") : -1;
    if (fi >= 0) c->r->depends |= (uint64_t)1 << fi;
    emit(c, OP_PLACE, slot, 1);
    return simple(MSGW_RT_REGION);
}

static etype field_path(compiler *c, const token *first)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%.*s", (int)first->len, first->start);
    if (c->tok.kind != T_DOT) cerror(c, first->col, "unknown name %s", a);
    next(c);
    if (c->tok.kind != T_IDENT) cerror(c, c->tok.col, "expected a field name after %s.", a);
    snprintf(b, sizeof b, "%.*s", (int)c->tok.len, c->tok.start);
    int col = c->tok.col;
    next(c);
    msgw_rule_env *env = c->env;
    if (strcmp(a, "person") == 0) {
        c->r->depends |= (uint64_t)1 << 63;
        if (strcmp(b, "age") == 0) {
            emit(c, OP_AGE, 0, 1);
            return simple(MSGW_RT_INT);
        }
        if (strcmp(b, "residence_place") == 0) return residence_place(c);
        static const struct {
            const char *n;
            int slot;
            msgw_rtype t;
        } pf[] = {{"birth_date", P_BIRTH, MSGW_RT_DATE},  {"sex", P_SEX, MSGW_RT_CODE},
                  {"hukou_region", P_HUKOU_REGION, MSGW_RT_REGION},
                  {"hukou_type", P_HUKOU_TYPE, MSGW_RT_CODE},
                  {"residence_region", P_RESIDENCE, MSGW_RT_REGION}};
        for (size_t i = 0; i < sizeof pf / sizeof pf[0]; i++)
            if (strcmp(pf[i].n, b) == 0) {
                emit(c, OP_SLOT, pf[i].slot, 1);
                etype t = simple(pf[i].t);
                t.el = pf[i].slot == P_SEX ? env->sex : pf[i].slot == P_HUKOU_TYPE ? env->hukou_type : NULL;
                return t;
            }
        cerror(c, col, "person has no field %s", b);
    }
    if (strcmp(a, "household") == 0) {
        static const struct {
            const char *n;
            household_field f;
            msgw_rtype t;
        } hf[] = {{"size", H_SIZE, MSGW_RT_INT},
                  {"per_capita_income", H_PER_CAPITA_INCOME, MSGW_RT_MONEY},
                  {"region", H_REGION, MSGW_RT_REGION},
                  {"hukou_type", H_HUKOU_TYPE, MSGW_RT_CODE}};
        for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++)
            if (strcmp(hf[i].n, b) == 0) {
                emit(c, OP_HOUSEHOLD, 0, 1);
                c->r->code[c->r->ncode - 1].aux = (uint8_t)hf[i].f;
                int inc = msgw_rule_env_fact_index(env, "income");
                c->r->depends |= (uint64_t)1 << 63;
                if (inc >= 0) c->r->depends |= (uint64_t)1 << inc;
                etype t = simple(hf[i].t);
                t.el = hf[i].f == H_HUKOU_TYPE ? env->hukou_type : NULL;
                return t;
            }
        cerror(c, col, "household has no field %s", b);
    }
    int fi = msgw_rule_env_fact_index(env, a);
    if (fi < 0) cerror(c, first->col, "unknown fact type or name %s", a);
    const fact_layout *fl = &env->facts[fi];
    c->r->depends |= (uint64_t)1 << fi;
    if (strcmp(b, "valid_from") == 0 || strcmp(b, "valid_to") == 0) {
        emit(c, OP_SLOT, b[6] == 'f' ? fl->valid_from : fl->valid_to, 1);
        etype t = simple(MSGW_RT_DATE);
        if (b[6] == 'f') t.req = (uint64_t)1 << fi;
        return t;
    }
    for (size_t i = 0; i < fl->ft->nattrs; i++)
        if (strcmp(fl->ft->attrs[i]->id, b) == 0) {
            const msgw_element *el = fl->ft->attrs[i];
            etype t = simple(msgw_rule_rtype_of(el));
            if (t.t == MSGW_RT_STRING)
                cerror(c, col, "%s.%s is text; rules compare codes, numbers, money and dates", a, b);
            t.el = el;
            t.set_slot = fl->set[i];
            t.req = (uint64_t)1 << fi; /* absent without a current fact */
            emit(c, OP_SLOT, fl->attr[i], 1);
            return t;
        }
    cerror(c, col, "a %s fact has no attribute %s", a, b);
}

static etype call(compiler *c, const token *fn)
{
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)fn->len, fn->start);
    next(c); /* ( */
    if (strcmp(name, "has") == 0) {
        if (c->tok.kind != T_IDENT) cerror(c, c->tok.col, "has() takes a fact type");
        char ft[64];
        snprintf(ft, sizeof ft, "%.*s", (int)c->tok.len, c->tok.start);
        int fi = msgw_rule_env_fact_index(c->env, ft);
        if (fi < 0) cerror(c, c->tok.col, "unknown fact type %s", ft);
        next(c);
        expect(c, T_RP, "')'");
        c->r->depends |= (uint64_t)1 << fi;
        emit(c, OP_SLOT, c->env->facts[fi].present, 1);
        etype t = simple(MSGW_RT_BOOL);
        t.req = (uint64_t)1 << fi;
        return t;
    }
    static const struct {
        const char *n;
        agg_kind k;
    } aggs[] = {{"any_member", AGG_ANY}, {"all_members", AGG_ALL}, {"count_members", AGG_COUNT},
                {"sum_members", AGG_SUM}};
    for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
        if (strcmp(name, aggs[i].n) == 0) {
            size_t at = c->r->ncode;
            emit(c, OP_AGG, 0, 1);
            c->r->code[at].aux = (uint8_t)aggs[i].k;
            int saved = c->depth;
            c->depth = 0;
            int col = c->tok.col;
            etype body = parse_expr(c);
            emit(c, OP_RET, 0, 0);
            c->depth = saved;
            if (aggs[i].k == AGG_SUM ? body.t != MSGW_RT_MONEY && body.t != MSGW_RT_INT
                                     : body.t != MSGW_RT_BOOL)
                cerror(c, col, "%s() needs a %s expression, found %s", name,
                       aggs[i].k == AGG_SUM ? "money or int" : "bool", type_name(body.t));
            c->r->code[at].len = (int32_t)(c->r->ncode - at - 1);
            c->r->depends |= (uint64_t)1 << 63;
            expect(c, T_RP, "')'");
            return simple(aggs[i].k == AGG_SUM ? body.t : aggs[i].k == AGG_COUNT ? MSGW_RT_INT : MSGW_RT_BOOL);
        }
    if (strcmp(name, "years_since") == 0 || strcmp(name, "days_since") == 0) {
        int col = c->tok.col;
        etype arg = parse_expr(c);
        if (arg.t != MSGW_RT_DATE) cerror(c, col, "%s() takes a date", name);
        expect(c, T_RP, "')'");
        emit(c, name[0] == 'y' ? OP_YEARS_SINCE : OP_DAYS_SINCE, 0, 0);
        return simple(MSGW_RT_INT);
    }
    cerror(c, fn->col, "unknown function %s()", name);
}

static etype primary(compiler *c)
{
    token t = c->tok;
    switch (t.kind) {
    case T_NUMBER: next(c); emit(c, OP_CONST, t.num, 1); return simple(MSGW_RT_INT);
    case T_MONEY: next(c); emit(c, OP_CONST, t.num, 1); return simple(MSGW_RT_MONEY);
    case T_DATE: next(c); emit(c, OP_CONST, t.num, 1); return simple(MSGW_RT_DATE);
    case T_STRING: {
        next(c);
        emit(c, OP_CONST, 0, 1); /* patched when the literal meets its typed partner */
        etype e = simple(MSGW_RT_STRING);
        e.is_string_lit = true;
        e.lit = t.start + 1;
        e.litlen = t.len - 2;
        return e;
    }
    case T_PARAM: {
        next(c);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)t.len - 1, t.start + 1);
        int pi = msgw_rule_env_param_find(c->env, name);
        if (pi < 0) cerror(c, t.col, "undefined parameter $%s", name);
        emit(c, OP_PARAM, pi, 1);
        c->r->params |= (uint64_t)1 << pi;
        return simple(c->env->param_types[pi]);
    }
    case T_LP: {
        next(c);
        etype e = parse_expr(c);
        expect(c, T_RP, "')'");
        return e;
    }
    case T_IDENT:
        next(c);
        if (is_word(&t, "true") || is_word(&t, "false")) {
            emit(c, OP_CONST, is_word(&t, "true"), 1);
            return simple(MSGW_RT_BOOL);
        }
        if (is_word(&t, "today")) {
            emit(c, OP_TODAY, 0, 1);
            return simple(MSGW_RT_DATE);
        }
        if (c->tok.kind == T_LP) return call(c, &t);
        return field_path(c, &t);
    default: cerror(c, t.col, "expected a value");
    }
}

static etype unary(compiler *c)
{
    if (c->tok.kind == T_MINUS) {
        int col = c->tok.col;
        next(c);
        etype e = unary(c);
        if (e.t != MSGW_RT_INT && e.t != MSGW_RT_MONEY) cerror(c, col, "cannot negate a %s", type_name(e.t));
        emit(c, OP_NEG, 0, 0);
        return e;
    }
    return primary(c);
}

static etype arith(compiler *c, etype l, etype r, tok_kind op, int col)
{
    msgw_rtype a = l.t, b = r.t, res;
    if (a == MSGW_RT_INT && b == MSGW_RT_INT) res = MSGW_RT_INT;
    else if ((op == T_PLUS || op == T_MINUS) && a == MSGW_RT_MONEY && b == MSGW_RT_MONEY) res = MSGW_RT_MONEY;
    else if ((op == T_PLUS || op == T_MINUS) && a == MSGW_RT_DATE && b == MSGW_RT_INT) res = MSGW_RT_DATE;
    else if (op == T_MINUS && a == MSGW_RT_DATE && b == MSGW_RT_DATE) res = MSGW_RT_INT;
    else if (op == T_STAR && ((a == MSGW_RT_MONEY && b == MSGW_RT_INT) || (a == MSGW_RT_INT && b == MSGW_RT_MONEY))) res = MSGW_RT_MONEY;
    else if (op == T_SLASH && a == MSGW_RT_MONEY && b == MSGW_RT_INT) res = MSGW_RT_MONEY;
    else if (op == T_SLASH && a == MSGW_RT_MONEY && b == MSGW_RT_MONEY) res = MSGW_RT_INT;
    else cerror(c, col, "cannot apply this operator to %s and %s", type_name(a), type_name(b));
    emit(c, op == T_PLUS ? OP_ADD : op == T_MINUS ? OP_SUB : op == T_STAR ? OP_MUL : OP_DIV, 0, -1);
    etype e = simple(res);
    e.req = l.req | r.req; /* absent propagates through arithmetic */
    return e;
}

static etype term(compiler *c)
{
    etype l = unary(c);
    while (c->tok.kind == T_STAR || c->tok.kind == T_SLASH) {
        tok_kind op = c->tok.kind;
        int col = c->tok.col;
        next(c);
        l = arith(c, l, unary(c), op, col);
    }
    return l;
}

static etype sum(compiler *c)
{
    etype l = term(c);
    while (c->tok.kind == T_PLUS || c->tok.kind == T_MINUS) {
        tok_kind op = c->tok.kind;
        int col = c->tok.col;
        next(c);
        l = arith(c, l, term(c), op, col);
    }
    return l;
}

/* Is code[start, end) an expression of constants and exactly one parameter? Returns it or -1. */
static int param_expression(const compiler *c, size_t start, size_t end)
{
    int param = -1;
    for (size_t i = start; i < end; i++) {
        const rule_insn *in = &c->r->code[i];
        switch ((rule_op)in->op) {
        case OP_CONST: case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_NEG: break;
        case OP_PARAM:
            if (param >= 0) return -1;
            param = (int)in->arg;
            break;
        default: return -1;
        }
    }
    return param;
}

/* Records `KEY op EXPR($p)` (either way round) as a threshold for the parameter index. */
static void note_threshold(compiler *c, size_t lstart, size_t rstart, size_t end)
{
    size_t ks = lstart, es = rstart, ee = end;
    int p = param_expression(c, rstart, end);
    if (p < 0 || rstart - lstart != 1) {
        ks = end - 1;
        es = lstart;
        ee = rstart;
        p = end - rstart == 1 ? param_expression(c, lstart, rstart) : -1;
        if (p < 0) return;
    }
    const rule_insn *key = &c->r->code[ks];
    if (key->op != OP_SLOT && key->op != OP_HOUSEHOLD) return;
    c->r->thresholds = realloc(c->r->thresholds, (c->r->nthresholds + 1) * sizeof *c->r->thresholds);
    if (!c->r->thresholds) abort();
    threshold_code *t = &c->r->thresholds[c->r->nthresholds++];
    t->t.param = p;
    t->t.household = key->op == OP_HOUSEHOLD;
    t->t.key = key->op == OP_HOUSEHOLD ? key->aux : (int)key->arg;
    t->start = es;
    t->len = ee - es;
}

/* Records `days_since(SLOT) op CONST` / `years_since(SLOT) op CONST` for the calendar. */
static void note_time_threshold(compiler *c, size_t lstart, size_t rstart, size_t end)
{
    const rule_insn *code = c->r->code;
    if (rstart - lstart != 2 || end - rstart != 1 || code[lstart].op != OP_SLOT || code[rstart].op != OP_CONST ||
        (code[lstart + 1].op != OP_DAYS_SINCE && code[lstart + 1].op != OP_YEARS_SINCE))
        return;
    c->r->time_thresholds = realloc(c->r->time_thresholds, (c->r->ntime_thresholds + 1) * sizeof *c->r->time_thresholds);
    if (!c->r->time_thresholds) abort();
    c->r->time_thresholds[c->r->ntime_thresholds++] =
        (msgw_time_threshold){(int)code[lstart].arg, code[lstart + 1].op == OP_YEARS_SINCE, code[rstart].arg};
}

static etype membership(compiler *c, etype l, int col)
{
    if (l.t != MSGW_RT_CODE || !l.el) cerror(c, col, "'in' needs a code field on its left");
    if (l.el->codes->ncodes > 63) cerror(c, col, "code list %s is too long for 'in'", l.el->codes->id);
    expect(c, T_LB, "'['");
    int64_t mask = 0;
    do {
        if (c->tok.kind != T_STRING) cerror(c, c->tok.col, "expected a code string");
        mask |= (int64_t)1 << code_literal(c, l.el, c->tok.start + 1, c->tok.len - 2, c->tok.col);
        next(c);
    } while (c->tok.kind == T_COMMA && (next(c), 1));
    expect(c, T_RB, "']'");
    emit(c, OP_IN_MASK, mask, 0);
    etype e = simple(MSGW_RT_BOOL);
    e.req = l.req;
    return e;
}

static etype cmp(compiler *c)
{
    size_t lstart = c->r->ncode;
    etype l = sum(c);
    int col = c->tok.col;
    if (is_word(&c->tok, "in")) {
        next(c);
        return membership(c, l, col);
    }
    if (is_word(&c->tok, "within")) {
        next(c);
        if (l.t != MSGW_RT_REGION) cerror(c, col, "'within' needs a region on its left");
        if (c->tok.kind != T_STRING) cerror(c, c->tok.col, "'within' takes a region code string");
        size_t len = c->tok.len - 2;
        int64_t prefix = region_literal(c, c->tok.start + 1, len, c->tok.col, true);
        next(c);
        int64_t div = 1;
        for (size_t i = len; i < 6; i++) div *= 10;
        emit(c, OP_WITHIN, div, 0);
        c->r->code[c->r->ncode - 1].arg2 = prefix;
        etype e = simple(MSGW_RT_BOOL);
        e.req = l.req;
        return e;
    }
    if (is_word(&c->tok, "includes")) {
        next(c);
        if (l.t != MSGW_RT_CODE || l.set_slot < 0)
            cerror(c, col, "'includes' needs a fact's code attribute on its left");
        if (c->tok.kind != T_STRING) cerror(c, c->tok.col, "'includes' takes a code string");
        int64_t idx = code_literal(c, l.el, c->tok.start + 1, c->tok.len - 2, c->tok.col);
        next(c);
        c->r->code[c->r->ncode - 1].op = OP_INCLUDES; /* reads the set slot instead */
        c->r->code[c->r->ncode - 1].arg = l.set_slot;
        c->r->code[c->r->ncode - 1].arg2 = idx;
        etype e = simple(MSGW_RT_BOOL);
        e.req = l.req;
        return e;
    }
    tok_kind k = c->tok.kind;
    if (k < T_EQ || k > T_GE) return l;
    next(c);
    size_t rstart = c->r->ncode;
    etype r = sum(c);
    if (l.is_string_lit && !r.is_string_lit) coerce_literal(c, &l, &r, lstart, col);
    else if (r.is_string_lit && !l.is_string_lit) coerce_literal(c, &r, &l, rstart, col);
    if (l.t != r.t || l.t == MSGW_RT_STRING)
        cerror(c, col, "cannot compare %s with %s", type_name(l.t), type_name(r.t));
    if (l.t == MSGW_RT_CODE && l.el && r.el && l.el->codes != r.el->codes)
        cerror(c, col, "codes of %s and %s do not compare", l.el->codes->id, r.el->codes->id);
    if (k != T_EQ && k != T_NE && (l.t == MSGW_RT_BOOL || l.t == MSGW_RT_REGION))
        cerror(c, col, "%s values have no order", type_name(l.t));
    note_threshold(c, lstart, rstart, c->r->ncode);
    note_time_threshold(c, lstart, rstart, c->r->ncode);
    emit(c, (rule_op)(OP_EQ + (k - T_EQ)), 0, -1);
    etype e = simple(MSGW_RT_BOOL);
    e.req = l.req | r.req; /* a comparison with an absent value is false */
    return e;
}

static etype not_expr(compiler *c)
{
    if (is_word(&c->tok, "not")) {
        int col = c->tok.col;
        next(c);
        etype e = not_expr(c);
        if (e.t != MSGW_RT_BOOL) cerror(c, col, "'not' needs a bool");
        emit(c, OP_NOT, 0, 0);
        e.req = 0;
        return e;
    }
    return cmp(c);
}

static etype logic(compiler *c, bool is_or)
{
    etype l = is_or ? logic(c, false) : not_expr(c);
    while (is_word(&c->tok, is_or ? "or" : "and")) {
        int col = c->tok.col;
        if (l.t != MSGW_RT_BOOL) cerror(c, col, "'%s' needs bools", is_or ? "or" : "and");
        next(c);
        size_t jump = c->r->ncode;
        emit(c, is_or ? OP_JT_KEEP : OP_JF_KEEP, 0, 0);
        emit(c, OP_POP, 0, -1);
        etype r = is_or ? logic(c, false) : not_expr(c);
        if (r.t != MSGW_RT_BOOL) cerror(c, col, "'%s' needs bools", is_or ? "or" : "and");
        c->r->code[jump].len = (int32_t)(c->r->ncode - jump - 1);
        l.req = is_or ? l.req & r.req : l.req | r.req;
    }
    return l;
}

static etype parse_expr(compiler *c)
{
    return logic(c, true);
}

/*
 * Peephole pass: `SLOT; CONST; CMP`, `AGE; CONST; CMP`, `SLOT; WITHIN` and
 * `SLOT; IN` become one instruction each, since nearly every rule is a
 * conjunction of such tests and dispatch dominates their cost.  Jumps,
 * aggregate bodies and threshold ranges are relocated.
 */
static size_t fusable(const rule_insn *c, size_t i, size_t n)
{
    if (i + 2 < n && (c[i].op == OP_SLOT || c[i].op == OP_AGE) && c[i + 1].op == OP_CONST &&
        c[i + 2].op >= OP_EQ && c[i + 2].op <= OP_GE)
        return 3;
    if (i + 1 < n && c[i].op == OP_SLOT && (c[i + 1].op == OP_WITHIN || c[i + 1].op == OP_IN_MASK)) return 2;
    return 1;
}

static void fuse(msgw_rule *r)
{
    size_t n = r->ncode;
    size_t *map = calloc(n + 1, sizeof *map);
    rule_insn *out = calloc(n + 1, sizeof *out);
    if (!map || !out) abort();
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        size_t k = fusable(r->code, i, n);
        for (size_t q = 0; q < k; q++) map[i + q] = j;
        rule_insn f = r->code[i];
        if (k == 3) {
            f.op = r->code[i].op == OP_AGE ? OP_AGE_CMP_CONST : OP_SLOT_CMP_CONST;
            f.aux = (uint8_t)(r->code[i + 2].op - OP_EQ);
            f.arg2 = r->code[i + 1].arg;
        } else if (k == 2) {
            f.op = r->code[i + 1].op == OP_WITHIN ? OP_SLOT_WITHIN : OP_SLOT_IN_MASK;
            f.arg2 = r->code[i + 1].op == OP_WITHIN ? r->code[i + 1].arg2 : r->code[i + 1].arg;
            f.len = r->code[i + 1].op == OP_WITHIN ? (int32_t)r->code[i + 1].arg : 0; /* divisor */
        }
        out[j++] = f;
        i += k;
    }
    map[n] = j;
    /* relocate: a jump at old i lands at old i + len + 1 */
    for (size_t i = 0; i < n; i++) {
        rule_op op = (rule_op)r->code[i].op;
        if (op != OP_JF_KEEP && op != OP_JT_KEEP && op != OP_AGG) continue;
        size_t target = i + (size_t)r->code[i].len + 1;
        out[map[i]].len = (int32_t)(map[target] - map[i] - 1);
    }
    for (size_t t = 0; t < r->nthresholds; t++) {
        size_t end = r->thresholds[t].start + r->thresholds[t].len;
        r->thresholds[t].start = map[r->thresholds[t].start];
        r->thresholds[t].len = map[end] - r->thresholds[t].start;
    }
    free(r->code);
    free(map);
    r->code = out;
    r->ncode = j;
}

msgw_rule *msgw_rule_compile(msgw_rule_env *env, const char *src, msgw_rtype want,
                             const char *where, msgw_errors *e)
{
    compiler c;
    memset(&c, 0, sizeof c);
    c.env = env;
    c.src = c.p = src;
    c.where = where;
    c.e = e;
    c.r = calloc(1, sizeof *c.r);
    if (!c.r) abort();
    if (setjmp(c.fail)) {
        msgw_rule_destroy(&c.r);
        return NULL;
    }
    next(&c);
    etype t = parse_expr(&c);
    if (c.tok.kind != T_EOF) cerror(&c, c.tok.col, "unexpected text after the expression");
    if (t.is_string_lit) cerror(&c, 1, "a bare string is not a rule");
    if (t.t != want) cerror(&c, 1, "the rule is a %s, it must be a %s", type_name(t.t), type_name(want));
    emit(&c, OP_RET, 0, 0);
    fuse(c.r);
    c.r->required = t.req;
    c.r->stack = c.maxdepth + 1;
    c.r->type = t.t;
    c.r->env = env;
    c.r->source = strdup(src);
    return c.r;
}

void msgw_rule_destroy(msgw_rule **rp)
{
    if (!rp || !*rp) return;
    free((*rp)->code);
    free((*rp)->thresholds);
    free((*rp)->time_thresholds);
    free((*rp)->source);
    free(*rp);
    *rp = NULL;
}

uint64_t msgw_rule_depends(const msgw_rule *r)
{
    return r->depends;
}

uint64_t msgw_rule_required(const msgw_rule *r)
{
    return r->required;
}

uint64_t msgw_rule_params(const msgw_rule *r)
{
    return r->params;
}

const char *msgw_rule_source(const msgw_rule *r)
{
    return r->source;
}

size_t msgw_rule_count_time_thresholds(const msgw_rule *r)
{
    return r->ntime_thresholds;
}

const msgw_time_threshold *msgw_rule_time_threshold(const msgw_rule *r, size_t i)
{
    return i < r->ntime_thresholds ? &r->time_thresholds[i] : NULL;
}

size_t msgw_rule_count_thresholds(const msgw_rule *r)
{
    return r->nthresholds;
}

const msgw_threshold *msgw_rule_threshold(const msgw_rule *r, size_t i)
{
    return i < r->nthresholds ? &r->thresholds[i].t : NULL;
}

bool msgw_rule_param_indexed(const msgw_rule *r, int param)
{
    for (size_t i = 0; i < r->ncode; i++) {
        if (r->code[i].op != OP_PARAM || r->code[i].arg != param) continue;
        bool inside = false;
        for (size_t t = 0; t < r->nthresholds && !inside; t++)
            inside = i >= r->thresholds[t].start && i < r->thresholds[t].start + r->thresholds[t].len;
        if (!inside) return false;
    }
    return true;
}

bool msgw_rule_parse_literal(msgw_rtype type, const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (type == MSGW_RT_DATE) {
        msgw_date d;
        if (!msgw_date_parse_iso(s, n, &d)) return false;
        *out = d;
        return true;
    }
    int64_t v = 0;
    size_t i = 0;
    for (; i < n && isdigit((unsigned char)s[i]); i++) {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0) return false;
    if (type == MSGW_RT_MONEY) {
        if (strcmp(s + i, "yuan") == 0) {
            if (v > INT64_MAX / 100) return false;
            v *= 100;
        } else if (strcmp(s + i, "fen") != 0) {
            return false;
        }
    } else if (type != MSGW_RT_INT || s[i]) {
        return false;
    }
    *out = v;
    return true;
}
