/*
 * libFuzzer harness for the HTTP request path of the departments' ingress: each input is the
 * bytes a client sends on one connection (one request or several, pipelined), written to a real
 * TCP connection to libevent's HTTP server, whose requests go to the ingress's own routes
 * (msgw_https_route) as if the civil affairs department's certificate had been verified: the
 * URI and path parsing, the ID number of GET /v1/persons/{id}/eligibility, the media type, the
 * body handed to the decoders and a real ingest that commits to a SQLite store (in /dev/shm when
 * there is one, so its fsyncs cost little).  TLS is left out: OpenSSL is not under test, and
 * what a client can send once its certificate is verified is exactly these bytes.  The client
 * half-closes after its input and reads until the gateway closes: a request that never ends
 * would hang the harness, and libFuzzer reports it as a timeout.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "msgw/base/log.h"
#include "msgw/engine/catalogue.h"
#include "msgw/ingress/listener.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything the harness keeps between inputs, made once. */
static struct {
    char dir[64];
    struct event_base *base;
    struct evhttp *http;
    int port;
    msgw_config *cfg;
    msgw_catalogue *cat;
    msgw_store *store;
    msgw_ingest *ingest;
} h;

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    msgw_https_route(h.ingest, msgw_config_department(h.cfg, "mca"), req);
}

static void teardown(void)
{
    msgw_ingest_destroy(&h.ingest);
    if (h.http) evhttp_free(h.http);
    if (h.base) event_base_free(h.base);
    msgw_store_close(&h.store);
    msgw_catalogue_destroy(&h.cat);
    msgw_config_destroy(&h.cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", h.dir);
    if (system(cmd) != 0) { /* a leftover temporary directory is all that can go wrong */
    }
}

static msgw_config *config(void)
{
    char text[1024];
    snprintf(
        text, sizeof text,
        "{\"region\": \"12\", \"catalogue\": \"tianjin\", \"data_dir\": \"%s\", \"tls\": {\"ca\": "
        "\"ca.crt\","
        " \"cert\": \"gateway.crt\", \"key\": \"gateway.key\"}, \"departments\": [{\"id\": \"mca\","
        " \"certificate\": {\"organization\": \"12\", \"unit\": \"mca\"}, \"push\": "
        "[\"household_assistance_roster\", \"person_registration\"]}]}",
        h.dir);
    return fuzz_config_of(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(h.dir, sizeof h.dir, "%s/msgw-fuzz-http-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(h.dir)) abort();
    atexit(teardown);
    msgw_errors e;
    msgw_errors_init(&e);
    h.cfg = config();
    h.cat = msgw_catalogue_load(fuzz_context()->dict, "tianjin", &e);
    char spec[128];
    snprintf(spec, sizeof spec, "sqlite:%s/msgw.db", h.dir);
    h.store = h.cat ? msgw_store_open(spec, 0, &e) : NULL;
    h.base = event_base_new();
    h.ingest = h.store ? msgw_ingest_new(h.base, h.cfg, fuzz_context(), h.store, spec, h.cat, NULL,
                                         NULL, NULL, &e)
                       : NULL;
    h.http = evhttp_new(h.base);
    if (!h.ingest || !h.http) {
        msgw_log_errors(MSGW_LOG_ERROR, "fuzz_http", &e);
        abort();
    }
    msgw_errors_clear(&e);
    evhttp_set_timeout(h.http, 2);
    evhttp_set_max_body_size(h.http, 1 << 20);
    evhttp_set_max_headers_size(h.http, 16384);
    evhttp_set_allowed_methods(h.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(h.http, on_request, NULL);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(h.http, "127.0.0.1", 0);
    if (!sock) abort();
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sa, &len) != 0) abort();
    h.port = ntohs(sa.sin_port);
    return 0;
}

/* The client's side of one input: what is left to send, and whether the gateway closed. */
typedef struct client {
    const uint8_t *data;
    size_t size, sent;
    struct event *ev;
} client;

/* Sends what the socket takes, half-closes once all is sent, and reads the answers until the
 * gateway closes the connection. */
static void on_client(evutil_socket_t fd, short what, void *arg)
{
    client *c = arg;
    if (what & EV_WRITE) {
        ssize_t n = c->sent < c->size ? write(fd, c->data + c->sent, c->size - c->sent) : 0;
        if (n > 0) c->sent += (size_t)n;
        if (n < 0 || c->sent == c->size) {
            shutdown(fd, SHUT_WR);
            event_del(c->ev);
            event_assign(c->ev, h.base, fd, EV_READ | EV_PERSIST, on_client, c);
            event_add(c->ev, NULL);
        }
    }
    if (what & EV_READ) {
        char buf[4096];
        if (read(fd, buf, sizeof buf) <= 0) event_base_loopbreak(h.base);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Millions of short connections: each from its own loopback address of 127.1.0.0/16 (a
     * closed one waits in TIME_WAIT, and one address has only ~28,000 ports), reset when done */
    static uint32_t next;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in from = {.sin_family = AF_INET},
                       sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h.port)};
    from.sin_addr.s_addr = htonl(0x7f010000u | (++next & 0xffffu));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("fuzz_http: connect");
        abort();
    }
    evutil_make_socket_nonblocking(fd);
    client c = {.data = data, .size = size};
    c.ev = event_new(h.base, fd, EV_WRITE | EV_READ | EV_PERSIST, on_client, &c);
    event_add(c.ev, NULL);
    event_base_dispatch(h.base);
    event_free(c.ev);
    close(fd);
    return 0;
}
