/* The metrics registry: the Prometheus text exposition byte for byte, and exact totals under
 * threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/base/metrics.h"
#include "testutil.h"

static char *render(msgw_metrics *m, msgw_buf *out)
{
    msgw_buf_reset(out);
    msgw_metrics_write(m, out);
    return out->data ? out->data : "";
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    msgw_metrics *m = msgw_metrics_new();
    msgw_metric *c = msgw_metrics_counter(m, "msgw_records_received_total", "Records received.",
                                          "department", "outcome", NULL);
    msgw_metric *g =
        msgw_metrics_gauge(m, "msgw_store_size_bytes", "Size of the store\\files\nin bytes.", NULL);
    assert_ptr_equal(msgw_metrics_counter(m, "msgw_records_received_total", "again", "x", NULL), c);
    msgw_metrics_inc(c, 1, "mca", "stored");
    msgw_metrics_inc(c, 2, "mca", "stored");
    msgw_metrics_inc(c, 1, "hrss", "rejected");
    msgw_metrics_inc(c, 1, "we\"ird\\dept\nx", "stored");
    msgw_metrics_set(g, 123456789012, NULL);
    msgw_metrics_inc(NULL, 1, "ignored"); /* no registry: nothing happens */
    msgw_buf out;
    msgw_buf_init(&out);
    assert_string_equal(render(m, &out),
                        "# HELP msgw_records_received_total Records received.\n"
                        "# TYPE msgw_records_received_total counter\n"
                        "msgw_records_received_total{department=\"hrss\",outcome=\"rejected\"} 1\n"
                        "msgw_records_received_total{department=\"mca\",outcome=\"stored\"} 3\n"
                        "msgw_records_received_total{department=\"we\\\"ird\\\\dept\\nx\","
                        "outcome=\"stored\"} 1\n"
                        "# HELP msgw_store_size_bytes Size of the store\\\\files\\nin bytes.\n"
                        "# TYPE msgw_store_size_bytes gauge\n"
                        "msgw_store_size_bytes 123456789012\n");
    msgw_metrics_set(g, 0.25);
    msgw_metrics_inc(c, 0.5, "mca", "stored");
    render(m, &out);
    assert_non_null(strstr(out.data, "msgw_store_size_bytes 0.25\n"));
    assert_non_null(strstr(out.data, "{department=\"mca\",outcome=\"stored\"} 3.5\n"));
    msgw_buf_free(&out);
    msgw_metrics_destroy(&m);
    assert_null(m);
    assert_null(msgw_metrics_counter(NULL, "x_total", "x", NULL));
}

/* A gauge family set whole at each scrape: what was not set again after a clear is not written. */
static void test_clear(void **state)
{
    (void)state;
    msgw_metrics *m = msgw_metrics_new();
    msgw_metric *g = msgw_metrics_gauge(m, "msgw_certificate_expiry_seconds", "Seconds left.",
                                        "certificate", NULL);
    msgw_metrics_set(g, 10, "gateway");
    msgw_metrics_set(g, 20, "ca");
    msgw_metrics_clear(g);
    msgw_metrics_set(g, 30, "gateway");
    msgw_buf out;
    msgw_buf_init(&out);
    assert_string_equal(render(m, &out),
                        "# HELP msgw_certificate_expiry_seconds Seconds left.\n"
                        "# TYPE msgw_certificate_expiry_seconds gauge\n"
                        "msgw_certificate_expiry_seconds{certificate=\"gateway\"} 30\n");
    msgw_metrics_set(g, 40, "ca"); /* back once set again */
    assert_non_null(strstr(render(m, &out), "{certificate=\"ca\"} 40\n"));
    msgw_buf_free(&out);
    msgw_metrics_destroy(&m);
}

static void test_histogram(void **state)
{
    (void)state;
    msgw_metrics *m = msgw_metrics_new();
    const double bounds[] = {0.01, 0.1, 1};
    msgw_metric *h = msgw_metrics_histogram(m, "msgw_ingest_commit_seconds", "Submit to commit.",
                                            bounds, 3, NULL);
    msgw_metric *hl = msgw_metrics_histogram(m, "msgw_push_to_delivery_seconds",
                                             "Push to delivery.", bounds, 3, "recipient", NULL);
    msgw_metrics_observe(h, 0.005);
    msgw_metrics_observe(h, 0.01); /* on the bound: le is inclusive */
    msgw_metrics_observe(h, 0.5);
    msgw_metrics_observe(h, 7);
    msgw_metrics_observe(hl, 0.05, "hrss");
    msgw_buf out;
    msgw_buf_init(&out);
    assert_string_equal(render(m, &out),
                        "# HELP msgw_ingest_commit_seconds Submit to commit.\n"
                        "# TYPE msgw_ingest_commit_seconds histogram\n"
                        "msgw_ingest_commit_seconds_bucket{le=\"0.01\"} 2\n"
                        "msgw_ingest_commit_seconds_bucket{le=\"0.1\"} 2\n"
                        "msgw_ingest_commit_seconds_bucket{le=\"1\"} 3\n"
                        "msgw_ingest_commit_seconds_bucket{le=\"+Inf\"} 4\n"
                        "msgw_ingest_commit_seconds_sum 7.515\n"
                        "msgw_ingest_commit_seconds_count 4\n"
                        "# HELP msgw_push_to_delivery_seconds Push to delivery.\n"
                        "# TYPE msgw_push_to_delivery_seconds histogram\n"
                        "msgw_push_to_delivery_seconds_bucket{recipient=\"hrss\",le=\"0.01\"} 0\n"
                        "msgw_push_to_delivery_seconds_bucket{recipient=\"hrss\",le=\"0.1\"} 1\n"
                        "msgw_push_to_delivery_seconds_bucket{recipient=\"hrss\",le=\"1\"} 1\n"
                        "msgw_push_to_delivery_seconds_bucket{recipient=\"hrss\",le=\"+Inf\"} 1\n"
                        "msgw_push_to_delivery_seconds_sum{recipient=\"hrss\"} 0.05\n"
                        "msgw_push_to_delivery_seconds_count{recipient=\"hrss\"} 1\n");
    msgw_buf_free(&out);
    msgw_metrics_destroy(&m);
}

typedef struct worker_arg {
    msgw_metric *c, *h;
    int id;
} worker_arg;

static void *hammer(void *p)
{
    worker_arg *a = p;
    char dept[16];
    for (int i = 0; i < 100000; i++) {
        snprintf(dept, sizeof dept, "d%d",
                 i % 8); /* series created by whichever thread comes first */
        msgw_metrics_inc(a->c, 1, dept);
        if (i % 10 == 0) msgw_metrics_observe(a->h, 0.5);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    msgw_metrics *m = msgw_metrics_new();
    const double bounds[] = {1};
    worker_arg a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (worker_arg){msgw_metrics_counter(m, "t_total", "t", "department", NULL),
                            msgw_metrics_histogram(m, "t_seconds", "t", bounds, 1, NULL), i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    msgw_buf out;
    msgw_buf_init(&out);
    render(m, &out);
    for (int d = 0; d < 8; d++) {
        char line[64];
        snprintf(line, sizeof line, "t_total{department=\"d%d\"} 50000\n", d); /* 4 x 100000 / 8 */
        assert_non_null(strstr(out.data, line));
    }
    assert_non_null(strstr(out.data, "t_seconds_bucket{le=\"+Inf\"} 40000\n"));
    assert_non_null(strstr(out.data, "t_seconds_sum 20000\n"));
    assert_non_null(strstr(out.data, "t_seconds_count 40000\n"));
    msgw_buf_free(&out);
    msgw_metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
