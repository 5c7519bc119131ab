/*
 * The data dictionary at run time: loads schemas/dictionary.json and the
 * code lists (embedded, or from a directory), indexes them, and checks
 * values and whole records against them.  This file is the C half of "one
 * source of truth"; tools/gen_schemas.py is the schema half.
 */
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/model/dict.h"
#include "msgw/base/idnum.h"
#include "msgw/base/embedded.h"
#include "msgw/base/text.h"

/* Open-addressing string map; the dictionary is read-only after load. */
typedef struct strmap {
    const char **keys;
    size_t *klen;
    void **vals;
    size_t cap, n;
} strmap;

struct msgw_dict {
    msgw_arena *arena;
    strmap elements, codelists, fact_types, kinds;
    msgw_element **element_list;
    size_t nelements;
    msgw_fact_type **fact_type_list;
    size_t nfact_types;
    msgw_date today;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void strmap_init(strmap *m, msgw_arena *a, size_t n)
{
    m->cap = 16;
    while (m->cap < n * 2) m->cap *= 2;
    m->keys = msgw_arena_alloc(a, m->cap * sizeof *m->keys);
    m->klen = msgw_arena_alloc(a, m->cap * sizeof *m->klen);
    m->vals = msgw_arena_alloc(a, m->cap * sizeof *m->vals);
    m->n = 0;
}

static void strmap_put(strmap *m, const char *k, void *v)
{
    size_t len = strlen(k);
    size_t i = hash_bytes(k, len) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->klen[i] == len && memcmp(m->keys[i], k, len) == 0) {
            m->vals[i] = v;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = k;
    m->klen[i] = len;
    m->vals[i] = v;
    m->n++;
}

static void *strmap_get(const strmap *m, const char *k, size_t len)
{
    if (!m->cap) return NULL;
    size_t i = hash_bytes(k, len) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->klen[i] == len && memcmp(m->keys[i], k, len) == 0) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ---- loading ---- */

typedef json_t *(*file_loader)(const char *name, void *ud, msgw_errors *err);

static const char *jstr(msgw_arena *a, json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? msgw_arena_strdup(a, s) : NULL;
}

static msgw_codelist *load_codelist(msgw_dict *d, const char *id, file_loader load, void *ud,
                                    msgw_errors *err)
{
    msgw_codelist *cl = strmap_get(&d->codelists, id, strlen(id));
    if (cl) return cl;
    char name[256];
    snprintf(name, sizeof name, "codelists/%s.json", id);
    json_t *j = load(name, ud, err);
    if (!j) return NULL;
    json_t *codes = json_object_get(j, "codes");
    if (!json_is_array(codes)) {
        msgw_error_add(err, -1, name, "codes", "dict.load", "code list has no \"codes\" array");
        json_decref(j);
        return NULL;
    }
    cl = msgw_arena_alloc(d->arena, sizeof *cl);
    cl->id = msgw_arena_strdup(d->arena, id);
    cl->standard = jstr(d->arena, j, "standard");
    cl->ncodes = json_array_size(codes);
    cl->codes = msgw_arena_alloc(d->arena, cl->ncodes * sizeof *cl->codes + 1);
    strmap *idx = msgw_arena_alloc(d->arena, sizeof *idx);
    strmap_init(idx, d->arena, cl->ncodes);
    for (size_t i = 0; i < cl->ncodes; i++) {
        json_t *c = json_array_get(codes, i);
        msgw_code *code = &cl->codes[i];
        code->code = jstr(d->arena, c, "code");
        code->label = jstr(d->arena, c, "label");
        code->label_en = jstr(d->arena, c, "en");
        code->level = jstr(d->arena, c, "level");
        code->parent = jstr(d->arena, c, "parent");
        code->warning = jstr(d->arena, c, "warning");
        if (!code->code) {
            msgw_error_add(err, -1, name, "code", "dict.load", "entry %zu has no code", i);
            json_decref(j);
            return NULL;
        }
        strmap_put(idx, code->code, code);
    }
    cl->index = idx;
    strmap_put(&d->codelists, cl->id, cl);
    json_decref(j);
    return cl;
}

static const struct {
    const char *name;
    msgw_type type;
} type_names[] = {
    {"string", MSGW_TY_STRING}, {"code", MSGW_TY_CODE},     {"date", MSGW_TY_DATE},
    {"int", MSGW_TY_INT},       {"money", MSGW_TY_MONEY},   {"bool", MSGW_TY_BOOL},
    {"idnum", MSGW_TY_IDNUM},   {"certno", MSGW_TY_CERTNO},
};

static bool parse_type(const char *s, msgw_type *t)
{
    for (size_t i = 0; s && i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcmp(type_names[i].name, s) == 0) {
            *t = type_names[i].type;
            return true;
        }
    return false;
}

static void free_regexes(msgw_dict *d)
{
    for (size_t i = 0; i < d->nelements; i++)
        if (d->element_list[i]->regex) {
            regfree(d->element_list[i]->regex);
            free(d->element_list[i]->regex);
        }
}

static bool load_element(msgw_dict *d, const char *id, json_t *j, file_loader load, void *ud,
                         msgw_errors *err)
{
    msgw_element *el = msgw_arena_alloc(d->arena, sizeof *el);
    el->id = msgw_arena_strdup(d->arena, id);
    el->label = jstr(d->arena, j, "label");
    el->standard = jstr(d->arena, j, "standard");
    el->pattern = jstr(d->arena, j, "pattern");
    el->min = json_is_integer(json_object_get(j, "min")) ?
                  json_integer_value(json_object_get(j, "min")) : INT64_MIN;
    el->max = json_is_integer(json_object_get(j, "max")) ?
                  json_integer_value(json_object_get(j, "max")) : INT64_MAX;
    if (!parse_type(json_string_value(json_object_get(j, "type")), &el->type)) {
        msgw_error_add(err, -1, "dictionary.json", id, "dict.load", "unknown type");
        return false;
    }
    if (el->type == MSGW_TY_CODE) {
        const char *cl = json_string_value(json_object_get(j, "codelist"));
        if (!cl || !(el->codes = load_codelist(d, cl, load, ud, err))) {
            if (!cl) msgw_error_add(err, -1, "dictionary.json", id, "dict.load", "no codelist");
            return false;
        }
        json_t *levels = json_object_get(j, "levels");
        if (json_is_array(levels)) {
            const char **lv = msgw_arena_alloc(d->arena, (json_array_size(levels) + 1) * sizeof *lv);
            for (size_t i = 0; i < json_array_size(levels); i++)
                lv[i] = msgw_arena_strdup(d->arena, json_string_value(json_array_get(levels, i)));
            el->levels = lv;
        }
    }
    if (el->pattern) {
        regex_t *re = malloc(sizeof *re);
        if (!re || regcomp(re, el->pattern, REG_EXTENDED | REG_NOSUB) != 0) {
            free(re);
            msgw_error_add(err, -1, "dictionary.json", id, "dict.load", "bad pattern %s",
                           el->pattern);
            return false;
        }
        el->regex = re;
    }
    d->element_list[d->nelements++] = el;
    strmap_put(&d->elements, el->id, el);
    return true;
}

static bool load_fact_types(msgw_dict *d, json_t *fts, msgw_errors *err)
{
    const char *id;
    json_t *ft;
    strmap_init(&d->fact_types, d->arena, json_object_size(fts));
    d->fact_type_list = msgw_arena_alloc(d->arena, (json_object_size(fts) + 1) * sizeof(void *));
    json_object_foreach(fts, id, ft) {
        msgw_fact_type *t = msgw_arena_alloc(d->arena, sizeof *t);
        d->fact_type_list[d->nfact_types++] = t;
        t->id = msgw_arena_strdup(d->arena, id);
        t->label = jstr(d->arena, ft, "label");
        json_t *attrs = json_object_get(ft, "attributes");
        t->attrs = msgw_arena_alloc(d->arena, (json_object_size(attrs) + 1) * sizeof *t->attrs);
        t->required = msgw_arena_alloc(d->arena, json_object_size(attrs) + 1);
        const char *an;
        json_t *req;
        json_object_foreach(attrs, an, req) {
            const msgw_element *el = strmap_get(&d->elements, an, strlen(an));
            if (!el) {
                msgw_error_add(err, -1, "dictionary.json", an, "dict.load",
                               "fact type %s names an unknown element", id);
                return false;
            }
            t->required[t->nattrs] = json_is_true(req);
            t->attrs[t->nattrs++] = el;
        }
        strmap_put(&d->fact_types, t->id, t);
    }
    return true;
}

static bool load_kinds(msgw_dict *d, json_t *kinds, msgw_errors *err)
{
    const char *id;
    json_t *k;
    strmap_init(&d->kinds, d->arena, json_object_size(kinds));
    json_object_foreach(kinds, id, k) {
        msgw_record_kind *rk = msgw_arena_alloc(d->arena, sizeof *rk);
        rk->id = msgw_arena_strdup(d->arena, id);
        rk->label = jstr(d->arena, k, "label");
        rk->needs_household = json_is_true(json_object_get(k, "household"));
        json_t *facts = json_object_get(k, "facts");
        rk->facts = msgw_arena_alloc(d->arena, (json_array_size(facts) + 1) * sizeof *rk->facts);
        for (size_t i = 0; i < json_array_size(facts); i++) {
            const char *fid = json_string_value(json_array_get(facts, i));
            const msgw_fact_type *ft = fid ? strmap_get(&d->fact_types, fid, strlen(fid)) : NULL;
            if (!ft) {
                msgw_error_add(err, -1, "dictionary.json", id, "dict.load",
                               "record kind names unknown fact type %s", fid ? fid : "?");
                return false;
            }
            rk->facts[rk->nfacts++] = ft;
        }
        strmap_put(&d->kinds, rk->id, rk);
    }
    return true;
}

static msgw_dict *dict_load(file_loader load, void *ud, msgw_errors *err)
{
    json_t *root = load("dictionary.json", ud, err);
    if (!root) return NULL;
    msgw_dict *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->arena = msgw_arena_new(65536);
    d->today = msgw_date_today();
    json_t *els = json_object_get(root, "elements");
    strmap_init(&d->elements, d->arena, json_object_size(els));
    strmap_init(&d->codelists, d->arena, 64);
    d->element_list = msgw_arena_alloc(d->arena, (json_object_size(els) + 1) * sizeof(void *));
    bool ok = json_is_object(els);
    const char *id;
    json_t *ej;
    json_object_foreach(els, id, ej) {
        if (!ok) break;
        ok = load_element(d, id, ej, load, ud, err);
    }
    ok = ok && load_fact_types(d, json_object_get(root, "fact_types"), err) &&
         load_kinds(d, json_object_get(root, "record_kinds"), err);
    json_decref(root);
    if (!ok) msgw_dict_destroy(&d);
    return d;
}

static json_t *load_embedded(const char *name, void *ud, msgw_errors *err)
{
    (void)ud;
    const msgw_embedded_file *f = msgw_embedded_find(name);
    if (!f) {
        msgw_error_add(err, -1, name, NULL, "dict.load", "not embedded in this build");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(f->data, f->len, JSON_REJECT_DUPLICATES, &je);
    if (!j) msgw_error_add(err, -1, name, NULL, "dict.load", "line %d: %s", je.line, je.text);
    return j;
}

static json_t *load_from_dir(const char *name, void *ud, msgw_errors *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", (const char *)ud, name);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j && je.line < 0) /* not opened: jansson's text says why, there is no line */
        msgw_error_add(err, -1, path, NULL, "dict.load", "%s", je.text);
    else if (!j)
        msgw_error_add(err, -1, path, NULL, "dict.load", "line %d: %s", je.line, je.text);
    return j;
}

msgw_dict *msgw_dict_new_default(msgw_errors *err)
{
    return dict_load(load_embedded, NULL, err);
}

msgw_dict *msgw_dict_new_from_dir(const char *dir, msgw_errors *err)
{
    return dict_load(load_from_dir, (void *)dir, err);
}

void msgw_dict_destroy(msgw_dict **dp)
{
    if (!dp || !*dp) return;
    free_regexes(*dp);
    msgw_arena_destroy(&(*dp)->arena);
    free(*dp);
    *dp = NULL;
}

const msgw_element *msgw_dict_element(const msgw_dict *d, const char *id)
{
    return strmap_get(&d->elements, id, strlen(id));
}

const msgw_codelist *msgw_dict_codelist(const msgw_dict *d, const char *id)
{
    return strmap_get(&d->codelists, id, strlen(id));
}

const msgw_fact_type *msgw_dict_fact_type(const msgw_dict *d, const char *id)
{
    return strmap_get(&d->fact_types, id, strlen(id));
}

const msgw_record_kind *msgw_dict_record_kind(const msgw_dict *d, const char *id)
{
    return strmap_get(&d->kinds, id, strlen(id));
}

size_t msgw_dict_count_elements(const msgw_dict *d)
{
    return d->nelements;
}

const msgw_element *msgw_dict_element_at(const msgw_dict *d, size_t i)
{
    return i < d->nelements ? d->element_list[i] : NULL;
}

size_t msgw_dict_count_fact_types(const msgw_dict *d)
{
    return d->nfact_types;
}

const msgw_fact_type *msgw_dict_fact_type_at(const msgw_dict *d, size_t i)
{
    return i < d->nfact_types ? d->fact_type_list[i] : NULL;
}

const msgw_code *msgw_codelist_find(const msgw_codelist *cl, const char *code, size_t len)
{
    return strmap_get(cl->index, code, len);
}
