/*
 * JSON Schema draft 2020-12 validator on jansson (see include/msgw/validate/jsonschema.h
 * and docs/jsonschema.md).  msgw_jsonschema_new walks the schema once into a
 * tree of js_node structs: keywords become struct fields, patterns become
 * compiled POSIX regexes, every $ref points at its target node, and $ref
 * cycles that would never consume input are rejected.  Validation then only
 * walks that tree and the instance; it records errors with the JSON pointer
 * of the failing value, built lazily from a chain of stack segments so a
 * valid document costs no allocation for locations.  The annotations that
 * unevaluatedProperties/Items need are collected only below schemas that use
 * them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* newlocale/uselocale, strndup, REG_STARTEND when built standalone */
#endif
#include "msgw/validate/jsonschema.h"

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/date.h"

/* Deeper than any sane document; jansson's parser already stops at 2048 levels. */
#define JS_MAX_DEPTH 4096
/* enum messages list the allowed values only when there are few of them. */
#define JS_ENUM_LIST_MAX 10

enum {
    JS_NULL = 1u << 0,
    JS_BOOLEAN = 1u << 1,
    JS_OBJECT = 1u << 2,
    JS_ARRAY = 1u << 3,
    JS_NUMBER = 1u << 4,
    JS_STRING = 1u << 5,
    JS_INTEGER = 1u << 6,
};

typedef enum { JS_FORMAT_NONE = 0, JS_FORMAT_DATE, JS_FORMAT_DATE_TIME } js_format;

typedef struct js_node js_node;

typedef struct {
    regex_t re;
    bool compiled;
    bool match_all; /* the empty pattern: POSIX leaves "" undefined */
    const char *source;
} js_regex;

typedef struct {
    const char *name;
    js_node *schema;
} js_named;

typedef struct {
    js_regex rx;
    js_node *schema;
} js_patprop;

typedef struct {
    const char *name;
    const char **names;
    size_t n;
} js_depreq;

typedef struct {
    js_node **v;
    size_t n;
} js_list;

struct js_node {
    bool is_bool, bool_value; /* a boolean schema: true accepts, false rejects */
    unsigned types;           /* JS_* bits; 0 = no "type" keyword */

    const json_t *enum_vals; /* borrowed from the validator's copy of the schema */
    json_t *enum_strings;    /* the string members as object keys: code lists are long */
    json_t *enum_others;     /* the other members, compared one by one */
    const json_t *const_val;

    const json_t *minimum, *maximum, *exclusive_minimum, *exclusive_maximum, *multiple_of;

    long long min_length, max_length; /* -1 = absent */
    js_regex *pattern;
    js_format format;

    long long min_items, max_items;
    bool unique_items;
    js_list prefix_items;
    js_node *items, *contains;
    long long min_contains, max_contains;

    json_t *prop_index; /* property name -> index into props */
    js_named *props;
    size_t nprops;
    js_patprop *pattern_props;
    size_t npattern_props;
    js_node *additional, *property_names;
    const char **required;
    size_t nrequired;
    js_depreq *dep_required;
    size_t ndep_required;
    js_named *dep_schemas;
    size_t ndep_schemas;
    long long min_props, max_props;

    js_node *ref;
    const char *ref_text;
    js_node *dynamic_ref;     /* where $dynamicRef points statically */
    const char *dynamic_name; /* set when that target has a matching $dynamicAnchor */
    js_node *unevaluated_props, *unevaluated_items;
    int resource; /* index into msgw_jsonschema.resources: this node's schema resource */
    js_list all_of, any_of, one_of;
    js_node *not_schema, *if_schema, *then_schema, *else_schema;

    js_node *next;     /* every node of a validator, for destroy */
    const char *where; /* schema location, valid during compile only */
    const char *base;  /* base URI, valid during compile only */
    int colour;        /* cycle detection: 0 unseen, 1 on the path, 2 done */
};

/* A schema resource (a document or a subschema with $id) and its $dynamicAnchors. */
typedef struct {
    char *uri;
    js_named *dynamic;
    size_t ndynamic, dynamic_cap;
} js_resource;

struct msgw_jsonschema {
    json_t *docs; /* array: our copy of the schema, then remote documents */
    js_node *root;
    js_node *nodes;
    js_resource *resources;
    size_t nresources, resource_cap;
    locale_t c_locale; /* regexes work on bytes, whatever locale the process uses */
};

/* ------------------------------------------------------------------ */
/* A tiny growable string for regex translation and pointers. */

typedef struct {
    char *p;
    size_t n, cap;
} js_str;

static void str_putn(js_str *s, const char *src, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        while (cap < s->n + n + 1)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p)
            abort();
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->n, src, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void str_puts(js_str *s, const char *src)
{
    str_putn(s, src, strlen(src));
}

static void str_putc(js_str *s, char c)
{
    str_putn(s, &c, 1);
}

static char *str_take(js_str *s)
{
    if (!s->p)
        str_putn(s, "", 0);
    char *p = s->p;
    *s = (js_str){0};
    return p;
}

static void str_put_utf8(js_str *s, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    str_putn(s, b, n);
}

/* RFC 6901: "~" becomes "~0" and "/" becomes "~1". */
static void str_put_pointer_token(js_str *s, const char *token)
{
    for (const char *p = token; *p; p++) {
        if (*p == '~')
            str_puts(s, "~0");
        else if (*p == '/')
            str_puts(s, "~1");
        else
            str_putc(s, *p);
    }
}

/* ------------------------------------------------------------------ */
/* JSON values: numbers compare across integer/real, equality is JSON's. */

static long double num_value(const json_t *x)
{
    return json_is_integer(x) ? (long double)json_integer_value(x) : (long double)json_real_value(x);
}

static bool is_integral(const json_t *x)
{
    if (json_is_integer(x))
        return true;
    if (!json_is_real(x))
        return false;
    double v = json_real_value(x);
    return isfinite(v) && floor(v) == v;
}

/* long double holds every int64 exactly, so mixed comparisons are exact. */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    long double x = num_value(a), y = num_value(b);
    return (x > y) - (x < y);
}

static bool is_multiple_of(const json_t *x, const json_t *m)
{
    if (json_is_integer(x) && json_is_integer(m)) {
        json_int_t d = json_integer_value(m);
        if (d == -1 || d == 1)
            return true;
        return d != 0 && json_integer_value(x) % d == 0;
    }
    double xv = (double)num_value(x), mv = (double)num_value(m);
    double q = xv / mv;
    if (!isfinite(q))
        return fmod(xv, mv) == 0.0; /* exact, where the quotient overflows */
    return fabs(q - nearbyint(q)) < 1e-9;
}

static bool json_values_equal(const json_t *a, const json_t *b);

static bool objects_equal(const json_t *a, const json_t *b)
{
    if (json_object_size(a) != json_object_size(b))
        return false;
    const char *key;
    json_t *va;
    json_object_foreach ((json_t *)a, key, va) {
        json_t *vb = json_object_get(b, key);
        if (!vb || !json_values_equal(va, vb))
            return false;
    }
    return true;
}

static bool arrays_equal(const json_t *a, const json_t *b)
{
    size_t n = json_array_size(a);
    if (n != json_array_size(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!json_values_equal(json_array_get(a, i), json_array_get(b, i)))
            return false;
    return true;
}

/* JSON Schema equality: 1 equals 1.0, true never equals 1. */
static bool json_values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        return arrays_equal(a, b);
    case JSON_OBJECT:
        return objects_equal(a, b);
    default:
        return true; /* true, false, null */
    }
}

static unsigned type_bit(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT:
        return JS_OBJECT;
    case JSON_ARRAY:
        return JS_ARRAY;
    case JSON_STRING:
        return JS_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return JS_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return JS_BOOLEAN;
    default:
        return JS_NULL;
    }
}

static bool type_matches(unsigned types, const json_t *x)
{
    unsigned bit = type_bit(x);
    if (types & bit)
        return true;
    return (types & JS_INTEGER) && is_integral(x);
}

/* Code points, not bytes: jansson strings are valid UTF-8. */
static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

/* ------------------------------------------------------------------ */
/* Formats the gateway asserts. */

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool format_date_ok(const char *s, size_t n)
{
    msgw_date d;
    return msgw_date_parse_iso(s, n, &d);
}

/* RFC 3339 partial-time + time-offset; a leap second must fall on 23:59:60 UTC. */
static bool format_time_ok(const char *s, size_t n)
{
    if (n < 9 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2) || s[5] != ':' ||
        !digits(s + 6, 2))
        return false;
    int hh = two_digits(s), mm = two_digits(s + 3), ss = two_digits(s + 6);
    if (hh > 23 || mm > 59 || ss > 60)
        return false;
    size_t i = 8;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    int offset = 0;
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        offset = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) &&
               s[i + 3] == ':' && digits(s + i + 4, 2)) {
        int oh = two_digits(s + i + 1), om = two_digits(s + i + 4);
        if (oh > 23 || om > 59)
            return false;
        offset = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
    } else {
        return false;
    }
    if (ss == 60) {
        int utc = ((hh * 60 + mm - offset) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

static bool format_date_time_ok(const char *s, size_t n)
{
    if (n < 11 || (s[10] != 'T' && s[10] != 't'))
        return false;
    return format_date_ok(s, 10) && format_time_ok(s + 11, n - 11);
}

/* ------------------------------------------------------------------ */
/*
 * ECMA-262 patterns to POSIX extended regexes.  glibc's regex ranges are
 * unreliable in UTF-8 locales (C.UTF-8 rejects [一-龥], "." misbehaves), so
 * the translation targets bytes in the "C" locale: every character class is
 * a set of code point ranges, written out as alternatives of UTF-8 byte
 * sequences, and a multi-byte literal becomes a group so quantifiers apply
 * to the whole character.
 */

#define CP_MAX 0x10FFFFul

typedef struct {
    unsigned long lo, hi;
} cp_range;

/* A set of code points as sorted, disjoint ranges. */
typedef struct {
    cp_range *v;
    size_t n, cap;
} cp_set;

static void set_add(cp_set *s, unsigned long lo, unsigned long hi)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        cp_range *v = realloc(s->v, s->cap * sizeof *v);
        if (!v)
            abort();
        s->v = v;
    }
    s->v[s->n++] = (cp_range){lo, hi};
}

static int range_cmp(const void *a, const void *b)
{
    const cp_range *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static void set_normalize(cp_set *s)
{
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof *s->v, range_cmp);
    size_t out = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->v[i].lo <= s->v[out].hi + 1) {
            if (s->v[i].hi > s->v[out].hi)
                s->v[out].hi = s->v[i].hi;
        } else {
            s->v[++out] = s->v[i];
        }
    }
    s->n = out + 1;
}

static void set_negate(cp_set *s)
{
    set_normalize(s);
    cp_set neg = {0};
    unsigned long next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].lo > next)
            set_add(&neg, next, s->v[i].lo - 1);
        next = s->v[i].hi + 1;
    }
    if (next <= CP_MAX)
        set_add(&neg, next, CP_MAX);
    free(s->v);
    *s = neg;
}

/* ECMA \s: white space and line terminators, including the Unicode spaces. */
static const cp_range ecma_space[] = {
    {0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF},
};
static const cp_range ecma_digit[] = {{'0', '9'}};
static const cp_range ecma_word[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
/* "." matches everything but the line terminators. */
static const cp_range ecma_line_terminators[] = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};

static void set_add_table(cp_set *s, const cp_range *t, size_t n, bool negate)
{
    cp_set part = {0};
    for (size_t i = 0; i < n; i++)
        set_add(&part, t[i].lo, t[i].hi);
    if (negate)
        set_negate(&part);
    for (size_t i = 0; i < part.n; i++)
        set_add(s, part.v[i].lo, part.v[i].hi);
    free(part.v);
}

/* \d \D \w \W \s \S; false if c is not a class escape. */
static bool set_add_class_escape(cp_set *s, char c)
{
    bool negate = isupper((unsigned char)c);
    switch (tolower((unsigned char)c)) {
    case 'd':
        set_add_table(s, ecma_digit, 1, negate);
        return true;
    case 'w':
        set_add_table(s, ecma_word, sizeof ecma_word / sizeof ecma_word[0], negate);
        return true;
    case 's':
        set_add_table(s, ecma_space, sizeof ecma_space / sizeof ecma_space[0], negate);
        return true;
    default:
        return false;
    }
}

typedef struct {
    const char *p; /* cursor into the ECMA source */
    js_str out;
    const char *why; /* set when the pattern cannot be translated */
} rx_tr;

/* A bracket expression of single bytes from a 256-bit map (bit 0, NUL, never set here). */
static void emit_byte_bracket(js_str *out, const unsigned char map[32], bool negate)
{
#define HAS(b) ((map[(b) >> 3] >> ((b) & 7)) & 1)
    str_putc(out, '[');
    if (negate)
        str_putc(out, '^');
    if (HAS(']'))
        str_putc(out, ']');
    for (int b = 1; b < 256; b++) {
        if (!HAS(b) || b == ']' || b == '-' || b == '^' || b == '[')
            continue;
        int e = b;
        while (e + 1 < 256 && HAS(e + 1) && e + 1 != ']' && e + 1 != '-' && e + 1 != '^' &&
               e + 1 != '[')
            e++;
        str_putc(out, (char)b);
        if (e > b + 1)
            str_putc(out, '-');
        if (e > b)
            str_putc(out, (char)e);
        b = e;
    }
    if (HAS('['))
        str_putc(out, '[');
    if (HAS('^'))
        str_putc(out, '^'); /* never first: "[^" would negate, a lone "^" is handled below */
    if (HAS('-'))
        str_putc(out, '-');
    str_putc(out, ']');
#undef HAS
}

static void map_set(unsigned char map[32], unsigned long b)
{
    map[b >> 3] |= (unsigned char)(1u << (b & 7));
}

/*
 * The single-byte (ASCII) members.  NUL cannot appear in a pattern string,
 * so a set containing it is written as the negation of its complement
 * (which then also excludes every byte of a multi-byte character).
 */
static void emit_ascii_part(js_str *out, const cp_set *s)
{
    unsigned char in[32] = {0};
    for (size_t i = 0; i < s->n && s->v[i].lo < 0x80; i++)
        for (unsigned long c = s->v[i].lo; c <= s->v[i].hi && c < 0x80; c++)
            map_set(in, c);
    bool has_nul = in[0] & 1;
    if (has_nul) {
        unsigned char comp[32] = {0};
        for (unsigned long b = 1; b < 256; b++)
            if (b >= 0x80 || !((in[b >> 3] >> (b & 7)) & 1))
                map_set(comp, b);
        emit_byte_bracket(out, comp, true);
        return;
    }
    int count = 0, only = 0;
    for (int b = 1; b < 128; b++)
        if ((in[b >> 3] >> (b & 7)) & 1) {
            count++;
            only = b;
        }
    if (count == 1 && strchr(".[]()*+?{}|^$\\", only) == NULL) {
        str_putc(out, (char)only);
    } else if (count == 1) {
        str_putc(out, '\\');
        str_putc(out, (char)only);
    } else {
        emit_byte_bracket(out, in, false);
    }
}

static int utf8_len(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static void utf8_bytes(unsigned long cp, unsigned char *b)
{
    js_str tmp = {0};
    str_put_utf8(&tmp, cp);
    memcpy(b, tmp.p, tmp.n);
    free(tmp.p);
}

static void emit_byte_range(js_str *out, unsigned char lo, unsigned char hi)
{
    if (lo == hi) {
        str_putc(out, (char)lo);
        return;
    }
    char r[6] = {'[', (char)lo, '-', (char)hi, ']', '\0'};
    str_puts(out, r);
}

/*
 * Writes the multi-byte code points lo..hi as "|seq|seq..." where each seq
 * is a byte range per position (the classic UTF-8 range split: cut at
 * encoding-length boundaries, then until only the lead byte varies freely).
 */
static void emit_utf8_range(js_str *out, unsigned long lo, unsigned long hi)
{
    static const unsigned long len_limits[] = {0x7F, 0x7FF, 0xFFFF};
    if (lo > hi)
        return;
    for (size_t i = 0; i < 3; i++)
        if (lo <= len_limits[i] && hi > len_limits[i]) {
            emit_utf8_range(out, lo, len_limits[i]);
            emit_utf8_range(out, len_limits[i] + 1, hi);
            return;
        }
    int n = utf8_len(lo);
    for (int i = 1; i < n; i++) {
        unsigned long m = (1ul << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) {
                emit_utf8_range(out, lo, lo | m);
                emit_utf8_range(out, (lo | m) + 1, hi);
                return;
            }
            if ((hi & m) != m) {
                emit_utf8_range(out, lo, (hi & ~m) - 1);
                emit_utf8_range(out, hi & ~m, hi);
                return;
            }
        }
    }
    unsigned char a[4], b[4];
    utf8_bytes(lo, a);
    utf8_bytes(hi, b);
    str_putc(out, '|');
    for (int i = 0; i < n; i++)
        emit_byte_range(out, a[i], b[i]);
}

/* Emits a code point set as one ERE atom. */
static bool emit_set(rx_tr *t, cp_set *s)
{
    set_normalize(s);
    if (s->n == 0) {
        t->why = "a character class that matches nothing is not supported";
        return false;
    }
    bool ascii = s->v[0].lo < 0x80;
    bool multi = s->v[s->n - 1].hi >= 0x80;
    if (!multi) {
        emit_ascii_part(&t->out, s);
        return true;
    }
    js_str alts = {0};
    for (size_t i = 0; i < s->n; i++)
        emit_utf8_range(&alts, s->v[i].lo < 0x80 ? 0x80 : s->v[i].lo, s->v[i].hi);
    str_putc(&t->out, '(');
    if (ascii)
        emit_ascii_part(&t->out, s);
    str_puts(&t->out, ascii ? alts.p : alts.p + 1);
    str_putc(&t->out, ')');
    free(alts.p);
    return true;
}

static bool emit_set_from_table(rx_tr *t, const cp_range *table, size_t n, bool negate)
{
    cp_set s = {0};
    set_add_table(&s, table, n, negate);
    bool ok = emit_set(t, &s);
    free(s.v);
    return ok;
}

/* One literal code point outside brackets. */
static bool emit_literal(rx_tr *t, unsigned long cp)
{
    if (cp == 0) {
        cp_range nul = {0, 0};
        return emit_set_from_table(t, &nul, 1, false);
    }
    if (cp < 0x80) {
        if (strchr(".[]()*+?{}|^$\\", (int)cp))
            str_putc(&t->out, '\\');
        str_putc(&t->out, (char)cp);
        return true;
    }
    str_putc(&t->out, '(');
    str_put_utf8(&t->out, cp);
    str_putc(&t->out, ')');
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex(const char **p, int n, unsigned long *cp)
{
    unsigned long v = 0;
    for (int i = 0; i < n; i++) {
        int h = hex_value((*p)[i]);
        if (h < 0)
            return false;
        v = v * 16 + (unsigned long)h;
    }
    *p += n;
    *cp = v;
    return true;
}

/* Decodes one UTF-8 sequence at *p (jansson guarantees validity). */
static unsigned long read_utf8(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    unsigned long cp;
    int extra;
    if (s[0] < 0x80) {
        cp = s[0];
        extra = 0;
    } else if (s[0] < 0xE0) {
        cp = s[0] & 0x1F;
        extra = 1;
    } else if (s[0] < 0xF0) {
        cp = s[0] & 0x0F;
        extra = 2;
    } else {
        cp = s[0] & 0x07;
        extra = 3;
    }
    int i = 1;
    for (; i <= extra && (s[i] & 0xC0) == 0x80; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    *p += i;
    return cp;
}

/*
 * A character escape (after the backslash) that stands for one code point:
 * \n \t \uXXXX \xHH \cX or an escaped punctuation character.  Returns false
 * (with why) for escapes that are not single characters here.
 */
static bool read_char_escape(rx_tr *t, bool in_class, unsigned long *cp)
{
    char c = *t->p++;
    switch (c) {
    case 'n':
        *cp = '\n';
        return true;
    case 't':
        *cp = '\t';
        return true;
    case 'r':
        *cp = '\r';
        return true;
    case 'f':
        *cp = '\f';
        return true;
    case 'v':
        *cp = '\v';
        return true;
    case '0':
        if (isdigit((unsigned char)*t->p)) {
            t->why = "octal escapes are not supported";
            return false;
        }
        *cp = 0;
        return true;
    case 'b':
        if (in_class) {
            *cp = '\b';
            return true;
        }
        t->why = "word boundary \\b is not supported";
        return false;
    case 'B':
        t->why = "word boundary \\B is not supported";
        return false;
    case 'u':
        if (*t->p == '{') {
            t->why = "\\u{...} escapes are not supported";
            return false;
        }
        if (read_hex(&t->p, 4, cp))
            return true;
        t->why = "malformed \\u escape";
        return false;
    case 'x':
        if (read_hex(&t->p, 2, cp))
            return true;
        t->why = "malformed \\x escape";
        return false;
    case 'c':
        if (isalpha((unsigned char)*t->p)) {
            *cp = (unsigned long)(*t->p++ % 32);
            return true;
        }
        t->why = "malformed \\c escape";
        return false;
    case 'p':
    case 'P':
        t->why = "Unicode property escapes (\\p, \\P) are not supported";
        return false;
    case 'k':
        t->why = "named backreferences are not supported";
        return false;
    case '\0':
        t->p--;
        t->why = "pattern ends with a backslash";
        return false;
    default:
        if (c >= '1' && c <= '9') {
            t->why = "backreferences are not supported";
            return false;
        }
        if (isalnum((unsigned char)c)) {
            t->why = "unknown escape";
            return false;
        }
        t->p--;
        *cp = read_utf8(&t->p);
        return true;
    }
}

/* One member of a class: a code point, or (is_set) a class escape added to set. */
static bool read_class_atom(rx_tr *t, cp_set *set, bool *is_set, unsigned long *cp)
{
    *is_set = false;
    if (*t->p != '\\') {
        *cp = read_utf8(&t->p);
        return true;
    }
    t->p++;
    if (set_add_class_escape(set, *t->p)) {
        t->p++;
        *is_set = true;
        return true;
    }
    if (*t->p == '-') {
        t->p++;
        *cp = '-';
        return true;
    }
    return read_char_escape(t, true, cp);
}

static bool translate_class(rx_tr *t)
{
    bool negate = false;
    if (*t->p == '^') {
        negate = true;
        t->p++;
    }
    cp_set set = {0};
    bool ok = true;
    while (ok && *t->p && *t->p != ']') {
        bool lo_set, hi_set;
        unsigned long lo, hi;
        if (!(ok = read_class_atom(t, &set, &lo_set, &lo)))
            break;
        if (t->p[0] == '-' && t->p[1] && t->p[1] != ']') {
            t->p++;
            if (!(ok = read_class_atom(t, &set, &hi_set, &hi)))
                break;
            if (lo_set || hi_set || lo > hi) {
                t->why = "bad character range in [...]";
                ok = false;
                break;
            }
            set_add(&set, lo, hi);
        } else if (!lo_set) {
            set_add(&set, lo, lo);
        }
    }
    if (ok && *t->p != ']') {
        t->why = "unterminated [...]";
        ok = false;
    }
    if (ok) {
        t->p++;
        if (negate)
            set_negate(&set);
        ok = emit_set(t, &set);
    }
    free(set.v);
    return ok;
}

/* "(?:" and "(?<name>" become plain groups; lookaround cannot be expressed. */
static bool translate_group(rx_tr *t)
{
    if (*t->p != '?') {
        str_putc(&t->out, '(');
        return true;
    }
    if (t->p[1] == ':') {
        t->p += 2;
        str_putc(&t->out, '(');
        return true;
    }
    if (t->p[1] == '=' || t->p[1] == '!' ||
        (t->p[1] == '<' && (t->p[2] == '=' || t->p[2] == '!'))) {
        t->why = "lookahead and lookbehind assertions are not supported";
        return false;
    }
    if (t->p[1] == '<') {
        const char *end = strchr(t->p, '>');
        if (!end) {
            t->why = "malformed named group";
            return false;
        }
        t->p = end + 1;
        str_putc(&t->out, '(');
        return true;
    }
    t->why = "unsupported group syntax (?...)";
    return false;
}

/* A "{n}", "{n,}" or "{n,m}" quantifier; otherwise "{" is a literal (Annex B). */
static size_t quantifier_length(const char *p)
{
    const char *q = p + 1;
    if (!isdigit((unsigned char)*q))
        return 0;
    while (isdigit((unsigned char)*q))
        q++;
    if (*q == ',') {
        q++;
        while (isdigit((unsigned char)*q))
            q++;
    }
    return *q == '}' ? (size_t)(q - p + 1) : 0;
}

/* Lazy quantifiers match the same strings as greedy ones: drop the "?". */
static void skip_lazy(rx_tr *t)
{
    if (*t->p == '?')
        t->p++;
}

static bool translate_escape(rx_tr *t)
{
    cp_set set = {0};
    if (set_add_class_escape(&set, *t->p)) {
        t->p++;
        bool ok = emit_set(t, &set);
        free(set.v);
        return ok;
    }
    unsigned long cp;
    return read_char_escape(t, false, &cp) && emit_literal(t, cp);
}

static bool translate_step(rx_tr *t)
{
    char c = *t->p++;
    switch (c) {
    case '\\':
        return translate_escape(t);
    case '[':
        return translate_class(t);
    case '(':
        return translate_group(t);
    case '.':
        return emit_set_from_table(t, ecma_line_terminators,
                                   sizeof ecma_line_terminators / sizeof ecma_line_terminators[0],
                                   true);
    case '*':
    case '+':
    case '?':
        str_putc(&t->out, c);
        skip_lazy(t);
        return true;
    case '{': {
        size_t n = quantifier_length(t->p - 1);
        if (n == 0) {
            str_puts(&t->out, "\\{");
            return true;
        }
        str_putn(&t->out, t->p - 1, n);
        t->p += n - 1;
        skip_lazy(t);
        return true;
    }
    case '}':
        str_puts(&t->out, "\\}");
        return true;
    case ']':
    case '|':
    case ')':
    case '^':
    case '$':
        str_putc(&t->out, c);
        return true;
    default:
        t->p--;
        return emit_literal(t, read_utf8(&t->p));
    }
}

/* Returns the ERE (caller frees) or NULL with *why set. */
static char *translate_pattern(const char *ecma, const char **why)
{
    rx_tr t = {.p = ecma};
    while (*t.p)
        if (!translate_step(&t)) {
            free(t.out.p);
            *why = t.why;
            return NULL;
        }
    return str_take(&t.out);
}

/* ------------------------------------------------------------------ */
/* URIs (RFC 3986 reference resolution), enough for $id and $ref. */

typedef struct {
    const char *scheme, *authority, *path, *query, *fragment;
    size_t scheme_n, authority_n, path_n, query_n, fragment_n;
    bool has_scheme, has_authority, has_query, has_fragment;
} js_uri;

static void uri_parse(const char *s, js_uri *u)
{
    *u = (js_uri){0};
    const char *p = s;
    size_t n = strcspn(s, ":/?#");
    if (s[n] == ':' && n > 0 && isalpha((unsigned char)s[0])) {
        u->has_scheme = true;
        u->scheme = s;
        u->scheme_n = n;
        p = s + n + 1;
    }
    if (p[0] == '/' && p[1] == '/') {
        u->has_authority = true;
        u->authority = p + 2;
        u->authority_n = strcspn(p + 2, "/?#");
        p = u->authority + u->authority_n;
    }
    u->path = p;
    u->path_n = strcspn(p, "?#");
    p += u->path_n;
    if (*p == '?') {
        u->has_query = true;
        u->query = p + 1;
        u->query_n = strcspn(p + 1, "#");
        p = u->query + u->query_n;
    }
    if (*p == '#') {
        u->has_fragment = true;
        u->fragment = p + 1;
        u->fragment_n = strlen(p + 1);
    }
}

/* RFC 3986 5.2.4. */
static char *remove_dot_segments(const char *in, size_t n)
{
    js_str out = {0};
    char *buf = strndup(in, n);
    const char *p = buf;
    while (*p) {
        if (strncmp(p, "../", 3) == 0) {
            p += 3;
        } else if (strncmp(p, "./", 2) == 0) {
            p += 2;
        } else if (strncmp(p, "/./", 3) == 0) {
            p += 2;
        } else if (strcmp(p, "/.") == 0) {
            p = "/";
        } else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0) {
            p = p[3] ? p + 3 : "/";
            while (out.n > 0 && out.p[out.n - 1] != '/')
                out.n--;
            if (out.n > 0)
                out.n--;
            if (out.p)
                out.p[out.n] = '\0';
        } else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
            break;
        } else {
            size_t seg = 1 + strcspn(p + 1, "/");
            if (*p != '/')
                seg = strcspn(p, "/");
            str_putn(&out, p, seg);
            p += seg;
        }
    }
    free(buf);
    return str_take(&out);
}

static char *merge_paths(const js_uri *base, const js_uri *ref)
{
    js_str m = {0};
    if (base->has_authority && base->path_n == 0) {
        str_putc(&m, '/');
    } else {
        size_t keep = base->path_n;
        while (keep > 0 && base->path[keep - 1] != '/')
            keep--;
        str_putn(&m, base->path, keep);
    }
    str_putn(&m, ref->path, ref->path_n);
    char *merged = remove_dot_segments(m.p, m.n);
    free(m.p);
    return merged;
}

/* Resolves ref against base (both may carry fragments); caller frees. */
static char *uri_resolve(const char *base, const char *ref)
{
    js_uri b, r;
    uri_parse(base, &b);
    uri_parse(ref, &r);
    const js_uri *auth_from = &b, *query_from = &r;
    const char *scheme = b.scheme;
    size_t scheme_n = b.scheme_n;
    bool has_scheme = b.has_scheme;
    char *path;
    if (r.has_scheme) {
        scheme = r.scheme;
        scheme_n = r.scheme_n;
        has_scheme = true;
        auth_from = &r;
        path = remove_dot_segments(r.path, r.path_n);
    } else if (r.has_authority) {
        auth_from = &r;
        path = remove_dot_segments(r.path, r.path_n);
    } else if (r.path_n == 0) {
        path = strndup(b.path, b.path_n);
        if (!r.has_query)
            query_from = &b;
    } else if (r.path[0] == '/') {
        path = remove_dot_segments(r.path, r.path_n);
    } else {
        path = merge_paths(&b, &r);
    }
    js_str out = {0};
    if (has_scheme) {
        str_putn(&out, scheme, scheme_n);
        str_putc(&out, ':');
    }
    if (auth_from->has_authority) {
        str_puts(&out, "//");
        str_putn(&out, auth_from->authority, auth_from->authority_n);
    }
    str_puts(&out, path);
    free(path);
    if (query_from->has_query) {
        str_putc(&out, '?');
        str_putn(&out, query_from->query, query_from->query_n);
    }
    if (r.has_fragment) {
        str_putc(&out, '#');
        str_putn(&out, r.fragment, r.fragment_n);
    }
    return str_take(&out);
}

static void uri_strip_fragment(char *uri)
{
    char *hash = strchr(uri, '#');
    if (hash)
        *hash = '\0';
}

static char *percent_decode(const char *s)
{
    js_str out = {0};
    for (const char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hex_value(p[1])) >= 0 && (lo = hex_value(p[2])) >= 0) {
            str_putc(&out, (char)(hi * 16 + lo));
            p += 2;
        } else {
            str_putc(&out, *p);
        }
    }
    return str_take(&out);
}

/* RFC 6901 evaluation of pointer (already percent-decoded) in doc. */
static json_t *pointer_get(json_t *doc, const char *pointer)
{
    json_t *cur = doc;
    const char *p = pointer;
    while (cur && *p == '/') {
        p++;
        size_t n = strcspn(p, "/");
        js_str token = {0};
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
                str_putc(&token, p[i + 1] == '0' ? '~' : '/');
                i++;
            } else {
                str_putc(&token, p[i]);
            }
        }
        char *tok = str_take(&token);
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            bool ok = *tok && *end == '\0' && isdigit((unsigned char)tok[0]) &&
                      !(tok[0] == '0' && tok[1]);
            cur = ok ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        free(tok);
        p += n;
    }
    return *p == '\0' ? cur : NULL;
}

/* ------------------------------------------------------------------ */
/* Compiler state: which base URI and schema location each subschema has. */

typedef struct {
    const json_t *key;
    const char *base;
    const char *where;
    int resource;
    js_node *node;
} js_slot;

typedef struct {
    int resource;
    const char *name;
    json_t *schema;
} js_pending_anchor;

typedef struct {
    char *uri; /* "absolute-uri" for a resource, "absolute-uri#anchor" for an anchor */
    json_t *schema;
} js_ident;

typedef struct {
    msgw_jsonschema *s;
    msgw_errors *err;
    msgw_jsonschema_resolver resolve;
    void *ud;
    js_slot *slots;
    size_t nslots, slot_cap;
    js_ident *idents;
    size_t nidents, ident_cap;
    char **pool; /* strings that live until the end of compile */
    size_t npool, pool_cap;
    js_pending_anchor *dynamic; /* $dynamicAnchors, compiled once the tree is */
    size_t ndynamic, dynamic_cap;
    bool failed;
} js_compiler;

static const char *pool_keep(js_compiler *c, char *s)
{
    if (c->npool == c->pool_cap) {
        c->pool_cap = c->pool_cap ? c->pool_cap * 2 : 64;
        char **p = realloc(c->pool, c->pool_cap * sizeof *p);
        if (!p)
            abort();
        c->pool = p;
    }
    c->pool[c->npool++] = s;
    return s;
}

static void compile_error(js_compiler *c, const char *where, const char *keyword, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

static void compile_error(js_compiler *c, const char *where, const char *keyword, const char *fmt,
                          ...)
{
    c->failed = true;
    if (!c->err)
        return;
    char rule[96];
    snprintf(rule, sizeof rule, "jsonschema.%s", keyword);
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(c->err, MSGW_SEV_ERROR, -1, where, keyword, rule, fmt, ap);
    va_end(ap);
}

static size_t slot_hash(const json_t *key, size_t cap)
{
    uintptr_t h = (uintptr_t)key;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (cap - 1);
}

static js_slot *slot_find(const js_compiler *c, const json_t *key)
{
    if (!c->slot_cap)
        return NULL;
    for (size_t i = slot_hash(key, c->slot_cap);; i = (i + 1) & (c->slot_cap - 1)) {
        if (c->slots[i].key == key)
            return &c->slots[i];
        if (!c->slots[i].key)
            return NULL;
    }
}

static void slot_grow(js_compiler *c)
{
    size_t cap = c->slot_cap ? c->slot_cap * 2 : 256;
    js_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        abort();
    for (size_t j = 0; j < c->slot_cap; j++) {
        if (!c->slots[j].key)
            continue;
        size_t i = slot_hash(c->slots[j].key, cap);
        while (slots[i].key)
            i = (i + 1) & (cap - 1);
        slots[i] = c->slots[j];
    }
    free(c->slots);
    c->slots = slots;
    c->slot_cap = cap;
}

static int resource_id(js_compiler *c, const char *uri)
{
    msgw_jsonschema *s = c->s;
    for (size_t i = 0; i < s->nresources; i++)
        if (strcmp(s->resources[i].uri, uri) == 0)
            return (int)i;
    if (s->nresources == s->resource_cap) {
        s->resource_cap = s->resource_cap ? s->resource_cap * 2 : 8;
        js_resource *v = realloc(s->resources, s->resource_cap * sizeof *v);
        if (!v)
            abort();
        s->resources = v;
    }
    s->resources[s->nresources] = (js_resource){.uri = strdup(uri)};
    return (int)s->nresources++;
}

static js_slot *slot_add(js_compiler *c, const json_t *key, const char *base, const char *where)
{
    if ((c->nslots + 1) * 2 > c->slot_cap)
        slot_grow(c);
    size_t i = slot_hash(key, c->slot_cap);
    while (c->slots[i].key)
        i = (i + 1) & (c->slot_cap - 1);
    c->slots[i] =
        (js_slot){.key = key, .base = base, .where = where, .resource = resource_id(c, base)};
    c->nslots++;
    return &c->slots[i];
}

static json_t *ident_find(const js_compiler *c, const char *uri)
{
    for (size_t i = 0; i < c->nidents; i++)
        if (strcmp(c->idents[i].uri, uri) == 0)
            return c->idents[i].schema;
    return NULL;
}

static void ident_add(js_compiler *c, const char *where, const char *keyword, char *uri,
                      json_t *schema)
{
    json_t *old = ident_find(c, uri);
    if (old && old != schema) {
        compile_error(c, where, keyword, "\"%s\" identifies two different schemas", uri);
        free(uri);
        return;
    }
    if (old) {
        free(uri);
        return;
    }
    if (c->nidents == c->ident_cap) {
        c->ident_cap = c->ident_cap ? c->ident_cap * 2 : 16;
        js_ident *v = realloc(c->idents, c->ident_cap * sizeof *v);
        if (!v)
            abort();
        c->idents = v;
    }
    c->idents[c->nidents++] = (js_ident){uri, schema};
}

static const char *child_where(js_compiler *c, const char *where, const char *a, const char *b)
{
    js_str s = {0};
    str_puts(&s, where);
    str_putc(&s, '/');
    str_put_pointer_token(&s, a);
    if (b) {
        str_putc(&s, '/');
        str_put_pointer_token(&s, b);
    }
    return pool_keep(c, str_take(&s));
}

/* ------------------------------------------------------------------ */
/* Pass 1: index every subschema (base URI, location), every $id and $anchor. */

static void index_schema(js_compiler *c, json_t *schema, const char *base, const char *where);

static const char *const single_schema_keywords[] = {
    "additionalProperties", "propertyNames", "items", "contains", "not", "if", "then", "else",
    "unevaluatedItems", "unevaluatedProperties", "contentSchema", NULL,
};
static const char *const array_schema_keywords[] = {"allOf", "anyOf", "oneOf", "prefixItems", NULL};
static const char *const object_schema_keywords[] = {"properties", "patternProperties", "$defs",
                                                     "dependentSchemas", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static void index_children(js_compiler *c, json_t *schema, const char *base, const char *where)
{
    const char *key;
    json_t *value;
    json_object_foreach (schema, key, value) {
        if (in_list(single_schema_keywords, key)) {
            index_schema(c, value, base, child_where(c, where, key, NULL));
        } else if (in_list(array_schema_keywords, key) && json_is_array(value)) {
            size_t i;
            json_t *item;
            json_array_foreach (value, i, item) {
                char idx[24];
                snprintf(idx, sizeof idx, "%zu", i);
                index_schema(c, item, base, child_where(c, where, key, idx));
            }
        } else if (in_list(object_schema_keywords, key) && json_is_object(value)) {
            const char *name;
            json_t *sub;
            json_object_foreach (value, name, sub)
                index_schema(c, sub, base, child_where(c, where, key, name));
        }
    }
}

static void pending_dynamic_add(js_compiler *c, int resource, const char *name, json_t *schema)
{
    if (c->ndynamic == c->dynamic_cap) {
        c->dynamic_cap = c->dynamic_cap ? c->dynamic_cap * 2 : 8;
        js_pending_anchor *v = realloc(c->dynamic, c->dynamic_cap * sizeof *v);
        if (!v)
            abort();
        c->dynamic = v;
    }
    c->dynamic[c->ndynamic++] = (js_pending_anchor){resource, name, schema};
}

static void index_anchor(js_compiler *c, json_t *schema, const char *base, const char *where,
                         const char *keyword)
{
    json_t *anchor = json_object_get(schema, keyword);
    if (!anchor)
        return;
    if (!json_is_string(anchor)) {
        compile_error(c, where, keyword, "%s must be a string", keyword);
        return;
    }
    js_str uri = {0};
    str_puts(&uri, base);
    str_putc(&uri, '#');
    str_puts(&uri, json_string_value(anchor));
    ident_add(c, where, keyword, str_take(&uri), schema);
    if (strcmp(keyword, "$dynamicAnchor") == 0)
        pending_dynamic_add(c, resource_id(c, base), json_string_value(anchor), schema);
}

static void index_schema(js_compiler *c, json_t *schema, const char *base, const char *where)
{
    if (slot_find(c, schema) || !json_is_object(schema)) {
        if (!slot_find(c, schema))
            slot_add(c, schema, base, where);
        return;
    }
    json_t *id = json_object_get(schema, "$id");
    if (json_is_string(id)) {
        char *uri = uri_resolve(base, json_string_value(id));
        uri_strip_fragment(uri);
        base = pool_keep(c, uri);
        ident_add(c, where, "$id", strdup(uri), schema);
    }
    slot_add(c, schema, base, where);
    index_anchor(c, schema, base, where, "$anchor");
    index_anchor(c, schema, base, where, "$dynamicAnchor");
    index_children(c, schema, base, where);
}

/* Adds a whole document (the schema or a remote one) under uri. */
static void index_document(js_compiler *c, json_t *doc, const char *uri, const char *where)
{
    char *u = strdup(uri);
    uri_strip_fragment(u);
    const char *base = pool_keep(c, u);
    ident_add(c, where, "$id", strdup(base), doc);
    index_schema(c, doc, base, where);
}

/* ------------------------------------------------------------------ */
/* Pass 2: compile subschemas into nodes. */

static js_node *compile_schema(js_compiler *c, json_t *schema);

static js_node *node_new(js_compiler *c)
{
    js_node *n = calloc(1, sizeof *n);
    if (!n)
        abort();
    n->min_length = n->max_length = -1;
    n->min_items = n->max_items = -1;
    n->min_contains = 1;
    n->max_contains = -1;
    n->min_props = n->max_props = -1;
    n->next = c->s->nodes;
    c->s->nodes = n;
    return n;
}

/* Non-negative integer keywords ("minLength": 2 or 2.0). */
static bool get_count(js_compiler *c, const js_node *n, const char *key, json_t *v,
                      long long *out)
{
    if (!is_integral(v) || num_value(v) < 0 || num_value(v) > (long double)INT64_MAX) {
        compile_error(c, n->where, key, "%s must be a non-negative integer", key);
        return false;
    }
    *out = (long long)num_value(v);
    return true;
}

static bool compile_regex(js_compiler *c, const char *where, const char *keyword,
                          const char *ecma, js_regex *rx)
{
    rx->source = ecma;
    const char *why = NULL;
    char *ere = translate_pattern(ecma, &why);
    if (!ere) {
        compile_error(c, where, keyword, "cannot use pattern \"%s\": %s", ecma, why);
        return false;
    }
    if (ere[0] == '\0') {
        rx->match_all = true;
        free(ere);
        return true;
    }
    locale_t old = uselocale(c->s->c_locale);
    int rc = regcomp(&rx->re, ere, REG_EXTENDED | REG_NOSUB);
    uselocale(old);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &rx->re, msg, sizeof msg);
        compile_error(c, where, keyword, "cannot compile pattern \"%s\": %s", ecma, msg);
        free(ere);
        return false;
    }
    rx->compiled = true;
    free(ere);
    return true;
}

static bool regex_matches(const msgw_jsonschema *s, const js_regex *rx, const char *str,
                          size_t len)
{
    if (rx->match_all)
        return true;
    regmatch_t m = {.rm_so = 0, .rm_eo = (regoff_t)len};
    locale_t old = uselocale(s->c_locale);
    int rc = regexec(&rx->re, str, 1, &m, REG_STARTEND);
    uselocale(old);
    return rc == 0;
}

static unsigned type_name_bit(const char *name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"null", JS_NULL},     {"boolean", JS_BOOLEAN}, {"object", JS_OBJECT},
        {"array", JS_ARRAY},   {"number", JS_NUMBER},   {"string", JS_STRING},
        {"integer", JS_INTEGER},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].bit;
    return 0;
}

static void kw_type(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (json_is_string(v)) {
        n->types = type_name_bit(json_string_value(v));
        if (!n->types)
            compile_error(c, n->where, key, "unknown type \"%s\"", json_string_value(v));
        return;
    }
    size_t i;
    json_t *t;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        compile_error(c, n->where, key, "type must be a string or a non-empty array of strings");
        return;
    }
    json_array_foreach (v, i, t) {
        unsigned bit = json_is_string(t) ? type_name_bit(json_string_value(t)) : 0;
        if (!bit) {
            compile_error(c, n->where, key, "type[%zu] is not a type name", i);
            return;
        }
        n->types |= bit;
    }
}

static void index_enum(js_node *n, json_t *values)
{
    n->enum_vals = values;
    n->enum_strings = json_object();
    n->enum_others = json_array();
    if (!n->enum_strings || !n->enum_others)
        abort();
    size_t i;
    json_t *v;
    json_array_foreach (values, i, v) {
        if (json_is_string(v))
            json_object_setn_new(n->enum_strings, json_string_value(v), json_string_length(v),
                                 json_true());
        else
            json_array_append(n->enum_others, v);
    }
}

static bool enum_contains(const js_node *n, const json_t *x)
{
    if (json_is_string(x))
        return json_object_getn(n->enum_strings, json_string_value(x), json_string_length(x));
    for (size_t i = 0; i < json_array_size(n->enum_others); i++)
        if (json_values_equal(x, json_array_get(n->enum_others, i)))
            return true;
    return false;
}

static void kw_enum(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_array(v))
        compile_error(c, n->where, key, "enum must be an array");
    else
        index_enum(n, v);
}

static void kw_const(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    (void)c;
    (void)key;
    n->const_val = v;
}

static void kw_number(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_number(v)) {
        compile_error(c, n->where, key, "%s must be a number", key);
        return;
    }
    if (strcmp(key, "minimum") == 0)
        n->minimum = v;
    else if (strcmp(key, "maximum") == 0)
        n->maximum = v;
    else if (strcmp(key, "exclusiveMinimum") == 0)
        n->exclusive_minimum = v;
    else if (strcmp(key, "exclusiveMaximum") == 0)
        n->exclusive_maximum = v;
    else if (num_value(v) > 0)
        n->multiple_of = v;
    else
        compile_error(c, n->where, key, "multipleOf must be greater than 0");
}

static void kw_count(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    static const struct {
        const char *key;
        size_t offset;
    } counts[] = {
        {"minLength", offsetof(js_node, min_length)},
        {"maxLength", offsetof(js_node, max_length)},
        {"minItems", offsetof(js_node, min_items)},
        {"maxItems", offsetof(js_node, max_items)},
        {"minContains", offsetof(js_node, min_contains)},
        {"maxContains", offsetof(js_node, max_contains)},
        {"minProperties", offsetof(js_node, min_props)},
        {"maxProperties", offsetof(js_node, max_props)},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (strcmp(counts[i].key, key) == 0) {
            long long value;
            if (get_count(c, n, key, v, &value))
                memcpy((char *)n + counts[i].offset, &value, sizeof value);
            return;
        }
}

static void kw_pattern(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_string(v)) {
        compile_error(c, n->where, key, "pattern must be a string");
        return;
    }
    js_regex *rx = calloc(1, sizeof *rx);
    if (!rx)
        abort();
    n->pattern = rx;
    compile_regex(c, n->where, key, json_string_value(v), rx);
}

/* Formats other than these are annotations (the 2020-12 default). */
static void kw_format(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_string(v))
        compile_error(c, n->where, key, "format must be a string");
    else if (strcmp(json_string_value(v), "date") == 0)
        n->format = JS_FORMAT_DATE;
    else if (strcmp(json_string_value(v), "date-time") == 0)
        n->format = JS_FORMAT_DATE_TIME;
}

static void kw_unique(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_boolean(v))
        compile_error(c, n->where, key, "uniqueItems must be a boolean");
    else
        n->unique_items = json_is_true(v);
}

static js_node *compile_child(js_compiler *c, json_t *v)
{
    return compile_schema(c, v);
}

static void compile_list(js_compiler *c, js_node *n, const char *key, json_t *v, js_list *out)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        compile_error(c, n->where, key, "%s must be a non-empty array of schemas", key);
        return;
    }
    out->n = json_array_size(v);
    out->v = calloc(out->n, sizeof *out->v);
    if (!out->v)
        abort();
    for (size_t i = 0; i < out->n; i++)
        out->v[i] = compile_child(c, json_array_get(v, i));
}

static void kw_list(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    js_list *out = strcmp(key, "allOf") == 0   ? &n->all_of
                   : strcmp(key, "anyOf") == 0 ? &n->any_of
                   : strcmp(key, "oneOf") == 0 ? &n->one_of
                                               : &n->prefix_items;
    compile_list(c, n, key, v, out);
}

static void kw_single(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    js_node *child = compile_child(c, v);
    if (strcmp(key, "additionalProperties") == 0)
        n->additional = child;
    else if (strcmp(key, "propertyNames") == 0)
        n->property_names = child;
    else if (strcmp(key, "items") == 0)
        n->items = child;
    else if (strcmp(key, "contains") == 0)
        n->contains = child;
    else if (strcmp(key, "not") == 0)
        n->not_schema = child;
    else if (strcmp(key, "if") == 0)
        n->if_schema = child;
    else if (strcmp(key, "then") == 0)
        n->then_schema = child;
    else if (strcmp(key, "else") == 0)
        n->else_schema = child;
    else if (strcmp(key, "unevaluatedProperties") == 0)
        n->unevaluated_props = child;
    else
        n->unevaluated_items = child;
}

static void kw_properties(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_object(v)) {
        compile_error(c, n->where, key, "properties must be an object");
        return;
    }
    n->nprops = json_object_size(v);
    n->props = calloc(n->nprops ? n->nprops : 1, sizeof *n->props);
    n->prop_index = json_object();
    if (!n->props || !n->prop_index)
        abort();
    size_t i = 0;
    const char *name;
    json_t *sub;
    json_object_foreach (v, name, sub) {
        n->props[i] = (js_named){name, compile_child(c, sub)};
        json_object_set_new(n->prop_index, name, json_integer((json_int_t)i));
        i++;
    }
}

static void kw_pattern_properties(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_object(v)) {
        compile_error(c, n->where, key, "patternProperties must be an object");
        return;
    }
    n->npattern_props = json_object_size(v);
    n->pattern_props = calloc(n->npattern_props ? n->npattern_props : 1, sizeof *n->pattern_props);
    if (!n->pattern_props)
        abort();
    size_t i = 0;
    const char *pattern;
    json_t *sub;
    json_object_foreach (v, pattern, sub) {
        compile_regex(c, child_where(c, n->where, key, pattern), key, pattern,
                      &n->pattern_props[i].rx);
        n->pattern_props[i].schema = compile_child(c, sub);
        i++;
    }
}

static const char **string_array(js_compiler *c, const js_node *n, const char *key, json_t *v,
                                 size_t *count)
{
    if (!json_is_array(v)) {
        compile_error(c, n->where, key, "%s must be an array of strings", key);
        return NULL;
    }
    *count = json_array_size(v);
    const char **names = calloc(*count ? *count : 1, sizeof *names);
    if (!names)
        abort();
    for (size_t i = 0; i < *count; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            compile_error(c, n->where, key, "%s[%zu] must be a string", key, i);
            free(names);
            *count = 0;
            return NULL;
        }
        names[i] = json_string_value(s);
    }
    return names;
}

static void kw_required(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    n->required = string_array(c, n, key, v, &n->nrequired);
}

static void kw_dependent_required(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_object(v)) {
        compile_error(c, n->where, key, "dependentRequired must be an object");
        return;
    }
    n->dep_required = calloc(json_object_size(v) + 1, sizeof *n->dep_required);
    if (!n->dep_required)
        abort();
    const char *name;
    json_t *list;
    json_object_foreach (v, name, list) {
        js_depreq *d = &n->dep_required[n->ndep_required++];
        d->name = name;
        d->names = string_array(c, n, key, list, &d->n);
    }
}

static void kw_dependent_schemas(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_object(v)) {
        compile_error(c, n->where, key, "dependentSchemas must be an object");
        return;
    }
    n->dep_schemas = calloc(json_object_size(v) + 1, sizeof *n->dep_schemas);
    if (!n->dep_schemas)
        abort();
    const char *name;
    json_t *sub;
    json_object_foreach (v, name, sub)
        n->dep_schemas[n->ndep_schemas++] = (js_named){name, compile_child(c, sub)};
}

/* Finds (or fetches through the resolver) the schema a $ref names. */
static json_t *ref_target(js_compiler *c, const char *uri)
{
    char *doc_uri = strdup(uri);
    uri_strip_fragment(doc_uri);
    const char *hash = strchr(uri, '#');
    const char *fragment = hash ? hash + 1 : "";
    json_t *doc = ident_find(c, doc_uri);
    if (!doc && c->resolve) {
        json_t *remote = c->resolve(doc_uri, c->ud);
        if (remote) {
            json_array_append_new(c->s->docs, remote);
            index_document(c, remote, doc_uri, pool_keep(c, strdup(doc_uri)));
            doc = remote;
        }
    }
    json_t *target = NULL;
    if (doc && fragment[0] == '\0') {
        target = doc;
    } else if (doc && fragment[0] == '/') {
        char *pointer = percent_decode(fragment);
        target = pointer_get(doc, pointer);
        free(pointer);
        const js_slot *doc_slot = slot_find(c, doc);
        if (target && !slot_find(c, target)) /* a pointer into a non-schema keyword */
            index_schema(c, target, doc_slot->base, pool_keep(c, strdup(uri)));
    } else if (doc) {
        target = ident_find(c, uri);
    }
    free(doc_uri);
    return target;
}

static void kw_ref(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_string(v)) {
        compile_error(c, n->where, key, "$ref must be a string");
        return;
    }
    n->ref_text = json_string_value(v);
    char *uri = uri_resolve(n->base, n->ref_text);
    json_t *target = ref_target(c, uri);
    if (!target)
        compile_error(c, n->where, key, "cannot resolve $ref \"%s\" (%s)", n->ref_text, uri);
    else
        n->ref = compile_child(c, target);
    free(uri);
}

/*
 * $dynamicRef resolves like $ref; only when that target carries a
 * $dynamicAnchor of the fragment's name does the dynamic scope decide at
 * validation time (the "bookending" rule of 2020-12).
 */
static void kw_dynamic_ref(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    if (!json_is_string(v)) {
        compile_error(c, n->where, key, "$dynamicRef must be a string");
        return;
    }
    const char *text = json_string_value(v);
    char *uri = uri_resolve(n->base, text);
    json_t *target = ref_target(c, uri);
    if (!target) {
        compile_error(c, n->where, key, "cannot resolve $dynamicRef \"%s\" (%s)", text, uri);
        free(uri);
        return;
    }
    free(uri);
    n->dynamic_ref = compile_child(c, target);
    const char *hash = strchr(text, '#');
    json_t *anchor = json_is_object(target) ? json_object_get(target, "$dynamicAnchor") : NULL;
    if (hash && hash[1] != '/' && hash[1] && json_is_string(anchor) &&
        strcmp(json_string_value(anchor), hash + 1) == 0)
        n->dynamic_name = hash + 1;
}

static void kw_unsupported(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    (void)v;
    compile_error(c, n->where, key, "keyword \"%s\" is not supported by this validator", key);
}

static void kw_ignore(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    (void)c;
    (void)n;
    (void)key;
    (void)v;
}

typedef void (*kw_fn)(js_compiler *c, js_node *n, const char *key, json_t *v);

static const struct {
    const char *key;
    kw_fn fn;
} keywords[] = {
    {"type", kw_type},
    {"enum", kw_enum},
    {"const", kw_const},
    {"minimum", kw_number},
    {"maximum", kw_number},
    {"exclusiveMinimum", kw_number},
    {"exclusiveMaximum", kw_number},
    {"multipleOf", kw_number},
    {"minLength", kw_count},
    {"maxLength", kw_count},
    {"minItems", kw_count},
    {"maxItems", kw_count},
    {"minContains", kw_count},
    {"maxContains", kw_count},
    {"minProperties", kw_count},
    {"maxProperties", kw_count},
    {"pattern", kw_pattern},
    {"format", kw_format},
    {"uniqueItems", kw_unique},
    {"allOf", kw_list},
    {"anyOf", kw_list},
    {"oneOf", kw_list},
    {"prefixItems", kw_list},
    {"additionalProperties", kw_single},
    {"propertyNames", kw_single},
    {"items", kw_single},
    {"contains", kw_single},
    {"not", kw_single},
    {"if", kw_single},
    {"then", kw_single},
    {"else", kw_single},
    {"properties", kw_properties},
    {"patternProperties", kw_pattern_properties},
    {"required", kw_required},
    {"dependentRequired", kw_dependent_required},
    {"dependentSchemas", kw_dependent_schemas},
    {"$ref", kw_ref},
    /* Need the annotations / dynamic scope that validate_node tracks only where used. */
    {"$dynamicRef", kw_dynamic_ref},
    {"unevaluatedProperties", kw_single},
    {"unevaluatedItems", kw_single},
    /* draft 2019-09's recursive references, superseded by $dynamicRef. */
    {"$recursiveRef", kw_unsupported},
    {"$recursiveAnchor", kw_unsupported},
    /* Pre-2020-12 spellings: silently ignoring them would drop constraints the author meant. */
    {"dependencies", kw_unsupported},
    {"additionalItems", kw_unsupported},
    /* Identifiers (handled while indexing) and annotations. */
    {"$id", kw_ignore},
    {"$anchor", kw_ignore},
    {"$dynamicAnchor", kw_ignore},
    {"$defs", kw_ignore},
    {"$schema", kw_ignore},
    {"$vocabulary", kw_ignore},
    {"$comment", kw_ignore},
    {"title", kw_ignore},
    {"description", kw_ignore},
    {"default", kw_ignore},
    {"examples", kw_ignore},
    {"deprecated", kw_ignore},
    {"readOnly", kw_ignore},
    {"writeOnly", kw_ignore},
    {"contentEncoding", kw_ignore},
    {"contentMediaType", kw_ignore},
    {"contentSchema", kw_ignore},
};

static void compile_keyword(js_compiler *c, js_node *n, const char *key, json_t *v)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strcmp(keywords[i].key, key) == 0) {
            keywords[i].fn(c, n, key, v);
            return;
        }
    /* Unknown keywords are annotations in 2020-12 (docs/jsonschema.md). */
}

static js_node *compile_schema(js_compiler *c, json_t *schema)
{
    js_slot *slot = slot_find(c, schema);
    if (!slot) {
        /* Reached through a $ref into a place pass 1 did not walk. */
        index_schema(c, schema, "", "(unknown)");
        slot = slot_find(c, schema);
    }
    if (slot->node)
        return slot->node;
    js_node *n = node_new(c);
    slot->node = n;
    n->where = slot->where;
    n->base = slot->base;
    n->resource = slot->resource;
    if (json_is_boolean(schema)) {
        n->is_bool = true;
        n->bool_value = json_is_true(schema);
        return n;
    }
    if (!json_is_object(schema)) {
        compile_error(c, n->where, "schema", "a schema must be an object or a boolean");
        return n;
    }
    const char *key;
    json_t *value;
    json_object_foreach (schema, key, value)
        compile_keyword(c, n, key, value);
    return n;
}

/* ------------------------------------------------------------------ */
/* A $ref / allOf / not ... cycle evaluates the same value forever: reject it. */

static bool find_cycle(js_compiler *c, js_node *n);

static bool visit_same_location(js_compiler *c, js_node *n)
{
    js_node *singles[] = {n->ref,       n->dynamic_ref, n->not_schema,
                          n->if_schema, n->then_schema, n->else_schema};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++)
        if (singles[i] && find_cycle(c, singles[i]))
            return true;
    const js_list *lists[] = {&n->all_of, &n->any_of, &n->one_of};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < lists[l]->n; i++)
            if (lists[l]->v[i] && find_cycle(c, lists[l]->v[i]))
                return true;
    for (size_t i = 0; i < n->ndep_schemas; i++)
        if (find_cycle(c, n->dep_schemas[i].schema))
            return true;
    return false;
}

static bool find_cycle(js_compiler *c, js_node *n)
{
    if (n->colour == 2)
        return false;
    if (n->colour == 1) {
        compile_error(c, n->where, "$ref",
                      "the schema refers back to itself without consuming input "
                      "(an infinite $ref loop)");
        return true;
    }
    n->colour = 1;
    bool cycle = visit_same_location(c, n);
    n->colour = 2;
    return cycle;
}

static void check_cycles(js_compiler *c)
{
    for (js_node *n = c->s->nodes; n; n = n->next)
        if (find_cycle(c, n))
            return;
}

static void compile_dynamic_anchors(js_compiler *c)
{
    for (size_t i = 0; i < c->ndynamic; i++) { /* compiling may find more */
        js_node *node = compile_schema(c, c->dynamic[i].schema);
        js_resource *r = &c->s->resources[c->dynamic[i].resource];
        if (r->ndynamic == r->dynamic_cap) {
            r->dynamic_cap = r->dynamic_cap ? r->dynamic_cap * 2 : 4;
            js_named *v = realloc(r->dynamic, r->dynamic_cap * sizeof *v);
            if (!v)
                abort();
            r->dynamic = v;
        }
        r->dynamic[r->ndynamic++] = (js_named){c->dynamic[i].name, node};
    }
}

static void compiler_free(js_compiler *c)
{
    free(c->dynamic);
    for (size_t i = 0; i < c->npool; i++)
        free(c->pool[i]);
    free(c->pool);
    for (size_t i = 0; i < c->nidents; i++)
        free(c->idents[i].uri);
    free(c->idents);
    free(c->slots);
}

/* The base URI of a schema without $id: refs like "#/$defs/x" resolve against it. */
static const char default_base[] = "urn:msgw:jsonschema:root";

msgw_jsonschema *msgw_jsonschema_new(json_t *schema, msgw_jsonschema_resolver resolve, void *ud,
                                     msgw_errors *err)
{
    msgw_jsonschema *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->docs = json_array();
    s->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!s->c_locale)
        abort(); /* "C" always exists */
    json_t *copy = json_deep_copy(schema);
    if (!copy) {
        if (err)
            msgw_error_add(err, -1, "", NULL, "jsonschema.schema", "the schema is not valid JSON");
        msgw_jsonschema_destroy(&s);
        return NULL;
    }
    json_array_append_new(s->docs, copy);

    js_compiler c = {.s = s, .err = err, .resolve = resolve, .ud = ud};
    index_document(&c, copy, default_base, "");
    s->root = compile_schema(&c, copy);
    compile_dynamic_anchors(&c);
    if (!c.failed)
        check_cycles(&c);
    for (js_node *n = s->nodes; n; n = n->next)
        n->where = n->base = NULL;
    bool failed = c.failed;
    compiler_free(&c);
    if (failed)
        msgw_jsonschema_destroy(&s);
    return s;
}

static void regex_free(js_regex *rx)
{
    if (rx && rx->compiled)
        regfree(&rx->re);
}

static void node_free(js_node *n)
{
    if (n->pattern) {
        regex_free(n->pattern);
        free(n->pattern);
    }
    for (size_t i = 0; i < n->npattern_props; i++)
        regex_free(&n->pattern_props[i].rx);
    free(n->pattern_props);
    json_decref(n->prop_index);
    json_decref(n->enum_strings);
    json_decref(n->enum_others);
    free(n->props);
    free(n->required);
    for (size_t i = 0; i < n->ndep_required; i++)
        free(n->dep_required[i].names);
    free(n->dep_required);
    free(n->dep_schemas);
    free(n->prefix_items.v);
    free(n->all_of.v);
    free(n->any_of.v);
    free(n->one_of.v);
    free(n);
}

void msgw_jsonschema_destroy(msgw_jsonschema **ps)
{
    if (!ps || !*ps)
        return;
    msgw_jsonschema *s = *ps;
    for (js_node *n = s->nodes, *next; n; n = next) {
        next = n->next;
        node_free(n);
    }
    for (size_t i = 0; i < s->nresources; i++) {
        free(s->resources[i].uri);
        free(s->resources[i].dynamic);
    }
    free(s->resources);
    freelocale(s->c_locale);
    json_decref(s->docs);
    free(s);
    *ps = NULL;
}

/* ------------------------------------------------------------------ */
/* Validation. */

/* One step of the instance path, on the C stack; key == NULL means an array index. */
typedef struct js_seg {
    const struct js_seg *up;
    const char *key;
    size_t index;
} js_seg;

/* The dynamic scope: schema resources entered on the way here, innermost first. */
typedef struct js_scope {
    const struct js_scope *up;
    int resource;
} js_scope;

typedef struct {
    const msgw_jsonschema *s;
    msgw_errors *err; /* NULL: only the verdict matters, stop at the first failure */
    int record;
    unsigned depth;
    const js_scope *scope;
} js_vctx;

/*
 * Annotations for unevaluatedProperties / unevaluatedItems: which members
 * or items of the value at one location were evaluated by passing
 * subschemas.  Collected only below a schema that uses those keywords, so
 * ordinary validation allocates nothing for them.
 */
typedef struct {
    json_t *props; /* evaluated member names, as object keys */
    bool all_props;
    unsigned char *items; /* items[i] != 0: item i evaluated */
    size_t nitems;
    bool all_items;
} js_eval;

static void eval_prop(js_eval *ev, const char *key)
{
    if (!ev || ev->all_props)
        return;
    if (!ev->props && !(ev->props = json_object()))
        abort();
    json_object_set_new(ev->props, key, json_true());
}

static void eval_item(js_eval *ev, size_t i, size_t size)
{
    if (!ev || ev->all_items)
        return;
    if (!ev->items) {
        ev->items = calloc(size ? size : 1, 1);
        if (!ev->items)
            abort();
        ev->nitems = size;
    }
    if (i < ev->nitems)
        ev->items[i] = 1;
}

static bool eval_has_prop(const js_eval *ev, const char *key)
{
    return ev->all_props || (ev->props && json_object_get(ev->props, key));
}

static bool eval_has_item(const js_eval *ev, size_t i)
{
    return ev->all_items || (ev->items && i < ev->nitems && ev->items[i]);
}

static void eval_merge(js_eval *dst, const js_eval *src)
{
    if (!dst)
        return;
    if (src->all_props) {
        dst->all_props = true;
    } else if (src->props) {
        const char *key;
        json_t *value;
        json_object_foreach (src->props, key, value)
            eval_prop(dst, key);
    }
    if (src->all_items)
        dst->all_items = true;
    for (size_t i = 0; i < src->nitems && !dst->all_items; i++)
        if (src->items[i])
            eval_item(dst, i, src->nitems);
}

static void eval_free(js_eval *ev)
{
    json_decref(ev->props);
    free(ev->items);
    *ev = (js_eval){0};
}

static void put_path(js_str *out, const js_seg *at)
{
    if (!at)
        return;
    put_path(out, at->up);
    str_putc(out, '/');
    if (at->key) {
        str_put_pointer_token(out, at->key);
    } else {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", at->index);
        str_puts(out, idx);
    }
}

static const char *nearest_key(const js_seg *at)
{
    for (; at; at = at->up)
        if (at->key)
            return at->key;
    return NULL;
}

static void report(const js_vctx *v, const js_seg *at, const char *field, const char *keyword,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(const js_vctx *v, const js_seg *at, const char *field, const char *keyword,
                   const char *fmt, ...)
{
    if (!v->err)
        return;
    js_str where = {0};
    put_path(&where, at);
    char *location = str_take(&where);
    char rule[96];
    snprintf(rule, sizeof rule, "jsonschema.%s", keyword);
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(v->err, MSGW_SEV_ERROR, v->record, location, field ? field : nearest_key(at),
                     rule, fmt, ap);
    va_end(ap);
    free(location);
}

/* A short rendering of a value for messages. */
static const char *show(const json_t *x, char *buf, size_t len)
{
    char *dump = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!dump) {
        snprintf(buf, len, "(value)");
        return buf;
    }
    if (strlen(dump) < len) {
        snprintf(buf, len, "%s", dump);
    } else {
        size_t cut = len - 4;
        while (cut > 0 && ((unsigned char)dump[cut] & 0xC0) == 0x80)
            cut--;
        snprintf(buf, len, "%.*s...", (int)cut, dump);
    }
    free(dump);
    return buf;
}

/*
 * Whether to keep checking after the verdict so far: a quiet evaluation stops
 * at the first failure, a reporting one once the error list is full.
 */
static bool more(const js_vctx *v, bool ok)
{
    return ok || (v->err && v->err->dropped == 0);
}

static bool validate_node(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                          const char *via, js_eval *ev);

/* A verdict without errors; a passing subschema's annotations go to ev (if any). */
static bool passes(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                   js_eval *ev)
{
    js_vctx quiet = *v;
    quiet.err = NULL;
    if (!ev)
        return validate_node(&quiet, n, x, at, NULL, NULL);
    js_eval sub = {0};
    bool ok = validate_node(&quiet, n, x, at, NULL, &sub);
    if (ok)
        eval_merge(ev, &sub);
    eval_free(&sub);
    return ok;
}

static const char *type_names(unsigned types, char *buf, size_t len)
{
    static const char *names[] = {"null",   "boolean", "object", "array",
                                  "number", "string",  "integer"};
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < 7; i++)
        if (types & (1u << i))
            used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
                                     used ? " or " : "", names[i]);
    return buf;
}

static const char *json_type_name(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static bool check_type(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at)
{
    if (!n->types || type_matches(n->types, x))
        return true;
    char want[80];
    report(v, at, NULL, "type", "expected %s, found %s", type_names(n->types, want, sizeof want),
           json_type_name(x));
    return false;
}

static void enum_list(const json_t *values, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(values) && used < len; i++) {
        char one[64];
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                                 show(json_array_get(values, i), one, sizeof one));
    }
}

static bool check_enum_const(const js_vctx *v, const js_node *n, const json_t *x,
                             const js_seg *at)
{
    bool ok = true;
    char shown[96];
    if (n->enum_vals) {
        if (!enum_contains(n, x)) {
            size_t count = json_array_size(n->enum_vals);
            if (count <= JS_ENUM_LIST_MAX) {
                char allowed[512];
                enum_list(n->enum_vals, allowed, sizeof allowed);
                report(v, at, NULL, "enum", "value %s is not one of the allowed values (%s)",
                       show(x, shown, sizeof shown), allowed);
            } else {
                report(v, at, NULL, "enum", "value %s is not one of the %zu allowed codes",
                       show(x, shown, sizeof shown), count);
            }
            ok = false;
        }
    }
    if (n->const_val && !json_values_equal(x, n->const_val) && more(v, ok)) {
        char want[96];
        report(v, at, NULL, "const", "value %s should be %s", show(x, shown, sizeof shown),
               show(n->const_val, want, sizeof want));
        ok = false;
    }
    return ok;
}

static bool check_bound(const js_vctx *v, const json_t *x, const js_seg *at, const json_t *bound,
                        const char *keyword, bool ok, const char *relation)
{
    if (ok)
        return true;
    char shown[64], limit[64];
    report(v, at, NULL, keyword, "%s %s %s", show(x, shown, sizeof shown), relation,
           show(bound, limit, sizeof limit));
    return false;
}

static bool check_number(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at)
{
    if (!json_is_number(x))
        return true;
    bool ok = true;
    if (n->minimum)
        ok &= check_bound(v, x, at, n->minimum, "minimum", num_cmp(x, n->minimum) >= 0,
                          "is less than the minimum");
    if (n->maximum && more(v, ok))
        ok &= check_bound(v, x, at, n->maximum, "maximum", num_cmp(x, n->maximum) <= 0,
                          "is greater than the maximum");
    if (n->exclusive_minimum && more(v, ok))
        ok &= check_bound(v, x, at, n->exclusive_minimum, "exclusiveMinimum",
                          num_cmp(x, n->exclusive_minimum) > 0, "should be greater than");
    if (n->exclusive_maximum && more(v, ok))
        ok &= check_bound(v, x, at, n->exclusive_maximum, "exclusiveMaximum",
                          num_cmp(x, n->exclusive_maximum) < 0, "should be less than");
    if (n->multiple_of && more(v, ok))
        ok &= check_bound(v, x, at, n->multiple_of, "multipleOf",
                          is_multiple_of(x, n->multiple_of), "is not a multiple of");
    return ok;
}

static bool check_string(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at)
{
    if (!json_is_string(x))
        return true;
    const char *str = json_string_value(x);
    size_t bytes = json_string_length(x);
    bool ok = true;
    char shown[96];
    if (n->min_length >= 0 || n->max_length >= 0) {
        size_t len = utf8_length(str, bytes);
        if (n->min_length >= 0 && len < (size_t)n->min_length) {
            report(v, at, NULL, "minLength", "%s is %zu characters long, at least %lld required",
                   show(x, shown, sizeof shown), len, n->min_length);
            ok = false;
        }
        if (n->max_length >= 0 && len > (size_t)n->max_length) {
            report(v, at, NULL, "maxLength", "%s is %zu characters long, at most %lld allowed",
                   show(x, shown, sizeof shown), len, n->max_length);
            ok = false;
        }
    }
    if (n->pattern && more(v, ok) && !regex_matches(v->s, n->pattern, str, bytes)) {
        report(v, at, NULL, "pattern", "%s does not match the pattern %s",
               show(x, shown, sizeof shown), n->pattern->source);
        ok = false;
    }
    if (n->format == JS_FORMAT_DATE && more(v, ok) && !format_date_ok(str, bytes)) {
        report(v, at, NULL, "format", "%s is not a calendar date YYYY-MM-DD",
               show(x, shown, sizeof shown));
        ok = false;
    }
    if (n->format == JS_FORMAT_DATE_TIME && more(v, ok) && !format_date_time_ok(str, bytes)) {
        report(v, at, NULL, "format", "%s is not an RFC 3339 date-time",
               show(x, shown, sizeof shown));
        ok = false;
    }
    return ok;
}

static bool check_items(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                        js_eval *ev)
{
    bool ok = true;
    size_t size = json_array_size(x);
    for (size_t i = 0; i < size && more(v, ok); i++) {
        const js_node *schema = i < n->prefix_items.n ? n->prefix_items.v[i] : n->items;
        if (!schema)
            continue;
        js_seg item = {at, NULL, i};
        ok &= validate_node(v, schema, json_array_get(x, i), &item,
                            i < n->prefix_items.n ? "prefixItems" : "items", NULL);
        eval_item(ev, i, size);
    }
    return ok;
}

static bool check_contains(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                           js_eval *ev)
{
    if (!n->contains)
        return true;
    size_t size = json_array_size(x), matches = 0;
    for (size_t i = 0; i < size; i++) {
        js_seg item = {at, NULL, i};
        if (passes(v, n->contains, json_array_get(x, i), &item, NULL)) {
            matches++;
            eval_item(ev, i, size);
        }
    }
    if ((long long)matches < n->min_contains) {
        if (n->min_contains == 1)
            report(v, at, NULL, "contains", "no item matches the contains schema");
        else
            report(v, at, NULL, "minContains",
                   "%zu items match the contains schema, at least %lld required", matches,
                   n->min_contains);
        return false;
    }
    if (n->max_contains >= 0 && (long long)matches > n->max_contains) {
        report(v, at, NULL, "maxContains",
               "%zu items match the contains schema, at most %lld allowed", matches,
               n->max_contains);
        return false;
    }
    return true;
}

static bool check_unique(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at)
{
    if (!n->unique_items)
        return true;
    size_t size = json_array_size(x);
    for (size_t i = 1; i < size; i++)
        for (size_t j = 0; j < i; j++)
            if (json_values_equal(json_array_get(x, i), json_array_get(x, j))) {
                js_seg item = {at, NULL, i};
                report(v, &item, NULL, "uniqueItems", "item %zu repeats item %zu", i, j);
                return false;
            }
    return true;
}

static bool check_array(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                        js_eval *ev)
{
    if (!json_is_array(x))
        return true;
    size_t size = json_array_size(x);
    bool ok = true;
    if (n->min_items >= 0 && (long long)size < n->min_items) {
        report(v, at, NULL, "minItems", "array has %zu items, at least %lld required", size,
               n->min_items);
        ok = false;
    }
    if (n->max_items >= 0 && (long long)size > n->max_items && more(v, ok)) {
        report(v, at, NULL, "maxItems", "array has %zu items, at most %lld allowed", size,
               n->max_items);
        ok = false;
    }
    if (more(v, ok))
        ok &= check_unique(v, n, x, at);
    if (more(v, ok))
        ok &= check_items(v, n, x, at, ev);
    if (more(v, ok))
        ok &= check_contains(v, n, x, at, ev);
    return ok;
}

/* properties, patternProperties, additionalProperties, propertyNames for one member. */
static bool check_member(const js_vctx *v, const js_node *n, const char *key, const json_t *value,
                         const js_seg *at, js_eval *ev)
{
    js_seg member = {at, key, 0};
    bool ok = true, matched = false;
    if (n->prop_index) {
        json_t *idx = json_object_get(n->prop_index, key);
        if (idx) {
            matched = true;
            ok &= validate_node(v, n->props[json_integer_value(idx)].schema, value, &member,
                                "properties", NULL);
        }
    }
    for (size_t i = 0; i < n->npattern_props && more(v, ok); i++)
        if (regex_matches(v->s, &n->pattern_props[i].rx, key, strlen(key))) {
            matched = true;
            ok &= validate_node(v, n->pattern_props[i].schema, value, &member,
                                "patternProperties", NULL);
        }
    if (!matched && n->additional && more(v, ok)) {
        matched = true;
        ok &= validate_node(v, n->additional, value, &member, "additionalProperties", NULL);
    }
    if (matched)
        eval_prop(ev, key);
    if (n->property_names && more(v, ok)) {
        json_t *name = json_string(key);
        if (!passes(v, n->property_names, name, &member, NULL)) {
            report(v, &member, key, "propertyNames", "property name \"%s\" is not allowed", key);
            ok = false;
        }
        json_decref(name);
    }
    return ok;
}

static bool check_required(const js_vctx *v, const json_t *x, const js_seg *at,
                           const char *const *names, size_t n, const char *keyword,
                           const char *because)
{
    bool ok = true;
    for (size_t i = 0; i < n && more(v, ok); i++) {
        if (json_object_get(x, names[i]))
            continue;
        if (because)
            report(v, at, names[i], keyword, "missing property \"%s\" (required when \"%s\" is present)",
                   names[i], because);
        else
            report(v, at, names[i], keyword, "missing required property \"%s\"", names[i]);
        ok = false;
    }
    return ok;
}

static bool check_object(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                         js_eval *ev)
{
    if (!json_is_object(x))
        return true;
    bool ok = true;
    size_t size = json_object_size(x);
    if (n->min_props >= 0 && (long long)size < n->min_props) {
        report(v, at, NULL, "minProperties", "object has %zu properties, at least %lld required",
               size, n->min_props);
        ok = false;
    }
    if (n->max_props >= 0 && (long long)size > n->max_props && more(v, ok)) {
        report(v, at, NULL, "maxProperties", "object has %zu properties, at most %lld allowed",
               size, n->max_props);
        ok = false;
    }
    if (more(v, ok))
        ok &= check_required(v, x, at, n->required, n->nrequired, "required", NULL);
    for (size_t i = 0; i < n->ndep_required && more(v, ok); i++)
        if (json_object_get(x, n->dep_required[i].name))
            ok &= check_required(v, x, at, n->dep_required[i].names, n->dep_required[i].n,
                                 "dependentRequired", n->dep_required[i].name);
    if (n->prop_index || n->npattern_props || n->additional || n->property_names) {
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)x, key, value) {
            if (!more(v, ok))
                break;
            ok &= check_member(v, n, key, value, at, ev);
        }
    }
    for (size_t i = 0; i < n->ndep_schemas && more(v, ok); i++)
        if (json_object_get(x, n->dep_schemas[i].name))
            ok &= validate_node(v, n->dep_schemas[i].schema, x, at, "dependentSchemas", ev);
    return ok;
}

/* The error showing that an alternative failed on a const of a direct member: its tag. */
static const msgw_error *tag_mismatch(const msgw_errors *e, const char *here)
{
    size_t n = strlen(here);
    for (size_t i = 0; i < e->n; i++) {
        const char *loc = e->v[i].location;
        if (strcmp(e->v[i].rule, "jsonschema.const") == 0 && loc && strncmp(loc, here, n) == 0 &&
            loc[n] == '/' && !strchr(loc + n + 1, '/'))
            return &e->v[i];
    }
    return NULL;
}

/* Every alternative failed on the same tag member: one error naming the tags they need. */
static bool summarise_tags(const js_vctx *v, const msgw_errors *per, size_t n, const json_t *x,
                           const js_seg *at, const char *here, const char *keyword)
{
    const msgw_error *first = tag_mismatch(&per[0], here);
    if (!first || !first->field || !json_object_get(x, first->field))
        return false;
    js_str tags = {0};
    for (size_t i = 0; i < n; i++) {
        const msgw_error *tag = tag_mismatch(&per[i], here);
        const char *want = tag ? strstr(tag->message, " should be ") : NULL;
        if (!want || strcmp(tag->location, first->location) != 0) {
            free(tags.p);
            return false;
        }
        str_puts(&tags, i ? ", " : "");
        str_puts(&tags, want + strlen(" should be "));
    }
    js_seg member = {at, first->field, 0};
    char shown[96];
    report(v, &member, NULL, keyword, "value %s matches none of the %zu alternatives (%s)",
           show(json_object_get(x, first->field), shown, sizeof shown), n, tags.p);
    free(tags.p);
    return true;
}

/* One error: per alternative its wrong tag if it has one, else its first problem. */
static void summarise_alternatives(const js_vctx *v, const msgw_errors *per, size_t n,
                                   const js_seg *at, const char *here, const char *keyword)
{
    js_str why = {0};
    for (size_t i = 0; i < n; i++) {
        const msgw_error *first = tag_mismatch(&per[i], here);
        if (!first && per[i].n)
            first = &per[i].v[0];
        char line[320];
        snprintf(line, sizeof line, "%s(%zu) %s%s%s", i ? "; " : "", i + 1,
                 first && first->location[0] ? first->location : "",
                 first && first->location[0] ? ": " : "", first ? first->message : "does not match");
        str_puts(&why, line);
    }
    report(v, at, NULL, keyword, "value matches none of the %zu alternatives: %s", n, why.p);
    free(why.p);
}

/*
 * anyOf/oneOf matched nothing.  In a tagged union (the canonical facts: one
 * alternative per "type" const) every alternative but the intended one fails
 * on its tag, so the intended one's errors are the real problems and are
 * reported as they are.  Otherwise one error sums up the first problem of
 * each alternative.
 */
static void report_no_alternative(const js_vctx *v, const js_list *alts, const json_t *x,
                                  const js_seg *at, const char *keyword)
{
    msgw_errors *per = calloc(alts->n, sizeof *per);
    if (!per)
        abort();
    js_str here = {0};
    put_path(&here, at);
    char *location = str_take(&here);
    size_t candidates = 0, pick = 0;
    for (size_t i = 0; i < alts->n; i++) {
        msgw_errors_init(&per[i]);
        per[i].limit = 100;
        js_vctx sub = *v;
        sub.err = &per[i];
        validate_node(&sub, alts->v[i], x, at, NULL, NULL);
        if (!tag_mismatch(&per[i], location)) {
            candidates++;
            pick = i;
        }
    }
    if (alts->n > 1 && candidates == 1 && per[pick].n > 0)
        msgw_errors_move(v->err, &per[pick], v->record);
    else if (!summarise_tags(v, per, alts->n, x, at, location, keyword))
        summarise_alternatives(v, per, alts->n, at, location, keyword);
    for (size_t i = 0; i < alts->n; i++)
        msgw_errors_clear(&per[i]);
    free(per);
    free(location);
}

/* With annotations wanted every alternative runs: each passing one contributes. */
static bool check_any_of(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                         js_eval *ev)
{
    if (!n->any_of.n)
        return true;
    bool any = false;
    for (size_t i = 0; i < n->any_of.n && (ev || !any); i++)
        any |= passes(v, n->any_of.v[i], x, at, ev);
    if (any)
        return true;
    if (v->err)
        report_no_alternative(v, &n->any_of, x, at, "anyOf");
    return false;
}

static bool check_one_of(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                         js_eval *ev)
{
    if (!n->one_of.n)
        return true;
    size_t first = 0, matches = 0;
    for (size_t i = 0; i < n->one_of.n && matches < 2; i++)
        if (passes(v, n->one_of.v[i], x, at, ev)) {
            if (matches++ == 0)
                first = i;
            else if (v->err)
                report(v, at, NULL, "oneOf",
                       "value matches alternatives %zu and %zu, exactly one is allowed",
                       first + 1, i + 1);
        }
    if (matches == 0 && v->err)
        report_no_alternative(v, &n->one_of, x, at, "oneOf");
    return matches == 1;
}

/* The outermost resource in the dynamic scope with the anchor wins. */
static const js_node *dynamic_target(const js_vctx *v, const js_node *n)
{
    if (!n->dynamic_name)
        return n->dynamic_ref;
    const js_node *found = NULL;
    for (const js_scope *sc = v->scope; sc; sc = sc->up) {
        const js_resource *r = &v->s->resources[sc->resource];
        for (size_t i = 0; i < r->ndynamic; i++)
            if (strcmp(r->dynamic[i].name, n->dynamic_name) == 0)
                found = r->dynamic[i].schema;
    }
    return found ? found : n->dynamic_ref;
}

static bool check_applicators(const js_vctx *v, const js_node *n, const json_t *x,
                              const js_seg *at, js_eval *ev)
{
    bool ok = true;
    if (n->ref)
        ok &= validate_node(v, n->ref, x, at, "$ref", ev);
    if (n->dynamic_ref && more(v, ok))
        ok &= validate_node(v, dynamic_target(v, n), x, at, "$dynamicRef", ev);
    for (size_t i = 0; i < n->all_of.n && more(v, ok); i++)
        ok &= validate_node(v, n->all_of.v[i], x, at, "allOf", ev);
    if (more(v, ok))
        ok &= check_any_of(v, n, x, at, ev);
    if (more(v, ok))
        ok &= check_one_of(v, n, x, at, ev);
    if (n->not_schema && more(v, ok) && passes(v, n->not_schema, x, at, NULL)) {
        report(v, at, NULL, "not", "value matches a schema it must not match");
        ok = false;
    }
    if (n->if_schema && more(v, ok)) {
        const js_node *branch =
            passes(v, n->if_schema, x, at, ev) ? n->then_schema : n->else_schema;
        if (branch)
            ok &= validate_node(v, branch, x, at, branch == n->then_schema ? "then" : "else", ev);
    }
    return ok;
}

/* What no keyword of this schema (or its passing in-place subschemas) evaluated. */
static bool check_unevaluated(const js_vctx *v, const js_node *n, const json_t *x,
                              const js_seg *at, js_eval *own)
{
    bool ok = true;
    if (n->unevaluated_props && json_is_object(x)) {
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)x, key, value) {
            if (!more(v, ok))
                break;
            if (eval_has_prop(own, key))
                continue;
            js_seg member = {at, key, 0};
            ok &= validate_node(v, n->unevaluated_props, value, &member, "unevaluatedProperties",
                                NULL);
        }
        own->all_props = true;
    }
    if (n->unevaluated_items && json_is_array(x)) {
        for (size_t i = 0; i < json_array_size(x) && more(v, ok); i++) {
            if (eval_has_item(own, i))
                continue;
            js_seg item = {at, NULL, i};
            ok &= validate_node(v, n->unevaluated_items, json_array_get(x, i), &item,
                                "unevaluatedItems", NULL);
        }
        own->all_items = true;
    }
    return ok;
}

/* A false schema rejects everything; via names the keyword that led to it. */
static bool check_false(const js_vctx *v, const js_seg *at, const char *via)
{
    bool member = via && (strcmp(via, "additionalProperties") == 0 ||
                          strcmp(via, "unevaluatedProperties") == 0 ||
                          strcmp(via, "properties") == 0);
    bool item = via && (strcmp(via, "items") == 0 || strcmp(via, "prefixItems") == 0 ||
                        strcmp(via, "unevaluatedItems") == 0);
    if (member && at && at->key)
        report(v, at, NULL, via, "property \"%s\" is not allowed", at->key);
    else if (item && at && !at->key)
        report(v, at, NULL, via, "item %zu is not allowed", at->index);
    else
        report(v, at, NULL, via ? via : "false", "no value is allowed here");
    return false;
}

static bool check_keywords(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                           js_eval *ev)
{
    bool ok = check_type(v, n, x, at);
    if (more(v, ok))
        ok &= check_enum_const(v, n, x, at);
    if (more(v, ok))
        ok &= check_number(v, n, x, at);
    if (more(v, ok))
        ok &= check_string(v, n, x, at);
    if (more(v, ok))
        ok &= check_array(v, n, x, at, ev);
    if (more(v, ok))
        ok &= check_object(v, n, x, at, ev);
    if (more(v, ok))
        ok &= check_applicators(v, n, x, at, ev);
    return ok;
}

/*
 * ev (may be NULL) receives the annotations unevaluated* need from this
 * schema; a schema with unevaluated* collects its own and passes them up.
 */
static bool validate_node(const js_vctx *v, const js_node *n, const json_t *x, const js_seg *at,
                          const char *via, js_eval *ev)
{
    if (n->is_bool)
        return n->bool_value || check_false(v, at, via);
    if (v->depth >= JS_MAX_DEPTH) {
        report(v, at, NULL, "depth", "schema evaluation nests deeper than %d levels",
               JS_MAX_DEPTH);
        return false;
    }
    js_vctx deeper = *v;
    deeper.depth++;
    js_scope scope = {v->scope, n->resource};
    if (!v->scope || v->scope->resource != n->resource)
        deeper.scope = &scope;
    if (!n->unevaluated_props && !n->unevaluated_items)
        return check_keywords(&deeper, n, x, at, ev);
    js_eval own = {0};
    bool ok = check_keywords(&deeper, n, x, at, &own);
    if (more(&deeper, ok))
        ok &= check_unevaluated(&deeper, n, x, at, &own);
    if (ok)
        eval_merge(ev, &own);
    eval_free(&own);
    return ok;
}

bool msgw_jsonschema_validate(const msgw_jsonschema *s, const json_t *instance, msgw_errors *err,
                              int record)
{
    if (!s || !instance) {
        if (err)
            msgw_error_add(err, record, "", NULL, "jsonschema.instance",
                           "no schema or no document to validate");
        return false;
    }
    js_vctx v = {.s = s, .err = err, .record = record};
    return validate_node(&v, s->root, instance, NULL, NULL, NULL);
}
