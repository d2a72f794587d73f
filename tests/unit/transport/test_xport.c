/*
 * Unit tests of the transport's API and its UCX ops table in a one-rank job
 * (MPI singleton bootstrap): messages to self through batches and the LARGE
 * path, receive semantics, pulls by both paths, argument checking, config
 * validation and the counters. Multi-rank behaviour is in tests/integration.
 */
#include "transport/xport.h"

#include <mpi.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tests/unit/unit_mpi.h"

#define ID_ECHO 3
#define ID_SPARE 4

typedef struct received {
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int             count;
    int             src;
    char            hdr[64];
    size_t          hdr_len;
    char           *data;
    size_t          len;
    bool            was_rndv;
    rmpi_status_t   status; /* of the last completion */
} received_t;

static received_t  rx = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static xport_ctx_h g_ctx;

static void rx_signal(void)
{
    pthread_mutex_lock(&rx.lock);
    rx.count++;
    pthread_cond_broadcast(&rx.cond);
    pthread_mutex_unlock(&rx.lock);
}

static bool rx_wait(int count)
{
    struct timespec deadline;
    bool            ok = true;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&rx.lock);
    while (rx.count < count && ok) {
        ok = pthread_cond_timedwait(&rx.cond, &rx.lock, &deadline) == 0;
    }
    ok = rx.count >= count;
    pthread_mutex_unlock(&rx.lock);
    return ok;
}

static void rx_reset(void)
{
    pthread_mutex_lock(&rx.lock);
    rx.count = 0;
    free(rx.data);
    rx.data = NULL;
    pthread_mutex_unlock(&rx.lock);
}

static void on_done(void *arg, rmpi_status_t status)
{
    (void)arg;
    rx.status = status;
    rx_signal();
}

/* Copies what it got; large payloads are received with xport_am_recv_data. */
static void echo_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                         xport_am_payload_t *payload)
{
    (void)arg;
    rx.src     = src;
    rx.hdr_len = hdr_len;
    memcpy(rx.hdr, hdr ? hdr : "", hdr_len < sizeof(rx.hdr) ? hdr_len : sizeof(rx.hdr));
    rx.len      = payload->len;
    rx.was_rndv = payload->data == NULL;
    rx.data     = malloc(payload->len + 1);
    assert_int_equal(xport_am_recv_data(g_ctx, payload, rx.data, payload->len, on_done, NULL),
                     RMPI_OK);
    /* A payload can be received once. */
    if (rx.was_rndv) {
        assert_int_equal(xport_am_recv_data(g_ctx, payload, rx.data, payload->len, NULL, NULL),
                         RMPI_ERR_INVALID_ARG);
    }
}

static int setup(void **state)
{
    static const xport_am_handler_def_t handlers[] = {{ID_ECHO, echo_handler, NULL}};
    xport_params_t                      params     = {
                                 .field_mask    = XPORT_PARAM_HANDLERS | XPORT_PARAM_AM_TABLE_SIZE,
                                 .am_table_size = 8,
                                 .handlers      = handlers,
                                 .num_handlers  = 1,
    };

    (void)state;
    return xport_init(&params, &g_ctx) == RMPI_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rx_reset();
    return xport_fini(g_ctx) == RMPI_OK ? 0 : -1;
}

static void test_layout(void **state)
{
    (void)state;
    assert_int_equal(xport_rank(g_ctx), 0);
    assert_int_equal(xport_size(g_ctx), 1);
    assert_int_equal(xport_local_rank(g_ctx), 0);
    assert_int_equal(xport_num_nodes(g_ctx), 1);
    assert_int_equal(xport_node_of(g_ctx, 0), 0);
    assert_int_equal(xport_node_of(g_ctx, 1), -1);
    assert_false(xport_peer_dead(g_ctx, 0));
}

static void send_and_check(size_t hdr_len, size_t len)
{
    char *hdr  = malloc(hdr_len + 1);
    char *data = malloc(len + 1);
    int   done = 0;

    for (size_t i = 0; i < hdr_len; ++i) {
        hdr[i] = (char)('a' + i % 26);
    }
    for (size_t i = 0; i < len; ++i) {
        data[i] = (char)(i * 13);
    }
    rx_reset();
    assert_int_equal(xport_am_send(g_ctx, 0, ID_ECHO, hdr, hdr_len, data, len, NULL, NULL),
                     RMPI_OK);
    /* Eager payloads are copied: the buffers may change at once. */
    if (len <= 8192) {
        memset(data, 0x5a, len);
        memset(hdr, 0x5a, hdr_len);
    }
    assert_true(rx_wait(1)); /* on_done after the data landed */
    assert_int_equal(rx.status, RMPI_OK);
    assert_int_equal(rx.src, 0);
    assert_int_equal(rx.hdr_len, hdr_len);
    assert_int_equal(rx.len, len);
    for (size_t i = 0; i < hdr_len && i < sizeof(rx.hdr); ++i) {
        done += rx.hdr[i] != (char)('a' + i % 26);
    }
    for (size_t i = 0; i < len; ++i) {
        done += rx.data[i] != (char)(i * 13);
    }
    assert_int_equal(done, 0);
    free(hdr);
    free(data);
}

static void test_am_self(void **state)
{
    (void)state;
    send_and_check(0, 0);
    send_and_check(16, 8);
    send_and_check(60, 4000);    /* batched */
    send_and_check(8, 100000);   /* LARGE path */
    send_and_check(8, 8u << 20); /* rendezvous into the handler's buffer */
    assert_true(rx.was_rndv);
}

static void test_invalid_args(void **state)
{
    char big_hdr[70000];

    (void)state;
    assert_int_equal(xport_am_send(g_ctx, 1, ID_ECHO, NULL, 0, NULL, 0, NULL, NULL),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(xport_am_send(g_ctx, -1, ID_ECHO, NULL, 0, NULL, 0, NULL, NULL),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(xport_am_send(g_ctx, 0, 8, NULL, 0, NULL, 0, NULL, NULL),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(
        xport_am_send(g_ctx, 0, ID_ECHO, big_hdr, sizeof(big_hdr), NULL, 0, NULL, NULL),
        RMPI_ERR_INVALID_ARG);
    assert_int_equal(xport_am_send(g_ctx, 0, ID_ECHO, NULL, 4, NULL, 0, NULL, NULL),
                     RMPI_ERR_INVALID_ARG);
    assert_int_equal(xport_am_register(g_ctx, 8, echo_handler, NULL), RMPI_ERR_INVALID_ARG);
    assert_int_equal(xport_get(g_ctx, 0, NULL, 0, 0, big_hdr, 8, NULL, NULL), RMPI_ERR_INVALID_ARG);
    assert_int_equal(xport_mem_register(g_ctx, NULL, 8, NULL), RMPI_ERR_INVALID_ARG);
}

static void test_unregistered_handler_counted(void **state)
{
    xport_stats_t before, after;

    (void)state;
    xport_stats(g_ctx, &before);
    rx_reset();
    assert_int_equal(xport_am_send(g_ctx, 0, ID_SPARE, "x", 1, NULL, 0, NULL, NULL), RMPI_OK);
    assert_int_equal(xport_am_send(g_ctx, 0, ID_ECHO, "y", 1, NULL, 0, NULL, NULL), RMPI_OK);
    assert_true(rx_wait(1)); /* same destination: delivered in order, same frame */
    xport_stats(g_ctx, &after);
    assert_int_equal(after.bad[XPORT_BAD_NO_HANDLER], before.bad[XPORT_BAD_NO_HANDLER] + 1);
    assert_true(after.am_received > before.am_received);
    assert_true(after.am_sent >= before.am_sent + 2);
    /* Registering after init works, and NULL removes the handler again. */
    rx_reset();
    assert_int_equal(xport_am_register(g_ctx, ID_SPARE, echo_handler, NULL), RMPI_OK);
    assert_int_equal(xport_am_send(g_ctx, 0, ID_SPARE, "z", 1, NULL, 0, NULL, NULL), RMPI_OK);
    assert_true(rx_wait(1));
    assert_int_equal(xport_am_register(g_ctx, ID_SPARE, NULL, NULL), RMPI_OK);
}

static void test_pull_and_rma(void **state)
{
    enum { LEN = 1 << 20 };
    char       *src = malloc(LEN), *dst = malloc(LEN);
    xport_mem_h mem;
    void       *rkey;
    size_t      rkey_len;

    (void)state;
    for (size_t i = 0; i < LEN; ++i) {
        src[i] = (char)(i * 7);
    }
    assert_int_equal(xport_mem_register(g_ctx, src, LEN, &mem), RMPI_OK);
    assert_int_equal(xport_rkey_pack(g_ctx, mem, &rkey, &rkey_len), RMPI_OK);
    assert_true(rkey_len > 0);

    rx_reset();
    memset(dst, 0, LEN);
    assert_int_equal(xport_get(g_ctx, 0, rkey, rkey_len, (uintptr_t)src, dst, LEN, on_done, NULL),
                     RMPI_OK);
    assert_true(rx_wait(1));
    assert_int_equal(rx.status, RMPI_OK);
    assert_memory_equal(dst, src, LEN);

    /* Without an rkey a pull goes by active message: the owner checks the range. */
    rx_reset();
    memset(dst, 0, LEN);
    assert_int_equal(
        xport_pull(g_ctx, 0, NULL, 0, (uintptr_t)src + 4096, dst, LEN - 4096, on_done, NULL),
        RMPI_OK);
    assert_true(rx_wait(1));
    assert_int_equal(rx.status, RMPI_OK);
    assert_memory_equal(dst, src + 4096, LEN - 4096);

    rx_reset();
    assert_int_equal(xport_pull(g_ctx, 0, NULL, 0, (uintptr_t)src + 4096, dst, LEN, on_done, NULL),
                     RMPI_OK);
    assert_true(rx_wait(1));
    assert_int_equal(rx.status, RMPI_ERR_INVALID_ARG); /* past the registration's end */

    rx_reset();
    memset(src, 0x11, 64);
    assert_int_equal(
        xport_put(g_ctx, 0, rkey, rkey_len, (uintptr_t)src + 64, src, 64, on_done, NULL), RMPI_OK);
    assert_true(rx_wait(1));
    assert_int_equal(rx.status, RMPI_OK);
    assert_memory_equal(src + 64, src, 64);

    free(rkey);
    assert_int_equal(xport_mem_deregister(g_ctx, mem), RMPI_OK);
    free(src);
    free(dst);
}

static void test_bad_config(void **state)
{
    static const char *const bad_pull[]  = {"XPORT_PULL=fast"};
    static const char *const bad_batch[] = {"XPORT_BATCH_MAX=16"};
    xport_params_t           params      = {.field_mask = XPORT_PARAM_CONFIG, .num_config = 1};
    xport_ctx_h              ctx         = NULL;

    (void)state;
    params.config = bad_pull;
    assert_int_equal(xport_init(&params, &ctx), RMPI_ERR_CONFIG);
    params.config = bad_batch;
    assert_int_equal(xport_init(&params, &ctx), RMPI_ERR_CONFIG);
    assert_null(ctx);
    assert_int_equal(xport_init(NULL, NULL), RMPI_ERR_INVALID_ARG);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),       cmocka_unit_test(test_am_self),
        cmocka_unit_test(test_invalid_args), cmocka_unit_test(test_unregistered_handler_counted),
        cmocka_unit_test(test_pull_and_rma), cmocka_unit_test(test_bad_config),
    };
    int provided, failed;

    /* A singleton MPI job (no launcher): the MPI bootstrap path. Root is allowed for CI. */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    setenv("RAYMPI_XPORT_BOOTSTRAP", "mpi", 1);
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    failed = cmocka_run_group_tests(tests, setup, teardown);
    MPI_Finalize();
    return failed;
}
