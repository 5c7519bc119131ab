/*
 * Time that does not jump.  The wall clock (CLOCK_REALTIME: msgw_time_now, msgw_date_today) says
 * what day it is and stamps what is stored, but an operator or NTP may set it back or forward at
 * any moment; intervals, timeouts and timed waits are measured here, on CLOCK_MONOTONIC, which
 * setting the wall clock leaves alone (docs/faults.md, "The clock set back or forward").
 */
#ifndef MSGW_CLOCK_H
#define MSGW_CLOCK_H

#include <pthread.h>
#include <time.h>

#include "msgw/base/date.h"

/* Microseconds since an arbitrary start: only differences mean anything. */
msgw_time msgw_clock_monotonic(void);
/* A condition variable whose timed waits (msgw_clock_deadline) run on the monotonic clock. */
void msgw_cond_init_monotonic(pthread_cond_t *c);
/* The deadline after_us from now, for pthread_cond_timedwait on such a condition variable. */
struct timespec msgw_clock_deadline(msgw_time after_us);

/*
 * A wall clock that does not run back, for times compared with wall-clock times stored earlier
 * (an outbox message's due time): it reads the system's wall clock, except that after the clock
 * was set back it runs on from the last time it gave, at the monotonic clock's pace, until the
 * wall clock catches up.  Set forward, it jumps with it.  One per thread (zero-initialised).
 */
typedef struct msgw_wall_clock {
    msgw_time last, last_mono; /* the last time given, and the monotonic time then */
} msgw_wall_clock;
msgw_time msgw_wall_clock_now(msgw_wall_clock *c);

#endif
