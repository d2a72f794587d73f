/*
 * Unit tests of arenas (objstore/arena.h) and peer access (store_peer_*): naming and
 * header, clean-up of arenas left by dead processes (and never of live ones), name
 * clashes, and zero-copy reads of another store's objects with every kind of bad
 * location rejected.
 */
#include "objstore/arena.h"
#include "objstore/store.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_test_util.h"

#define MIB (1024ull * 1024)

static void shm_path(const char *job_id, int rank, char *buf, size_t len)
{
    snprintf(buf, len, "/dev/shm/raympi-%s-%d", job_id, rank);
}

/* The arena is /dev/shm/raympi-<job>-<rank>, mode 0600, with a header naming us. */
static void test_arena_name_mode_header(void **state)
{
    char                     path[256];
    const store_arena_hdr_t *hdr;
    struct stat              st;
    test_store_t             ts;
    uint64_t                 start;
    void                    *base;
    size_t                   len;

    test_store_open_ex(&ts, 2 * MIB, false, 0, 3, NULL);
    shm_path(ts.job_id, 3, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal((size_t)st.st_size, 2 * MIB);

    store_arena_region(ts.store, &base, &len);
    hdr = base;
    assert_int_equal(hdr->magic, STORE_ARENA_MAGIC);
    assert_int_equal(hdr->pid, getpid());
    assert_int_equal(store_proc_start_time(getpid(), &start), RMPI_OK);
    assert_int_equal(hdr->start_time, start);
    assert_int_equal(hdr->size, 2 * MIB);
    assert_int_equal(hdr->rank, 3);

    test_store_close(&ts);
    assert_int_not_equal(stat(path, &st), 0); /* unlinked by destroy */
}

/* A name held by a live store cannot be taken twice. */
static void test_live_name_clash(void **state)
{
    store_params_t params = {.field_mask = STORE_PARAM_JOB_ID | STORE_PARAM_ARENA_SIZE |
                                           STORE_PARAM_SPILL | STORE_PARAM_RANK,
                             .arena_size = MIB,
                             .spill      = false,
                             .rank       = 0};
    store_h        second = NULL;
    test_store_t   ts;

    test_store_open(&ts, MIB, false, 0);
    params.job_id = ts.job_id;
    assert_int_equal(store_create(&params, &second), RMPI_ERR_EXISTS);
    assert_null(second);
    params.rank = 1; /* another rank of the same job is fine */
    assert_int_equal(store_create(&params, &second), RMPI_OK);
    store_destroy(second);
    test_store_close(&ts);
}

/* A child that dies without store_destroy leaves its arena; the next store_create removes it. */
static void test_stale_arena_of_dead_child_removed(void **state)
{
    char         job_id[64], path[256];
    struct stat  st;
    test_store_t ts;
    pid_t        child;
    int          wstatus;

    snprintf(job_id, sizeof(job_id), "stale-%d", (int)getpid());
    shm_path(job_id, 0, path, sizeof(path));
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        test_store_t cts;

        test_store_open_ex(&cts, MIB, false, 0, 0, job_id);
        assert_int_equal(test_put(cts.store, 1, 1000, 0), RMPI_OK);
        _exit(0); /* no store_destroy: as if killed */
    }
    assert_int_equal(waitpid(child, &wstatus, 0), child);
    assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    assert_int_equal(stat(path, &st), 0); /* left behind */

    test_store_open(&ts, MIB, false, 0);
    assert_int_not_equal(stat(path, &st), 0); /* cleaned on start */
    test_store_close(&ts);
}

/* A live process's arena is never touched, even by another job's start. */
static void test_live_arena_untouched(void **state)
{
    char         job_id[64], path[256];
    int          ready[2], done[2];
    struct stat  st;
    test_store_t ts;
    pid_t        child;
    char         byte;
    int          wstatus;

    snprintf(job_id, sizeof(job_id), "live-%d", (int)getpid());
    shm_path(job_id, 0, path, sizeof(path));
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        test_store_t cts;

        close(ready[0]);
        close(done[1]);
        test_store_open_ex(&cts, MIB, false, 0, 0, job_id);
        (void)!write(ready[1], "r", 1);
        (void)!read(done[0], &byte, 1); /* until the parent has looked */
        test_store_close(&cts);
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    assert_int_equal(read(ready[0], &byte, 1), 1);

    test_store_open(&ts, MIB, false, 0); /* runs the clean-up */
    assert_int_equal(stat(path, &st), 0);
    test_store_close(&ts);

    assert_int_equal(write(done[1], "d", 1), 1);
    assert_int_equal(waitpid(child, &wstatus, 0), child);
    assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    assert_int_not_equal(stat(path, &st), 0); /* its own destroy removed it */
    close(ready[0]);
    close(done[1]);
}

/* Make a fake arena with a chosen header; returns its shm name. */
static void fake_arena(const char *name, uint64_t magic, int64_t pid, uint64_t start_time)
{
    store_arena_hdr_t hdr = {.magic      = magic,
                             .version    = STORE_ARENA_VERSION,
                             .hdr_size   = STORE_ARENA_HDR_SIZE,
                             .pid        = pid,
                             .start_time = start_time,
                             .size       = STORE_ARENA_HDR_SIZE};
    int               fd  = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, STORE_ARENA_HDR_SIZE), 0);
    assert_int_equal(pwrite(fd, &hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
    close(fd);
}

static bool shm_exists(const char *name)
{
    int fd = shm_open(name, O_RDONLY, 0);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

/* The pid alone does not keep an arena: a recycled pid has another start time. */
static void test_recycled_pid_and_foreign_files(void **state)
{
    char     reused[64], alive[64], foreign[64];
    uint64_t start;

    assert_int_equal(store_proc_start_time(getpid(), &start), RMPI_OK);
    snprintf(reused, sizeof(reused), "/raympi-reused-%d-0", (int)getpid());
    snprintf(alive, sizeof(alive), "/raympi-alive-%d-0", (int)getpid());
    snprintf(foreign, sizeof(foreign), "/raympi-foreign-%d-0", (int)getpid());
    fake_arena(reused, STORE_ARENA_MAGIC, getpid(), start + 12345); /* pid reused since */
    fake_arena(alive, STORE_ARENA_MAGIC, getpid(), start);          /* really us */
    fake_arena(foreign, 0x1234, 1, 0);                              /* not an arena */

    assert_true(store_arena_clean_stale() >= 1);
    assert_false(shm_exists(reused));
    assert_true(shm_exists(alive));
    assert_true(shm_exists(foreign));
    shm_unlink(alive);
    shm_unlink(foreign);

    assert_int_equal(store_proc_start_time(-5, &start), RMPI_ERR_NOT_FOUND);
}

/* Another store's objects are read in place, through a read-only mapping. */
static void test_peer_get_zero_copy(void **state)
{
    test_store_t owner, reader;
    store_view_t local, peer;
    store_oid_t  oid = test_oid(7);
    void        *owner_base;
    size_t       owner_len;

    test_store_open_ex(&owner, 4 * MIB, false, 0, 0, NULL);
    test_store_open_ex(&reader, 4 * MIB, false, 0, 1, owner.job_id);
    assert_int_equal(test_put(owner.store, 7, 300000, 0), RMPI_OK);
    assert_int_equal(store_get(owner.store, &oid, &local), RMPI_OK);
    store_arena_region(owner.store, &owner_base, &owner_len);

    assert_int_equal(store_peer_attach(reader.store, 0), RMPI_OK);
    assert_int_equal(store_peer_attach(reader.store, 0), RMPI_OK); /* cached */
    assert_int_equal(store_peer_get(reader.store, 0, &oid, local.offset, local.size, &peer),
                     RMPI_OK);
    assert_int_equal(peer.size, 300000);
    assert_int_equal(peer.offset, local.offset);
    /* Another mapping of the same memory: same bytes, another address. */
    assert_ptr_not_equal(peer.ptr, local.ptr);
    assert_true(test_check(peer.ptr, peer.size, 7));

    /* The mapping really is read-only: a write kills a child process (SIGSEGV; under
     * a sanitizer, its report and exit status). It never gets to exit(0). */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        signal(SIGSEGV, SIG_DFL); /* not cmocka's handler */
        ((volatile char *)(uintptr_t)peer.ptr)[0] = 1;
        _exit(0);
    }
    int wstatus;
    assert_int_equal(waitpid(child, &wstatus, 0), child);
    assert_false(WIFEXITED(wstatus) && (WEXITSTATUS(wstatus) == 0));

    assert_int_equal(store_release(owner.store, &oid), RMPI_OK);
    test_store_close(&reader);
    test_store_close(&owner);
}

/* Every bad location is RMPI_ERR_NOT_FOUND, never a crash or a wrong object. */
static void test_peer_get_rejects_bad_locations(void **state)
{
    store_view_t sentinel = {.ptr = (void *)0x1}, view = sentinel, a_view, b_view;
    store_oid_t  a = test_oid(1), b = test_oid(2), unsealed = test_oid(3);
    test_store_t owner, reader;
    uint64_t     unsealed_offset;
    void        *ptr, *base;
    size_t       len;

    test_store_open_ex(&owner, 4 * MIB, false, 0, 0, NULL);
    test_store_open_ex(&reader, 4 * MIB, false, 0, 1, owner.job_id);
    assert_int_equal(test_put(owner.store, 1, 5000, 0), RMPI_OK);
    assert_int_equal(test_put(owner.store, 2, 200000, 0), RMPI_OK);
    assert_int_equal(store_create_object(owner.store, &unsealed, 100, 0, &ptr), RMPI_OK);
    assert_int_equal(store_get(owner.store, &a, &a_view), RMPI_OK);
    assert_int_equal(store_get(owner.store, &b, &b_view), RMPI_OK);
    assert_int_equal(store_release(owner.store, &a), RMPI_OK);
    assert_int_equal(store_release(owner.store, &b), RMPI_OK);
    store_arena_region(owner.store, &base, &len);
    unsealed_offset = (uint64_t)((char *)ptr - 64 - (char *)base);

    const struct {
        const store_oid_t *oid;
        uint64_t           offset;
        size_t             size;
    } bad[] = {
        {&a, 0, 5000},                     /* the arena header */
        {&a, a_view.offset + 8, 5000},     /* unaligned */
        {&a, a_view.offset + 64, 5000},    /* inside the object */
        {&a, a_view.offset, 5001},         /* wrong size */
        {&a, b_view.offset, 5000},         /* another object's place */
        {&b, a_view.offset, 200000},       /* another object's ID */
        {&a, 4 * MIB, 5000},               /* past the end */
        {&a, 4 * MIB - 64, 5000},          /* header fits, payload does not */
        {&a, UINT64_MAX - 63, 5000},       /* wraps around */
        {&a, a_view.offset, SIZE_MAX},     /* wraps around */
        {&unsealed, unsealed_offset, 100}, /* created, not sealed */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        assert_int_equal(
            store_peer_get(reader.store, 0, bad[i].oid, bad[i].offset, bad[i].size, &view),
            RMPI_ERR_NOT_FOUND);
        assert_memory_equal(&view, &sentinel, sizeof(view));
    }
    /* The good ones still work; once deleted, the old location no longer validates. */
    assert_int_equal(store_peer_get(reader.store, 0, &a, a_view.offset, 5000, &view), RMPI_OK);
    assert_int_equal(store_delete(owner.store, &a), RMPI_OK);
    assert_int_equal(store_peer_get(reader.store, 0, &a, a_view.offset, 5000, &view),
                     RMPI_ERR_NOT_FOUND);
    /* No such rank on this node. */
    assert_int_equal(store_peer_attach(reader.store, 5), RMPI_ERR_NOT_FOUND);
    assert_int_equal(store_peer_get(reader.store, 5, &b, b_view.offset, 200000, &view),
                     RMPI_ERR_NOT_FOUND);
    assert_int_equal(store_peer_attach(reader.store, -1), RMPI_ERR_INVALID_ARG);

    assert_int_equal(store_seal(owner.store, &unsealed), RMPI_OK);
    test_store_close(&reader);
    test_store_close(&owner);
}

/* Random locations into a busy arena: only exact (oid, offset, size) triples validate. */
static void test_peer_get_random_locations(void **state)
{
    test_store_t owner, reader;
    store_view_t views[64], view;
    uint64_t     rng  = 0x2545f4914f6cdd1dull;
    size_t       hits = 0, peer_len;
    const void  *peer_base;

    test_store_open_ex(&owner, 8 * MIB, false, 0, 0, NULL);
    test_store_open_ex(&reader, 8 * MIB, false, 0, 1, owner.job_id);
    for (uint64_t n = 0; n < 64; ++n) {
        store_oid_t oid = test_oid(n);

        assert_int_equal(test_put(owner.store, n, 64 + n * 1000, 0), RMPI_OK);
        assert_int_equal(store_get(owner.store, &oid, &views[n]), RMPI_OK);
    }
    assert_int_equal(store_peer_attach(reader.store, 0), RMPI_OK);
    assert_int_equal(store_peer_region(reader.store, 0, &peer_base, &peer_len), RMPI_OK);
    assert_int_equal(peer_len, 8 * MIB);
    for (int i = 0; i < 100000; ++i) {
        uint64_t    n      = (rng = rng * 6364136223846793005ull + 1) >> 58; /* 0..63 */
        uint64_t    offset = (rng >> 7) % (9 * MIB), size = 64 + n * 1000;
        store_oid_t oid = test_oid(n);

        if (i % 4 == 0) {
            offset = views[n].offset;                               /* the right place ... */
            size   = (i % 8 == 0) ? size : size + 64 * (rng >> 60); /* ... maybe the wrong size */
        } else if (i % 4 == 1) {
            offset &= ~63ull; /* aligned, so only the header check can say no */
        }
        if (store_peer_get(reader.store, 0, &oid, offset, size, &view) == RMPI_OK) {
            assert_int_equal(offset, views[n].offset);
            assert_int_equal(size, views[n].size);
            assert_ptr_equal(view.ptr, (const char *)peer_base + offset + 64);
            assert_true((i > 2000) || test_check(view.ptr, view.size, n)); /* cheap enough */
            hits++;
        }
    }
    assert_true(hits >= 100000 / 8); /* every exact triple validated */
    test_store_close(&reader);
    test_store_close(&owner);
}

/* A store may read its own arena through the peer path (used by the benchmarks). */
static void test_peer_get_own_rank(void **state)
{
    store_oid_t  oid = test_oid(4);
    store_view_t local, peer;
    test_store_t ts;

    test_store_open(&ts, 4 * MIB, false, 0);
    assert_int_equal(test_put(ts.store, 4, 1024, 0), RMPI_OK);
    assert_int_equal(store_get(ts.store, &oid, &local), RMPI_OK);
    assert_int_equal(store_peer_get(ts.store, 0, &oid, local.offset, 1024, &peer), RMPI_OK);
    assert_ptr_not_equal(peer.ptr, local.ptr);
    assert_memory_equal(peer.ptr, local.ptr, 1024);
    assert_int_equal(store_release(ts.store, &oid), RMPI_OK);
    test_store_close(&ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_name_mode_header),
        cmocka_unit_test(test_live_name_clash),
        cmocka_unit_test(test_stale_arena_of_dead_child_removed),
        cmocka_unit_test(test_live_arena_untouched),
        cmocka_unit_test(test_recycled_pid_and_foreign_files),
        cmocka_unit_test(test_peer_get_zero_copy),
        cmocka_unit_test(test_peer_get_rejects_bad_locations),
        cmocka_unit_test(test_peer_get_random_locations),
        cmocka_unit_test(test_peer_get_own_rank),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
