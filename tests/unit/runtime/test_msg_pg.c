/*
 * Unit tests of runtime/msg_pg.c: the placement-group messages (PG_CREATE,
 * PG_REQUEST, PG_REPLY) round-trip with edge values at any alignment, and malformed
 * input - every truncation, trailing bytes, every header byte, reserved fields,
 * hostile counts and lengths, amounts and ranks that break the rules - is rejected
 * with RMPI_ERR_MESSAGE without reading outside the message (malformed copies are
 * decoded from exact-size heap blocks, for valgrind).
 *
 * Field offsets follow the layouts documented in runtime/msg_pg.h.
 */
#include "runtime/msg_pg.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HDR RT_MSG_HDR_LEN
/* PG_CREATE */
#define CREATE_OFF_STRATEGY (HDR + 24)
#define CREATE_OFF_FLAGS (HDR + 25)
#define CREATE_OFF_NAME_LEN (HDR + 26)
#define CREATE_OFF_ZERO (HDR + 27)
#define CREATE_OFF_NUM_BUNDLES (HDR + 28)
#define CREATE_OFF_NAME (HDR + 32)
/* PG_REQUEST */
#define REQUEST_OFF_OP (HDR + 8)
#define REQUEST_OFF_NAME_LEN (HDR + 9)
#define REQUEST_OFF_ZERO (HDR + 10)
/* PG_REPLY */
#define REPLY_OFF_STATUS (HDR + 8)
#define REPLY_OFF_STATE (HDR + 12)
#define REPLY_OFF_STRATEGY (HDR + 13)
#define REPLY_OFF_ZERO (HDR + 14)
#define REPLY_OFF_ERROR_LEN (HDR + 32)
#define REPLY_OFF_ERROR (HDR + 36)

static const char group_name[] = "trainers";
static const char error_text[] = "the placement group was removed";

static void fill_id(rmpi_pg_t *id, uint8_t seed)
{
    for (size_t i = 0; i < sizeof(id->id); i++) {
        id->id[i] = (uint8_t)(seed + i * 5);
    }
}

static void fill_bundles(rt_resvec_t *b, size_t n)
{
    memset(b, 0, n * sizeof(*b));
    for (size_t i = 0; i < n; i++) {
        b[i].cpus   = 1 + (double)i;
        b[i].gpus   = i % 2 ? 0.25 : 0;
        b[i].memory = UINT64_MAX - i;
        if (i % 3 == 0) {
            b[i].custom[0]                 = 2;
            b[i].custom[RT_MAX_CUSTOM - 1] = 0.5;
        }
    }
}

static void assert_resvec_equal(const rt_resvec_t *a, const rt_resvec_t *b)
{
    assert_true(a->cpus == b->cpus && a->gpus == b->gpus);
    assert_true(a->memory == b->memory);
    for (size_t i = 0; i < RT_MAX_CUSTOM; i++) {
        assert_true(a->custom[i] == b->custom[i]);
    }
}

/* --- samples ---------------------------------------------------------------------- */

typedef struct sample {
    rt_msg_type_t type;
    uint8_t      *buf;
    size_t        len;
} sample_t;

static rt_resvec_t sample_bundles[4];
static int32_t     sample_ranks[4] = {0, 3, 3, 1};

static sample_t sample_create(bool named)
{
    rt_pg_create_t msg = {.cookie = 0x0102030405060708ull, .strategy = RMPI_PG_STRICT_SPREAD};
    sample_t       s   = {.type = RT_MSG_PG_CREATE};

    fill_id(&msg.id, 3);
    fill_bundles(sample_bundles, 4);
    msg.flags       = named ? RT_PG_CREATE_DETACHED : 0;
    msg.name        = named ? group_name : NULL;
    msg.name_len    = named ? strlen(group_name) : 0;
    msg.num_bundles = named ? 4 : 1;
    msg.bundles     = sample_bundles;
    s.len           = rt_pg_create_size(&msg);
    s.buf           = malloc(s.len);
    assert_non_null(s.buf);
    assert_int_equal(rt_pg_create_encode(&msg, s.buf), s.len);
    return s;
}

static sample_t sample_request(rt_pg_op_t op)
{
    rt_pg_request_t msg = {.cookie = 77, .op = (uint8_t)op};
    sample_t        s   = {.type = RT_MSG_PG_REQUEST};

    fill_id(&msg.id, 9);
    msg.name     = op == RT_PG_OP_GET ? group_name : NULL;
    msg.name_len = op == RT_PG_OP_GET ? strlen(group_name) : 0;
    s.len        = rt_pg_request_size(&msg);
    s.buf        = malloc(s.len);
    assert_non_null(s.buf);
    assert_int_equal(rt_pg_request_encode(&msg, s.buf), s.len);
    return s;
}

static sample_t sample_reply(rt_pg_state_t state, uint32_t n)
{
    rt_pg_reply_t msg        = {.cookie = 5, .state = (uint8_t)state, .strategy = RMPI_PG_SPREAD};
    int32_t       pending[4] = {-1, -1, -1, -1};
    sample_t      s          = {.type = RT_MSG_PG_REPLY};

    fill_id(&msg.id, 1);
    fill_bundles(sample_bundles, 4);
    msg.status      = state == RT_PG_NONE ? RMPI_ERR_NOT_FOUND : RMPI_OK;
    msg.error       = state == RT_PG_NONE ? error_text : NULL;
    msg.error_len   = state == RT_PG_NONE ? strlen(error_text) : 0;
    msg.num_bundles = n;
    msg.bundles     = n > 0 ? sample_bundles : NULL;
    msg.ranks       = state == RT_PG_PENDING ? pending : sample_ranks;
    s.len           = rt_pg_reply_size(&msg);
    s.buf           = malloc(s.len);
    assert_non_null(s.buf);
    assert_int_equal(rt_pg_reply_encode(&msg, s.buf), s.len);
    return s;
}

#define NUM_SAMPLES 9

static void build_samples(sample_t *s)
{
    s[0] = sample_create(false);
    s[1] = sample_create(true);
    s[2] = sample_request(RT_PG_OP_WAIT);
    s[3] = sample_request(RT_PG_OP_REMOVE);
    s[4] = sample_request(RT_PG_OP_GET);
    s[5] = sample_reply(RT_PG_NONE, 0);
    s[6] = sample_reply(RT_PG_READY, 4);
    s[7] = sample_reply(RT_PG_PENDING, 2);
    s[8] = sample_reply(RT_PG_GONE, 0);
}

static void free_samples(sample_t *s)
{
    for (size_t i = 0; i < NUM_SAMPLES; i++) {
        free(s[i].buf);
    }
}

/* Decode a copy in an exact-size heap block (valgrind sees any overread). */
static rmpi_status_t decode_copy(rt_msg_type_t type, const uint8_t *buf, size_t len)
{
    uint8_t        *copy = malloc(len > 0 ? len : 1);
    rmpi_status_t   status;
    rt_pg_create_t  create;
    rt_pg_request_t request;
    rt_pg_reply_t   reply;

    assert_non_null(copy);
    memcpy(copy, buf, len);
    if (type == RT_MSG_PG_CREATE) {
        status = rt_pg_create_decode(copy, len, &create);
        if (status == RMPI_OK) {
            rt_pg_create_clear(&create);
        }
    } else if (type == RT_MSG_PG_REQUEST) {
        status = rt_pg_request_decode(copy, len, &request);
    } else {
        status = rt_pg_reply_decode(copy, len, &reply);
        if (status == RMPI_OK) {
            rt_pg_reply_clear(&reply);
        }
    }
    free(copy);
    return status;
}

/* --- round trips -------------------------------------------------------------------- */

static void test_create_round_trip(void **state)
{
    sample_t       s = sample_create(true);
    rt_pg_create_t msg;
    rmpi_pg_t      id;

    (void)state;
    fill_id(&id, 3);
    assert_int_equal(rt_pg_create_decode(s.buf, s.len, &msg), RMPI_OK);
    assert_true(msg.cookie == 0x0102030405060708ull);
    assert_memory_equal(msg.id.id, id.id, sizeof(id.id));
    assert_int_equal(msg.strategy, RMPI_PG_STRICT_SPREAD);
    assert_int_equal(msg.flags, RT_PG_CREATE_DETACHED);
    assert_int_equal(msg.name_len, strlen(group_name));
    assert_memory_equal(msg.name, group_name, msg.name_len);
    assert_true(msg.name >= (const char *)s.buf && msg.name < (const char *)s.buf + s.len);
    assert_int_equal(msg.num_bundles, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_resvec_equal(&msg.bundles[i], &sample_bundles[i]);
    }
    rt_pg_create_clear(&msg);
    assert_null(msg.bundles);
    free(s.buf);
}

static void test_request_round_trip(void **state)
{
    (void)state;
    for (int op = RT_PG_OP_WAIT; op < RT_PG_OP_LAST; op++) {
        sample_t        s = sample_request((rt_pg_op_t)op);
        rt_pg_request_t msg;

        assert_int_equal(rt_pg_request_decode(s.buf, s.len, &msg), RMPI_OK);
        assert_int_equal(msg.op, op);
        assert_true(msg.cookie == 77);
        assert_int_equal(msg.name_len, op == RT_PG_OP_GET ? strlen(group_name) : 0);
        free(s.buf);
    }
}

static void test_reply_round_trip(void **state)
{
    sample_t      s = sample_reply(RT_PG_READY, 4);
    rt_pg_reply_t msg;

    (void)state;
    assert_int_equal(rt_pg_reply_decode(s.buf, s.len, &msg), RMPI_OK);
    assert_int_equal(msg.state, RT_PG_READY);
    assert_int_equal(msg.status, RMPI_OK);
    assert_int_equal(msg.strategy, RMPI_PG_SPREAD);
    assert_int_equal(msg.num_bundles, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(msg.ranks[i], sample_ranks[i]);
        assert_resvec_equal(&msg.bundles[i], &sample_bundles[i]);
    }
    rt_pg_reply_clear(&msg);
    free(s.buf);

    s = sample_reply(RT_PG_NONE, 0);
    assert_int_equal(rt_pg_reply_decode(s.buf, s.len, &msg), RMPI_OK);
    assert_int_equal(msg.status, RMPI_ERR_NOT_FOUND);
    assert_int_equal(msg.error_len, strlen(error_text));
    assert_memory_equal(msg.error, error_text, msg.error_len);
    assert_null(msg.bundles);
    free(s.buf);
}

/* Every sample decodes at every alignment. */
static void test_unaligned(void **state)
{
    sample_t s[NUM_SAMPLES];

    (void)state;
    build_samples(s);
    for (size_t i = 0; i < NUM_SAMPLES; i++) {
        for (size_t shift = 1; shift < 8; shift++) {
            uint8_t *buf = malloc(s[i].len + shift);

            memcpy(buf + shift, s[i].buf, s[i].len);
            assert_int_equal(decode_copy(s[i].type, buf + shift, s[i].len), RMPI_OK);
            free(buf);
        }
    }
    free_samples(s);
}

/* Long names and errors are cut to their limits by the encoder, and still decode. */
static void test_cuts_long_strings(void **state)
{
    char            name[200];
    rt_resvec_t     b;
    rt_pg_create_t  create = {.num_bundles = 1, .bundles = &b};
    rt_pg_request_t req    = {.op = RT_PG_OP_GET};
    rt_pg_reply_t   reply  = {.status = RMPI_ERR_PEER_DIED, .state = RT_PG_FAILED};
    uint8_t         buf[4096];
    char            error[2 * RT_ERROR_MSG_MAX];

    (void)state;
    memset(name, 'n', sizeof(name));
    memset(error, 'e', sizeof(error));
    memset(&b, 0, sizeof(b));
    b.cpus          = 1;
    create.name     = name;
    create.name_len = sizeof(name);
    size_t len      = rt_pg_create_encode(&create, buf);
    assert_int_equal(len, rt_pg_create_size(&create));
    assert_int_equal(buf[CREATE_OFF_NAME_LEN], RMPI_PG_NAME_MAX);
    assert_int_equal(decode_copy(RT_MSG_PG_CREATE, buf, len), RMPI_OK);
    req.name     = name;
    req.name_len = sizeof(name);
    len          = rt_pg_request_encode(&req, buf);
    assert_int_equal(len, rt_pg_request_size(&req));
    assert_int_equal(decode_copy(RT_MSG_PG_REQUEST, buf, len), RMPI_OK);
    reply.error     = error;
    reply.error_len = sizeof(error);
    len             = rt_pg_reply_encode(&reply, buf);
    assert_int_equal(len, rt_pg_reply_size(&reply));
    assert_int_equal(decode_copy(RT_MSG_PG_REPLY, buf, len), RMPI_OK);
}

/* --- malformed input ---------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put_f64(uint8_t *p, double v)
{
    memcpy(p, &v, sizeof(v));
}

static void test_truncations(void **state)
{
    sample_t s[NUM_SAMPLES];

    (void)state;
    build_samples(s);
    for (size_t i = 0; i < NUM_SAMPLES; i++) {
        for (size_t len = 0; len < s[i].len; len++) {
            uint8_t copy[4096];

            assert_int_equal(decode_copy(s[i].type, s[i].buf, len), RMPI_ERR_MESSAGE);
            if (len >= HDR) {
                memcpy(copy, s[i].buf, len);
                put_u32(copy + 4, (uint32_t)len);
                assert_int_equal(decode_copy(s[i].type, copy, len), RMPI_ERR_MESSAGE);
            }
        }
    }
    free_samples(s);
}

static void test_trailing_bytes(void **state)
{
    sample_t s[NUM_SAMPLES];

    (void)state;
    build_samples(s);
    for (size_t i = 0; i < NUM_SAMPLES; i++) {
        uint8_t copy[4096];

        memcpy(copy, s[i].buf, s[i].len);
        copy[s[i].len] = 0;
        assert_int_equal(decode_copy(s[i].type, copy, s[i].len + 1), RMPI_ERR_MESSAGE);
        put_u32(copy + 4, (uint32_t)(s[i].len + 1));
        assert_int_equal(decode_copy(s[i].type, copy, s[i].len + 1), RMPI_ERR_MESSAGE);
    }
    free_samples(s);
}

/* Any change of the version, type, reserved flags or length byte is refused. */
static void test_header_corruption(void **state)
{
    sample_t s[NUM_SAMPLES];

    (void)state;
    build_samples(s);
    for (size_t i = 0; i < NUM_SAMPLES; i++) {
        for (size_t off = 0; off < HDR; off++) {
            uint8_t copy[4096];

            memcpy(copy, s[i].buf, s[i].len);
            copy[off] ^= 0x40;
            assert_int_equal(decode_copy(s[i].type, copy, s[i].len), RMPI_ERR_MESSAGE);
        }
    }
    free_samples(s);
}

/* Each decoder takes only its own type. */
static void test_wrong_type(void **state)
{
    static const rt_msg_type_t types[] = {RT_MSG_PG_CREATE, RT_MSG_PG_REQUEST, RT_MSG_PG_REPLY};
    sample_t                   s[NUM_SAMPLES];

    (void)state;
    build_samples(s);
    for (size_t i = 0; i < NUM_SAMPLES; i++) {
        for (size_t t = 0; t < 3; t++) {
            if (types[t] != s[i].type) {
                assert_int_equal(decode_copy(types[t], s[i].buf, s[i].len), RMPI_ERR_MESSAGE);
            }
        }
    }
    free_samples(s);
}

static void expect_patched_bad(const sample_t *s, size_t off, const void *bytes, size_t n)
{
    uint8_t copy[4096];

    memcpy(copy, s->buf, s->len);
    memcpy(copy + off, bytes, n);
    assert_int_equal(decode_copy(s->type, copy, s->len), RMPI_ERR_MESSAGE);
}

static void test_bad_create_fields(void **state)
{
    sample_t s         = sample_create(true);
    uint8_t  bad[]     = {RMPI_PG_STRICT_SPREAD + 1, 2, RMPI_PG_NAME_MAX + 1, 1};
    uint32_t counts[]  = {0, RMPI_PG_MAX_BUNDLES + 1, 5, 0xffffffffu};
    size_t   res       = CREATE_OFF_NAME + strlen(group_name); /* bundle 0 */
    double   amounts[] = {-1, NAN, INFINITY};

    (void)state;
    expect_patched_bad(&s, CREATE_OFF_STRATEGY, &bad[0], 1);
    expect_patched_bad(&s, CREATE_OFF_FLAGS, &bad[1], 1);
    expect_patched_bad(&s, CREATE_OFF_NAME_LEN, &bad[2], 1);
    expect_patched_bad(&s, CREATE_OFF_ZERO, &bad[3], 1);
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        expect_patched_bad(&s, CREATE_OFF_NUM_BUNDLES, &counts[i], 4);
    }
    for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        uint8_t copy[4096];

        memcpy(copy, s.buf, s.len);
        put_f64(copy + res, amounts[i]); /* cpus */
        assert_int_equal(decode_copy(s.type, copy, s.len), RMPI_ERR_MESSAGE);
        memcpy(copy, s.buf, s.len);
        put_f64(copy + res + 8, amounts[i]); /* gpus */
        assert_int_equal(decode_copy(s.type, copy, s.len), RMPI_ERR_MESSAGE);
    }
    /* bundle 0's custom entries: (0, 2.0), (15, 0.5) at res + 25 */
    uint8_t index_bad = RT_MAX_CUSTOM, index_dup = 0, count_bad = RT_MAX_CUSTOM + 1;
    double  zero = 0;
    expect_patched_bad(&s, res + 25, &index_bad, 1);
    expect_patched_bad(&s, res + 25 + 9, &index_dup, 1); /* not increasing */
    expect_patched_bad(&s, res + 25 + 1, &zero, 8);      /* an amount of 0 is not written */
    expect_patched_bad(&s, res + 24, &count_bad, 1);
    free(s.buf);
}

static void test_bad_request_fields(void **state)
{
    sample_t wait    = sample_request(RT_PG_OP_WAIT);
    sample_t get     = sample_request(RT_PG_OP_GET);
    uint8_t  op_zero = 0, op_last = RT_PG_OP_LAST, op_wait = RT_PG_OP_WAIT, op_get = RT_PG_OP_GET;
    uint8_t  one = 1;

    (void)state;
    expect_patched_bad(&wait, REQUEST_OFF_OP, &op_zero, 1);
    expect_patched_bad(&wait, REQUEST_OFF_OP, &op_last, 1);
    expect_patched_bad(&wait, REQUEST_OFF_OP, &op_get, 1); /* GET without a name */
    expect_patched_bad(&get, REQUEST_OFF_OP, &op_wait, 1); /* a name without GET */
    expect_patched_bad(&wait, REQUEST_OFF_ZERO, &one, 1);
    expect_patched_bad(&wait, REQUEST_OFF_ZERO + 3, &one, 1);
    free(wait.buf);
    free(get.buf);
}

static void test_bad_reply_fields(void **state)
{
    sample_t ready      = sample_reply(RT_PG_READY, 4);
    sample_t pending    = sample_reply(RT_PG_PENDING, 2);
    sample_t none       = sample_reply(RT_PG_NONE, 0);
    uint8_t  state_last = RT_PG_STATE_LAST, state_none = RT_PG_NONE, state_ready = RT_PG_READY;
    uint8_t  strategy_bad = RMPI_PG_STRICT_SPREAD + 1, one = 1;
    int32_t  statuses[] = {RMPI_ERR_LAST, 2, INT32_MIN};
    uint32_t error_len  = RT_ERROR_MSG_MAX + 1;
    size_t   bundles    = REPLY_OFF_ERROR + 4; /* no error: num_bundles, then (rank, res) */

    (void)state;
    expect_patched_bad(&ready, REPLY_OFF_STATE, &state_last, 1);
    expect_patched_bad(&ready, REPLY_OFF_STATE, &state_none, 1); /* bundles without a group */
    expect_patched_bad(&ready, REPLY_OFF_STRATEGY, &strategy_bad, 1);
    expect_patched_bad(&ready, REPLY_OFF_ZERO, &one, 1);
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        expect_patched_bad(&ready, REPLY_OFF_STATUS, &statuses[i], 4);
    }
    expect_patched_bad(&none, REPLY_OFF_ERROR_LEN, &error_len, 4);
    /* a pending group with a placed bundle, a placed one with an unplaced bundle */
    int32_t placed = 2, unplaced = -1, below = -2;
    expect_patched_bad(&pending, bundles, &placed, 4);
    expect_patched_bad(&ready, bundles, &unplaced, 4);
    expect_patched_bad(&ready, bundles, &below, 4);
    /* a pending or placed group shows its bundles */
    uint8_t copy[4096];
    memcpy(copy, none.buf, none.len);
    copy[REPLY_OFF_STATE] = state_ready;
    assert_int_equal(decode_copy(none.type, copy, none.len), RMPI_ERR_MESSAGE);
    uint32_t hostile = 0x10000000u;
    expect_patched_bad(&ready, REPLY_OFF_ERROR, &hostile, 4);
    free(ready.buf);
    free(pending.buf);
    free(none.buf);
}

static void test_outputs_untouched_on_failure(void **state)
{
    sample_t        s = sample_reply(RT_PG_READY, 4);
    rt_pg_reply_t   reply, before;
    rt_pg_create_t  create, cbefore;
    rt_pg_request_t req, rbefore;

    (void)state;
    memset(&reply, 0x5a, sizeof(reply));
    memset(&create, 0x5a, sizeof(create));
    memset(&req, 0x5a, sizeof(req));
    before  = reply;
    cbefore = create;
    rbefore = req;
    assert_int_equal(rt_pg_reply_decode(s.buf, s.len - 1, &reply), RMPI_ERR_MESSAGE);
    assert_int_equal(rt_pg_create_decode(s.buf, s.len, &create), RMPI_ERR_MESSAGE);
    assert_int_equal(rt_pg_request_decode(s.buf, s.len, &req), RMPI_ERR_MESSAGE);
    assert_memory_equal(&reply, &before, sizeof(reply));
    assert_memory_equal(&create, &cbefore, sizeof(create));
    assert_memory_equal(&req, &rbefore, sizeof(req));
    free(s.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_round_trip),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_cuts_long_strings),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_header_corruption),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_bad_create_fields),
        cmocka_unit_test(test_bad_request_fields),
        cmocka_unit_test(test_bad_reply_fields),
        cmocka_unit_test(test_outputs_untouched_on_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
