/*
 * The data dictionary: every data element the gateway exchanges, with its
 * type, constraints, code list and the national standard it comes from.
 * It is data (schemas/dictionary.json and schemas/codelists/), embedded into
 * the binary at build time; the same files generate the XSD and JSON Schema
 * files, so one edit changes the schemas and these validators together.
 */
#ifndef MSGW_DICT_H
#define MSGW_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgw/base/arena.h"
#include "msgw/base/error.h"
#include "msgw/model/model.h"

typedef enum {
    MSGW_TY_STRING, /* UTF-8 text, length limits in characters */
    MSGW_TY_CODE,   /* member of a code list */
    MSGW_TY_DATE,   /* calendar date */
    MSGW_TY_INT,    /* integer with range */
    MSGW_TY_MONEY,  /* integer fen, with range */
    MSGW_TY_BOOL,
    MSGW_TY_IDNUM,  /* GB 11643 resident ID number */
    MSGW_TY_CERTNO, /* 20-digit disability certificate number */
} msgw_type;

typedef struct msgw_code {
    const char *code;
    const char *label;    /* Chinese label as in the standard */
    const char *label_en; /* may be NULL */
    const char *level;    /* e.g. "county" in the region table; may be NULL */
    const char *parent;   /* parent code (region table); may be NULL */
    const char *warning;  /* accepted with this warning (e.g. a statistics-only code); may be NULL */
} msgw_code;

typedef struct msgw_codelist {
    const char *id;
    const char *standard;
    msgw_code *codes;
    size_t ncodes;
    void *index; /* hash index, private to dict.c */
} msgw_codelist;

typedef struct msgw_element {
    const char *id;    /* canonical name, e.g. "id_number" */
    const char *label; /* Chinese label */
    msgw_type type;
    const msgw_codelist *codes; /* MSGW_TY_CODE only */
    int64_t min, max;           /* INT / MONEY range; STRING length in characters */
    const char *standard;       /* citation, e.g. "GB 11643-1999" */
    const char *pattern;        /* STRING: POSIX ERE the whole value must match, or NULL */
    const char *const *levels;  /* CODE: accepted code levels (NULL-terminated), NULL = any */
    void *regex;                /* compiled pattern, private to dict.c */
} msgw_element;

typedef struct msgw_fact_type {
    const char *id; /* "assistance", "disability", ... */
    const char *label;
    const msgw_element **attrs; /* attributes the fact may carry */
    bool *required;             /* parallel to attrs */
    size_t nattrs;
} msgw_fact_type;

typedef struct msgw_record_kind {
    const char *id; /* "household_assistance_roster", ... */
    const char *label;
    const msgw_fact_type **facts; /* fact types a record of this kind may carry */
    size_t nfacts;
    bool needs_household;
} msgw_record_kind;

typedef struct msgw_dict msgw_dict;

/* The dictionary built into the binary. */
msgw_dict *msgw_dict_new_default(msgw_errors *err);
/* A dictionary from a directory holding dictionary.json and codelists/. */
msgw_dict *msgw_dict_new_from_dir(const char *dir, msgw_errors *err);
void msgw_dict_destroy(msgw_dict **d);

const msgw_element *msgw_dict_element(const msgw_dict *d, const char *id);
const msgw_codelist *msgw_dict_codelist(const msgw_dict *d, const char *id);
const msgw_fact_type *msgw_dict_fact_type(const msgw_dict *d, const char *id);
const msgw_record_kind *msgw_dict_record_kind(const msgw_dict *d, const char *id);
size_t msgw_dict_count_elements(const msgw_dict *d);
size_t msgw_dict_count_fact_types(const msgw_dict *d);
const msgw_fact_type *msgw_dict_fact_type_at(const msgw_dict *d, size_t i);
const msgw_element *msgw_dict_element_at(const msgw_dict *d, size_t i);

const msgw_code *msgw_codelist_find(const msgw_codelist *cl, const char *code, size_t len);

/*
 * Parses and checks one textual value of element el, as sent by a
 * department.  On success fills *out (strings copied into arena a) and
 * returns true.  On failure adds one error naming loc (where in the document),
 * field (the sender's name for it) and the rule, and returns false.  A legacy
 * 15-digit ID number is converted with a warning.
 */
bool msgw_dict_parse(const msgw_dict *d, const msgw_element *el, const char *text, size_t len,
                     msgw_value *out, msgw_arena *a, msgw_errors *e, int rec, const char *loc,
                     const char *field);
/* Same for a JSON-typed integer (money in fen, counts). */
bool msgw_dict_check_int(const msgw_element *el, int64_t v, msgw_errors *e, int rec,
                         const char *loc, const char *field);
/* Checks an already-typed value (e.g. from canonical JSON) against el. */
bool msgw_dict_check_value(const msgw_dict *d, const msgw_element *el, const msgw_value *v,
                           msgw_errors *e, int rec, const char *loc, const char *field);

/*
 * Record-level rules that span fields: the record kind and fact types are
 * known, required attributes are present, a disability certificate number
 * agrees with its holder's ID number, category and grade, periods do not
 * end before they start, household members are unique and have a head.
 */
bool msgw_dict_check_record(const msgw_dict *d, const msgw_record *r, msgw_errors *e, int rec);

#endif
