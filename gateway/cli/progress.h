/*
 * Progress of a long operation on the command line (msgw admin reevaluate,
 * deadletters replay --all): a bar redrawn in place when the stream is a
 * terminal, and otherwise a plain line at each tenth of the way, so logs
 * and CI output stay readable.
 */
#ifndef MSGW_PROGRESS_H
#define MSGW_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct msgw_progress msgw_progress;

/* what: the operation ("re-evaluation"), unit: what is counted ("persons"); out: stderr usually. */
msgw_progress *msgw_progress_new(FILE *out, const char *what, const char *unit);
/* done of total so far, with a short note (NULL: none) after the figures. */
void msgw_progress_update(msgw_progress *p, long long done, long long total, const char *note);
/* Ends the bar's line (a terminal) and frees it. */
void msgw_progress_destroy(msgw_progress **p);

#endif
