/*
 * Command-line progress (gateway/cli/progress.h).  On a terminal the bar is
 * redrawn with a carriage return; elsewhere a line is printed when the
 * operation crosses each 10 %, and at the end.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

enum { BAR_WIDTH = 30 };

struct msgw_progress {
    FILE *out;
    bool tty;
    char what[64], unit[32];
    int last_tenth; /* the last tenth printed as a line, -1 none */
    bool drawn;
};

msgw_progress *msgw_progress_new(FILE *out, const char *what, const char *unit)
{
    msgw_progress *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->out = out;
    p->tty = isatty(fileno(out));
    p->last_tenth = -1;
    snprintf(p->what, sizeof p->what, "%s", what);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    return p;
}

static void draw_bar(msgw_progress *p, long long done, long long total, int percent, const char *note)
{
    char bar[BAR_WIDTH + 1];
    int filled = total > 0 ? (int)(done * BAR_WIDTH / total) : 0;
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    fprintf(p->out, "\r%s [%s] %3d%%  %lld/%lld %s%s%s\033[K", p->what, bar, percent, done, total, p->unit,
            note ? "  " : "", note ? note : "");
    fflush(p->out);
    p->drawn = true;
}

void msgw_progress_update(msgw_progress *p, long long done, long long total, const char *note)
{
    if (done > total) done = total;
    int percent = total > 0 ? (int)(done * 100 / total) : 100;
    if (p->tty) {
        draw_bar(p, done, total, percent, note);
        return;
    }
    int tenth = percent / 10;
    if (tenth == p->last_tenth) return;
    p->last_tenth = tenth;
    fprintf(p->out, "%s: %lld/%lld %s (%d%%)%s%s\n", p->what, done, total, p->unit, percent, note ? ", " : "",
            note ? note : "");
    fflush(p->out);
}

void msgw_progress_destroy(msgw_progress **pp)
{
    if (!pp || !*pp) return;
    if ((*pp)->drawn) fputc('\n', (*pp)->out);
    free(*pp);
    *pp = NULL;
}
