/*
 * tests/integration/store_node.c - same-node zero-copy reads between the stores of
 * several ranks.
 *
 * Started by integration/store_node_4.sh as `ray-mpi -n 4 store_node`. Each rank
 * creates its store (arena named after the shared job ID and its rank), puts objects
 * of several sizes, and tells every other rank (oid, offset, size) with MPI_Allgather
 * (MPI is used only for this exchange). Every rank then attaches every peer's arena
 * and reads each object through store_peer_get, checking that:
 *   - the returned pointer lies inside that peer's read-only mapping, not in a copy;
 *   - the bytes are the peer's;
 *   - a bogus offset, or a wrong ID or size, gives RMPI_ERR_NOT_FOUND;
 *   - after the owner deletes an object, its old location no longer validates.
 * Exits 0 only if every check passed on every rank; each failure is printed.
 */
#include "objstore/store.h"

#include "base/log.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_OBJECTS 4
#define ARENA_SIZE (32u << 20)

static const size_t object_sizes[NUM_OBJECTS] = {1024, 64 * 1024, 1 << 20, 5 << 20};

typedef struct location {
    store_oid_t oid;
    uint64_t    offset;
    uint64_t    size;
} location_t;

static int my_rank = -1;
static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "store_node rank %d: FAIL: ", my_rank);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

static store_oid_t make_oid(int rank, int k)
{
    store_oid_t oid;

    memset(&oid, 0, sizeof(oid));
    memcpy(oid.bytes, &rank, sizeof(rank));
    oid.bytes[8]  = (uint8_t)k;
    oid.bytes[15] = 0x5a;
    return oid;
}

static uint8_t pattern(int rank, int k, size_t i)
{
    return (uint8_t)(i * 31u + (unsigned)rank * 101u + (unsigned)k * 7u + (i >> 12));
}

static bool check_pattern(const uint8_t *p, size_t size, int rank, int k)
{
    for (size_t i = 0; i < size; ++i) {
        if (p[i] != pattern(rank, k, i)) {
            return false;
        }
    }
    return true;
}

/* Put this rank's objects, pin them, and describe where they are. */
static void put_objects(store_h store, location_t *mine)
{
    for (int k = 0; k < NUM_OBJECTS; ++k) {
        store_oid_t  oid = make_oid(my_rank, k);
        store_view_t view;
        uint8_t     *ptr;

        if (store_create_object(store, &oid, object_sizes[k], 0, (void **)&ptr) != RMPI_OK) {
            fail("store_create_object of %zu bytes failed", object_sizes[k]);
            continue;
        }
        for (size_t i = 0; i < object_sizes[k]; ++i) {
            ptr[i] = pattern(my_rank, k, i);
        }
        if ((store_seal(store, &oid) != RMPI_OK) || (store_pin(store, &oid) != RMPI_OK) ||
            (store_get(store, &oid, &view) != RMPI_OK)) {
            fail("seal, pin or get of object %d failed", k);
            continue;
        }
        mine[k] = (location_t){.oid = oid, .offset = view.offset, .size = view.size};
        store_release(store, &oid);
    }
}

static void expect_not_found(store_h store, int peer, const store_oid_t *oid, uint64_t offset,
                             size_t size, const char *what)
{
    store_view_t view;

    if (store_peer_get(store, peer, oid, offset, size, &view) != RMPI_ERR_NOT_FOUND) {
        fail("rank %d, %s: expected RMPI_ERR_NOT_FOUND", peer, what);
    }
}

static void read_peer(store_h store, int peer, const location_t *locs)
{
    const uint8_t *base;
    size_t         len;

    if (store_peer_attach(store, peer) != RMPI_OK ||
        store_peer_region(store, peer, (const void **)&base, &len) != RMPI_OK) {
        fail("cannot attach rank %d's arena", peer);
        return;
    }
    for (int k = 0; k < NUM_OBJECTS; ++k) {
        const location_t *loc = &locs[k];
        store_view_t      view;

        if (store_peer_get(store, peer, &loc->oid, loc->offset, loc->size, &view) != RMPI_OK) {
            fail("rank %d object %d at %llu not found", peer, k, (unsigned long long)loc->offset);
            continue;
        }
        if (((const uint8_t *)view.ptr < base) ||
            ((const uint8_t *)view.ptr + view.size > base + len)) {
            fail("rank %d object %d: %p is outside the peer's mapping %p+%zu", peer, k, view.ptr,
                 (const void *)base, len);
        }
        if ((view.size != loc->size) || !check_pattern(view.ptr, view.size, peer, k)) {
            fail("rank %d object %d: wrong size or contents", peer, k);
        }
    }
    expect_not_found(store, peer, &locs[1].oid, locs[1].offset + 4096, locs[1].size,
                     "bogus offset");
    expect_not_found(store, peer, &locs[0].oid, locs[1].offset, locs[0].size, "wrong object");
    expect_not_found(store, peer, &locs[0].oid, locs[0].offset, locs[0].size + 1, "wrong size");
    expect_not_found(store, peer, &locs[0].oid, len, 1, "past the end");
}

int main(int argc, char **argv)
{
    store_params_t params = {.field_mask = STORE_PARAM_RANK | STORE_PARAM_ARENA_SIZE,
                             .arena_size = ARENA_SIZE};
    location_t    *all, mine[NUM_OBJECTS];
    store_h        store = NULL;
    int            size, passed, all_passed;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    base_log_set_rank(my_rank);
    params.rank = my_rank;
    memset(mine, 0, sizeof(mine));
    all = calloc((size_t)size, sizeof(mine));

    if (size < 2) {
        fail("needs at least 2 ranks, has %d (run it through `ray-mpi -n 4`)", size);
    }
    if ((all == NULL) || (store_create(&params, &store) != RMPI_OK)) {
        fail("store_create failed");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    put_objects(store, mine);
    MPI_Allgather(mine, (int)sizeof(mine), MPI_BYTE, all, (int)sizeof(mine), MPI_BYTE,
                  MPI_COMM_WORLD);
    for (int peer = 0; peer < size; ++peer) {
        if (peer != my_rank) {
            read_peer(store, peer, &all[(size_t)peer * NUM_OBJECTS]);
        }
    }

    /* Delete object 0 everywhere; then its old location must no longer validate. */
    MPI_Barrier(MPI_COMM_WORLD);
    if ((store_unpin(store, &mine[0].oid) != RMPI_OK) ||
        (store_delete(store, &mine[0].oid) != RMPI_OK)) {
        fail("unpin or delete of object 0 failed");
    }
    MPI_Barrier(MPI_COMM_WORLD);
    for (int peer = 0; peer < size; ++peer) {
        const location_t *loc = &all[(size_t)peer * NUM_OBJECTS];

        if (peer != my_rank) {
            expect_not_found(store, peer, &loc->oid, loc->offset, loc->size, "deleted object");
        }
    }

    MPI_Barrier(MPI_COMM_WORLD); /* nobody reads our arena any more */
    store_destroy(store);
    free(all);
    passed = failures == 0;
    MPI_Allreduce(&passed, &all_passed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (my_rank == 0) {
        printf("store_node: %s on %d ranks\n", all_passed ? "all checks passed" : "FAILED", size);
    }
    MPI_Finalize();
    return all_passed ? 0 : 1;
}
