/*
 * Unit tests of spilling: the file format and its checksums (objstore/spill.h), and
 * the store's behaviour when a spill file is damaged (RMPI_ERR_CORRUPT for that object
 * only), when objects are deleted, and at destroy.
 */
#include "objstore/objhdr.h"
#include "objstore/spill.h"
#include "objstore/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_test_util.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define OBJ (100 * KIB)
#define ARENA_10 (4096 + MIB)

static void spill_path_of(const test_store_t *ts, uint64_t n, char *buf, size_t len)
{
    store_oid_t oid = test_oid(n);

    assert_int_equal(store_spill_path(ts->spill_dir, &oid, buf, len), RMPI_OK);
}

/* Fill a 10-slot arena with objects 1..10, then put 11..14 so that 1..4 are spilled. */
static void fill_and_spill_four(test_store_t *ts)
{
    store_stats_t stats;

    for (uint64_t n = 1; n <= 14; ++n) {
        assert_int_equal(test_put(ts->store, n, OBJ, 0), RMPI_OK);
    }
    store_stats(ts->store, &stats);
    assert_int_equal(stats.spills, 4);
    for (uint64_t n = 1; n <= 4; ++n) {
        char path[STORE_SPILL_PATH_MAX];

        spill_path_of(ts, n, path, sizeof(path));
        assert_true(test_path_exists(path));
    }
}

static void flip_byte(const char *path, off_t offset)
{
    int           fd = open(path, O_RDWR);
    unsigned char byte;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, offset), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
    close(fd);
}

/* The checksum sees every single-bit change, anywhere, and the length. */
static void test_checksum_detects_changes(void **state)
{
    const size_t len = 4099; /* strides plus a tail */
    uint8_t     *buf = malloc(len);
    uint64_t     sum;

    assert_non_null(buf);
    test_fill(buf, len, 9);
    sum = store_checksum(buf, len);
    assert_int_equal(store_checksum(buf, len), sum); /* deterministic */
    for (size_t i = 0; i < len; i += 7) {
        buf[i] ^= 0x80;
        assert_int_not_equal(store_checksum(buf, len), sum);
        buf[i] ^= 0x80;
    }
    assert_int_not_equal(store_checksum(buf, len - 1), sum);
    memset(buf, 0, 64);
    assert_int_not_equal(store_checksum(buf, 32), store_checksum(buf, 64)); /* zeros too */
    free(buf);
}

/* The file format alone: round trip, wrong ID or size, damage, truncation, extra bytes. */
static void test_spill_file_format(void **state)
{
    char        dir[] = "/tmp/store-spill-XXXXXX", path[256];
    store_oid_t oid = test_oid(1), other = test_oid(2);
    size_t      size = 10000;
    uint8_t    *data = malloc(size), *back = malloc(size);
    int         fd;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_spill_path(dir, &oid, path, sizeof(path)), RMPI_OK);
    test_fill(data, size, 1);
    assert_int_equal(store_spill_write(path, &oid, data, size), RMPI_OK);
    assert_int_equal(store_spill_read(path, &oid, back, size), RMPI_OK);
    assert_memory_equal(back, data, size);

    assert_int_equal(store_spill_read(path, &other, back, size), RMPI_ERR_CORRUPT);
    assert_int_equal(store_spill_read(path, &oid, back, size - 1), RMPI_ERR_CORRUPT);

    fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "x", 1), 1); /* one byte too many */
    close(fd);
    assert_int_equal(store_spill_read(path, &oid, back, size), RMPI_ERR_CORRUPT);
    assert_int_equal(truncate(path, 64 + (off_t)size), 0);
    assert_int_equal(store_spill_read(path, &oid, back, size), RMPI_OK);

    flip_byte(path, 20); /* in the header */
    assert_int_equal(store_spill_read(path, &oid, back, size), RMPI_ERR_CORRUPT);
    flip_byte(path, 20);
    assert_int_equal(truncate(path, 40), 0); /* not even a header */
    assert_int_equal(store_spill_read(path, &oid, back, size), RMPI_ERR_CORRUPT);
    unlink(path);
    assert_int_equal(store_spill_read(path, &oid, back, size), RMPI_ERR_IO);
    rmdir(dir);
    free(data);
    free(back);
}

/* One flipped payload byte: that object is lost with RMPI_ERR_CORRUPT; the others are fine. */
static void test_corrupt_spill_file(void **state)
{
    char          path[STORE_SPILL_PATH_MAX];
    store_oid_t   two = test_oid(2);
    store_view_t  view;
    store_stats_t before, after;
    test_store_t  ts;

    test_store_open(&ts, ARENA_10, true, 0);
    fill_and_spill_four(&ts);
    spill_path_of(&ts, 2, path, sizeof(path));
    flip_byte(path, 64 + 5000);
    store_stats(ts.store, &before);

    assert_int_equal(store_get(ts.store, &two, &view), RMPI_ERR_CORRUPT);
    assert_false(store_contains(ts.store, &two)); /* reported lost */
    assert_int_equal(store_get(ts.store, &two, &view), RMPI_ERR_NOT_FOUND);
    assert_false(test_path_exists(path));
    store_stats(ts.store, &after);
    assert_int_equal(after.objects, before.objects - 1);
    /* Its file is gone (making room for the attempt may have spilled another). */
    assert_int_equal(after.spilled_objects,
                     before.spilled_objects - 1 + (after.spills - before.spills));

    for (uint64_t n = 1; n <= 14; ++n) {
        if (n != 2) {
            test_get_check(ts.store, n, OBJ);
        }
    }
    test_store_close(&ts);
}

/* A truncated spill file: the same. */
static void test_truncated_spill_file(void **state)
{
    char         path[STORE_SPILL_PATH_MAX];
    store_oid_t  three = test_oid(3);
    store_view_t view;
    test_store_t ts;

    test_store_open(&ts, ARENA_10, true, 0);
    fill_and_spill_four(&ts);
    spill_path_of(&ts, 3, path, sizeof(path));
    assert_int_equal(truncate(path, 64 + OBJ / 2), 0);

    assert_int_equal(store_get(ts.store, &three, &view), RMPI_ERR_CORRUPT);
    assert_false(store_contains(ts.store, &three));
    for (uint64_t n = 1; n <= 14; ++n) {
        if (n != 3) {
            test_get_check(ts.store, n, OBJ);
        }
    }
    test_store_close(&ts);
}

/* Spill files go with their objects, and the folder with the store. */
static void test_spill_files_removed(void **state)
{
    char          path[STORE_SPILL_PATH_MAX];
    store_oid_t   one = test_oid(1);
    store_stats_t stats;
    test_store_t  ts;

    test_store_open(&ts, ARENA_10, true, 0);
    assert_true(test_path_exists(ts.spill_dir));
    fill_and_spill_four(&ts);
    spill_path_of(&ts, 1, path, sizeof(path));
    assert_int_equal(store_delete(ts.store, &one), RMPI_OK);
    assert_false(test_path_exists(path));
    store_stats(ts.store, &stats);
    assert_int_equal(stats.spilled_objects, 3);
    assert_int_equal(stats.spilled_bytes, 3 * OBJ);

    store_destroy(ts.store);
    spill_path_of(&ts, 2, path, sizeof(path));
    assert_false(test_path_exists(path));
    assert_false(test_path_exists(ts.spill_dir));
    assert_int_equal(rmdir(ts.tmp_dir), 0); /* nothing else was left in it */
}

/* A restored object that is spilled again reuses its file instead of writing it again. */
static void test_respill_reuses_file(void **state)
{
    store_stats_t stats;
    test_store_t  ts;

    test_store_open(&ts, ARENA_10, true, 0);
    fill_and_spill_four(&ts);
    test_get_check(ts.store, 1, OBJ); /* restore 1: spills 5 to make room */
    store_stats(ts.store, &stats);
    assert_int_equal(stats.restores, 1);
    assert_int_equal(stats.spills, 5);

    /* Touch everything resident except 1, so that 1 is the next to go. */
    for (uint64_t n = 6; n <= 14; ++n) {
        test_get_check(ts.store, n, OBJ);
    }
    assert_int_equal(test_put(ts.store, 15, OBJ, 0), RMPI_OK);
    store_stats(ts.store, &stats);
    assert_int_equal(stats.spills, 5); /* 1 left memory without a new write */
    assert_int_equal(stats.spilled_objects, 5);
    test_get_check(ts.store, 1, OBJ);
    test_store_close(&ts);
}

/* Secondary copies are dropped under pressure, never written to disk. */
static void test_secondaries_never_spilled(void **state)
{
    store_stats_t stats;
    test_store_t  ts;

    test_store_open(&ts, ARENA_10, true, 0);
    for (uint64_t n = 1; n <= 12; ++n) {
        assert_int_equal(test_put(ts.store, n, OBJ, STORE_OBJECT_SECONDARY), RMPI_OK);
    }
    store_stats(ts.store, &stats);
    assert_int_equal(stats.spills, 0);
    assert_int_equal(stats.evictions, 2);
    assert_int_equal(stats.objects, 10);
    test_store_close(&ts);
}

/* Files left in a rank's spill folder by a dead run of the same job are removed on create. */
static void test_leftover_spill_files_cleared(void **state)
{
    char           tmp[]  = "/tmp/store-left-XXXXXX", folder[256], junk[300];
    store_params_t params = {.field_mask = STORE_PARAM_ARENA_SIZE | STORE_PARAM_SPILL_DIR |
                                           STORE_PARAM_JOB_ID | STORE_PARAM_SPILL,
                             .arena_size = MIB,
                             .spill      = true,
                             .job_id     = "utest-leftover"};
    store_h        store  = NULL;
    FILE          *file;

    assert_non_null(mkdtemp(tmp));
    params.spill_dir = tmp;
    snprintf(folder, sizeof(folder), "%s/raympi-utest-leftover-0", tmp);
    snprintf(junk, sizeof(junk), "%s/0123.spill", folder);
    assert_int_equal(mkdir(folder, 0700), 0);
    file = fopen(junk, "w");
    assert_non_null(file);
    fputs("stale", file);
    fclose(file);

    assert_int_equal(store_create(&params, &store), RMPI_OK);
    assert_false(test_path_exists(junk));
    assert_true(test_path_exists(folder));
    store_destroy(store);
    assert_false(test_path_exists(folder));
    assert_int_equal(rmdir(tmp), 0);
}

typedef struct concurrent_get {
    store_h            store;
    pthread_barrier_t *start;
    store_view_t       view;
    rmpi_status_t      status;
} concurrent_get_t;

static void *get_thread(void *p)
{
    concurrent_get_t *arg = p;
    store_oid_t       oid = test_oid(1);

    pthread_barrier_wait(arg->start);
    arg->status = store_get(arg->store, &oid, &arg->view);
    return NULL;
}

/* Getters of an object being read back wait for that one restore; none starts another. */
static void test_concurrent_gets_restore_once(void **state)
{
    concurrent_get_t  args[4];
    pthread_t         threads[4];
    pthread_barrier_t start;
    store_oid_t       one = test_oid(1);
    store_stats_t     stats;
    test_store_t      ts;

    test_store_open(&ts, ARENA_10, true, 0);
    fill_and_spill_four(&ts);
    pthread_barrier_init(&start, NULL, 4);
    for (int i = 0; i < 4; ++i) {
        args[i] = (concurrent_get_t){.store = ts.store, .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, get_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; ++i) {
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].status, RMPI_OK);
        assert_ptr_equal(args[i].view.ptr, args[0].view.ptr); /* one copy in memory */
    }
    assert_true(test_check(args[0].view.ptr, OBJ, 1));
    store_stats(ts.store, &stats);
    assert_int_equal(stats.restores, 1);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(store_release(ts.store, &one), RMPI_OK);
    }
    assert_int_equal(store_release(ts.store, &one), RMPI_ERR_INVALID_ARG);
    pthread_barrier_destroy(&start);
    test_store_close(&ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_detects_changes),
        cmocka_unit_test(test_spill_file_format),
        cmocka_unit_test(test_corrupt_spill_file),
        cmocka_unit_test(test_truncated_spill_file),
        cmocka_unit_test(test_spill_files_removed),
        cmocka_unit_test(test_respill_reuses_file),
        cmocka_unit_test(test_secondaries_never_spilled),
        cmocka_unit_test(test_concurrent_gets_restore_once),
        cmocka_unit_test(test_leftover_spill_files_cleared),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
