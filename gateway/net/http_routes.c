/* Route tables of the HTTPS listeners (include/msgw/net/http_routes.h). */
#include <string.h>

#include "msgw/net/http_routes.h"

/* Whether path fits template; *tail: where path's part for the first {param} starts. */
static bool path_fits(const char *template, const char *path, const char **tail)
{
    const char *t = template, *p = path;
    *tail = NULL;
    while (*t) {
        if (*t != '{') {
            if (*t++ != *p++) return false;
            continue;
        }
        if (!*tail) *tail = p;
        t = strchr(t, '}');
        if (!t) return false;
        t++;
        size_t seg = *t ? strcspn(p, "/") : strlen(p); /* the last parameter takes the rest */
        if (seg == 0) return false;
        p += seg;
    }
    if (!*tail) *tail = p;
    return *p == '\0';
}

const msgw_http_route *msgw_http_route_find(const msgw_http_route *table,
                                            enum evhttp_cmd_type method, const char *path,
                                            const char **tail, int *status)
{
    *status = 404;
    for (const msgw_http_route *r = table; path && r->path; r++) {
        const char *t;
        if (!path_fits(r->path, path, &t)) continue;
        if (r->method != method) {
            *status = 405;
            continue;
        }
        *tail = t;
        return r;
    }
    return NULL;
}

const char *msgw_http_method_name(enum evhttp_cmd_type method)
{
    switch (method) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}
