/* Time that does not jump (include/msgw/base/clock.h): the monotonic clock, timed waits on it. */
#include "msgw/base/clock.h"

msgw_time msgw_clock_monotonic(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (msgw_time)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

void msgw_cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

struct timespec msgw_clock_deadline(msgw_time after_us)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long ns = t.tv_nsec + (after_us % 1000000) * 1000;
    t.tv_sec += (time_t)(after_us / 1000000 + ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

msgw_time msgw_wall_clock_now(msgw_wall_clock *c)
{
    msgw_time wall = msgw_time_now(), mono = msgw_clock_monotonic();
    msgw_time run_on = c->last + (mono - c->last_mono);
    if (c->last && wall < run_on) wall = run_on;
    c->last = wall;
    c->last_mono = mono;
    return wall;
}
