/*
 * GB 11643-1999 resident identity numbers: structure, real birth date,
 * ISO 7064 MOD 11-2 check character, and conversion of legacy 15-digit
 * numbers (GB 11643-1989) to 18 characters.
 */
#include <string.h>

#include "msgw/base/idnum.h"

static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
static const char check_chars[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};

char msgw_idnum_check_char(const char digits17[17])
{
    int s = 0;
    for (int i = 0; i < 17; i++) s += (digits17[i] - '0') * weights[i];
    return check_chars[s % 11];
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

msgw_date msgw_idnum_birth_date(const char id[18])
{
    msgw_date d;
    return msgw_date_parse_compact(id + 6, 8, &d) ? d : MSGW_DATE_NONE;
}

int msgw_idnum_sex(const char id[18])
{
    return (id[16] - '0') % 2 ? 1 : 2;
}

msgw_idnum_status msgw_idnum_normalize(const char *s, size_t len, char out[19], char *expected,
                                       char *found)
{
    char buf[18];
    bool legacy = false;
    if (len == 15) {
        if (!all_digits(s, 15)) return MSGW_IDNUM_SYNTAX;
        memcpy(buf, s, 6);
        buf[6] = '1';
        buf[7] = '9';
        memcpy(buf + 8, s + 6, 9);
        buf[17] = msgw_idnum_check_char(buf);
        legacy = true;
    } else if (len == 18) {
        if (!all_digits(s, 17)) return MSGW_IDNUM_SYNTAX;
        memcpy(buf, s, 18);
        if (buf[17] == 'x') buf[17] = 'X';
        if (!(buf[17] == 'X' || (buf[17] >= '0' && buf[17] <= '9'))) return MSGW_IDNUM_SYNTAX;
    } else {
        return MSGW_IDNUM_LENGTH;
    }
    if (buf[0] == '0') return MSGW_IDNUM_SYNTAX; /* no GB/T 2260 province code starts with 0 */
    msgw_date birth = msgw_idnum_birth_date(buf);
    if (birth == MSGW_DATE_NONE) return MSGW_IDNUM_DATE;
    if (birth > msgw_date_today()) return MSGW_IDNUM_FUTURE;
    char want = msgw_idnum_check_char(buf);
    if (want != buf[17]) {
        if (expected) *expected = want;
        if (found) *found = buf[17];
        return MSGW_IDNUM_CHECK;
    }
    memcpy(out, buf, 18);
    out[18] = '\0';
    return legacy ? MSGW_IDNUM_CONVERTED : MSGW_IDNUM_OK;
}

char *msgw_idnum_mask(const char *id, char out[19])
{
    size_t n = strnlen(id, 18);
    if (n < 10) {
        memset(out, '*', n);
        out[n] = '\0';
        return out;
    }
    memcpy(out, id, 6);
    memset(out + 6, '*', n - 10);
    memcpy(out + n - 4, id + n - 4, 4);
    out[n] = '\0';
    return out;
}

void msgw_idnum_scrub(char *c)
{
    for (size_t i = 0; c && c[i];) {
        size_t j = i;
        while (c[j] >= '0' && c[j] <= '9')
            j++;
        if (j - i >= 14 && (c[j] == 'X' || c[j] == 'x')) j++;
        if (j - i >= 15)
            for (size_t k = i + 6; k + 4 < j; k++)
                c[k] = '*';
        i = j > i ? j : i + 1;
    }
}
