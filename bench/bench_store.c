/*
 * bench/bench_store.c - object store benchmarks (names follow `ray microbenchmark`).
 *
 *  single_client_put_calls      store_put of small (100 B) objects per second
 *  single_client_get_calls      store_get + store_release of small objects per second
 *  single_client_put_gigabytes  store_put of one 800 MB object  vs  memcpy of 800 MB
 *  same_node_get_latency        store_peer_get of a 1 KiB and a 1 GiB object: validation
 *                               of the header in a read-only mapping of the arena; the
 *                               mapping is this rank's own arena attached as a peer
 *                               (same code path and system calls as another rank's, one
 *                               process is enough)
 *  spill_restore_bandwidth      bytes spilled and restored per second under pressure
 *                               vs  plain write + read of the same files in the same
 *                               directory
 *  cross_node_pull_bandwidth_1MiB, _64MiB
 *                               store_pull by rank 0 of rank 1's objects (logical nodes
 *                               split: XPORT_NODE_SPLIT=1), each pull into a new
 *                               secondary copy, deleted before that object is pulled
 *                               again  vs  xport_pull of the same bytes of rank 1's
 *                               arena into plain memory, alternating in the same run
 *
 * Each runs on every rank independently (min_ranks 1; ranks use their own arenas) but
 * the cross-node pulls (min_ranks 2: ranks 0 and 1 work, others only join the
 * transport); rank 0 reports. ctx->quick shrinks sizes and counts for the tests.
 */
#include "bench/bench.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/rundir.h"
#include "objstore/remote.h"
#include "objstore/store.h"
#include "transport/xport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BS_SMALL_OBJECT 100
#define BS_SMALL_COUNT 100000
#define BS_PUT_GB_SIZE (800ull * 1000 * 1000)
#define BS_LAT_ITERS 100000
#define BS_SPILL_OBJECT (32ull << 20)
#define BS_SPILL_ARENA (512ull << 20)
#define BS_GIB (1ull << 30)

static int bs_reps(const bench_ctx_t *ctx)
{
    return (ctx->repetitions > 0) ? ctx->repetitions : 1;
}

static store_oid_t bs_oid(uint64_t n)
{
    store_oid_t oid;

    memset(&oid, 0, sizeof(oid));
    memcpy(oid.bytes, &n, sizeof(n));
    oid.bytes[15] = 0xbe;
    return oid;
}

/* A store of its own for one benchmark: a job ID nobody else uses, no waiting. */
static rmpi_status_t bs_open(const bench_ctx_t *ctx, size_t arena_size, const char *spill_dir,
                             store_h *store_p)
{
    static unsigned counter;
    char            job_id[64];
    store_params_t  params = {
         .field_mask = STORE_PARAM_ARENA_SIZE | STORE_PARAM_SPILL | STORE_PARAM_JOB_ID |
                       STORE_PARAM_PUT_TIMEOUT | STORE_PARAM_RANK | STORE_PARAM_SPILL_DIR,
         .arena_size  = arena_size,
         .spill       = (spill_dir != NULL),
         .spill_dir   = spill_dir,
         .job_id      = job_id,
         .put_timeout = 0,
         .rank        = ctx->rank,
    };

    snprintf(job_id, sizeof(job_id), "bench-%d-%u", (int)getpid(), ++counter);
    return store_create(&params, store_p);
}

static double *bs_samples(const bench_ctx_t *ctx)
{
    double *samples = calloc((size_t)bs_reps(ctx), sizeof(*samples));

    if (samples == NULL) {
        base_error("bench: cannot allocate %d samples", bs_reps(ctx));
    }
    return samples;
}

static void bs_delete_range(store_h store, uint64_t first, uint64_t count)
{
    for (uint64_t n = first; n < first + count; ++n) {
        store_oid_t oid = bs_oid(n);

        store_delete(store, &oid);
    }
}

/* --- single_client_put_calls / single_client_get_calls -------------------------------- */

static rmpi_status_t bs_put_small(store_h store, uint64_t count, double *rate_p)
{
    static const char data[BS_SMALL_OBJECT] = "a small object";
    double            start                 = base_time_sec();

    for (uint64_t n = 0; n < count; ++n) {
        store_oid_t   oid    = bs_oid(n);
        rmpi_status_t status = store_put(store, &oid, data, sizeof(data), 0);

        if (status != RMPI_OK) {
            return status;
        }
    }
    *rate_p = (double)count / (base_time_sec() - start);
    return RMPI_OK;
}

static rmpi_status_t bs_get_small(store_h store, uint64_t count, double *rate_p)
{
    double start = base_time_sec();

    for (uint64_t n = 0; n < count; ++n) {
        store_oid_t   oid = bs_oid(n);
        store_view_t  view;
        rmpi_status_t status = store_get(store, &oid, &view);

        if (status != RMPI_OK) {
            return status;
        }
        store_release(store, &oid);
    }
    *rate_p = (double)count / (base_time_sec() - start);
    return RMPI_OK;
}

static rmpi_status_t bs_small_calls(bench_ctx_t *ctx, bool gets)
{
    uint64_t      count   = ctx->quick ? BS_SMALL_COUNT / 10 : BS_SMALL_COUNT;
    double       *samples = bs_samples(ctx);
    store_h       store   = NULL;
    rmpi_status_t status  = RMPI_ERR_NO_MEMORY;
    double        put_rate;

    if (samples == NULL) {
        return status;
    }
    status = bs_open(ctx, 256ull << 20, NULL, &store);
    for (int rep = 0; (rep < bs_reps(ctx)) && (status == RMPI_OK); ++rep) {
        status = bs_put_small(store, count, gets ? &put_rate : &samples[rep]);
        if ((status == RMPI_OK) && gets) {
            status = bs_get_small(store, count, &samples[rep]);
        }
        bs_delete_range(store, 0, count);
    }
    if (status == RMPI_OK) {
        bench_report(ctx, gets ? "single_client_get_calls" : "single_client_put_calls",
                     bench_median(samples, (size_t)bs_reps(ctx)), "ops/s", -1.0, NULL);
    } else {
        base_error("bench: small object calls failed: %s", rmpi_status_str(status));
    }
    store_destroy(store);
    free(samples);
    return status;
}

static rmpi_status_t bs_put_calls(bench_ctx_t *ctx)
{
    return bs_small_calls(ctx, false);
}

static rmpi_status_t bs_get_calls(bench_ctx_t *ctx)
{
    return bs_small_calls(ctx, true);
}

static bench_def_t bench_store_put_calls = {
    .name      = "single_client_put_calls",
    .help      = "store_put of 100-byte objects per second (create, copy, seal)",
    .min_ranks = 1,
    .run       = bs_put_calls,
};
BENCH_REGISTER(bench_store_put_calls)

static bench_def_t bench_store_get_calls = {
    .name      = "single_client_get_calls",
    .help      = "store_get + store_release of 100-byte objects per second",
    .min_ranks = 1,
    .run       = bs_get_calls,
};
BENCH_REGISTER(bench_store_get_calls)

/* --- single_client_put_gigabytes ---------------------------------------------------- */

static double bs_memcpy_gbps(void *dst, const void *src, size_t size)
{
    double start = base_time_sec();

    memcpy(dst, src, size);
    return (double)size / 1e9 / (base_time_sec() - start);
}

static rmpi_status_t bs_put_gb_once(store_h store, const void *src, size_t size, double *gbps_p)
{
    store_oid_t   oid   = bs_oid(1);
    double        start = base_time_sec();
    rmpi_status_t status;

    status = store_put(store, &oid, src, size, 0);
    if (status == RMPI_OK) {
        *gbps_p = (double)size / 1e9 / (base_time_sec() - start);
        store_delete(store, &oid);
    }
    return status;
}

static rmpi_status_t bs_put_gigabytes(bench_ctx_t *ctx)
{
    size_t        size    = ctx->quick ? BS_PUT_GB_SIZE / 10 : BS_PUT_GB_SIZE;
    double       *samples = bs_samples(ctx), *limits = bs_samples(ctx);
    char         *src = malloc(size), *dst = malloc(size);
    store_h       store  = NULL;
    rmpi_status_t status = RMPI_ERR_NO_MEMORY;
    double        warm;

    if ((samples == NULL) || (limits == NULL) || (src == NULL) || (dst == NULL)) {
        base_error("bench: cannot allocate 2 x %zu bytes", size);
        goto out;
    }
    memset(src, 1, size); /* fault every page in before timing */
    memset(dst, 2, size);
    status = bs_open(ctx, size + (64ull << 20), NULL, &store);
    if (status == RMPI_OK) {
        status = bs_put_gb_once(store, src, size, &warm); /* faults the arena's pages in */
    }
    for (int rep = 0; (rep < bs_reps(ctx)) && (status == RMPI_OK); ++rep) {
        status      = bs_put_gb_once(store, src, size, &samples[rep]);
        limits[rep] = bs_memcpy_gbps(dst, src, size);
    }
    if (status == RMPI_OK) {
        bench_report(ctx, "single_client_put_gigabytes",
                     bench_median(samples, (size_t)bs_reps(ctx)), "GB/s",
                     bench_median(limits, (size_t)bs_reps(ctx)), "memcpy of the same size");
    }
out:
    store_destroy(store);
    free(src);
    free(dst);
    free(samples);
    free(limits);
    return status;
}

static bench_def_t bench_store_put_gb = {
    .name      = "single_client_put_gigabytes",
    .help      = "store_put of one 800 MB object in GB/s, against memcpy of 800 MB",
    .min_ranks = 1,
    .run       = bs_put_gigabytes,
};
BENCH_REGISTER(bench_store_put_gb)

/* --- same_node_get_latency ----------------------------------------------------------- */

static rmpi_status_t bs_peer_get_latency(bench_ctx_t *ctx, size_t size, double *usec_p)
{
    uint64_t      iters   = ctx->quick ? BS_LAT_ITERS / 10 : BS_LAT_ITERS;
    double       *samples = bs_samples(ctx);
    store_oid_t   oid     = bs_oid(7);
    store_h       store   = NULL;
    store_view_t  local, peer;
    rmpi_status_t status = RMPI_ERR_NO_MEMORY;

    if (samples == NULL) {
        return status;
    }
    status = bs_open(ctx, size + (64ull << 20), NULL, &store);
    if (status == RMPI_OK) {
        void *ptr;

        status = store_create_object(store, &oid, size, 0, &ptr);
        if (status == RMPI_OK) {
            memset(ptr, 3, size);
            status = store_seal(store, &oid);
        }
    }
    if ((status == RMPI_OK) && ((status = store_get(store, &oid, &local)) == RMPI_OK)) {
        status = store_peer_attach(store, ctx->rank); /* our arena, mapped read-only */
    }
    for (int rep = 0; (rep < bs_reps(ctx)) && (status == RMPI_OK); ++rep) {
        double start = base_time_sec();

        for (uint64_t i = 0; (i < iters) && (status == RMPI_OK); ++i) {
            status = store_peer_get(store, ctx->rank, &oid, local.offset, size, &peer);
        }
        samples[rep] = (base_time_sec() - start) * 1e6 / (double)iters;
    }
    if (status == RMPI_OK) {
        *usec_p = bench_median(samples, (size_t)bs_reps(ctx));
    }
    store_destroy(store);
    free(samples);
    return status;
}

static rmpi_status_t bs_same_node_latency(bench_ctx_t *ctx)
{
    size_t        big = ctx->quick ? (64ull << 20) : BS_GIB;
    double        usec;
    rmpi_status_t status;

    status = bs_peer_get_latency(ctx, 1024, &usec);
    if (status == RMPI_OK) {
        bench_report(ctx, "same_node_get_latency_1KiB", usec, "us", -1.0, NULL);
        status = bs_peer_get_latency(ctx, big, &usec);
    }
    if (status == RMPI_OK) {
        bench_report(ctx, ctx->quick ? "same_node_get_latency_64MiB" : "same_node_get_latency_1GiB",
                     usec, "us", -1.0, NULL);
    }
    return status;
}

static bench_def_t bench_store_latency = {
    .name      = "same_node_get_latency",
    .help      = "store_peer_get of a 1 KiB and a 1 GiB object through a read-only mapping (us)",
    .min_ranks = 1,
    .run       = bs_same_node_latency,
};
BENCH_REGISTER(bench_store_latency)

/* --- spill_restore_bandwidth --------------------------------------------------------- */

typedef struct bs_spill {
    size_t   object;   /* bytes per object */
    uint64_t count;    /* objects that fill the arena */
    char     dir[512]; /* where the store spills (for the plain-file limit) */
} bs_spill_t;

/* Fill the arena with objects 0..count-1 (written), untimed. */
static rmpi_status_t bs_spill_fill(store_h store, const bs_spill_t *run)
{
    for (uint64_t n = 0; n < run->count; ++n) {
        store_oid_t   oid = bs_oid(n);
        rmpi_status_t status;
        void         *ptr;

        status = store_create_object(store, &oid, run->object, 0, &ptr);
        if (status != RMPI_OK) {
            return status;
        }
        memset(ptr, (int)n, run->object);
        store_seal(store, &oid);
    }
    return RMPI_OK;
}

/*
 * Spill: creating count more objects pushes the first count out to files (timed:
 * checksum and write; the new objects are not written). Restore: with those deleted,
 * getting the first ones reads them back (timed: read and checksum).
 */
static rmpi_status_t bs_spill_once(store_h store, const bs_spill_t *run, double *gbps_p)
{
    double        t_spill, t_restore, start;
    rmpi_status_t status = bs_spill_fill(store, run);
    void         *ptr;

    start = base_time_sec();
    for (uint64_t n = run->count; (n < 2 * run->count) && (status == RMPI_OK); ++n) {
        store_oid_t oid = bs_oid(n);

        status = store_create_object(store, &oid, run->object, 0, &ptr);
    }
    t_spill = base_time_sec() - start;
    bs_delete_range(store, run->count, run->count);

    start = base_time_sec();
    for (uint64_t n = 0; (n < run->count) && (status == RMPI_OK); ++n) {
        store_oid_t  oid = bs_oid(n);
        store_view_t view;

        status = store_get(store, &oid, &view);
        store_release(store, &oid);
    }
    t_restore = base_time_sec() - start;
    bs_delete_range(store, 0, run->count);
    *gbps_p = 2.0 * (double)(run->count * run->object) / 1e9 / (t_spill + t_restore);
    return status;
}

/* The limit: write the same files to the same folder, then read them back. */
static rmpi_status_t bs_plain_files_once(const bs_spill_t *run, char *buf, double *gbps_p)
{
    char   path[600];
    double start = base_time_sec();

    for (int pass = 0; pass < 2; ++pass) {
        for (uint64_t n = 0; n < run->count; ++n) {
            int     fd;
            ssize_t done;

            snprintf(path, sizeof(path), "%s/plain-%d-%llu", run->dir, (int)getpid(),
                     (unsigned long long)n);
            fd =
                (pass == 0) ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : open(path, O_RDONLY);
            if (fd < 0) {
                base_error("bench: cannot open %s: %m", path);
                return RMPI_ERR_IO;
            }
            done = (pass == 0) ? write(fd, buf, run->object) : read(fd, buf, run->object);
            close(fd);
            if (pass == 1) {
                unlink(path);
            }
            if (done != (ssize_t)run->object) {
                base_error("bench: short %s on %s", pass ? "read" : "write", path);
                return RMPI_ERR_IO;
            }
        }
    }
    *gbps_p = 2.0 * (double)(run->count * run->object) / 1e9 / (base_time_sec() - start);
    return RMPI_OK;
}

/* The folder the store would spill to: RAYMPI_STORE_SPILL_DIR, else <run dir>/spill. */
static rmpi_status_t bs_spill_dir(bs_spill_t *run)
{
    const char   *configured = getenv("RAYMPI_STORE_SPILL_DIR");
    char          run_dir[400];
    rmpi_status_t status = RMPI_OK;

    if ((configured != NULL) && (configured[0] != '\0')) {
        snprintf(run->dir, sizeof(run->dir), "%s", configured);
    } else {
        status = base_run_dir(run_dir, sizeof(run_dir));
        snprintf(run->dir, sizeof(run->dir), "%s/spill", run_dir);
    }
    return (status == RMPI_OK) ? base_mkdir_p(run->dir, 0700) : status;
}

static rmpi_status_t bs_spill_restore(bench_ctx_t *ctx)
{
    size_t        arena   = ctx->quick ? (64ull << 20) : BS_SPILL_ARENA;
    bs_spill_t    run     = {.object = ctx->quick ? (8ull << 20) : BS_SPILL_OBJECT};
    double       *samples = bs_samples(ctx), *limits = bs_samples(ctx);
    char         *buf    = malloc(run.object);
    store_h       store  = NULL;
    rmpi_status_t status = RMPI_ERR_NO_MEMORY;
    double        warm;

    if ((samples == NULL) || (limits == NULL) || (buf == NULL)) {
        goto out;
    }
    memset(buf, 5, run.object);
    run.count = (arena - (4ull << 20)) / (run.object + 4096); /* what fits, with slack */
    status    = bs_spill_dir(&run);
    if (status == RMPI_OK) {
        status = bs_open(ctx, arena, run.dir, &store);
    }
    if (status == RMPI_OK) {
        status = bs_spill_once(store, &run, &warm); /* faults the arena in */
    }
    for (int rep = 0; (rep < bs_reps(ctx)) && (status == RMPI_OK); ++rep) {
        status = bs_spill_once(store, &run, &samples[rep]);
        if (status == RMPI_OK) {
            status = bs_plain_files_once(&run, buf, &limits[rep]);
        }
    }
    if (status == RMPI_OK) {
        bench_report(ctx, "spill_restore_bandwidth", bench_median(samples, (size_t)bs_reps(ctx)),
                     "GB/s", bench_median(limits, (size_t)bs_reps(ctx)),
                     "write+read of the same files, same folder");
    } else {
        base_error("bench: spill/restore failed: %s", rmpi_status_str(status));
    }
out:
    store_destroy(store);
    free(buf);
    free(samples);
    free(limits);
    return status;
}

static bench_def_t bench_store_spill = {
    .name      = "spill_restore_bandwidth",
    .help      = "bytes spilled to and restored from the spill folder per second (GB/s)",
    .min_ranks = 1,
    .run       = bs_spill_restore,
};
BENCH_REGISTER(bench_store_spill)

/* --- cross_node_pull_bandwidth ------------------------------------------------------- */

#define BS_PULL_WINDOW 4 /* pulls in flight, as in xport_pull_bandwidth */
#define BS_RKEY_MAX 1024

/* What rank 1 tells rank 0: its objects, its store's key, and a raw key of its arena. */
typedef struct bs_pull_src {
    uint64_t offset[BS_PULL_WINDOW];  /* for store_pull */
    uint64_t payload[BS_PULL_WINDOW]; /* the payloads' addresses, for raw pulls */
    uint32_t rkey_len, raw_rkey_len;
    char     rkey[BS_RKEY_MAX], raw_rkey[BS_RKEY_MAX];
} bs_pull_src_t;

typedef struct bs_pull_run {
    xport_ctx_h     xp;
    store_h         store;
    xport_mem_h     raw_mem; /* rank 1: the arena registered a second time, for raw pulls */
    char           *dst;     /* rank 0: raw pulls land here, one slot per window entry */
    size_t          size;
    int             iters;
    bs_pull_src_t   src;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    bool            busy[BS_PULL_WINDOW];
} bs_pull_run_t;

typedef struct bs_pull_slot {
    bs_pull_run_t *run;
    int            k;
} bs_pull_slot_t;

static void bs_pull_done(void *arg, rmpi_status_t status)
{
    bs_pull_slot_t *slot = arg;

    if (status != RMPI_OK) {
        base_log_once(BASE_LOG_ERROR, "bench: pull failed: %s", rmpi_status_str(status));
    }
    pthread_mutex_lock(&slot->run->lock);
    slot->run->busy[slot->k] = false;
    pthread_cond_broadcast(&slot->run->cond);
    pthread_mutex_unlock(&slot->run->lock);
}

/* Wait until window entry @a k is free (@a k < 0: all of them). */
static void bs_pull_wait_slot(bs_pull_run_t *run, int k)
{
    pthread_mutex_lock(&run->lock);
    for (int i = 0; i < BS_PULL_WINDOW; ++i) {
        while (((k < 0) || (k == i)) && run->busy[i]) {
            pthread_cond_wait(&run->cond, &run->lock);
        }
    }
    pthread_mutex_unlock(&run->lock);
}

static rmpi_status_t bs_pull_issue(bs_pull_run_t *run, bs_pull_slot_t *slot, bool raw)
{
    const bs_pull_src_t *src = &run->src;
    store_oid_t          oid = bs_oid((uint64_t)slot->k);

    if (raw) {
        return xport_pull(run->xp, 1, src->raw_rkey, src->raw_rkey_len, src->payload[slot->k],
                          run->dst + (size_t)slot->k * run->size, run->size, bs_pull_done, slot);
    }
    store_delete(run->store, &oid); /* the copy of the last round: pull it anew */
    return store_pull(run->store, 1, src->rkey, src->rkey_len, &oid, src->offset[slot->k],
                      run->size, 0, bs_pull_done, slot);
}

/* MiB/s of run->iters pulls by rank 0, BS_PULL_WINDOW objects in flight. */
static double bs_pull_once(const bench_ctx_t *ctx, bs_pull_run_t *run, bool raw)
{
    bs_pull_slot_t slots[BS_PULL_WINDOW];
    double         start;

    MPI_Barrier(ctx->comm);
    start = base_time_sec();
    for (int i = 0; (ctx->rank == 0) && (i < run->iters); ++i) {
        int k = i % BS_PULL_WINDOW;

        bs_pull_wait_slot(run, k);
        slots[k]     = (bs_pull_slot_t){.run = run, .k = k};
        run->busy[k] = true;
        if (bs_pull_issue(run, &slots[k], raw) != RMPI_OK) {
            run->busy[k] = false;
            base_error("bench: pull %d could not start", i);
            break;
        }
    }
    bs_pull_wait_slot(run, -1);
    return (double)run->size * run->iters / (base_time_sec() - start) / (1 << 20);
}

/* Rank 1: objects to pull, the store's key and a raw registration of the arena. */
static rmpi_status_t bs_pull_source(bs_pull_run_t *run)
{
    bs_pull_src_t *src = &run->src;
    void          *base, *key = NULL;
    size_t         len, key_len;
    rmpi_status_t  status = RMPI_OK;

    for (int k = 0; (k < BS_PULL_WINDOW) && (status == RMPI_OK); ++k) {
        store_oid_t  oid = bs_oid((uint64_t)k);
        store_view_t view;
        void        *ptr;

        status = store_create_object(run->store, &oid, run->size, 0, &ptr);
        if (status == RMPI_OK) {
            memset(ptr, k + 1, run->size);
            store_seal(run->store, &oid);
            store_pin(run->store, &oid);
            status          = store_get(run->store, &oid, &view);
            src->offset[k]  = view.offset;
            src->payload[k] = (uintptr_t)view.ptr;
        }
    }
    store_arena_region(run->store, &base, &len);
    if ((status != RMPI_OK) ||
        ((status = store_remote_rkey(run->store, &key, &key_len)) != RMPI_OK)) {
        return status;
    }
    src->rkey_len = (uint32_t)key_len;
    memcpy(src->rkey, key, key_len < BS_RKEY_MAX ? key_len : BS_RKEY_MAX);
    free(key);
    status = xport_mem_register(run->xp, base, len, &run->raw_mem);
    if ((status == RMPI_OK) &&
        ((status = xport_rkey_pack(run->xp, run->raw_mem, &key, &key_len)) == RMPI_OK)) {
        src->raw_rkey_len = (uint32_t)key_len;
        memcpy(src->raw_rkey, key, key_len < BS_RKEY_MAX ? key_len : BS_RKEY_MAX);
        free(key);
    }
    return ((src->rkey_len > BS_RKEY_MAX) || (src->raw_rkey_len > BS_RKEY_MAX))
               ? RMPI_ERR_NO_RESOURCE
               : status;
}

/* Transport with logical nodes of one rank, stores on ranks 0 and 1, rank 1's objects. */
static rmpi_status_t bs_pull_setup(const bench_ctx_t *ctx, bs_pull_run_t *run)
{
    static const char *const split[] = {"XPORT_NODE_SPLIT=1"};
    xport_params_t params = {.field_mask = XPORT_PARAM_CONFIG, .config = split, .num_config = 1};
    rmpi_status_t  status = xport_init(&params, &run->xp);
    size_t         arena  = BS_PULL_WINDOW * (run->size + (64u << 10)) + (8u << 20);
    int            ok, all_ok;

    if ((status == RMPI_OK) && (ctx->rank <= 1)) {
        status = bs_open(ctx, arena, NULL, &run->store);
        if (status == RMPI_OK) {
            status = store_remote_attach(run->store, run->xp);
        }
        if ((status == RMPI_OK) && (ctx->rank == 1)) {
            status = bs_pull_source(run);
        }
        if ((status == RMPI_OK) && (ctx->rank == 0)) {
            run->dst = malloc(BS_PULL_WINDOW * run->size);
            status   = (run->dst != NULL) ? RMPI_OK : RMPI_ERR_NO_MEMORY;
        }
    }
    ok = status == RMPI_OK;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, ctx->comm);
    if (all_ok) {
        MPI_Bcast(&run->src, sizeof(run->src), MPI_BYTE, 1, ctx->comm);
    }
    return all_ok ? RMPI_OK : RMPI_ERR_NO_RESOURCE;
}

static void bs_pull_teardown(const bench_ctx_t *ctx, bs_pull_run_t *run)
{
    MPI_Barrier(ctx->comm); /* rank 0 pulls no more */
    if (run->raw_mem != NULL) {
        xport_mem_deregister(run->xp, run->raw_mem);
    }
    if (run->store != NULL) {
        store_remote_detach(run->store);
    }
    if (run->xp != NULL) {
        xport_fini(run->xp);
    }
    store_destroy(run->store);
    free(run->dst);
}

static rmpi_status_t bs_pull_bw(bench_ctx_t *ctx, const char *name, size_t size, int iters)
{
    bs_pull_run_t run     = {.size = size, .iters = iters};
    double       *samples = bs_samples(ctx), *limits = bs_samples(ctx);
    rmpi_status_t status = RMPI_ERR_NO_MEMORY;
    char          source[128];

    pthread_mutex_init(&run.lock, NULL);
    pthread_cond_init(&run.cond, NULL);
    if ((samples != NULL) && (limits != NULL)) {
        status = bs_pull_setup(ctx, &run);
    }
    if (status == RMPI_OK) {
        bs_pull_once(ctx, &run, true); /* warm-up: endpoints, pages of both sides */
        bs_pull_once(ctx, &run, false);
        for (int rep = 0; rep < bs_reps(ctx); ++rep) {
            limits[rep]  = bs_pull_once(ctx, &run, true);
            samples[rep] = bs_pull_once(ctx, &run, false);
        }
        snprintf(source, sizeof(source), "xport_pull_bandwidth, same run and bytes, UCX_TLS=%s",
                 getenv("UCX_TLS") ? getenv("UCX_TLS") : "default");
        bench_report(ctx, name, bench_median(samples, (size_t)bs_reps(ctx)), "MiB/s",
                     bench_median(limits, (size_t)bs_reps(ctx)), source);
    } else {
        base_error("bench: %s could not set up: %s", name, rmpi_status_str(status));
    }
    bs_pull_teardown(ctx, &run);
    pthread_cond_destroy(&run.cond);
    pthread_mutex_destroy(&run.lock);
    free(samples);
    free(limits);
    return status;
}

static rmpi_status_t bs_pull_1m(bench_ctx_t *ctx)
{
    return bs_pull_bw(ctx, "cross_node_pull_bandwidth_1MiB", 1u << 20, ctx->quick ? 100 : 1000);
}

static rmpi_status_t bs_pull_64m(bench_ctx_t *ctx)
{
    return bs_pull_bw(ctx, "cross_node_pull_bandwidth_64MiB", 64u << 20, ctx->quick ? 8 : 20);
}

static bench_def_t bench_store_pull_1m = {
    .name      = "cross_node_pull_bandwidth_1MiB",
    .help      = "store_pull of 1 MiB objects between logical nodes, rank 0 from rank 1",
    .min_ranks = 2,
    .run       = bs_pull_1m,
};
BENCH_REGISTER(bench_store_pull_1m)

static bench_def_t bench_store_pull_64m = {
    .name      = "cross_node_pull_bandwidth_64MiB",
    .help      = "store_pull of 64 MiB objects between logical nodes, rank 0 from rank 1",
    .min_ranks = 2,
    .run       = bs_pull_64m,
};
BENCH_REGISTER(bench_store_pull_64m)
