/*
 * A fault-injecting shim for the process tests (docs/faults.md, docs/testing.md): loaded into the
 * daemon with LD_PRELOAD, it makes a disk fail and moves the clock without root, a special file
 * system or a change to the daemon.  It is built with the tests only, never installed and never
 * linked into msgw.
 *
 * The test writes the control file named by MSGW_FAULT_CONTROL, one rule a line, and rewrites it
 * (a new file renamed over the old) to change the faults while the daemon runs:
 *
 *     clock SECONDS          CLOCK_REALTIME, time() and gettimeofday() read SECONDS more (or less)
 *     fsync ERRNO PREFIX     fsync and fdatasync of a file whose path starts with PREFIX fail
 *     write ERRNO PREFIX     write, pwrite, pwrite64 and writev of such a file fail
 *
 * ERRNO is EIO or ENOSPC.  The file is looked at no more often than every 20 ms (its inode, size
 * and modification time), so a change takes effect within that; a missing file means no fault.
 * Every fault injected is counted in MSGW_FAULT_CONTROL.count ("fsync N\nwrite N\n"), so a test
 * can tell that the shim took effect rather than pass without it.
 *
 * The calls reach the shim whether the daemon calls them itself or a library does (SQLite,
 * libevent): the dynamic linker binds them to the first definition, the shim's, or to the
 * sanitizers' interceptors in a sanitized build, which then call the next one, the shim's.  The
 * shim calls the C library's own through dlsym(RTLD_NEXT).  It keeps its state in static storage
 * (it is the process-wide clock and disk), without allocating: rules are parsed into one of a ring
 * of slots and the slot published, so a reader never sees a rule half written.
 */
/* pwrite and pwrite64 are two symbols to stand in for, not one name for the other (the build's
 * 64-bit file offsets would make them one; off_t is 64 bits on the 64-bit systems it runs on) */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 8
#define SLOTS 64
#define LOOK_EVERY_NS 20000000L

enum { FSYNC, WRITE, KINDS };

typedef struct rule {
    int kind, err;
    char prefix[512];
    size_t len;
} rule;

typedef struct rules {
    long long clock_s;
    rule v[MAX_RULES];
    int n;
} rules;

static struct {
    pthread_mutex_t lock; /* one reloader at a time */
    rules slot[SLOTS];
    atomic_int current; /* the published slot, -1: none yet */
    atomic_llong next_look_ns;
    struct stat seen;
    atomic_ullong injected[KINDS];
    int (*clock_gettime)(clockid_t, struct timespec *);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*pwrite)(int, const void *, size_t, off_t);
    ssize_t (*pwrite64)(int, const void *, size_t, off_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    int (*fsync)(int);
    int (*fdatasync)(int);
} shim = {.lock = PTHREAD_MUTEX_INITIALIZER, .current = -1};

static void *next(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) abort(); /* a C library without it: nothing sensible to do */
    return f;
}

/* The real functions, looked up once (the first call of any of them). */
static void bind_real(void)
{
    shim.clock_gettime = next("clock_gettime");
    shim.write = next("write");
    shim.pwrite = next("pwrite");
    shim.pwrite64 = next("pwrite64");
    shim.writev = next("writev");
    shim.fsync = next("fsync");
    shim.fdatasync = next("fdatasync");
}

static pthread_once_t bound = PTHREAD_ONCE_INIT;

static long long monotonic_ns(void)
{
    struct timespec t;
    shim.clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int errno_named(const char *s)
{
    return strcmp(s, "ENOSPC") == 0 ? ENOSPC : strcmp(s, "EIO") == 0 ? EIO : 0;
}

/* One line of the control file into r; false when it is not a rule (ignored). */
static bool parse_line(char *line, rules *r)
{
    char word[16], err[16], prefix[512];
    long long secs;
    if (sscanf(line, "clock %lld", &secs) == 1) {
        r->clock_s = secs;
        return true;
    }
    if (r->n == MAX_RULES || sscanf(line, "%15s %15s %511s", word, err, prefix) != 3) return false;
    int kind = strcmp(word, "fsync") == 0 ? FSYNC : strcmp(word, "write") == 0 ? WRITE : -1;
    if (kind < 0 || !errno_named(err)) return false;
    rule *x = &r->v[r->n++];
    x->kind = kind;
    x->err = errno_named(err);
    snprintf(x->prefix, sizeof x->prefix, "%s", prefix);
    x->len = strlen(x->prefix);
    return true;
}

/* The control file's rules into the next slot, published (lock held). */
static void load(const char *path)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
    if (fd >= 0) close(fd);
    buf[n > 0 ? n : 0] = '\0';
    int cur = atomic_load(&shim.current), k = (cur + 1) % SLOTS;
    rules *r = &shim.slot[k];
    memset(r, 0, sizeof *r);
    for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        parse_line(line, r);
    atomic_store(&shim.current, k);
}

/* The rules in force, the control file looked at again when it is time. */
static const rules *current(void)
{
    pthread_once(&bound, bind_real);
    long long now = monotonic_ns();
    int cur = atomic_load(&shim.current);
    if (cur >= 0 && now < atomic_load(&shim.next_look_ns)) return &shim.slot[cur];
    const char *path = getenv("MSGW_FAULT_CONTROL");
    if (!path) return NULL;
    pthread_mutex_lock(&shim.lock);
    atomic_store(&shim.next_look_ns, now + LOOK_EVERY_NS);
    struct stat st = {0};
    bool exists = stat(path, &st) == 0;
    if (!exists) memset(&st, 0, sizeof st);
    if (atomic_load(&shim.current) < 0 || st.st_ino != shim.seen.st_ino ||
        st.st_size != shim.seen.st_size || st.st_mtim.tv_sec != shim.seen.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != shim.seen.st_mtim.tv_nsec) {
        shim.seen = st;
        load(path);
    }
    pthread_mutex_unlock(&shim.lock);
    return &shim.slot[atomic_load(&shim.current)];
}

/* The counts of faults injected, rewritten whole (pwrite at 0 through the real call). */
static void count(int kind)
{
    atomic_fetch_add(&shim.injected[kind], 1);
    const char *path = getenv("MSGW_FAULT_CONTROL");
    char name[600], text[64];
    snprintf(name, sizeof name, "%s.count", path ? path : "");
    int fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    int n = snprintf(text, sizeof text, "fsync %llu\nwrite %llu\n",
                     atomic_load(&shim.injected[FSYNC]), atomic_load(&shim.injected[WRITE]));
    if (shim.pwrite(fd, text, (size_t)n, 0) == n && ftruncate(fd, n) == 0) {
    }
    close(fd);
}

/* The errno a call of this kind on fd fails with, 0 when it is not to fail. */
static int fault(int kind, int fd)
{
    const rules *r = current();
    if (!r) return 0;
    int want = 0;
    for (int i = 0; i < r->n && !want; i++)
        if (r->v[i].kind == kind) want = 1;
    if (!want) return 0;
    char link[64], path[1024];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0) return 0;
    path[len] = '\0';
    for (int i = 0; i < r->n; i++)
        if (r->v[i].kind == kind && strncmp(path, r->v[i].prefix, r->v[i].len) == 0) {
            count(kind);
            return r->v[i].err;
        }
    return 0;
}

static long long offset_s(void)
{
    const rules *r = current();
    return r ? r->clock_s : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    pthread_once(&bound, bind_real);
    int rc = shim.clock_gettime(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset_s();
    return rc;
}

time_t time(time_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

int gettimeofday(struct timeval *tv, void *tz)
{
    (void)tz;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *tv =
        (struct timeval){.tv_sec = ts.tv_sec, .tv_usec = ts.tv_nsec / 1000}; /* declared nonnull */
    return 0;
}

/* Fails the call with err (errno set, -1 returned) when it is to fail. */
#define FAIL_IF(kind, fd)                                                                          \
    do {                                                                                           \
        int err_ = fault(kind, fd);                                                                \
        if (err_) {                                                                                \
            errno = err_;                                                                          \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    FAIL_IF(WRITE, fd);
    return shim.write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t at)
{
    FAIL_IF(WRITE, fd);
    return shim.pwrite(fd, buf, n, at);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t at)
{
    FAIL_IF(WRITE, fd);
    return shim.pwrite64(fd, buf, n, at);
}

ssize_t writev(int fd, const struct iovec *v, int n)
{
    FAIL_IF(WRITE, fd);
    return shim.writev(fd, v, n);
}

int fsync(int fd)
{
    FAIL_IF(FSYNC, fd);
    return shim.fsync(fd);
}

int fdatasync(int fd)
{
    FAIL_IF(FSYNC, fd);
    return shim.fdatasync(fd);
}
