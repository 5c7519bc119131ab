/*
 * Errors as values.  Every problem the gateway finds in a record is a
 * msgw_error that names where it is (location in the sender's document),
 * which field, which rule was broken and a human sentence.  Errors are
 * collected in a msgw_errors list so one pass reports all problems of a
 * document instead of stopping at the first.
 */
#ifndef MSGW_ERROR_H
#define MSGW_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { MSGW_SEV_ERROR = 0, MSGW_SEV_WARNING = 1 } msgw_severity;

typedef struct msgw_error {
    msgw_severity severity;
    int record;     /* index of the record in its document, -1 for the document itself */
    char *location; /* XPath + line, JSON pointer, or line:column: where in the input */
    char *field;    /* the field as the sender names it (e.g. "AAC002"), may be NULL */
    char *rule;     /* stable rule id, e.g. "gb11643.check_character" */
    char *message;  /* what is wrong, e.g. "check character should be X, found 3" */
} msgw_error;

typedef struct msgw_errors {
    msgw_error *v;
    size_t n, cap;
    size_t nerrors;   /* entries with MSGW_SEV_ERROR */
    size_t nwarnings; /* entries with MSGW_SEV_WARNING */
    size_t limit;     /* stop recording after this many entries (0 = default 1000) */
    size_t dropped;   /* entries not recorded because of the limit */
    unsigned char *failed; /* failed[r] != 0: record r has an error (kept past the limit) */
    size_t nfailed;
    int doc_failed; /* an error with record -1 was added */
} msgw_errors;

void msgw_errors_init(msgw_errors *e);
void msgw_errors_clear(msgw_errors *e);
/* Gives the entries from index `from` on that have no location this one: a decoder checks a value
 * first and spells where it was only when something was found (a location costs more than the
 * check). */
void msgw_errors_locate(msgw_errors *e, size_t from, const char *location);
/* Adds an entry; all strings are copied.  location/field may be NULL. */
void msgw_errors_add(msgw_errors *e, msgw_severity sev, int record, const char *location,
                     const char *field, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void msgw_errors_vadd(msgw_errors *e, msgw_severity sev, int record, const char *location,
                      const char *field, const char *rule, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));
/* Moves every entry of src to dst (src is left empty), setting record when >= 0. */
void msgw_errors_move(msgw_errors *dst, msgw_errors *src, int record);
/* Number of error-severity entries recorded for one record index. */
size_t msgw_errors_count_for(const msgw_errors *e, int record);
/* True when any error (recorded or dropped) was added for record (-1: the document). */
int msgw_errors_record_failed(const msgw_errors *e, int record);
/* "LOCATION: FIELD: MESSAGE [RULE]" into buf; returns buf. */
char *msgw_error_format(const msgw_error *err, char *buf, size_t len);

#define msgw_error_add(e, rec, loc, field, rule, ...)                                              \
    msgw_errors_add((e), MSGW_SEV_ERROR, (rec), (loc), (field), (rule), __VA_ARGS__)
#define msgw_warning_add(e, rec, loc, field, rule, ...)                                            \
    msgw_errors_add((e), MSGW_SEV_WARNING, (rec), (loc), (field), (rule), __VA_ARGS__)

#endif
