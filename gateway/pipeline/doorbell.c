/*
 * The doorbell (include/msgw/pipeline/doorbell.h): an eventfd per deliverer.  An
 * eventfd counts rings, so rings that come while a deliverer is busy are not
 * lost: its next poll returns at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "msgw/pipeline/doorbell.h"

struct msgw_doorbell {
    int *fd;
    size_t n;
};

msgw_doorbell *msgw_doorbell_new(size_t count)
{
    msgw_doorbell *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->fd = calloc(count + 1, sizeof *b->fd);
    if (!b->fd) abort();
    for (; b->n < count; b->n++)
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

int msgw_doorbell_fd(const msgw_doorbell *b, size_t i)
{
    return b && i < b->n ? b->fd[i] : -1;
}

void msgw_doorbell_clear(int fd)
{
    uint64_t count;
    if (fd >= 0 && read(fd, &count, sizeof count) < 0) { /* EAGAIN: nothing to clear */
    }
}
