/*
 * The canonical model.  Whatever a department sends is turned into these
 * records; rules, routing and storage only ever see this shape.
 *
 * A record is one unit a department sends about people: a household
 * assistance roster entry, an insurance enrolment, a disability certificate
 * event, a diagnosis, a death.  It names the persons it is about (keyed by
 * the resident ID number), optionally one household with its members, and
 * dated facts.  Facts are bitemporal: valid_from/valid_to is when the fact
 * holds in the world, recorded_at is when the gateway learnt it.
 *
 * All memory of a record belongs to the arena of the batch it was decoded
 * into; nothing here is freed individually.
 */
#ifndef MSGW_MODEL_H
#define MSGW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgw/base/arena.h"
#include "msgw/base/date.h"
#include "msgw/base/error.h"

/* No value: an absent attribute in a rule, an amount a service in kind does not pay. */
#define MSGW_ABSENT INT64_MIN


typedef enum {
    MSGW_V_NONE = 0,
    MSGW_V_STRING, /* s: UTF-8 text (also ID and certificate numbers) */
    MSGW_V_CODE,   /* s: a code from the element's code list */
    MSGW_V_INT,    /* i */
    MSGW_V_MONEY,  /* i: integer fen */
    MSGW_V_DATE,   /* d */
    MSGW_V_BOOL,   /* b */
} msgw_vkind;

typedef struct msgw_value {
    msgw_vkind kind;
    union {
        const char *s;
        int64_t i;
        msgw_date d;
        bool b;
    } u;
} msgw_value;

/* One attribute of a fact: a dictionary element id and its value. */
typedef struct msgw_attr {
    const char *name;
    msgw_value v;
} msgw_attr;

typedef struct msgw_person {
    char id_number[19]; /* canonical 18 characters, the person's key */
    const char *name;
    const char *sex; /* GB/T 2261.1 code, NULL if not sent */
    msgw_date birth_date;
    const char *ethnic;           /* GB 3304 */
    const char *marital;          /* GB/T 2261.2 */
    const char *hukou_region;     /* GB/T 2260 county-level code */
    const char *hukou_type;       /* code list hukou_type */
    const char *residence_region; /* GB/T 2260 */
    const char *loc;              /* where in the source document */
} msgw_person;

typedef struct msgw_member {
    char id_number[19];
    const char *relationship; /* GB/T 4761 relation to the head of household */
} msgw_member;

typedef struct msgw_household {
    const char *id;     /* the sender's household number */
    const char *region; /* GB/T 2260 of the household registration */
    const char *hukou_type;
    msgw_member *members;
    size_t nmembers;
    const char *loc;
} msgw_household;

typedef struct msgw_fact {
    const char *type;               /* dictionary fact type id */
    char subject[19];               /* the person it is about ("" for a household fact) */
    msgw_date valid_from, valid_to; /* MSGW_DATE_NONE: unknown / open-ended */
    msgw_attr *attrs;
    size_t nattrs;
    const char *loc;
} msgw_fact;

typedef struct msgw_record {
    const char *kind;              /* dictionary record kind id */
    const char *message_id;        /* gateway message id: "<department>:<sender id or digest>" */
    const char *source_department; /* adapter name of the sender */
    const char *source_message_id; /* the sender's own id, or NULL when derived from a digest */
    msgw_time recorded_at;         /* when the gateway recorded it (0 until committed) */
    msgw_person *persons;
    size_t npersons;
    msgw_household *household; /* NULL unless the kind carries one */
    msgw_fact *facts;
    size_t nfacts;
    const char *loc;
} msgw_record;

/* Builders: everything lands in arena a. */
msgw_person *msgw_record_add_person(msgw_record *r, msgw_arena *a, size_t *cap);
msgw_fact *msgw_record_add_fact(msgw_record *r, msgw_arena *a, size_t *cap, const char *type,
                                const char *subject);
msgw_attr *msgw_fact_add_attr(msgw_fact *f, msgw_arena *a, const char *name, msgw_value v);
const msgw_attr *msgw_fact_attr(const msgw_fact *f, const char *name);
const msgw_person *msgw_record_person(const msgw_record *r, const char *id_number);
void msgw_person_init(msgw_person *p);
void msgw_fact_init(msgw_fact *f);
bool msgw_value_equal(const msgw_value *a, const msgw_value *b);
/* Room msgw_value_text needs: the longest int64 or a YYYY-MM-DD date, with the NUL. */
#define MSGW_VALUE_TEXT_MAX 24
/*
 * A value as text, for the XML encoders, whose elements carry every type as
 * text: codes and strings as they are, integers and money in fen, dates
 * YYYY-MM-DD, booleans true/false; NULL for no value.  Numbers and dates are
 * written into buf, strings returned as they are.
 */
const char *msgw_value_text(const msgw_value *v, char buf[MSGW_VALUE_TEXT_MAX]);
bool msgw_record_equal(const msgw_record *a, const msgw_record *b);

/*
 * The outcome of decoding one document: one item per record found in it,
 * in document order.  An item with errors has record == NULL (nothing of a
 * rejected record is kept); warnings may accompany a good record.
 */
typedef struct msgw_item {
    msgw_record *record; /* NULL if rejected */
    const char *loc;     /* where the record starts in the document */
} msgw_item;

typedef struct msgw_batch {
    msgw_arena *arena;
    msgw_item *items;
    size_t nitems, cap;
    msgw_errors errors; /* all errors and warnings; .record indexes items, -1 = document */
} msgw_batch;

msgw_batch *msgw_batch_new(void);
void msgw_batch_destroy(msgw_batch **b);
/* Appends an item and returns its index. */
int msgw_batch_add(msgw_batch *b, msgw_record *r, const char *loc);
size_t msgw_batch_count_ok(const msgw_batch *b);

#endif
