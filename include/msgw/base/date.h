/*
 * Calendar dates and instants.  A date is a day number (days since
 * 1970-01-01, proleptic Gregorian), so comparisons and "age at a date" are
 * integer arithmetic and an impossible date such as 1999-02-30 can never be
 * represented.  Instants are microseconds since the Unix epoch, UTC.
 */
#ifndef MSGW_DATE_H
#define MSGW_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int32_t msgw_date;
#define MSGW_DATE_NONE INT32_MIN /* "no date": absent or open-ended */

typedef int64_t msgw_time; /* microseconds since 1970-01-01T00:00:00Z */

bool msgw_date_valid_ymd(int y, int m, int d);
/* Returns MSGW_DATE_NONE when y-m-d is not a real calendar date. */
msgw_date msgw_date_from_ymd(int y, int m, int d);
void msgw_date_to_ymd(msgw_date date, int *y, int *m, int *d);
/* Parses exactly "YYYY-MM-DD" (len bytes). Returns false on bad syntax or impossible date. */
bool msgw_date_parse_iso(const char *s, size_t len, msgw_date *out);
/* Parses exactly "YYYYMMDD". */
bool msgw_date_parse_compact(const char *s, size_t len, msgw_date *out);
/* Writes "YYYY-MM-DD" (11 bytes with NUL) into buf. */
char *msgw_date_format(msgw_date date, char buf[11]);
/* Whole years of age on day `at` for someone born on `birth` (birthday on Feb 29 counts on Mar 1). */
int msgw_date_age(msgw_date birth, msgw_date at);
/* The day msgw_date_age(birth, day) first reaches years: a 29 February birthday falls on 1 March
 * in other years. */
msgw_date msgw_date_birthday(msgw_date birth, int years);
msgw_date msgw_date_today(void);
/* The local calendar day of an instant (what msgw_date_today was then). */
msgw_date msgw_date_at(msgw_time t);

msgw_time msgw_time_now(void);
/* Writes RFC 3339 "YYYY-MM-DDTHH:MM:SS.ffffffZ" (28 bytes with NUL). */
char *msgw_time_format(msgw_time t, char buf[28]);
/* Parses RFC 3339 with Z or +hh:mm offset, optional fraction. */
bool msgw_time_parse(const char *s, msgw_time *out);

#endif
