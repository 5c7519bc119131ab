/*
 * A small pretty-printing XML writer for the department encoders (rosters,
 * certificate events, eligibility notices), so that every XML document the
 * gateway writes is indented alike (two spaces a level, one element a line),
 * escaped alike, and never malformed: text XML 1.0 cannot carry, even
 * escaped, is refused with an error naming the element instead of written.
 * Reading XML is msgw/xml.h.
 *
 *     msgw_xmlw w;
 *     msgw_xmlw_init(&w, e, gb18030);       writes the XML declaration
 *     msgw_xmlw_open_attrs(&w, "Root", "version", "1", NULL);
 *     msgw_xmlw_text(&w, "Name", name);     NULL: the element is left out
 *     msgw_xmlw_close(&w, "Root");
 *     ok = msgw_xmlw_finish(&w, out, "encode.charset");
 *     msgw_xmlw_clear(&w);
 */
#ifndef MSGW_XMLWRITER_H
#define MSGW_XMLWRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "msgw/base/buf.h"
#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/model/model.h"

typedef struct msgw_xmlw {
    msgw_buf doc;              /* the document so far, UTF-8 */
    int depth;                 /* elements open */
    bool gb18030;              /* finish converts to GB18030 */
    bool ok;                   /* false once anything was refused */
    msgw_errors *e;            /* where refusals go */
    int rec;                   /* record refusals name ("record N"), -1: the document */
    const char *xml_char_rule; /* rule id of refused text, "encode.xml_char" unless set */
} msgw_xmlw;

/* Starts a document (the XML declaration) that finish writes as UTF-8 or GB18030. */
void msgw_xmlw_init(msgw_xmlw *w, msgw_errors *e, bool gb18030);
void msgw_xmlw_clear(msgw_xmlw *w);

void msgw_xmlw_open(msgw_xmlw *w, const char *tag);
/* A start tag with attributes: name, value, ... NULL. */
void msgw_xmlw_open_attrs(msgw_xmlw *w, const char *tag, ...) __attribute__((sentinel));
void msgw_xmlw_close(msgw_xmlw *w, const char *tag);

/* A text element; NULL writes nothing (an optional element left out). */
void msgw_xmlw_text(msgw_xmlw *w, const char *tag, const char *s);
/* YYYY-MM-DD; MSGW_DATE_NONE writes nothing. */
void msgw_xmlw_date(msgw_xmlw *w, const char *tag, msgw_date d);
/* Fen, counts, parameter values; MSGW_ABSENT writes nothing. */
void msgw_xmlw_int(msgw_xmlw *w, const char *tag, int64_t v);
/* A typed value as msgw_value_text writes it; no value writes nothing. */
void msgw_xmlw_value(msgw_xmlw *w, const char *tag, const msgw_value *v);

/*
 * Adds an error at the writer's record (w->rec) and marks the document
 * failed: for what the encoder itself refuses (a missing field, a record its
 * format cannot carry) as much as for text.
 */
void msgw_xmlw_refuse(msgw_xmlw *w, const char *field, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Appends the document to out, converted to GB18030 when init asked for it.
 * False, with out untouched, when anything was refused or the conversion
 * failed (an error with charset_rule).
 */
bool msgw_xmlw_finish(msgw_xmlw *w, msgw_buf *out, const char *charset_rule);

#endif
