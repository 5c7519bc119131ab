/*
 * The routes an HTTPS listener answers, as data (docs/openapi.yaml describes the same): each a
 * method, a path template in OpenAPI's form ("/v1/messages/{id}") and its handler.  One lookup
 * tells a request's route, or 404 (no such path) from 405 (the path, another method); `msgw
 * routes` lists every listener's table, and tests/openapi/check.py holds docs/openapi.yaml to it.
 */
#ifndef MSGW_HTTP_ROUTES_H
#define MSGW_HTTP_ROUTES_H

#include <event2/http.h>
#include <stdbool.h>

/* A route's handler: the listener it belongs to, the request, and the request's path from the
 * template's first parameter on (the whole path's end when the template has none). */
typedef void (*msgw_http_handler)(void *listener, struct evhttp_request *req, const char *tail);

typedef struct msgw_http_route {
    enum evhttp_cmd_type method;
    /* A {name} matches one path segment, or, last in the template, the rest of the path. */
    const char *path;
    msgw_http_handler handler;
} msgw_http_route;

/* The route of table (ended by one with a NULL path) that method and path take, with *tail set;
 * NULL with *status 404 when no route has the path, 405 when only other methods have it. */
const msgw_http_route *msgw_http_route_find(const msgw_http_route *table,
                                            enum evhttp_cmd_type method, const char *path,
                                            const char **tail, int *status);
/* "GET", "POST", ... */
const char *msgw_http_method_name(enum evhttp_cmd_type method);

#endif
