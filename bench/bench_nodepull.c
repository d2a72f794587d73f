/*
 * bench/bench_nodepull.c - node-level pull dedup (runtime/nodepull.h) through the
 * public API: every reader on one logical node of an object held on another costs
 * one transfer between them.
 *
 *  node_fanout_pull_64MiB      N tasks on the ranks of the last logical node (2 per
 *                              rank) read one new 64 MiB object that rank 0 put, at
 *                              once; milliseconds until all are done  vs  one task
 *                              reading one new object the same way (same run). Equal
 *                              times mean the N readers cost one transfer.
 *  node_fanout_pull_transfers  transfers that crossed to that node per object during
 *                              the fan-out runs (store_pulls of its ranks)  vs  1
 *
 * Needs at least two logical nodes (RAYMPI_XPORT_NODE_SPLIT), e.g.
 * `RAYMPI_XPORT_NODE_SPLIT=2 ray-mpi bench -n 4 node_fanout_pull`; on one node it
 * says so and reports nothing. Runs in_runtime (see bench_runtime.c).
 */
#include "bench/bench.h"
#include "bench/bench_rt.h"

#include "base/clock.h"
#include "base/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_SIZE (64u << 20)
#define BN_QUICK_SIZE (4u << 20)
#define BN_READERS_PER_RANK 2
#define BN_MAX_READERS 256

/* (object) -> the sum of one byte per 4 KiB page: every page is mapped and read. */
RMPI_REMOTE(bn_touch)
{
    uint64_t sum = 0;

    if (nargs != 1) {
        return RMPI_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < args[0].size; i += 4096) {
        sum += ((const uint8_t *)args[0].data)[i];
    }
    return rmpi_return(ctx, 0, &sum, sizeof(sum));
}

/* () -> {node, store_pulls} of the rank it runs on. */
RMPI_REMOTE(bn_where)
{
    rmpi_runtime_stats_t stats;
    uint64_t             out[2] = {(uint64_t)rmpi_node(), 0};

    (void)args, (void)nargs;
    if (rmpi_runtime_stats(&stats) == RMPI_OK) {
        out[1] = stats.store_pulls;
    }
    return rmpi_return(ctx, 0, out, sizeof(out));
}

static struct {
    size_t   size;
    void    *bytes;
    int      readers[BN_MAX_READERS]; /* the rank of each reader */
    int      num_readers;
    int      node; /* the readers' node */
    uint64_t runs; /* fan-out runs since the pull count was read */
} bn;

static rmpi_task_options_t bn_on_rank(int rank, double cpus)
{
    rmpi_task_options_t opts = {.field_mask = RMPI_TASK_OPT_STRATEGY | RMPI_TASK_OPT_NUM_CPUS};

    opts.strategy      = RMPI_SCHED_RANK_AFFINITY;
    opts.affinity_rank = rank;
    opts.num_cpus      = cpus;
    return opts;
}

/* {node, store_pulls} of @a rank. */
static rmpi_status_t bn_probe(int rank, uint64_t out[2])
{
    rmpi_task_options_t opts = bn_on_rank(rank, 0);
    rmpi_ref_t          ref;
    rmpi_object_t       obj;
    rmpi_status_t       status = rmpi_submit("bn_where", NULL, 0, &opts, &ref);

    if (status == RMPI_OK && (status = rmpi_get(&ref, 1, RB_TIMEOUT, &obj)) == RMPI_OK) {
        status = obj.size == 2 * sizeof(uint64_t) ? RMPI_OK : RMPI_ERR_MESSAGE;
        if (status == RMPI_OK) {
            memcpy(out, obj.data, 2 * sizeof(uint64_t));
        }
        rmpi_object_release(&obj);
    }
    if (status == RMPI_OK || status == RMPI_ERR_MESSAGE) {
        rmpi_ref_free(ref);
    }
    return status;
}

/* Pulls into the readers' node so far (sum over its ranks). */
static rmpi_status_t bn_node_pulls(const bench_ctx_t *ctx, uint64_t *pulls_p)
{
    uint64_t      out[2];
    rmpi_status_t status = RMPI_OK;

    *pulls_p = 0;
    for (int r = 0; status == RMPI_OK && r < ctx->size; r++) {
        status = bn_probe(r, out);
        *pulls_p += status == RMPI_OK && (int)out[0] == bn.node ? out[1] : 0;
    }
    return status;
}

/* The readers: BN_READERS_PER_RANK on each rank of the last node. */
static rmpi_status_t bn_find_readers(const bench_ctx_t *ctx)
{
    uint64_t      out[2];
    rmpi_status_t status = RMPI_OK;

    bn.node        = rmpi_num_nodes() - 1;
    bn.num_readers = 0;
    for (int r = 0; status == RMPI_OK && r < ctx->size; r++) {
        status = bn_probe(r, out);
        for (int k = 0; status == RMPI_OK && (int)out[0] == bn.node && k < BN_READERS_PER_RANK &&
                        bn.num_readers < BN_MAX_READERS;
             k++) {
            bn.readers[bn.num_readers++] = r;
        }
    }
    return status;
}

/* Put a new object on rank 0, let @a n readers read it at once; milliseconds. */
static rmpi_status_t bn_read_once(int n, double *ms_p)
{
    rmpi_ref_t    obj, refs[BN_MAX_READERS];
    rmpi_object_t objs[BN_MAX_READERS];
    int           submitted = 0;
    double        t0;
    rmpi_status_t status = rmpi_put(bn.bytes, bn.size, NULL, &obj);

    if (status != RMPI_OK) {
        return status;
    }
    t0 = base_time_sec();
    while (status == RMPI_OK && submitted < n) {
        rmpi_task_options_t opts = bn_on_rank(bn.readers[submitted], 1);
        rmpi_task_arg_t     arg  = rmpi_arg_ref(obj);

        status = rmpi_submit("bn_touch", &arg, 1, &opts, &refs[submitted]);
        submitted += status == RMPI_OK;
    }
    if (status == RMPI_OK && (status = rmpi_get(refs, (size_t)n, RB_TIMEOUT, objs)) == RMPI_OK) {
        *ms_p = (base_time_sec() - t0) * 1e3;
        for (int i = 0; i < n; i++) {
            rmpi_object_release(&objs[i]);
        }
    }
    for (int i = 0; i < submitted; i++) {
        rmpi_ref_free(refs[i]);
    }
    rmpi_ref_free(obj);
    return status;
}

static rmpi_status_t bn_one_reader(const bench_ctx_t *ctx, double *ms_p)
{
    (void)ctx;
    return bn_read_once(1, ms_p);
}

static rmpi_status_t bn_fanout(const bench_ctx_t *ctx, double *ms_p)
{
    (void)ctx;
    bn.runs++;
    return bn_read_once(bn.num_readers, ms_p);
}

static rmpi_status_t bn_run(bench_ctx_t *ctx)
{
    double        one_ms, fan_ms;
    uint64_t      before, after;
    char          source[96];
    rmpi_status_t status;

    if (rmpi_num_nodes() < 2) {
        printf("node_fanout_pull: one logical node; set RAYMPI_XPORT_NODE_SPLIT (e.g. 2 with -n "
               "4)\n");
        return RMPI_OK;
    }
    bn.size  = ctx->quick ? BN_QUICK_SIZE : BN_SIZE;
    bn.bytes = malloc(bn.size);
    if (bn.bytes == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    memset(bn.bytes, 0x5a, bn.size);
    status = bn_find_readers(ctx);
    if (status == RMPI_OK) {
        status = rb_measure(ctx, bn_one_reader, &one_ms);
    }
    if (status == RMPI_OK && (status = bn_node_pulls(ctx, &before)) == RMPI_OK) {
        bn.runs = 0;
        status  = rb_measure(ctx, bn_fanout, &fan_ms);
    }
    if (status == RMPI_OK && (status = bn_node_pulls(ctx, &after)) == RMPI_OK) {
        snprintf(source, sizeof(source), "1 reader of a new %zu MiB object", bn.size >> 20);
        bench_report(ctx, ctx->quick ? "node_fanout_pull_4MiB" : "node_fanout_pull_64MiB", fan_ms,
                     "ms", one_ms, source);
        snprintf(source, sizeof(source), "%d readers on node %d, one transfer", bn.num_readers,
                 bn.node);
        bench_report(ctx, "node_fanout_pull_transfers", (double)(after - before) / (double)bn.runs,
                     "transfers/object", 1, source);
    }
    if (status != RMPI_OK) {
        base_error("bench: node_fanout_pull failed: %s", rmpi_status_str(status));
    }
    free(bn.bytes);
    return status;
}

static bench_def_t bench_node_fanout_pull = {
    .name       = "node_fanout_pull",
    .help       = "N readers on one logical node of an object held on another: one transfer",
    .min_ranks  = 2,
    .run        = bn_run,
    .in_runtime = true,
};
BENCH_REGISTER(bench_node_fanout_pull)
