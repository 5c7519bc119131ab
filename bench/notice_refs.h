/*
 * The notices of a list document (docs/eligibility.md, "Several notices in one message"), for the
 * tools that receive deliveries: the benchmark's receiver (bench/receiver.c) and the tests' ZeroMQ
 * consumer (tests/cli/zmq_consumer.c).  It reads each notice's id and cause from the body, in
 * order, for every format's list (mca and cdpf XML, hrss and canonical JSON, the FHIR Bundle;
 * GB18030 too), with libxml2 and jansson and no schema: a receiver's cheap look, not validation.
 */
#ifndef MSGW_BENCH_NOTICE_REFS_H
#define MSGW_BENCH_NOTICE_REFS_H

#include <stdbool.h>
#include <stddef.h>

/* One notice of a list: its id, and the message id of the record that caused it. */
typedef struct notice_ref {
    char *id;    /* NULL: the body names none */
    char *cause; /* NULL: none (a calendar or parameter cause) */
} notice_ref;

typedef struct notice_refs {
    notice_ref *v;
    size_t n, cap;
} notice_refs;

void notice_refs_clear(notice_refs *r);
void notice_refs_free(notice_refs *r);
/* The ids and causes of a list body of media type media_type, in order, into out (cleared
 * first); false, with why, when it is not a list of that type. */
bool notice_refs_parse(const char *media_type, const char *body, size_t len, notice_refs *out,
                       char *why, size_t wl);

#endif
