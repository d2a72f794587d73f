/*
 * tests/integration/store_pull.c - pulls of objects between the stores of ranks on
 * different logical nodes, over the transport.
 *
 * Started by integration/store_pull.sh as `ray-mpi -n 4 store_pull` with
 * RAYMPI_XPORT_NODE_SPLIT=1 (every rank its own logical node) under UCX_TLS=sm,self
 * (pulls by RMA get) and tcp,self (pulls by rendezvous active message). Each rank
 * attaches its store to the transport, puts objects of 1 KiB, 1 MiB and 64 MiB with
 * known contents, and publishes (oid, offset, size) and its remote key with
 * MPI_Allgather (MPI is used only for exchanges and barriers). Every rank then checks:
 *   - pulling its left neighbour's objects gives sealed copies whose bytes are the
 *     neighbour's and which live in its own arena; stats.pulls counts each once;
 *   - two concurrent pulls of one object make one transfer (stats.pulls + 1) and both
 *     callbacks report RMPI_OK;
 *   - a bogus offset, one past the arena, a wrong size, and the location of an object
 *     its owner deleted all fail with RMPI_ERR_NOT_FOUND and leave no copy behind;
 *   - afterwards every other object, its own and pulled ones, is intact.
 * `store_pull kill` (4 ranks under `mpirun --enable-recovery`, see store_pull.sh): the
 * last rank stalls its progress thread, the others start pulls from it (one object
 * twice), then it dies by SIGKILL: every pull must fail with RMPI_ERR_PEER_DIED, leave
 * no copy, and leave every other object intact; survivors print "rank R PASS".
 * Prints "store_pull: all checks passed" on rank 0 and exits 0 only if every check
 * passed on every rank; each failure is printed.
 */
#include "objstore/remote.h"
#include "objstore/store.h"
#include "transport/xport.h"

#include "base/log.h"

#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NUM_OBJECTS 3
#define ARENA_SIZE (200u << 20)
#define RKEY_MAX 1024
#define WAIT_S 10.0

static const size_t object_sizes[NUM_OBJECTS] = {1024, 1 << 20, 64 << 20};

/* What a rank publishes: where its objects are and how to reach its arena. */
typedef struct published {
    store_oid_t oid[NUM_OBJECTS];
    uint64_t    offset[NUM_OBJECTS];
    uint64_t    size[NUM_OBJECTS];
    uint32_t    rkey_len;
    uint8_t     rkey[RKEY_MAX];
} published_t;

static int my_rank = -1, num_ranks;
static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "store_pull rank %d: FAIL: ", my_rank);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

#define CHECK(cond)                                               \
    do {                                                          \
        if (!(cond)) {                                            \
            fail("check failed at line %d: %s", __LINE__, #cond); \
        }                                                         \
    } while (0)

static store_oid_t make_oid(int rank, int k)
{
    store_oid_t oid;

    memset(&oid, 0, sizeof(oid));
    memcpy(oid.bytes, &rank, sizeof(rank));
    oid.bytes[8]  = (uint8_t)k;
    oid.bytes[15] = 0x9c;
    return oid;
}

/* Word i of object k of @a rank: differs between ranks, objects and positions. */
static uint64_t pattern(int rank, int k, size_t i)
{
    return ((uint64_t)rank << 56) ^ ((uint64_t)k << 48) ^ (i * 0x9e3779b97f4a7c15ull);
}

static bool check_pattern(const void *ptr, size_t size, int rank, int k)
{
    const uint64_t *words = ptr;

    for (size_t i = 0; i < size / sizeof(uint64_t); ++i) {
        if (words[i] != pattern(rank, k, i)) {
            return false;
        }
    }
    return true;
}

static void put_objects(store_h store, published_t *mine)
{
    for (int k = 0; k < NUM_OBJECTS; ++k) {
        store_oid_t  oid = make_oid(my_rank, k);
        store_view_t view;
        uint64_t    *words;

        if (store_create_object(store, &oid, object_sizes[k], 0, (void **)&words) != RMPI_OK) {
            fail("store_create_object of %zu bytes failed", object_sizes[k]);
            continue;
        }
        for (size_t i = 0; i < object_sizes[k] / sizeof(uint64_t); ++i) {
            words[i] = pattern(my_rank, k, i);
        }
        /* Pinned: the runtime's promise that an advertised location stays valid. */
        if ((store_seal(store, &oid) != RMPI_OK) || (store_pin(store, &oid) != RMPI_OK) ||
            (store_get(store, &oid, &view) != RMPI_OK)) {
            fail("seal, pin or get of object %d failed", k);
            continue;
        }
        mine->oid[k]    = oid;
        mine->offset[k] = view.offset;
        mine->size[k]   = view.size;
        store_release(store, &oid);
    }
}

static void publish_rkey(store_h store, published_t *mine)
{
    void  *rkey;
    size_t len;

    if (store_remote_rkey(store, &rkey, &len) != RMPI_OK) {
        fail("store_remote_rkey failed");
        return;
    }
    if (len > RKEY_MAX) {
        fail("remote key of %zu bytes is larger than the test's %d", len, RKEY_MAX);
    } else {
        mine->rkey_len = (uint32_t)len;
        memcpy(mine->rkey, rkey, len);
    }
    free(rkey);
}

static uint64_t pulls_now(store_h store)
{
    store_stats_t stats;

    store_stats(store, &stats);
    return stats.pulls;
}

static rmpi_status_t pull(store_h store, int src, const published_t *pub, const store_oid_t *oid,
                          uint64_t offset, size_t size)
{
    return store_pull_wait(store, src, pub->rkey, pub->rkey_len, oid, offset, size, WAIT_S);
}

/* Object @a k of @a rank is sealed here, in this rank's arena, with the owner's bytes. */
static void check_local_copy(store_h store, int rank, int k)
{
    store_oid_t  oid = make_oid(rank, k);
    store_view_t view;
    void        *base;
    size_t       len;

    if (store_get(store, &oid, &view) != RMPI_OK) {
        fail("object %d of rank %d is not in the local store", k, rank);
        return;
    }
    store_arena_region(store, &base, &len);
    if (((const char *)view.ptr < (char *)base) ||
        ((const char *)view.ptr + view.size > (char *)base + len)) {
        fail("object %d of rank %d at %p is outside the local arena %p+%zu", k, rank, view.ptr,
             base, len);
    }
    if ((view.size != object_sizes[k]) || !check_pattern(view.ptr, view.size, rank, k)) {
        fail("object %d of rank %d: wrong size or contents", k, rank);
    }
    store_release(store, &oid);
}

static void test_pull_neighbour(store_h store, int left, const published_t *pub)
{
    uint64_t before = pulls_now(store);

    for (int k = 0; k < NUM_OBJECTS; ++k) {
        rmpi_status_t status = pull(store, left, pub, &pub->oid[k], pub->offset[k], pub->size[k]);

        if (status != RMPI_OK) {
            fail("pull of object %d of rank %d: %s", k, left, rmpi_status_str(status));
            continue;
        }
        check_local_copy(store, left, k);
    }
    CHECK(pulls_now(store) == before + NUM_OBJECTS);
    /* Already here: no transfer. */
    CHECK(pull(store, left, pub, &pub->oid[0], pub->offset[0], pub->size[0]) == RMPI_OK);
    CHECK(pulls_now(store) == before + NUM_OBJECTS);
}

/* --- dedup ---------------------------------------------------------------------------- */

typedef struct pull_result {
    atomic_int    done;
    rmpi_status_t status;
} pull_result_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  g_cond = PTHREAD_COND_INITIALIZER;

static void pull_done(void *arg, rmpi_status_t status)
{
    pull_result_t *res = arg;

    pthread_mutex_lock(&g_lock);
    res->status = status;
    atomic_store(&res->done, 1);
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

static bool wait_done(pull_result_t *res)
{
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)WAIT_S;
    pthread_mutex_lock(&g_lock);
    while (!atomic_load(&res->done) && (pthread_cond_timedwait(&g_cond, &g_lock, &deadline) == 0)) {
    }
    pthread_mutex_unlock(&g_lock);
    return atomic_load(&res->done);
}

/* Two pulls of one 64 MiB object, the second while the first is (normally) in flight. */
static void test_dedup(store_h store, int src, const published_t *pub)
{
    static pull_result_t res[2]; /* static: a late callback must find it */
    const int            k      = NUM_OBJECTS - 1;
    uint64_t             before = pulls_now(store);

    for (int i = 0; i < 2; ++i) {
        CHECK(store_pull(store, src, pub->rkey, pub->rkey_len, &pub->oid[k], pub->offset[k],
                         pub->size[k], 0, pull_done, &res[i]) == RMPI_OK);
    }
    for (int i = 0; i < 2; ++i) {
        if (!wait_done(&res[i])) {
            fail("pull %d of the dedup test did not complete in %g s", i, WAIT_S);
            return;
        }
        CHECK(res[i].status == RMPI_OK);
    }
    CHECK(pulls_now(store) == before + 1);
    check_local_copy(store, src, k);
}

/* --- bad locations -------------------------------------------------------------------- */

static void expect_not_found(store_h store, int src, const published_t *pub, int k, uint64_t offset,
                             size_t size, const char *what)
{
    store_stats_t before, after;
    rmpi_status_t status;

    store_stats(store, &before);
    status = pull(store, src, pub, &pub->oid[k], offset, size);
    store_stats(store, &after);
    if (status != RMPI_ERR_NOT_FOUND) {
        fail("%s: expected RMPI_ERR_NOT_FOUND, got %s", what, rmpi_status_str(status));
    }
    if (store_contains(store, &pub->oid[k]) || (after.objects != before.objects) ||
        (after.bytes_used != before.bytes_used) || (after.pulls != before.pulls)) {
        fail("%s: the failed pull left something behind", what);
    }
}

static void test_bad_locations(store_h store, int src, const published_t *pub)
{
    const int k = 1; /* the 1 MiB object, not pulled from @a src yet */

    expect_not_found(store, src, pub, k, pub->offset[k] + 4096, pub->size[k], "bogus offset");
    expect_not_found(store, src, pub, k, pub->offset[k], pub->size[k] + 64, "wrong size");
    expect_not_found(store, src, pub, k, pub->offset[0], pub->size[k], "another object");
    expect_not_found(store, src, pub, k, (uint64_t)ARENA_SIZE, pub->size[k], "past the arena");
    expect_not_found(store, src, pub, k, UINT64_MAX - 63, pub->size[k], "offset overflow");
}

/* Object 0 of every rank is deleted by its owner: its old location must not pull. */
static void test_deleted(store_h store, int left, const published_t *pub, const published_t *mine)
{
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(store_unpin(store, &mine->oid[0]) == RMPI_OK);
    CHECK(store_delete(store, &mine->oid[0]) == RMPI_OK);
    CHECK(store_delete(store, &pub->oid[0]) == RMPI_OK); /* our copy of it */
    MPI_Barrier(MPI_COMM_WORLD);
    expect_not_found(store, left, pub, 0, pub->offset[0], pub->size[0], "deleted object");
}

static void check_intact(store_h store, int left, int far)
{
    for (int k = 1; k < NUM_OBJECTS; ++k) {
        check_local_copy(store, my_rank, k);
        check_local_copy(store, left, k);
    }
    check_local_copy(store, far, NUM_OBJECTS - 1);
}

/* ------------------------------------------------------------------------------------- */

static void run_tests(store_h store, xport_ctx_h xport)
{
    published_t *all  = calloc((size_t)num_ranks, sizeof(*all));
    published_t *mine = calloc(1, sizeof(*mine));
    int          left = (my_rank + num_ranks - 1) % num_ranks;
    int          far  = (my_rank + num_ranks - 2) % num_ranks;

    if ((all == NULL) || (mine == NULL)) {
        fail("out of memory");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    CHECK(xport_node_of(xport, left) != xport_node_of(xport, my_rank)); /* logical nodes split */
    put_objects(store, mine);
    publish_rkey(store, mine);
    MPI_Allgather(mine, sizeof(*mine), MPI_BYTE, all, sizeof(*mine), MPI_BYTE, MPI_COMM_WORLD);

    test_pull_neighbour(store, left, &all[left]);
    test_dedup(store, far, &all[far]);
    test_bad_locations(store, far, &all[far]);
    test_deleted(store, left, &all[left], mine);
    check_intact(store, left, far);

    MPI_Barrier(MPI_COMM_WORLD); /* nobody pulls from us any more */
    free(all);
    free(mine);
}

/* --- kill: the source dies during a pull -------------------------------------------- */

#define AM_ID_STALL 1

static atomic_int g_stalled;

static void stall_handler(void *arg, int src, const void *hdr, size_t hdr_len,
                          xport_am_payload_t *payload)
{
    (void)arg, (void)src, (void)hdr, (void)hdr_len, (void)payload;
    pthread_mutex_lock(&g_lock);
    atomic_store(&g_stalled, 1);
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
    for (;;) {
        pause(); /* the victim's progress thread stops serving pulls */
    }
}

/* The last rank: stall its transport, let the others start pulling, then die. */
static void victim(xport_ctx_h xport)
{
    struct timespec deadline;
    int             token;

    CHECK(xport_am_send(xport, my_rank, AM_ID_STALL, NULL, 0, NULL, 0, NULL, NULL) == RMPI_OK);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)WAIT_S;
    pthread_mutex_lock(&g_lock);
    while (!atomic_load(&g_stalled) && (pthread_cond_timedwait(&g_cond, &g_lock, &deadline) == 0)) {
    }
    pthread_mutex_unlock(&g_lock);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Recv(&token, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    raise(SIGKILL);
}

/* Pulls from the dying rank fail with PEER_DIED; nothing else in the store changes. */
static void survivor(store_h store, const published_t *all, MPI_Comm survivors)
{
    static pull_result_t res[3]; /* static: a late callback must find it */
    const published_t   *vp = &all[num_ranks - 1];
    int                  v = num_ranks - 1, token = 1;
    int                  live    = (my_rank + 1) % (num_ranks - 1);       /* another survivor */
    const int            objs[3] = {NUM_OBJECTS - 1, NUM_OBJECTS - 1, 1}; /* one twice */
    store_stats_t        before, after;

    CHECK(pull(store, live, &all[live], &all[live].oid[1], all[live].offset[1],
               all[live].size[1]) == RMPI_OK);
    MPI_Barrier(MPI_COMM_WORLD); /* the victim's progress thread is stuck */
    store_stats(store, &before);
    for (int i = 0; i < 3; ++i) {
        CHECK(store_pull(store, v, vp->rkey, vp->rkey_len, &vp->oid[objs[i]], vp->offset[objs[i]],
                         vp->size[objs[i]], 0, pull_done, &res[i]) == RMPI_OK);
    }
    MPI_Barrier(survivors);
    if (my_rank == 0) {
        MPI_Send(&token, 1, MPI_INT, v, 0, MPI_COMM_WORLD);
    }
    for (int i = 0; i < 3; ++i) {
        CHECK(wait_done(&res[i]) && (res[i].status == RMPI_ERR_PEER_DIED));
        CHECK(!store_contains(store, &vp->oid[objs[i]]));
    }
    store_stats(store, &after);
    CHECK((after.objects == before.objects) && (after.bytes_used == before.bytes_used) &&
          (after.pulls == before.pulls));
    CHECK(pull(store, v, vp, &vp->oid[1], vp->offset[1], vp->size[1]) == RMPI_ERR_PEER_DIED);
    for (int k = 0; k < NUM_OBJECTS; ++k) {
        check_local_copy(store, my_rank, k);
    }
    check_local_copy(store, live, 1);
    MPI_Barrier(survivors); /* nobody pulls from us any more */
}

static void run_kill_test(store_h store, xport_ctx_h xport)
{
    published_t *all  = calloc((size_t)num_ranks, sizeof(*all));
    published_t *mine = calloc(1, sizeof(*mine));
    MPI_Comm     survivors;

    if ((all == NULL) || (mine == NULL)) {
        fail("out of memory");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Comm_split(MPI_COMM_WORLD, my_rank == num_ranks - 1, my_rank, &survivors);
    put_objects(store, mine);
    publish_rkey(store, mine);
    MPI_Allgather(mine, sizeof(*mine), MPI_BYTE, all, sizeof(*mine), MPI_BYTE, MPI_COMM_WORLD);
    if (my_rank == num_ranks - 1) {
        victim(xport);
    } else {
        survivor(store, all, survivors);
    }
    free(all);
    free(mine);
}

/* ------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    store_params_t params = {.field_mask = STORE_PARAM_RANK | STORE_PARAM_ARENA_SIZE,
                             .arena_size = ARENA_SIZE};
    /* RMA gets from shared memory complete without the owner's CPU: only a pull the
     * owner serves (active message) stays pending on a stalled owner until it dies. */
    static const char *const pull_am[]    = {"XPORT_PULL=am"};
    xport_am_handler_def_t   handlers[]   = {{AM_ID_STALL, stall_handler, NULL}};
    xport_params_t           xport_params = {
                  .field_mask = XPORT_PARAM_HANDLERS, .handlers = handlers, .num_handlers = 1};
    store_h       store     = NULL;
    xport_ctx_h   xport     = NULL;
    bool          kill_mode = (argc > 1) && (strcmp(argv[1], "kill") == 0);
    rmpi_status_t status;
    int           provided, passed, all_passed;

    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &num_ranks);
    base_log_set_rank(my_rank);
    params.rank = my_rank;
    if (num_ranks < 3) {
        fail("needs at least 3 ranks, has %d (run it through `ray-mpi -n 4`)", num_ranks);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (kill_mode) {
        xport_params.field_mask |= XPORT_PARAM_CONFIG;
        xport_params.config     = pull_am;
        xport_params.num_config = 1;
    }
    if ((xport_init(&xport_params, &xport) != RMPI_OK) ||
        (store_create(&params, &store) != RMPI_OK) ||
        (store_remote_attach(store, xport) != RMPI_OK)) {
        fail("xport_init, store_create or store_remote_attach failed");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (kill_mode) {
        run_kill_test(store, xport);
    } else {
        run_tests(store, xport);
    }

    store_remote_detach(store);
    status = xport_fini(xport);
    CHECK((status == RMPI_OK) || (kill_mode && (status == RMPI_ERR_PEER_DIED)));
    store_destroy(store);
    if (kill_mode) {
        /* MPI cannot finalize with a dead rank; the script counts PASS lines. */
        printf("store_pull kill: rank %d %s\n", my_rank, failures ? "FAIL" : "PASS");
        fflush(stdout);
        _exit(failures ? 1 : 0);
    }
    passed = failures == 0;
    MPI_Allreduce(&passed, &all_passed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (my_rank == 0) {
        printf("store_pull: %s on %d ranks\n", all_passed ? "all checks passed" : "FAILED",
               num_ranks);
    }
    MPI_Finalize();
    return all_passed ? 0 : 1;
}
