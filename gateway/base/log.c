/*
 * The log (include/msgw/base/log.h): JSON lines with a level and key=value
 * fields, ID numbers masked in every value.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/date.h"
#include "msgw/base/idnum.h"
#include "msgw/base/log.h"

/* The process's log sink: set once at startup, read by every thread. */
static struct {
    FILE *out;      /* NULL: stderr */
    atomic_int min; /* msgw_log_level: read by every thread without the lock */
    pthread_mutex_t lock;
} msgw_log_ctx = {NULL, MSGW_LOG_INFO, PTHREAD_MUTEX_INITIALIZER};

void msgw_log_setup(FILE *out, msgw_log_level min)
{
    pthread_mutex_lock(&msgw_log_ctx.lock);
    msgw_log_ctx.out = out;
    atomic_store(&msgw_log_ctx.min, (int)min);
    pthread_mutex_unlock(&msgw_log_ctx.lock);
}

static const char *const names[] = {"debug", "info", "warning", "error"};

const char *msgw_log_level_name(msgw_log_level level)
{
    return (unsigned)level <= MSGW_LOG_ERROR ? names[level] : "error";
}

int msgw_log_level_parse(const char *name, msgw_log_level *out)
{
    for (int i = 0; i <= MSGW_LOG_ERROR; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (msgw_log_level)i;
            return 1;
        }
    return 0;
}

/* A value as the log writes it: ID numbers masked. */
static json_t *scrubbed(const char *value)
{
    char *copy = strdup(value);
    if (!copy) abort();
    msgw_idnum_scrub(copy);
    json_t *j = json_string(copy);
    free(copy);
    return j ? j : json_string("(not UTF-8)");
}

static void emit(msgw_log_level level, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return;
    pthread_mutex_lock(&msgw_log_ctx.lock);
    FILE *out = msgw_log_ctx.out ? msgw_log_ctx.out : stderr;
    fprintf(out, "%s\n", s);
    fflush(out);
    pthread_mutex_unlock(&msgw_log_ctx.lock);
    free(s);
    (void)level;
}

static json_t *line_new(msgw_log_level level, const char *msg)
{
    char t[28];
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(msgw_time_format(msgw_time_now(), t)));
    json_object_set_new(o, "level", json_string(msgw_log_level_name(level)));
    json_object_set_new(o, "msg", scrubbed(msg ? msg : ""));
    return o;
}

void msgw_log(msgw_log_level level, const char *msg, ...)
{
    if ((int)level < atomic_load(&msgw_log_ctx.min)) return;
    json_t *o = line_new(level, msg);
    va_list ap;
    va_start(ap, msg);
    for (const char *key; (key = va_arg(ap, const char *));) {
        const char *value = va_arg(ap, const char *);
        if (value) json_object_set_new(o, key, scrubbed(value));
    }
    va_end(ap);
    emit(level, o);
}

void msgw_log_errors(msgw_log_level level, const char *msg, const msgw_errors *e)
{
    if ((int)level < atomic_load(&msgw_log_ctx.min)) return;
    for (size_t i = 0; e && i < e->n; i++) {
        const msgw_error *x = &e->v[i];
        json_t *o = line_new(x->severity == MSGW_SEV_ERROR ? level : MSGW_LOG_WARNING, msg);
        if (x->location) json_object_set_new(o, "location", scrubbed(x->location));
        if (x->field) json_object_set_new(o, "field", scrubbed(x->field));
        if (x->rule) json_object_set_new(o, "rule", scrubbed(x->rule));
        if (x->message) json_object_set_new(o, "detail", scrubbed(x->message));
        emit(level, o);
    }
}
