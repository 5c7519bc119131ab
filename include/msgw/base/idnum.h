/*
 * Resident identity numbers, GB 11643-1999: 6-digit address code, 8-digit
 * birth date, 3-digit sequence (odd = male), ISO 7064 MOD 11-2 check
 * character.  Legacy 15-digit numbers (GB 11643-1989) are converted.
 */
#ifndef MSGW_IDNUM_H
#define MSGW_IDNUM_H

#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/date.h"

#define MSGW_IDNUM_LEN 18

typedef enum {
    MSGW_IDNUM_OK = 0,
    MSGW_IDNUM_LENGTH,   /* not 15 or 18 characters */
    MSGW_IDNUM_SYNTAX,   /* a non-digit where a digit must be (or bad final char) */
    MSGW_IDNUM_DATE,     /* positions 7-14 are not a real calendar date */
    MSGW_IDNUM_FUTURE,   /* birth date after today */
    MSGW_IDNUM_CHECK,    /* check character does not match */
    MSGW_IDNUM_CONVERTED /* legacy 15-digit number, converted (a warning, not an error) */
} msgw_idnum_status;

/* Check character for the first 17 digits ('0'..'9' or 'X'). */
char msgw_idnum_check_char(const char digits17[17]);

/*
 * Validates s (len bytes) and writes the canonical 18-character number with
 * NUL to out (19 bytes).  A lower-case 'x' is normalised to 'X'.  On
 * MSGW_IDNUM_CHECK, *expected and *found hold the characters.  Returns
 * MSGW_IDNUM_CONVERTED for a valid 15-digit number (out is then converted).
 */
msgw_idnum_status msgw_idnum_normalize(const char *s, size_t len, char out[19], char *expected,
                                       char *found);
/* Birth date and sex (1 male, 2 female per GB/T 2261.1) of a canonical 18-char number. */
msgw_date msgw_idnum_birth_date(const char id[18]);
int msgw_idnum_sex(const char id[18]);
/* "120101********123X"-style mask for logs and screens: first 6 and last 4 kept. */
char *msgw_idnum_mask(const char *id, char out[19]);
/* Masks, in place, every run of 15 or more digits (an X may close it) in free text such as a
 * sender's message id, keeping its first 6 and last 4 characters: ids may embed ID numbers. */
void msgw_idnum_scrub(char *text);

#endif
