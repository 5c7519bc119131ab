/*
 * Calendar arithmetic on day numbers (Howard Hinnant's days_from_civil), so
 * dates compare as integers and impossible dates are rejected at the edge.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "msgw/base/date.h"

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

bool msgw_date_valid_ymd(int y, int m, int d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

msgw_date msgw_date_from_ymd(int y, int m, int d)
{
    if (!msgw_date_valid_ymd(y, m, d)) return MSGW_DATE_NONE;
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int)doe - 719468;
}

void msgw_date_to_ymd(msgw_date z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int yy = (int)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool msgw_date_parse_iso(const char *s, size_t len, msgw_date *out)
{
    int y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-') return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d)) return false;
    msgw_date v = msgw_date_from_ymd(y, m, d);
    if (v == MSGW_DATE_NONE) return false;
    *out = v;
    return true;
}

bool msgw_date_parse_compact(const char *s, size_t len, msgw_date *out)
{
    int y, m, d;
    if (len != 8 || !digits(s, 4, &y) || !digits(s + 4, 2, &m) || !digits(s + 6, 2, &d))
        return false;
    msgw_date v = msgw_date_from_ymd(y, m, d);
    if (v == MSGW_DATE_NONE) return false;
    *out = v;
    return true;
}

char *msgw_date_format(msgw_date date, char buf[11])
{
    int y, m, d;
    if (date == MSGW_DATE_NONE) {
        buf[0] = '\0';
        return buf;
    }
    msgw_date_to_ymd(date, &y, &m, &d);
    /* Compose by hand: y, m, d are in range by construction, and snprintf into a
     * fixed 11 bytes draws truncation warnings the compiler cannot rule out. */
    y = (y % 10000 + 10000) % 10000;
    buf[0] = (char)('0' + y / 1000);
    buf[1] = (char)('0' + y / 100 % 10);
    buf[2] = (char)('0' + y / 10 % 10);
    buf[3] = (char)('0' + y % 10);
    buf[4] = '-';
    buf[5] = (char)('0' + m / 10);
    buf[6] = (char)('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char)('0' + d / 10);
    buf[9] = (char)('0' + d % 10);
    buf[10] = '\0';
    return buf;
}

int msgw_date_age(msgw_date birth, msgw_date at)
{
    int by, bm, bd, ay, am, ad;
    msgw_date_to_ymd(birth, &by, &bm, &bd);
    msgw_date_to_ymd(at, &ay, &am, &ad);
    int age = ay - by;
    if (am < bm || (am == bm && ad < bd)) age--;
    return age;
}

msgw_date msgw_date_birthday(msgw_date birth, int years)
{
    int y, m, d;
    msgw_date_to_ymd(birth, &y, &m, &d);
    msgw_date day = msgw_date_from_ymd(y + years, m, d);
    return day != MSGW_DATE_NONE ? day : msgw_date_from_ymd(y + years, 3, 1);
}

/* Called for every ID number checked: a per-thread cache of the last answer
 * keeps localtime_r (and its time-zone lookups) off the hot path. */
msgw_date msgw_date_at(msgw_time t)
{
    time_t secs = (time_t)(t / 1000000);
    struct tm tm;
    localtime_r(&secs, &tm);
    return msgw_date_from_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

msgw_date msgw_date_today(void)
{
    static _Thread_local time_t cached_at = -1;
    static _Thread_local msgw_date cached_day;
    time_t t = time(NULL);
    if (t / 60 != cached_at) {
        struct tm tm;
        localtime_r(&t, &tm);
        cached_day = msgw_date_from_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        cached_at = t / 60;
    }
    return cached_day;
}

msgw_time msgw_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (msgw_time)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *msgw_time_format(msgw_time t, char buf[28])
{
    msgw_date day = (msgw_date)(t >= 0 ? t / 86400000000LL : (t - 86399999999LL) / 86400000000LL);
    int64_t rem = t - (int64_t)day * 86400000000LL;
    int y, m, d;
    msgw_date_to_ymd(day, &y, &m, &d);
    unsigned secs = (unsigned)(rem / 1000000), usec = (unsigned)(rem % 1000000);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ", (unsigned)(y % 10000),
             (unsigned)m, (unsigned)d, secs / 3600 % 24, secs / 60 % 60, secs % 60, usec % 1000000);
    memcpy(buf, tmp, 27);
    buf[27] = '\0';
    return buf;
}

bool msgw_time_parse(const char *s, msgw_time *out)
{
    size_t len = strlen(s);
    msgw_date day;
    int hh, mm, ss;
    if (len < 20 || !msgw_date_parse_iso(s, 10, &day) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mm) || s[16] != ':' ||
        !digits(s + 17, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int nd = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (nd < 6) frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0) return false;
        for (; nd < 6; nd++) frac *= 10;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p) return false;
    if (ss == 60) ss = 59; /* leap second: clamp, the gateway does not count them */
    *out = ((int64_t)day * 86400 + hh * 3600 + mm * 60 + ss - offset) * 1000000 + frac;
    return true;
}
