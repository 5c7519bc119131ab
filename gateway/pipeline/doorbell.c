/*
 * The doorbell (include/msgw/pipeline/doorbell.h): an eventfd per listener.  An
 * eventfd counts rings, so rings that come while a listener is busy are not
 * lost: its next poll returns at once.
 */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "msgw/pipeline/doorbell.h"

struct msgw_doorbell {
    int *fd;
    size_t n;
};

msgw_doorbell *msgw_doorbell_new(size_t listeners)
{
    msgw_doorbell *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->fd = calloc(listeners + 1, sizeof *b->fd);
    if (!b->fd) abort();
    for (; b->n < listeners; b->n++)
        if ((b->fd[b->n] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
            msgw_doorbell_destroy(&b);
            return NULL;
        }
    return b;
}

void msgw_doorbell_destroy(msgw_doorbell **bp)
{
    if (!bp || !*bp) return;
    for (size_t i = 0; i < (*bp)->n; i++) close((*bp)->fd[i]);
    free((*bp)->fd);
    free(*bp);
    *bp = NULL;
}

void msgw_doorbell_ring(msgw_doorbell *b)
{
    uint64_t one = 1;
    for (size_t i = 0; b && i < b->n; i++)
        if (write(b->fd[i], &one, sizeof one) < 0) { /* only EAGAIN at 2^64 - 2 rings: still rung */
        }
}

int msgw_doorbell_fd(const msgw_doorbell *b, size_t listener)
{
    return b && listener < b->n ? b->fd[listener] : -1;
}

void msgw_doorbell_clear(int fd)
{
    uint64_t count;
    if (fd >= 0 && read(fd, &count, sizeof count) < 0) { /* EAGAIN: nothing to clear */
    }
}

bool msgw_doorbell_wait(int fd, int timeout_ms)
{
    if (fd < 0) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        return false;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    bool rung = poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN);
    if (rung) msgw_doorbell_clear(fd);
    return rung;
}
