/*
 * Unit tests of transport/wire.c: frames round-trip, and every malformed
 * frame is rejected with the right reason before any record is handed out.
 */
#include "transport/wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NUM_RANKS 4
#define NUM_IDS 16

static const xport_wire_limits_t limits = {.num_ranks = NUM_RANKS, .num_ids = NUM_IDS};

typedef struct seen {
    int                 count;
    uint32_t            src;
    xport_wire_record_t rec[8];
    char                copy[8][64]; /* header then data of each record */
} seen_t;

static void visit(void *arg, uint32_t src, const xport_wire_record_t *rec)
{
    seen_t *seen = arg;

    assert_true(seen->count < 8);
    assert_true(rec->hdr_len + rec->data_len <= sizeof(seen->copy[0]));
    seen->src              = src;
    seen->rec[seen->count] = *rec;
    if (rec->hdr_len) {
        memcpy(seen->copy[seen->count], rec->hdr, rec->hdr_len);
    }
    if (rec->data_len) {
        memcpy(seen->copy[seen->count] + rec->hdr_len, rec->data, rec->data_len);
    }
    seen->count++;
}

/* A frame from rank 2 with three records: (3, "hd", "payload"), (0, -, -), (ID_FIN_REQ, -, "x"). */
static size_t build_frame(char *buf)
{
    size_t len = xport_wire_frame_init(buf, XPORT_WIRE_BATCH, 2);

    len = xport_wire_frame_append(buf, len, 3, "hd", 2, "payload", 7);
    len = xport_wire_frame_append(buf, len, 0, NULL, 0, NULL, 0);
    len = xport_wire_frame_append(buf, len, XPORT_WIRE_ID_FIN_REQ, NULL, 0, "x", 1);
    return len;
}

static void expect_bad(const void *buf, size_t len, xport_bad_reason_t want)
{
    seen_t             seen   = {0};
    xport_bad_reason_t reason = XPORT_BAD_LAST;

    assert_int_equal(xport_wire_decode_batch(buf, len, &limits, visit, &seen, &reason),
                     RMPI_ERR_MESSAGE);
    assert_int_equal(reason, want);
    assert_int_equal(seen.count, 0); /* nothing of a bad frame is delivered */
}

static void test_round_trip(void **state)
{
    char               buf[256];
    size_t             len  = build_frame(buf);
    seen_t             seen = {0};
    xport_bad_reason_t reason;

    (void)state;
    assert_int_equal(len % XPORT_WIRE_ALIGN, 0);
    assert_int_equal(len, XPORT_WIRE_FRAME_HDR + xport_wire_record_size(2, 7) +
                              xport_wire_record_size(0, 0) + xport_wire_record_size(0, 1));
    assert_int_equal(xport_wire_decode_batch(buf, len, &limits, visit, &seen, &reason), RMPI_OK);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.src, 2);
    assert_int_equal(seen.rec[0].am_id, 3);
    assert_int_equal(seen.rec[0].hdr_len, 2);
    assert_int_equal(seen.rec[0].data_len, 7);
    assert_memory_equal(seen.copy[0], "hdpayload", 9);
    assert_int_equal(seen.rec[1].am_id, 0);
    assert_null(seen.rec[1].hdr);
    assert_null(seen.rec[1].data);
    assert_int_equal(seen.rec[2].am_id, XPORT_WIRE_ID_FIN_REQ);
    assert_memory_equal(seen.copy[2], "x", 1);
}

/* Frames arrive at any alignment: decode from an odd address. */
static void test_unaligned(void **state)
{
    char   frame[256], shifted[257];
    size_t len  = build_frame(frame);
    seen_t seen = {0};

    (void)state;
    memcpy(shifted + 1, frame, len);
    assert_int_equal(xport_wire_decode_batch(shifted + 1, len, &limits, visit, &seen, NULL),
                     RMPI_OK);
    assert_int_equal(seen.count, 3);
    assert_memory_equal(seen.copy[0], "hdpayload", 9);
}

static void test_truncated(void **state)
{
    char   buf[256];
    size_t len = build_frame(buf);

    (void)state;
    expect_bad(NULL, 0, XPORT_BAD_TRUNCATED);
    /* Every cut inside the frame header or a record is caught. */
    for (size_t cut = 0; cut < len; ++cut) {
        seen_t             seen = {0};
        xport_bad_reason_t reason;

        assert_int_equal(xport_wire_decode_batch(buf, cut, &limits, visit, &seen, &reason),
                         RMPI_ERR_MESSAGE);
        assert_int_equal(seen.count, 0);
        assert_true(reason == XPORT_BAD_TRUNCATED || reason == XPORT_BAD_LENGTH);
    }
}

static void patch32(char *buf, size_t offset, uint32_t value)
{
    memcpy(buf + offset, &value, sizeof(value));
}

static void test_bad_magic_and_version(void **state)
{
    char   buf[256];
    size_t len = build_frame(buf);

    (void)state;
    patch32(buf, 0, 0xdeadbeef);
    expect_bad(buf, len, XPORT_BAD_MAGIC);
    build_frame(buf);
    buf[4] = XPORT_WIRE_VERSION + 1;
    expect_bad(buf, len, XPORT_BAD_MAGIC);
    build_frame(buf);
    buf[5] = XPORT_WIRE_LARGE; /* a LARGE header is no batch */
    expect_bad(buf, len, XPORT_BAD_MAGIC);
}

static void test_rank_out_of_range(void **state)
{
    char   buf[256];
    size_t len = build_frame(buf);

    (void)state;
    patch32(buf, 8, NUM_RANKS);
    expect_bad(buf, len, XPORT_BAD_RANK);
    patch32(buf, 8, UINT32_MAX);
    expect_bad(buf, len, XPORT_BAD_RANK);
}

static void test_unknown_handler(void **state)
{
    char   buf[256];
    size_t len;

    (void)state;
    len = xport_wire_frame_init(buf, XPORT_WIRE_BATCH, 0);
    len = xport_wire_frame_append(buf, len, NUM_IDS, NULL, 0, "a", 1);
    expect_bad(buf, len, XPORT_BAD_HANDLER);
    len = xport_wire_frame_init(buf, XPORT_WIRE_BATCH, 0);
    len = xport_wire_frame_append(buf, len, XPORT_WIRE_ID_INTERNAL_END, NULL, 0, NULL, 0);
    expect_bad(buf, len, XPORT_BAD_HANDLER);
    /* A bad record after a good one still rejects the whole frame. */
    len = xport_wire_frame_init(buf, XPORT_WIRE_BATCH, 0);
    len = xport_wire_frame_append(buf, len, 1, NULL, 0, "ok", 2);
    len = xport_wire_frame_append(buf, len, 0xfffe, NULL, 0, NULL, 0);
    expect_bad(buf, len, XPORT_BAD_HANDLER);
}

static void test_oversize_lengths(void **state)
{
    char     buf[256];
    size_t   len  = build_frame(buf);
    uint64_t huge = UINT64_MAX;
    uint16_t hdr  = UINT16_MAX;

    (void)state;
    memcpy(buf + XPORT_WIRE_FRAME_HDR + 8, &huge, sizeof(huge)); /* data length */
    expect_bad(buf, len, XPORT_BAD_LENGTH);
    build_frame(buf);
    memcpy(buf + XPORT_WIRE_FRAME_HDR + 2, &hdr, sizeof(hdr)); /* header length */
    expect_bad(buf, len, XPORT_BAD_TRUNCATED);
    build_frame(buf);
    patch32(buf, 12, 1000000); /* record count far beyond the bytes */
    expect_bad(buf, len, XPORT_BAD_TRUNCATED);
    build_frame(buf);
    patch32(buf, 12, 4); /* one record more than present */
    expect_bad(buf, len, XPORT_BAD_TRUNCATED);
}

static void test_empty_frame(void **state)
{
    char   buf[64];
    size_t len;

    (void)state;
    len = xport_wire_frame_init(buf, XPORT_WIRE_BATCH, 1);
    expect_bad(buf, len, XPORT_BAD_EMPTY);
}

static void test_zero_length_record(void **state)
{
    char   buf[64];
    size_t len;
    seen_t seen = {0};

    (void)state;
    len = xport_wire_frame_init(buf, XPORT_WIRE_BATCH, 1);
    len = xport_wire_frame_append(buf, len, 5, NULL, 0, NULL, 0);
    assert_int_equal(len, XPORT_WIRE_FRAME_HDR + XPORT_WIRE_RECORD_HDR);
    assert_int_equal(xport_wire_decode_batch(buf, len, &limits, visit, &seen, NULL), RMPI_OK);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.rec[0].am_id, 5);
    assert_int_equal(seen.rec[0].hdr_len + seen.rec[0].data_len, 0);
}

static void test_trailing_garbage(void **state)
{
    char   buf[256];
    size_t len = build_frame(buf);

    (void)state;
    memset(buf + len, 0xab, 24);
    expect_bad(buf, len + 1, XPORT_BAD_TRAILING);
    expect_bad(buf, len + 24, XPORT_BAD_TRAILING); /* looks like one more record */
    memset(buf + len, 0, 24);
    expect_bad(buf, len + 8, XPORT_BAD_TRAILING);
    patch32(buf, 12, 2); /* count says fewer records than the bytes hold */
    expect_bad(buf, len, XPORT_BAD_TRAILING);
}

static void test_reserved_bits(void **state)
{
    char   buf[256];
    size_t len = build_frame(buf);

    (void)state;
    buf[6] = 1; /* frame reserved field */
    expect_bad(buf, len, XPORT_BAD_MAGIC);
    build_frame(buf);
    buf[XPORT_WIRE_FRAME_HDR + 4] = 1; /* record reserved field */
    expect_bad(buf, len, XPORT_BAD_MAGIC);
}

static void test_large_round_trip(void **state)
{
    char                buf[128];
    size_t              len = xport_wire_large_size(5);
    xport_wire_record_t rec;
    uint32_t            src;

    (void)state;
    xport_wire_encode_large(buf, 3, 7, "hello", 5, 1ull << 26);
    assert_int_equal(xport_wire_decode_large(buf, len, 1ull << 26, &limits, &src, &rec, NULL),
                     RMPI_OK);
    assert_int_equal(src, 3);
    assert_int_equal(rec.am_id, 7);
    assert_int_equal(rec.hdr_len, 5);
    assert_memory_equal(rec.hdr, "hello", 5);
    assert_int_equal(rec.data_len, 1ull << 26);
    assert_null(rec.data);
}

static void expect_bad_large(const void *buf, size_t len, uint64_t data_len,
                             xport_bad_reason_t want)
{
    xport_wire_record_t rec;
    uint32_t            src    = 99;
    xport_bad_reason_t  reason = XPORT_BAD_LAST;

    assert_int_equal(xport_wire_decode_large(buf, len, data_len, &limits, &src, &rec, &reason),
                     RMPI_ERR_MESSAGE);
    assert_int_equal(reason, want);
    assert_int_equal(src, 99); /* outputs untouched on failure */
}

static void test_large_malformed(void **state)
{
    char   buf[128];
    size_t len = xport_wire_large_size(5);

    (void)state;
    xport_wire_encode_large(buf, 3, 7, "hello", 5, 100);
    expect_bad_large(buf, len, 101, XPORT_BAD_LENGTH); /* payload size disagrees */
    expect_bad_large(buf, len - 1, 100, XPORT_BAD_TRUNCATED);
    expect_bad_large(buf, 10, 100, XPORT_BAD_TRUNCATED);
    expect_bad_large(buf, len + 3, 100, XPORT_BAD_TRAILING);
    xport_wire_encode_large(buf, NUM_RANKS, 7, "hello", 5, 100);
    expect_bad_large(buf, len, 100, XPORT_BAD_RANK);
    xport_wire_encode_large(buf, 0, NUM_IDS + 1, "hello", 5, 100);
    expect_bad_large(buf, len, 100, XPORT_BAD_HANDLER);
    xport_wire_frame_init(buf, XPORT_WIRE_BATCH, 0); /* batch header on the large path */
    expect_bad_large(buf, len, 100, XPORT_BAD_MAGIC);
}

/* Random corruption never crashes and either decodes or names a reason. */
static void test_random_corruption(void **state)
{
    char   buf[256];
    size_t len = build_frame(buf);

    (void)state;
    srand(12345);
    for (int i = 0; i < 20000; ++i) {
        char               copy[256];
        seen_t             seen   = {0};
        xport_bad_reason_t reason = XPORT_BAD_LAST;
        rmpi_status_t      status;

        memcpy(copy, buf, len);
        copy[rand() % len] ^= (char)(1 + rand() % 255);
        status = xport_wire_decode_batch(copy, len, &limits, visit, &seen, &reason);
        assert_true(status == RMPI_OK || (status == RMPI_ERR_MESSAGE && reason < XPORT_BAD_LAST));
        if (status != RMPI_OK) {
            assert_int_equal(seen.count, 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_truncated),          cmocka_unit_test(test_bad_magic_and_version),
        cmocka_unit_test(test_rank_out_of_range),  cmocka_unit_test(test_unknown_handler),
        cmocka_unit_test(test_oversize_lengths),   cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_zero_length_record), cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_reserved_bits),      cmocka_unit_test(test_large_round_trip),
        cmocka_unit_test(test_large_malformed),    cmocka_unit_test(test_random_corruption),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
