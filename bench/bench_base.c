/*
 * bench/bench_base.c - benchmarks of the base/ containers on the hot paths:
 * the MPSC queue (executor -> progress thread), the hash table (object and
 * actor lookup) and the element pool (request descriptors).
 *
 * Each runs on every rank independently (min_ranks 1); rank 0 reports.
 */
#include "bench/bench.h"

#include "base/clock.h"
#include "base/hash.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mpool.h"
#include "base/mpsc.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Full-size counts; ctx->quick divides them by 10. */
#define BENCH_MPSC_MSGS (1000 * 1000)
#define BENCH_HASH_ELEMS (1000 * 1000)
#define BENCH_MPOOL_PAIRS (4 * 1000 * 1000)
#define BENCH_MPOOL_BATCH 32 /* elements out at once, as a busy progress loop has */
#define BENCH_MPOOL_ELEM 128 /* about a request descriptor */

static size_t bench_base_count(const bench_ctx_t *ctx, size_t full)
{
    return ctx->quick ? full / 10 : full;
}

static int bench_base_reps(const bench_ctx_t *ctx)
{
    return (ctx->repetitions > 0) ? ctx->repetitions : 1;
}

static double *bench_base_samples(const bench_ctx_t *ctx)
{
    double *samples = calloc((size_t)bench_base_reps(ctx), sizeof(*samples));

    if (samples == NULL) {
        base_error("bench: cannot allocate %d samples", bench_base_reps(ctx));
    }
    return samples;
}

/* --- base_mpsc_rate ------------------------------------------------------- */

typedef struct bench_mpsc {
    base_mpsc_t       queue;
    base_mpsc_node_t *nodes;
    size_t            count;
    pthread_barrier_t start;
} bench_mpsc_t;

static void *bench_mpsc_produce(void *arg)
{
    bench_mpsc_t *run = arg;

    pthread_barrier_wait(&run->start);
    for (size_t i = 0; i < run->count; ++i) {
        base_mpsc_push(&run->queue, &run->nodes[i]);
    }
    return NULL;
}

/* Messages per second through the queue from one producer thread. */
static rmpi_status_t bench_mpsc_once(bench_mpsc_t *run, double *rate_p)
{
    pthread_t producer;
    size_t    popped = 0;
    double    start;

    base_mpsc_init(&run->queue);
    if (pthread_barrier_init(&run->start, NULL, 2) != 0) {
        base_error("bench: pthread_barrier_init failed");
        return RMPI_ERR_NO_RESOURCE;
    }
    if (pthread_create(&producer, NULL, bench_mpsc_produce, run) != 0) {
        base_error("bench: cannot start the producer thread");
        pthread_barrier_destroy(&run->start);
        return RMPI_ERR_NO_RESOURCE;
    }

    pthread_barrier_wait(&run->start);
    start = base_time_sec();
    while (popped < run->count) {
        if (base_mpsc_pop(&run->queue) != NULL) {
            ++popped;
        } else {
            sched_yield(); /* let the producer have the core on small machines */
        }
    }
    *rate_p = (double)run->count / (base_time_sec() - start);

    pthread_join(producer, NULL);
    pthread_barrier_destroy(&run->start);
    return RMPI_OK;
}

static rmpi_status_t bench_mpsc_rate(bench_ctx_t *ctx)
{
    bench_mpsc_t  run     = {.count = bench_base_count(ctx, BENCH_MPSC_MSGS)};
    double       *samples = bench_base_samples(ctx);
    rmpi_status_t status  = RMPI_OK;

    run.nodes = calloc(run.count, sizeof(*run.nodes));
    if ((samples == NULL) || (run.nodes == NULL)) {
        status = RMPI_ERR_NO_MEMORY;
        goto out;
    }
    memset(run.nodes, 0, run.count * sizeof(*run.nodes)); /* fault the pages in now */

    for (int rep = 0; (rep < bench_base_reps(ctx)) && (status == RMPI_OK); ++rep) {
        status = bench_mpsc_once(&run, &samples[rep]);
    }
    if (status == RMPI_OK) {
        bench_report(ctx, "base_mpsc_rate", bench_median(samples, (size_t)bench_base_reps(ctx)),
                     "ops/s", -1.0, NULL);
    }
out:
    free(run.nodes);
    free(samples);
    return status;
}

static bench_def_t bench_base_mpsc = {
    .name      = "base_mpsc_rate",
    .help      = "MPSC queue push+pop pairs per second, one producer thread and the consumer",
    .min_ranks = 1,
    .run       = bench_mpsc_rate,
};
BENCH_REGISTER(bench_base_mpsc)

/* --- base_hash_find_rate -------------------------------------------------- */

typedef struct bench_hash_elem {
    uint64_t         key;
    base_hash_node_t node;
} bench_hash_elem_t;

static uint64_t bench_hash_key_hash(const void *key)
{
    return base_hash_u64(*(const uint64_t *)key);
}

static bool bench_hash_key_equal(const void *key, const base_hash_node_t *node)
{
    return base_container_of(node, bench_hash_elem_t, node)->key == *(const uint64_t *)key;
}

static const base_hash_ops_t bench_hash_ops = {
    .hash  = bench_hash_key_hash,
    .equal = bench_hash_key_equal,
};

/* xorshift64: a cheap, reproducible shuffle source. */
static uint64_t bench_rand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Keys in a random order, so finds miss the cache as real lookups do. */
static void bench_hash_shuffle(uint64_t *keys, size_t count)
{
    uint64_t state = 0x2545f4914f6cdd1dull;

    for (size_t i = count - 1; i > 0; --i) {
        size_t   j   = (size_t)(bench_rand(&state) % (i + 1));
        uint64_t tmp = keys[i];

        keys[i] = keys[j];
        keys[j] = tmp;
    }
}

static rmpi_status_t bench_hash_fill(base_hash_t *table, bench_hash_elem_t *elems,
                                     uint64_t *lookups, size_t count)
{
    rmpi_status_t status = base_hash_init(table, &bench_hash_ops, 0);

    for (size_t i = 0; (i < count) && (status == RMPI_OK); ++i) {
        elems[i].key = base_hash_u64(i); /* sparse, like object IDs */
        lookups[i]   = elems[i].key;
        status       = base_hash_insert(table, &elems[i].node, &elems[i].key);
    }
    bench_hash_shuffle(lookups, count);
    return status;
}

static rmpi_status_t bench_hash_find_rate(bench_ctx_t *ctx)
{
    size_t             count   = bench_base_count(ctx, BENCH_HASH_ELEMS);
    bench_hash_elem_t *elems   = calloc(count, sizeof(*elems));
    uint64_t          *lookups = calloc(count, sizeof(*lookups));
    double            *samples = bench_base_samples(ctx);
    base_hash_t        table   = {0};
    rmpi_status_t      status  = RMPI_ERR_NO_MEMORY;

    if ((elems == NULL) || (lookups == NULL) || (samples == NULL)) {
        goto out;
    }
    status = bench_hash_fill(&table, elems, lookups, count);
    if (status != RMPI_OK) {
        base_error("bench: cannot fill the hash table: %s", rmpi_status_str(status));
        goto out;
    }

    for (int rep = 0; rep < bench_base_reps(ctx); ++rep) {
        size_t found = 0;
        double start = base_time_sec();

        for (size_t i = 0; i < count; ++i) {
            found += (base_hash_find(&table, &lookups[i]) != NULL);
        }
        samples[rep] = (double)count / (base_time_sec() - start);
        if (found != count) {
            base_error("bench: %zu of %zu keys not found", count - found, count);
            status = RMPI_ERR_NOT_FOUND;
            goto out;
        }
    }
    bench_report(ctx, "base_hash_find_rate", bench_median(samples, (size_t)bench_base_reps(ctx)),
                 "finds/s", -1.0, NULL);
out:
    base_hash_cleanup(&table);
    free(samples);
    free(lookups);
    free(elems);
    return status;
}

static bench_def_t bench_base_hash = {
    .name      = "base_hash_find_rate",
    .help      = "hash table finds per second on a 1M-element table, keys in random order",
    .min_ranks = 1,
    .run       = bench_hash_find_rate,
};
BENCH_REGISTER(bench_base_hash)

/* --- base_mpool_get_put_rate ---------------------------------------------- */

/*
 * Both loops keep BENCH_MPOOL_BATCH elements out at a time, write to each, and
 * hold them in a volatile array so the compiler cannot drop a malloc/free pair.
 */
static double bench_mpool_pairs_per_sec(base_mpool_t *mpool, size_t pairs)
{
    void *volatile batch[BENCH_MPOOL_BATCH];
    double start = base_time_sec();

    for (size_t done = 0; done < pairs; done += BENCH_MPOOL_BATCH) {
        for (int i = 0; i < BENCH_MPOOL_BATCH; ++i) {
            batch[i]          = base_mpool_get(mpool);
            *(char *)batch[i] = (char)i;
        }
        for (int i = 0; i < BENCH_MPOOL_BATCH; ++i) {
            base_mpool_put(mpool, batch[i]);
        }
    }
    return (double)pairs / (base_time_sec() - start);
}

static double bench_malloc_pairs_per_sec(size_t pairs)
{
    void *volatile batch[BENCH_MPOOL_BATCH];
    double start = base_time_sec();

    for (size_t done = 0; done < pairs; done += BENCH_MPOOL_BATCH) {
        for (int i = 0; i < BENCH_MPOOL_BATCH; ++i) {
            batch[i]          = malloc(BENCH_MPOOL_ELEM);
            *(char *)batch[i] = (char)i;
        }
        for (int i = 0; i < BENCH_MPOOL_BATCH; ++i) {
            free(batch[i]);
        }
    }
    return (double)pairs / (base_time_sec() - start);
}

/* Fill the pool to a whole batch once, so its chunks are in place before timing. */
static rmpi_status_t bench_mpool_warm_up(base_mpool_t *mpool)
{
    void         *batch[BENCH_MPOOL_BATCH];
    rmpi_status_t status = RMPI_OK;
    int           got;

    for (got = 0; got < BENCH_MPOOL_BATCH; ++got) {
        batch[got] = base_mpool_get(mpool);
        if (batch[got] == NULL) {
            base_error("bench: the pool ran out of memory at %d elements", got);
            status = RMPI_ERR_NO_MEMORY;
            break;
        }
    }
    while (got > 0) {
        base_mpool_put(mpool, batch[--got]);
    }
    return status;
}

static rmpi_status_t bench_mpool_get_put_rate(bench_ctx_t *ctx)
{
    base_mpool_params_t params = {
        .field_mask = BASE_MPOOL_PARAM_ELEM_SIZE | BASE_MPOOL_PARAM_NAME,
        .elem_size  = BENCH_MPOOL_ELEM,
        .name       = "bench",
    };
    /* Round to whole batches so both loops do exactly the pairs counted. */
    size_t pairs = bench_base_count(ctx, BENCH_MPOOL_PAIRS) / BENCH_MPOOL_BATCH * BENCH_MPOOL_BATCH;
    double       *pool_samples   = bench_base_samples(ctx);
    double       *malloc_samples = bench_base_samples(ctx);
    base_mpool_t *mpool          = NULL;
    rmpi_status_t status         = RMPI_ERR_NO_MEMORY;

    if ((pool_samples == NULL) || (malloc_samples == NULL)) {
        goto out;
    }
    status = base_mpool_create(&params, &mpool);
    if (status != RMPI_OK) {
        goto out;
    }

    /* After the warm-up the timed loops never allocate, and so never see NULL. */
    status = bench_mpool_warm_up(mpool);
    if (status != RMPI_OK) {
        goto out;
    }
    bench_malloc_pairs_per_sec(BENCH_MPOOL_BATCH);

    for (int rep = 0; rep < bench_base_reps(ctx); ++rep) {
        pool_samples[rep]   = bench_mpool_pairs_per_sec(mpool, pairs);
        malloc_samples[rep] = bench_malloc_pairs_per_sec(pairs);
    }
    bench_report(ctx, "base_mpool_get_put_rate",
                 bench_median(pool_samples, (size_t)bench_base_reps(ctx)), "pairs/s",
                 bench_median(malloc_samples, (size_t)bench_base_reps(ctx)), "malloc/free");
out:
    base_mpool_destroy(mpool);
    free(malloc_samples);
    free(pool_samples);
    return status;
}

static bench_def_t bench_base_mpool = {
    .name      = "base_mpool_get_put_rate",
    .help      = "element pool get+put pairs per second, against malloc+free in the same run",
    .min_ranks = 1,
    .run       = bench_mpool_get_put_rate,
};
BENCH_REGISTER(bench_base_mpool)
