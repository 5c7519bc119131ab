/* Helpers of the ZeroMQ test clients (tests/cli/zmq_client.h). */
#include "zmq_client.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void zc_key(const char *path, const char *which, char out[41])
{
    FILE *f = fopen(path, "r");
    char line[128];
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, which, strlen(which)) == 0) snprintf(out, 41, "%.40s", line + strlen(which));
    if (f) fclose(f);
}

double zc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
