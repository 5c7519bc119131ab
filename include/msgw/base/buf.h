/*
 * A growable byte buffer for encoders.  Owned by whoever called
 * msgw_buf_init; msgw_buf_free releases the bytes.
 */
#ifndef MSGW_BUF_H
#define MSGW_BUF_H

#include <stddef.h>

typedef struct msgw_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len, cap;
} msgw_buf;

void msgw_buf_init(msgw_buf *b);
void msgw_buf_free(msgw_buf *b);
void msgw_buf_reset(msgw_buf *b);
void msgw_buf_append(msgw_buf *b, const void *p, size_t n);
void msgw_buf_puts(msgw_buf *b, const char *s);
void msgw_buf_printf(msgw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with the five XML special characters escaped. */
void msgw_buf_xml_escape(msgw_buf *b, const char *s);
/* Appends s as one CSV field, quoted when it holds a comma, quote or line break. */
void msgw_buf_csv_field(msgw_buf *b, const char *s);
/* Appends a JSON array of n JSON documents (docs[i] of lens[i] bytes, each the gateway's own:
 * joined, not parsed), one a line: the list form of notices and envelopes. */
void msgw_buf_json_array(msgw_buf *b, const char *const *docs, const size_t *lens, size_t n);
/* len without the line breaks and blanks a writer ends a document with. */
size_t msgw_buf_trimmed(const char *doc, size_t len);

#endif
