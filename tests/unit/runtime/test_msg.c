/*
 * Unit tests of runtime/msg.c: every message type round-trips with edge values
 * (at any alignment), and malformed input - every truncation, every corruption of
 * the common header, hostile counts and lengths, out-of-range fields - is rejected
 * with RMPI_ERR_MESSAGE without reading outside the message (run under valgrind:
 * malformed copies are decoded from exact-size heap blocks).
 *
 * Field offsets below follow the layouts documented at the top of runtime/msg.c.
 */
#include "runtime/msg.h"
#include "runtime/msg_devobj.h"
#include "runtime/msg_nodepull.h"
#include "runtime/msg_pg.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HDR RT_MSG_HDR_LEN

/* TASK_PUSH */
#define SPEC_OFF_NUM_RETURNS 32
#define SPEC_OFF_CPUS 40
#define SPEC_OFF_GPUS 48
#define SPEC_OFF_NUM_CUSTOM 64
#define SPEC_OFF_NAME_LEN 65
#define SPEC_OFF_NUM_ARGS 66
#define SPEC_OFF_CUSTOM 70 /* then (u8 index, f64 amount) entries; args follow the name */
/* TASK_DONE */
#define DONE_OFF_EXECUTOR 28
#define DONE_OFF_NUM_RETURNS 40
#define DONE_OFF_VALUES 42
/* HELLO: the rank description starts at 20 */
#define HELLO_OFF_RANK 20
#define HELLO_OFF_NODE 24
#define HELLO_OFF_CPUS 28
#define HELLO_OFF_NUM_CUSTOM 52
#define HELLO_OFF_CUSTOM 53
/* WELCOME */
#define WELCOME_OFF_STATUS 8
#define WELCOME_OFF_ERROR_LEN 12

#define MAX_SAMPLES 48

/* --- fixtures ----------------------------------------------------------------------- */

static void fill_oid(store_oid_t *oid, uint8_t seed)
{
    for (size_t i = 0; i < sizeof(oid->bytes); i++) {
        oid->bytes[i] = (uint8_t)(seed + i * 7);
    }
}

static const char inline_bytes[] = "inline value bytes";
static const char error_text[]   = "the task raised: boom";
static const char task_name[]    = "a_task_name";
static const char rkey_bytes[]   = "a packed remote key of some length";

static rt_value_t inline_value(void)
{
    rt_value_t v = {.kind = RT_VALUE_INLINE, .data = inline_bytes, .size = sizeof(inline_bytes)};

    v.has_array = true;
    v.array     = (rmpi_array_desc_t){.dtype = RMPI_DTYPE_FLOAT32, .ndim = 2, .shape = {3, 5}};
    return v;
}

static rt_value_t stored_value(void)
{
    return (rt_value_t){
        .kind = RT_VALUE_STORED,
        .loc  = {.rank   = INT32_MAX,
                 .device = RT_LOC_HOST,
                 .offset = UINT64_MAX - 1,
                 .size   = (uint64_t)1 << 40},
    };
}

static rt_value_t error_value(void)
{
    return (rt_value_t){.kind   = RT_VALUE_ERROR,
                        .status = RMPI_ERR_TASK_FAILED,
                        .data   = error_text,
                        .size   = strlen(error_text)};
}

/* An empty inline value described as an 8-dimensional array of the last dtype. */
static rt_value_t empty_array_value(void)
{
    rt_value_t v = {.kind = RT_VALUE_INLINE, .has_array = true};

    v.array.dtype = RMPI_DTYPE_LAST - 1;
    v.array.ndim  = RMPI_ARRAY_MAX_DIMS;
    for (int i = 0; i < RMPI_ARRAY_MAX_DIMS; i++) {
        v.array.shape[i] = UINT64_MAX - (uint64_t)i;
    }
    return v;
}

/* A spec with every part at an edge: most custom resources, most returns, 4 args. */
static void full_spec(rt_task_spec_t *spec, rt_spec_arg_t args[4])
{
    memset(spec, 0, sizeof(*spec));
    fill_oid(&spec->task_id, 1);
    spec->fn_index    = UINT32_MAX;
    spec->attempt     = 7;
    spec->num_returns = RMPI_MAX_RETURNS;
    spec->flags       = RT_SPEC_RETRY_EXCEPTIONS | RT_SPEC_STOLEN;
    spec->max_retries = -1;
    spec->num_cpus    = 0.5;
    spec->num_gpus    = DBL_MAX;
    spec->memory      = UINT64_MAX;
    spec->num_custom  = RT_MAX_CUSTOM;
    for (int i = 0; i < RT_MAX_CUSTOM; i++) {
        spec->custom_index[i]  = (uint8_t)(RT_MAX_CUSTOM - 1 - i);
        spec->custom_amount[i] = 1.5 * i;
    }
    spec->name     = task_name;
    spec->name_len = strlen(task_name);
    args[0]        = (rt_spec_arg_t){.is_ref = true, .value = inline_value()};
    fill_oid(&args[0].oid, 50);
    args[1] = (rt_spec_arg_t){.is_ref = false, .value = stored_value()};
    args[2] = (rt_spec_arg_t){.is_ref = true, .value = error_value()};
    fill_oid(&args[2].oid, 90);
    args[3]        = (rt_spec_arg_t){.is_ref = false, .value = empty_array_value()};
    spec->num_args = 4;
    spec->args     = args;
}

/* The smallest spec: no custom resources, no name, no args. */
static void min_spec(rt_task_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    fill_oid(&spec->task_id, 2);
}

static void fill_desc(rt_rank_desc_t *desc, int32_t rank, uint8_t num_custom)
{
    static const char *names[] = {"GPU_A100", "license", "x"};

    memset(desc, 0, sizeof(*desc));
    desc->rank       = rank;
    desc->node       = rank / 2;
    desc->cpus       = 8.0 + rank;
    desc->gpus       = 0.5;
    desc->memory     = (uint64_t)1 << 34;
    desc->num_custom = num_custom;
    for (uint8_t i = 0; i < num_custom; i++) {
        desc->custom[i].name     = names[i % 3];
        desc->custom[i].name_len = strlen(names[i % 3]);
        desc->custom[i].amount   = 0.25 * (i + 1);
    }
    if (num_custom > 0) {
        desc->rkey     = rkey_bytes;
        desc->rkey_len = sizeof(rkey_bytes);
    }
}

/* --- checks ------------------------------------------------------------------------- */

static void assert_inside(const void *buf, size_t len, const void *ptr, size_t n)
{
    const uint8_t *b = buf;
    const uint8_t *p = ptr;

    if (n == 0) {
        return;
    }
    assert_non_null(p);
    assert_true(p >= b && p <= b + len);
    assert_true(n <= (size_t)(b + len - p));
}

static void assert_array_equal(const rmpi_array_desc_t *want, const rmpi_array_desc_t *got)
{
    assert_int_equal(got->dtype, want->dtype);
    assert_int_equal(got->ndim, want->ndim);
    for (int i = 0; i < RMPI_ARRAY_MAX_DIMS; i++) {
        assert_int_equal(got->shape[i], i < want->ndim ? want->shape[i] : 0);
    }
}

static void assert_value_equal(const rt_value_t *want, const rt_value_t *got, const void *buf,
                               size_t len)
{
    size_t size = want->size;

    assert_int_equal(got->kind, want->kind);
    assert_int_equal(got->has_array, want->has_array);
    if (want->has_array) {
        assert_array_equal(&want->array, &got->array);
    }
    switch (want->kind) {
    case RT_VALUE_STORED:
        assert_int_equal(got->loc.rank, want->loc.rank);
        assert_int_equal(got->loc.offset, want->loc.offset);
        assert_int_equal(got->loc.size, want->loc.size);
        break;
    case RT_VALUE_ERROR:
        assert_int_equal(got->status, want->status);
        size = size > RT_ERROR_MSG_MAX ? RT_ERROR_MSG_MAX : size; /* cut by the encoder */
        /* fall through */
    case RT_VALUE_INLINE:
        assert_int_equal(got->size, size);
        assert_inside(buf, len, got->data, got->size);
        if (size > 0) {
            assert_memory_equal(got->data, want->data, size);
        }
        break;
    }
}

static void assert_spec_equal(const rt_task_spec_t *want, const rt_task_spec_t *got,
                              const void *buf, size_t len)
{
    assert_memory_equal(got->task_id.bytes, want->task_id.bytes, 16);
    assert_int_equal(got->fn_index, want->fn_index);
    assert_int_equal(got->attempt, want->attempt);
    assert_int_equal(got->num_returns, want->num_returns);
    assert_int_equal(got->flags, want->flags);
    assert_int_equal(got->max_retries, want->max_retries);
    assert_true(got->num_cpus == want->num_cpus);
    assert_true(got->num_gpus == want->num_gpus);
    assert_int_equal(got->memory, want->memory);
    assert_int_equal(got->num_custom, want->num_custom);
    for (int i = 0; i < want->num_custom; i++) {
        assert_int_equal(got->custom_index[i], want->custom_index[i]);
        assert_true(got->custom_amount[i] == want->custom_amount[i]);
    }
    assert_int_equal(got->name_len, want->name_len);
    assert_inside(buf, len, got->name, got->name_len);
    if (want->name_len > 0) {
        assert_memory_equal(got->name, want->name, want->name_len);
    }
    assert_int_equal(got->num_args, want->num_args);
    if (want->num_args == 0) {
        assert_null(got->args);
    }
    for (uint32_t i = 0; i < want->num_args; i++) {
        assert_int_equal(got->args[i].is_ref, want->args[i].is_ref);
        if (want->args[i].is_ref) {
            assert_memory_equal(got->args[i].oid.bytes, want->args[i].oid.bytes, 16);
        }
        assert_value_equal(&want->args[i].value, &got->args[i].value, buf, len);
    }
}

static void assert_desc_equal(const rt_rank_desc_t *want, const rt_rank_desc_t *got,
                              const void *buf, size_t len)
{
    assert_int_equal(got->rank, want->rank);
    assert_int_equal(got->node, want->node);
    assert_true(got->cpus == want->cpus);
    assert_true(got->gpus == want->gpus);
    assert_int_equal(got->memory, want->memory);
    assert_int_equal(got->num_custom, want->num_custom);
    for (int i = 0; i < want->num_custom; i++) {
        assert_int_equal(got->custom[i].name_len, want->custom[i].name_len);
        assert_inside(buf, len, got->custom[i].name, got->custom[i].name_len);
        assert_memory_equal(got->custom[i].name, want->custom[i].name, want->custom[i].name_len);
        assert_true(got->custom[i].amount == want->custom[i].amount);
    }
    assert_int_equal(got->rkey_len, want->rkey_len);
    assert_inside(buf, len, got->rkey, got->rkey_len);
    if (want->rkey_len > 0) {
        assert_memory_equal(got->rkey, want->rkey, want->rkey_len);
    }
}

static void assert_type(const void *buf, size_t len, rt_msg_type_t want)
{
    rt_msg_type_t type = RT_MSG_TYPE_LAST;

    assert_int_equal(rt_msg_peek(buf, len, &type), RMPI_OK);
    assert_int_equal(type, want);
}

/* --- encoders into exact-size heap blocks --------------------------------------------- */

static uint8_t *encode_spec(const rt_task_spec_t *spec, size_t *len_p)
{
    size_t   len = rt_spec_size(spec);
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    assert_int_equal(rt_spec_encode(spec, buf), len);
    *len_p = len;
    return buf;
}

static uint8_t *encode_done(const rt_task_done_t *done, size_t *len_p)
{
    size_t   len = rt_done_size(done);
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    assert_int_equal(rt_done_encode(done, buf), len);
    *len_p = len;
    return buf;
}

static uint8_t *encode_locate_reply(const rt_locate_reply_t *msg, size_t *len_p)
{
    size_t   len = rt_locate_reply_size(msg);
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    assert_int_equal(rt_locate_reply_encode(msg, buf), len);
    *len_p = len;
    return buf;
}

static uint8_t *encode_hello(const rt_hello_t *msg, size_t *len_p)
{
    size_t   len = rt_hello_size(msg);
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    assert_int_equal(rt_hello_encode(msg, buf), len);
    *len_p = len;
    return buf;
}

static uint8_t *encode_welcome(const rt_welcome_t *msg, size_t *len_p)
{
    size_t   len = rt_welcome_size(msg);
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    assert_int_equal(rt_welcome_encode(msg, buf), len);
    *len_p = len;
    return buf;
}

static uint8_t *encode_fixed(size_t len, size_t (*encode)(const void *, void *), const void *msg)
{
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    assert_int_equal(encode(msg, buf), len);
    return buf;
}

static size_t locate_enc(const void *m, void *b)
{
    return rt_locate_encode(m, b);
}

static size_t devobj_stage_enc(const void *m, void *b)
{
    return rt_devobj_stage_encode(m, b);
}

static size_t devobj_staged_enc(const void *m, void *b)
{
    return rt_devobj_staged_encode(m, b);
}

static size_t node_pull_enc(const void *m, void *b)
{
    return rt_node_pull_encode(m, b);
}

static size_t node_pulled_enc(const void *m, void *b)
{
    return rt_node_pulled_encode(m, b);
}

static size_t node_copy_enc(const void *m, void *b)
{
    return rt_node_copy_encode(m, b);
}
static size_t cancel_enc(const void *m, void *b)
{
    return rt_cancel_encode(m, b);
}
static size_t steal_enc(const void *m, void *b)
{
    return rt_steal_encode(m, b);
}
static size_t moved_enc(const void *m, void *b)
{
    return rt_moved_encode(m, b);
}

/* --- decode any message, checking that whatever is accepted lies in the buffer ------- */

static rmpi_status_t decode_spec(const void *buf, size_t len)
{
    rt_task_spec_t spec;
    rmpi_status_t  status = rt_spec_decode(buf, len, &spec);

    if (status == RMPI_OK) {
        assert_inside(buf, len, spec.name, spec.name_len);
        assert_true(spec.num_returns <= RMPI_MAX_RETURNS && spec.num_custom <= RT_MAX_CUSTOM);
        for (uint32_t i = 0; i < spec.num_args; i++) {
            assert_inside(buf, len, spec.args[i].value.data, spec.args[i].value.size);
        }
        rt_spec_clear(&spec);
        assert_null(spec.args);
    }
    return status;
}

static rmpi_status_t decode_done(const void *buf, size_t len)
{
    rt_task_done_t done;
    rmpi_status_t  status = rt_done_decode(buf, len, &done);

    if (status == RMPI_OK) {
        for (uint16_t i = 0; i < done.num_returns; i++) {
            assert_inside(buf, len, done.returns[i].data, done.returns[i].size);
        }
        rt_done_clear(&done);
    }
    return status;
}

static rmpi_status_t decode_locate(const void *buf, size_t len)
{
    rt_locate_t msg;

    return rt_locate_decode(buf, len, &msg);
}

static rmpi_status_t decode_locate_reply(const void *buf, size_t len)
{
    rt_locate_reply_t msg;
    rmpi_status_t     status = rt_locate_reply_decode(buf, len, &msg);

    if (status == RMPI_OK) {
        assert_inside(buf, len, msg.value.data, msg.value.size);
    }
    return status;
}

static rmpi_status_t decode_ref_update(const void *buf, size_t len)
{
    rt_ref_delta_t *deltas;
    size_t          count;
    rmpi_status_t   status = rt_ref_update_decode(buf, len, &deltas, &count);

    if (status == RMPI_OK) {
        assert_int_equal(rt_ref_update_size(count), len);
        free(deltas);
    }
    return status;
}

static rmpi_status_t decode_free(const void *buf, size_t len)
{
    const store_oid_t *oids;
    size_t             count;
    rmpi_status_t      status = rt_free_decode(buf, len, &oids, &count);

    if (status == RMPI_OK) {
        assert_inside(buf, len, oids, count * sizeof(*oids));
    }
    return status;
}

static rmpi_status_t decode_cancel(const void *buf, size_t len)
{
    rt_cancel_t msg;

    return rt_cancel_decode(buf, len, &msg);
}

static rmpi_status_t decode_steal(const void *buf, size_t len)
{
    rt_steal_t msg;

    return rt_steal_decode(buf, len, &msg);
}

static rmpi_status_t decode_moved(const void *buf, size_t len)
{
    rt_moved_t msg;

    return rt_moved_decode(buf, len, &msg);
}

/* The reply, then each spec in it: the first error wins. */
static rmpi_status_t decode_steal_reply(const void *buf, size_t len)
{
    rt_steal_iter_t it;
    const void     *spec;
    size_t          spec_len;
    rmpi_status_t   status = rt_steal_reply_begin(buf, len, &it);
    rmpi_status_t   inner  = RMPI_OK;

    if (status != RMPI_OK) {
        return status;
    }
    while ((status = rt_steal_reply_next(&it, &spec, &spec_len)) == RMPI_OK) {
        assert_inside(buf, len, spec, spec_len);
        if (inner == RMPI_OK) {
            inner = decode_spec(spec, spec_len);
        }
    }
    assert_int_equal(status, RMPI_ERR_NOT_FOUND); /* begin checked every length */
    return inner;
}

static rmpi_status_t decode_hello(const void *buf, size_t len)
{
    rt_hello_t    msg;
    rmpi_status_t status = rt_hello_decode(buf, len, &msg);

    if (status == RMPI_OK) {
        assert_inside(buf, len, msg.desc.rkey, msg.desc.rkey_len);
    }
    return status;
}

static rmpi_status_t decode_welcome(const void *buf, size_t len)
{
    rt_welcome_t  msg;
    rmpi_status_t status = rt_welcome_decode(buf, len, &msg);

    if (status == RMPI_OK) {
        assert_inside(buf, len, msg.error, msg.error_len);
        for (uint32_t i = 0; i < msg.num_ranks; i++) {
            assert_inside(buf, len, msg.ranks[i].rkey, msg.ranks[i].rkey_len);
        }
        rt_welcome_clear(&msg);
    }
    return status;
}

static rmpi_status_t decode_bare_shutdown(const void *buf, size_t len)
{
    rt_msg_type_t type;
    rmpi_status_t status = rt_msg_peek(buf, len, &type);

    return status == RMPI_OK && type != RT_MSG_SHUTDOWN ? RMPI_ERR_MESSAGE : status;
}

static rmpi_status_t decode_bare_timeline(const void *buf, size_t len)
{
    rt_msg_type_t type;
    rmpi_status_t status = rt_msg_peek(buf, len, &type);

    return status == RMPI_OK && type != RT_MSG_TIMELINE ? RMPI_ERR_MESSAGE : status;
}

static rmpi_status_t decode_actor(rt_msg_type_t type, const void *buf, size_t len)
{
    rt_actor_msg_t msg;
    rmpi_status_t  status = rt_actor_msg_decode(type, buf, len, &msg);

    if (status == RMPI_OK) {
        assert_inside(buf, len, msg.text, msg.text_len);
    }
    return status;
}

#define DECODE_ACTOR(_name, _type)                          \
    static rmpi_status_t _name(const void *buf, size_t len) \
    {                                                       \
        return decode_actor(_type, buf, len);               \
    }
DECODE_ACTOR(decode_actor_locate, RT_MSG_ACTOR_LOCATE)
DECODE_ACTOR(decode_actor_location, RT_MSG_ACTOR_LOCATION)
DECODE_ACTOR(decode_actor_kill, RT_MSG_ACTOR_KILL)
DECODE_ACTOR(decode_actor_exited, RT_MSG_ACTOR_EXITED)
DECODE_ACTOR(decode_actor_name, RT_MSG_ACTOR_NAME)
DECODE_ACTOR(decode_actor_name_reply, RT_MSG_ACTOR_NAME_REPLY)

static rmpi_status_t decode_actor_checkpoint(const void *buf, size_t len)
{
    rt_actor_ckpt_t msg;
    rmpi_status_t   status = rt_actor_ckpt_decode(buf, len, &msg);

    if (status == RMPI_OK) {
        assert_inside(buf, len, msg.data, msg.len);
    }
    return status;
}

/* The placement-group messages (their own tests: test_msg_pg.c). */
static rmpi_status_t decode_pg_create(const void *buf, size_t len)
{
    rt_pg_create_t msg;
    rmpi_status_t  status = rt_pg_create_decode(buf, len, &msg);

    if (status == RMPI_OK) {
        rt_pg_create_clear(&msg);
    }
    return status;
}

static rmpi_status_t decode_pg_request(const void *buf, size_t len)
{
    rt_pg_request_t msg;

    return rt_pg_request_decode(buf, len, &msg);
}

static rmpi_status_t decode_devobj_stage(const void *buf, size_t len)
{
    rt_devobj_stage_t msg;

    return rt_devobj_stage_decode(buf, len, &msg);
}

static rmpi_status_t decode_devobj_staged(const void *buf, size_t len)
{
    rt_devobj_staged_t msg;

    return rt_devobj_staged_decode(buf, len, &msg);
}

static rmpi_status_t decode_node_pull(const void *buf, size_t len)
{
    rt_node_pull_t msg;

    return rt_node_pull_decode(buf, len, &msg);
}

static rmpi_status_t decode_node_pulled(const void *buf, size_t len)
{
    rt_node_pulled_t msg;

    return rt_node_pulled_decode(buf, len, &msg);
}

static rmpi_status_t decode_node_copy(const void *buf, size_t len)
{
    store_oid_t oid;

    return rt_node_copy_decode(buf, len, &oid);
}

static rmpi_status_t decode_pg_reply(const void *buf, size_t len)
{
    rt_pg_reply_t msg;
    rmpi_status_t status = rt_pg_reply_decode(buf, len, &msg);

    if (status == RMPI_OK) {
        rt_pg_reply_clear(&msg);
    }
    return status;
}

typedef rmpi_status_t (*decode_fn_t)(const void *buf, size_t len);

static decode_fn_t decoder_of(rt_msg_type_t type)
{
    switch (type) {
    case RT_MSG_HELLO:
        return decode_hello;
    case RT_MSG_WELCOME:
        return decode_welcome;
    case RT_MSG_TASK_PUSH:
        return decode_spec;
    case RT_MSG_TASK_DONE:
        return decode_done;
    case RT_MSG_LOCATE:
        return decode_locate;
    case RT_MSG_LOCATE_REPLY:
        return decode_locate_reply;
    case RT_MSG_REF_UPDATE:
        return decode_ref_update;
    case RT_MSG_FREE:
        return decode_free;
    case RT_MSG_CANCEL:
        return decode_cancel;
    case RT_MSG_STEAL:
        return decode_steal;
    case RT_MSG_STEAL_REPLY:
        return decode_steal_reply;
    case RT_MSG_MOVED:
        return decode_moved;
    case RT_MSG_SHUTDOWN:
        return decode_bare_shutdown;
    case RT_MSG_TIMELINE:
        return decode_bare_timeline;
    case RT_MSG_ACTOR_LOCATE:
        return decode_actor_locate;
    case RT_MSG_ACTOR_LOCATION:
        return decode_actor_location;
    case RT_MSG_ACTOR_KILL:
        return decode_actor_kill;
    case RT_MSG_ACTOR_EXITED:
        return decode_actor_exited;
    case RT_MSG_ACTOR_NAME:
        return decode_actor_name;
    case RT_MSG_ACTOR_NAME_REPLY:
        return decode_actor_name_reply;
    case RT_MSG_ACTOR_CHECKPOINT:
        return decode_actor_checkpoint;
    case RT_MSG_PG_CREATE:
        return decode_pg_create;
    case RT_MSG_PG_REQUEST:
        return decode_pg_request;
    case RT_MSG_PG_REPLY:
        return decode_pg_reply;
    case RT_MSG_DEVOBJ_STAGE:
        return decode_devobj_stage;
    case RT_MSG_DEVOBJ_STAGED:
        return decode_devobj_staged;
    case RT_MSG_NODE_PULL:
        return decode_node_pull;
    case RT_MSG_NODE_PULLED:
        return decode_node_pulled;
    case RT_MSG_NODE_COPY:
        return decode_node_copy;
    default:
        fail_msg("no decoder for type %d", (int)type);
        return NULL;
    }
}

/** Decode a private exact-size copy, so that valgrind sees any read past its end. */
static rmpi_status_t decode_copy(rt_msg_type_t type, const void *buf, size_t len)
{
    uint8_t      *copy = malloc(len > 0 ? len : 1);
    rmpi_status_t status;

    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, buf, len);
    }
    status = decoder_of(type)(copy, len);
    free(copy);
    return status;
}

/* --- valid samples of every message type ------------------------------------------------ */

typedef struct sample {
    rt_msg_type_t type;
    uint8_t      *buf;
    size_t        len;
} sample_t;

static size_t add(sample_t *s, size_t n, rt_msg_type_t type, uint8_t *buf, size_t len)
{
    assert_true(n < MAX_SAMPLES);
    s[n] = (sample_t){.type = type, .buf = buf, .len = len};
    return n + 1;
}

/* One of each actor message, with and without text. */
static size_t add_actor_samples(sample_t *s, size_t n)
{
    rt_actor_msg_t msg = {.cookie           = UINT64_MAX,
                          .incarnation      = 7,
                          .flags            = RT_NAME_REGISTER,
                          .rank             = 3,
                          .status           = RMPI_ERR_ACTOR_DIED,
                          .cls              = 9,
                          .max_task_retries = -1,
                          .text             = "ns\0name",
                          .text_len         = 7};

    fill_oid(&msg.id, 0x5a);
    for (rt_msg_type_t type = RT_MSG_ACTOR_LOCATE; type <= RT_MSG_ACTOR_NAME_REPLY; type++) {
        uint8_t *buf = malloc(rt_actor_msg_size(&msg));

        n = add(s, n, type, buf, rt_actor_msg_encode(type, &msg, buf));
    }
    msg.text_len = 0;
    msg.rank     = -1;
    uint8_t *buf = malloc(rt_actor_msg_size(&msg));
    n            = add(s, n, RT_MSG_ACTOR_LOCATION, buf,
                       rt_actor_msg_encode(RT_MSG_ACTOR_LOCATION, &msg, buf));

    rt_actor_ckpt_t ckpt = {
        .id = msg.id, .incarnation = 2, .version = 9, .data = "state", .len = 5};
    buf = malloc(rt_actor_ckpt_size(&ckpt));
    return add(s, n, RT_MSG_ACTOR_CHECKPOINT, buf, rt_actor_ckpt_encode(&ckpt, buf));
}

static size_t build_samples(sample_t *s)
{
    rt_spec_arg_t  args[4];
    rt_task_spec_t spec;
    rt_value_t     values[4] = {inline_value(), stored_value(), error_value(), empty_array_value()};
    rt_task_done_t done      = {.executor = 3, .num_returns = 4, .returns = values};
    rt_locate_t    locate    = {.cookie = UINT64_MAX};
    rt_locate_reply_t  reply = {.cookie = 42, .value = stored_value()};
    rt_ref_delta_t     deltas[3];
    store_oid_t        oids[3];
    rt_cancel_t        cancel        = {.flags = UINT32_MAX};
    rt_steal_t         steal         = {.max_tasks = 4, .free_cpus = 2.5};
    rt_moved_t         moved         = {.attempt = 1, .rank = 5};
    rt_devobj_stage_t  devobj_stage  = {.cookie = UINT64_MAX};
    rt_devobj_staged_t devobj_staged = {
        .cookie = 7, .status = RMPI_OK, .loc = {.rank = 2, .offset = 4096, .size = 1 << 20}};
    rt_node_pull_t   node_pull   = {.cookie = UINT64_MAX,
                                    .from   = {.rank = 6, .offset = 1 << 12, .size = UINT64_MAX}};
    rt_node_pulled_t node_pulled = {
        .cookie = 3, .status = RMPI_ERR_PEER_DIED, .loc = {.rank = 1, .offset = 64, .size = 1}};
    store_oid_t    node_copy;
    rt_hello_t     hello = {.fn_digest = 0x0123456789abcdefULL, .fn_count = 12};
    rt_rank_desc_t ranks[3];
    rt_welcome_t   welcome = {.status    = RMPI_ERR_MISMATCH,
                              .error     = "function tables differ",
                              .error_len = 22,
                              .num_ranks = 3,
                              .ranks     = ranks};
    const void    *specs[2];
    size_t         spec_lens[2], len, n = 0;
    uint8_t       *buf;

    full_spec(&spec, args);
    buf = encode_spec(&spec, &len);
    n   = add(s, n, RT_MSG_TASK_PUSH, buf, len);
    min_spec(&spec);
    buf = encode_spec(&spec, &len);
    n   = add(s, n, RT_MSG_TASK_PUSH, buf, len);

    buf              = encode_done(&done, &len);
    n                = add(s, n, RT_MSG_TASK_DONE, buf, len);
    done.num_returns = 0;
    buf              = encode_done(&done, &len);
    n                = add(s, n, RT_MSG_TASK_DONE, buf, len);

    n   = add(s, n, RT_MSG_LOCATE, encode_fixed(RT_LOCATE_LEN, locate_enc, &locate), RT_LOCATE_LEN);
    buf = encode_locate_reply(&reply, &len);
    n   = add(s, n, RT_MSG_LOCATE_REPLY, buf, len);
    reply.value = error_value();
    buf         = encode_locate_reply(&reply, &len);
    n           = add(s, n, RT_MSG_LOCATE_REPLY, buf, len);

    for (int i = 0; i < 3; i++) {
        fill_oid(&deltas[i].oid, (uint8_t)(10 * i));
        deltas[i].delta = i == 0 ? INT32_MIN : i;
        fill_oid(&oids[i], (uint8_t)(20 * i));
    }
    buf = malloc(rt_ref_update_size(3));
    n   = add(s, n, RT_MSG_REF_UPDATE, buf, rt_ref_update_encode(deltas, 3, buf));
    buf = malloc(rt_ref_update_size(0));
    n   = add(s, n, RT_MSG_REF_UPDATE, buf, rt_ref_update_encode(deltas, 0, buf));
    buf = malloc(rt_free_size(3));
    n   = add(s, n, RT_MSG_FREE, buf, rt_free_encode(oids, 3, buf));

    n = add(s, n, RT_MSG_CANCEL, encode_fixed(RT_CANCEL_LEN, cancel_enc, &cancel), RT_CANCEL_LEN);
    n = add(s, n, RT_MSG_STEAL, encode_fixed(RT_STEAL_LEN, steal_enc, &steal), RT_STEAL_LEN);
    n = add(s, n, RT_MSG_MOVED, encode_fixed(RT_MOVED_LEN, moved_enc, &moved), RT_MOVED_LEN);
    n = add(s, n, RT_MSG_DEVOBJ_STAGE,
            encode_fixed(RT_DEVOBJ_STAGE_LEN, devobj_stage_enc, &devobj_stage),
            RT_DEVOBJ_STAGE_LEN);
    n = add(s, n, RT_MSG_DEVOBJ_STAGED,
            encode_fixed(RT_DEVOBJ_STAGED_LEN, devobj_staged_enc, &devobj_staged),
            RT_DEVOBJ_STAGED_LEN);
    fill_oid(&node_pull.oid, 9);
    fill_oid(&node_copy, 11);
    n = add(s, n, RT_MSG_NODE_PULL, encode_fixed(RT_NODE_PULL_LEN, node_pull_enc, &node_pull),
            RT_NODE_PULL_LEN);
    n = add(s, n, RT_MSG_NODE_PULLED,
            encode_fixed(RT_NODE_PULLED_LEN, node_pulled_enc, &node_pulled), RT_NODE_PULLED_LEN);
    n = add(s, n, RT_MSG_NODE_COPY, encode_fixed(RT_NODE_COPY_LEN, node_copy_enc, &node_copy),
            RT_NODE_COPY_LEN);

    /* A steal reply carrying the two specs encoded above. */
    specs[0]     = s[0].buf;
    spec_lens[0] = s[0].len;
    specs[1]     = s[1].buf;
    spec_lens[1] = s[1].len;
    len          = rt_steal_reply_size(spec_lens, 2);
    buf          = malloc(len);
    assert_int_equal(rt_steal_reply_encode(specs, spec_lens, 2, buf), len);
    n   = add(s, n, RT_MSG_STEAL_REPLY, buf, len);
    buf = malloc(rt_steal_reply_size(NULL, 0));
    n   = add(s, n, RT_MSG_STEAL_REPLY, buf, rt_steal_reply_encode(NULL, NULL, 0, buf));

    n   = add_actor_samples(s, n);
    buf = malloc(HDR);
    n   = add(s, n, RT_MSG_SHUTDOWN, buf, rt_bare_encode(RT_MSG_SHUTDOWN, buf));
    buf = malloc(HDR);
    n   = add(s, n, RT_MSG_TIMELINE, buf, rt_bare_encode(RT_MSG_TIMELINE, buf));

    fill_desc(&hello.desc, 7, RT_MAX_CUSTOM);
    buf = encode_hello(&hello, &len);
    n   = add(s, n, RT_MSG_HELLO, buf, len);
    fill_desc(&hello.desc, 0, 0);
    buf = encode_hello(&hello, &len);
    n   = add(s, n, RT_MSG_HELLO, buf, len);

    for (int i = 0; i < 3; i++) {
        fill_desc(&ranks[i], i, (uint8_t)(2 - i));
    }
    buf     = encode_welcome(&welcome, &len);
    n       = add(s, n, RT_MSG_WELCOME, buf, len);
    welcome = (rt_welcome_t){.status = RMPI_OK};
    buf     = encode_welcome(&welcome, &len);
    n       = add(s, n, RT_MSG_WELCOME, buf, len);
    return n;
}

static void free_samples(sample_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].buf);
    }
}

/* --- round trips --------------------------------------------------------------------- */

static void test_spec_round_trip(void **state)
{
    rt_spec_arg_t  args[4];
    rt_task_spec_t want, got;
    size_t         len;
    uint8_t       *buf;

    (void)state;
    full_spec(&want, args);
    buf = encode_spec(&want, &len);
    assert_type(buf, len, RT_MSG_TASK_PUSH);
    assert_int_equal(rt_spec_decode(buf, len, &got), RMPI_OK);
    assert_spec_equal(&want, &got, buf, len);
    rt_spec_clear(&got);
    assert_null(got.args);
    assert_int_equal(got.num_args, 0);
    free(buf);

    min_spec(&want);
    buf = encode_spec(&want, &len);
    assert_int_equal(rt_spec_decode(buf, len, &got), RMPI_OK);
    assert_spec_equal(&want, &got, buf, len);
    rt_spec_clear(&got);
    free(buf);
}

/* Names and error messages longer than their limits arrive cut to them. */
static void test_spec_cuts_long_strings(void **state)
{
    char           name[RT_NAME_MAX + 40];
    char           text[RT_ERROR_MSG_MAX + 100];
    rt_spec_arg_t  arg;
    rt_task_spec_t spec, got;
    size_t         len;
    uint8_t       *buf;

    (void)state;
    memset(name, 'n', sizeof(name));
    memset(text, 'e', sizeof(text));
    min_spec(&spec);
    spec.name      = name;
    spec.name_len  = sizeof(name);
    arg            = (rt_spec_arg_t){.value = error_value()};
    arg.value.data = text;
    arg.value.size = sizeof(text);
    spec.args      = &arg;
    spec.num_args  = 1;
    buf            = encode_spec(&spec, &len);
    assert_int_equal(rt_spec_decode(buf, len, &got), RMPI_OK);
    assert_int_equal(got.name_len, RT_NAME_MAX);
    assert_memory_equal(got.name, name, RT_NAME_MAX);
    assert_int_equal(got.args[0].value.size, RT_ERROR_MSG_MAX);
    assert_memory_equal(got.args[0].value.data, text, RT_ERROR_MSG_MAX);
    rt_spec_clear(&got);
    free(buf);
}

/* Encode at an odd address, decode from another odd address: no alignment is assumed. */
static void test_unaligned(void **state)
{
    rt_spec_arg_t  args[4];
    rt_task_spec_t want, got;
    size_t         len;
    uint8_t       *aligned, *buf;

    (void)state;
    full_spec(&want, args);
    len = rt_spec_size(&want);
    buf = malloc(len + 3);
    assert_int_equal(rt_spec_encode(&want, buf + 1), len);
    memmove(buf + 3, buf + 1, len);
    assert_int_equal(rt_spec_decode(buf + 3, len, &got), RMPI_OK);
    assert_spec_equal(&want, &got, buf + 3, len);
    rt_spec_clear(&got);
    aligned = encode_spec(&want, &len);
    assert_memory_equal(aligned, buf + 3, len); /* same bytes at any address */
    free(aligned);
    free(buf);
}

static void test_done_round_trip(void **state)
{
    rt_value_t     values[4] = {inline_value(), stored_value(), error_value(), empty_array_value()};
    rt_task_done_t want      = {.attempt     = UINT32_MAX,
                                .executor    = INT32_MAX,
                                .queued      = 17,
                                .running     = UINT32_MAX,
                                .num_returns = 4,
                                .returns     = values};
    rt_task_done_t got;
    size_t         len;
    uint8_t       *buf;

    (void)state;
    fill_oid(&want.task_id, 3);
    buf = encode_done(&want, &len);
    assert_type(buf, len, RT_MSG_TASK_DONE);
    assert_int_equal(rt_done_decode(buf, len, &got), RMPI_OK);
    assert_memory_equal(got.task_id.bytes, want.task_id.bytes, 16);
    assert_int_equal(got.attempt, want.attempt);
    assert_int_equal(got.executor, want.executor);
    assert_int_equal(got.queued, want.queued);
    assert_int_equal(got.running, want.running);
    assert_int_equal(got.num_returns, 4);
    for (int i = 0; i < 4; i++) {
        assert_value_equal(&values[i], &got.returns[i], buf, len);
    }
    rt_done_clear(&got);
    assert_null(got.returns);
    free(buf);

    want.num_returns = 0;
    buf              = encode_done(&want, &len);
    assert_int_equal(rt_done_decode(buf, len, &got), RMPI_OK);
    assert_int_equal(got.num_returns, 0);
    assert_null(got.returns);
    free(buf);
}

static void test_locate_round_trip(void **state)
{
    rt_locate_t       want = {.cookie = UINT64_MAX}, got;
    rt_locate_reply_t reply, reply_got;
    uint8_t           buf[RT_LOCATE_LEN];
    uint8_t          *rbuf;
    size_t            len;

    (void)state;
    fill_oid(&want.oid, 4);
    assert_int_equal(rt_locate_encode(&want, buf), RT_LOCATE_LEN);
    assert_type(buf, sizeof(buf), RT_MSG_LOCATE);
    assert_int_equal(rt_locate_decode(buf, sizeof(buf), &got), RMPI_OK);
    assert_memory_equal(got.oid.bytes, want.oid.bytes, 16);
    assert_int_equal(got.cookie, want.cookie);

    reply       = (rt_locate_reply_t){.oid = want.oid, .cookie = 9};
    reply.value = (rt_value_t){.kind = RT_VALUE_ERROR, .status = RMPI_ERR_NOT_FOUND, .data = NULL};
    rbuf        = encode_locate_reply(&reply, &len);
    assert_type(rbuf, len, RT_MSG_LOCATE_REPLY);
    assert_int_equal(rt_locate_reply_decode(rbuf, len, &reply_got), RMPI_OK);
    assert_memory_equal(reply_got.oid.bytes, reply.oid.bytes, 16);
    assert_int_equal(reply_got.cookie, 9);
    assert_value_equal(&reply.value, &reply_got.value, rbuf, len);
    free(rbuf);

    reply.value = inline_value();
    rbuf        = encode_locate_reply(&reply, &len);
    assert_int_equal(rt_locate_reply_decode(rbuf, len, &reply_got), RMPI_OK);
    assert_value_equal(&reply.value, &reply_got.value, rbuf, len);
    free(rbuf);
}

static void test_id_lists_round_trip(void **state)
{
    rt_ref_delta_t     deltas[3], *got;
    store_oid_t        oids[3];
    const store_oid_t *got_oids;
    size_t             count;
    uint8_t            buf[256];
    size_t             len;

    (void)state;
    for (int i = 0; i < 3; i++) {
        fill_oid(&deltas[i].oid, (uint8_t)(i + 1));
        fill_oid(&oids[i], (uint8_t)(i + 100));
    }
    deltas[0].delta = INT32_MIN;
    deltas[1].delta = -1;
    deltas[2].delta = INT32_MAX;
    len             = rt_ref_update_encode(deltas, 3, buf + 1);
    assert_int_equal(len, rt_ref_update_size(3));
    assert_type(buf + 1, len, RT_MSG_REF_UPDATE);
    assert_int_equal(rt_ref_update_decode(buf + 1, len, &got, &count), RMPI_OK);
    assert_int_equal(count, 3);
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(got[i].oid.bytes, deltas[i].oid.bytes, 16);
        assert_int_equal(got[i].delta, deltas[i].delta);
    }
    free(got);
    len = rt_ref_update_encode(deltas, 0, buf);
    assert_int_equal(rt_ref_update_decode(buf, len, &got, &count), RMPI_OK);
    assert_int_equal(count, 0);
    free(got);

    len = rt_free_encode(oids, 3, buf + 1);
    assert_int_equal(len, rt_free_size(3));
    assert_type(buf + 1, len, RT_MSG_FREE);
    assert_int_equal(rt_free_decode(buf + 1, len, &got_oids, &count), RMPI_OK);
    assert_int_equal(count, 3);
    assert_inside(buf + 1, len, got_oids, 3 * sizeof(store_oid_t));
    assert_memory_equal(got_oids, oids, sizeof(oids));
    len = rt_free_encode(oids, 0, buf);
    assert_int_equal(rt_free_decode(buf, len, &got_oids, &count), RMPI_OK);
    assert_int_equal(count, 0);
}

static void test_control_round_trip(void **state)
{
    rt_cancel_t   cancel = {.flags = 0x80000001u}, cancel_got;
    rt_steal_t    steal  = {.max_tasks = UINT32_MAX, .free_cpus = 0.0}, steal_got;
    rt_moved_t    moved  = {.attempt = UINT32_MAX, .rank = INT32_MAX}, moved_got;
    uint8_t       buf[64];
    rt_msg_type_t type;

    (void)state;
    fill_oid(&cancel.task_id, 5);
    assert_int_equal(rt_cancel_encode(&cancel, buf), RT_CANCEL_LEN);
    assert_type(buf, RT_CANCEL_LEN, RT_MSG_CANCEL);
    assert_int_equal(rt_cancel_decode(buf, RT_CANCEL_LEN, &cancel_got), RMPI_OK);
    assert_memory_equal(cancel_got.task_id.bytes, cancel.task_id.bytes, 16);
    assert_int_equal(cancel_got.flags, cancel.flags);

    assert_int_equal(rt_steal_encode(&steal, buf), RT_STEAL_LEN);
    assert_type(buf, RT_STEAL_LEN, RT_MSG_STEAL);
    assert_int_equal(rt_steal_decode(buf, RT_STEAL_LEN, &steal_got), RMPI_OK);
    assert_int_equal(steal_got.max_tasks, steal.max_tasks);
    assert_true(steal_got.free_cpus == 0.0);

    fill_oid(&moved.task_id, 6);
    assert_int_equal(rt_moved_encode(&moved, buf), RT_MOVED_LEN);
    assert_type(buf, RT_MOVED_LEN, RT_MSG_MOVED);
    assert_int_equal(rt_moved_decode(buf, RT_MOVED_LEN, &moved_got), RMPI_OK);
    assert_memory_equal(moved_got.task_id.bytes, moved.task_id.bytes, 16);
    assert_int_equal(moved_got.attempt, moved.attempt);
    assert_int_equal(moved_got.rank, moved.rank);

    for (type = RT_MSG_SHUTDOWN; type <= RT_MSG_TIMELINE; type++) {
        assert_int_equal(rt_bare_encode(type, buf), RT_MSG_HDR_LEN);
        assert_type(buf, RT_MSG_HDR_LEN, type);
    }
}

static void test_steal_reply_round_trip(void **state)
{
    rt_spec_arg_t   args[4];
    rt_task_spec_t  specs[2], got;
    uint8_t        *encoded[2], *buf;
    const void     *ptrs[2], *spec;
    size_t          lens[2], len, spec_len;
    rt_steal_iter_t it;

    (void)state;
    full_spec(&specs[0], args);
    min_spec(&specs[1]);
    specs[1].flags = RT_SPEC_STOLEN;
    for (int i = 0; i < 2; i++) {
        encoded[i] = encode_spec(&specs[i], &lens[i]);
        ptrs[i]    = encoded[i];
    }
    len = rt_steal_reply_size(lens, 2);
    buf = malloc(len);
    assert_int_equal(rt_steal_reply_encode(ptrs, lens, 2, buf), len);
    assert_type(buf, len, RT_MSG_STEAL_REPLY);
    assert_int_equal(rt_steal_reply_begin(buf, len, &it), RMPI_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rt_steal_reply_next(&it, &spec, &spec_len), RMPI_OK);
        assert_int_equal(spec_len, lens[i]);
        assert_inside(buf, len, spec, spec_len);
        assert_int_equal(rt_spec_decode(spec, spec_len, &got), RMPI_OK);
        assert_spec_equal(&specs[i], &got, spec, spec_len);
        rt_spec_clear(&got);
    }
    assert_int_equal(rt_steal_reply_next(&it, &spec, &spec_len), RMPI_ERR_NOT_FOUND);
    assert_int_equal(rt_steal_reply_next(&it, &spec, &spec_len), RMPI_ERR_NOT_FOUND);
    free(buf);
    free(encoded[0]);
    free(encoded[1]);

    len = rt_steal_reply_size(NULL, 0);
    buf = malloc(len);
    assert_int_equal(rt_steal_reply_encode(NULL, NULL, 0, buf), len);
    assert_int_equal(rt_steal_reply_begin(buf, len, &it), RMPI_OK);
    assert_int_equal(rt_steal_reply_next(&it, &spec, &spec_len), RMPI_ERR_NOT_FOUND);
    free(buf);
}

static void test_wireup_round_trip(void **state)
{
    rt_hello_t     hello = {.fn_digest = UINT64_MAX, .fn_count = UINT32_MAX}, hello_got;
    rt_rank_desc_t ranks[3];
    rt_welcome_t   welcome = {.status    = RMPI_ERR_MISMATCH,
                              .error     = "function tables differ",
                              .error_len = 22,
                              .num_ranks = 3,
                              .ranks     = ranks};
    rt_welcome_t   got;
    char           long_name[RMPI_RESOURCE_NAME_MAX + 10];
    size_t         len;
    uint8_t       *buf;

    (void)state;
    fill_desc(&hello.desc, INT32_MAX, RT_MAX_CUSTOM);
    buf = encode_hello(&hello, &len);
    assert_type(buf, len, RT_MSG_HELLO);
    assert_int_equal(rt_hello_decode(buf, len, &hello_got), RMPI_OK);
    assert_int_equal(hello_got.fn_digest, hello.fn_digest);
    assert_int_equal(hello_got.fn_count, hello.fn_count);
    assert_desc_equal(&hello.desc, &hello_got.desc, buf, len);
    free(buf);

    /* Resource names are cut to what rmpi_resources_t holds. */
    memset(long_name, 'r', sizeof(long_name));
    hello.desc.custom[0].name     = long_name;
    hello.desc.custom[0].name_len = sizeof(long_name);
    buf                           = encode_hello(&hello, &len);
    assert_int_equal(rt_hello_decode(buf, len, &hello_got), RMPI_OK);
    assert_int_equal(hello_got.desc.custom[0].name_len, RMPI_RESOURCE_NAME_MAX - 1);
    assert_memory_equal(hello_got.desc.custom[0].name, long_name, RMPI_RESOURCE_NAME_MAX - 1);
    free(buf);

    for (int i = 0; i < 3; i++) {
        fill_desc(&ranks[i], i, (uint8_t)(2 - i));
    }
    buf = encode_welcome(&welcome, &len);
    assert_type(buf, len, RT_MSG_WELCOME);
    assert_int_equal(rt_welcome_decode(buf, len, &got), RMPI_OK);
    assert_int_equal(got.status, RMPI_ERR_MISMATCH);
    assert_int_equal(got.error_len, 22);
    assert_memory_equal(got.error, welcome.error, 22);
    assert_int_equal(got.num_ranks, 3);
    for (int i = 0; i < 3; i++) {
        assert_desc_equal(&ranks[i], &got.ranks[i], buf, len);
    }
    rt_welcome_clear(&got);
    assert_null(got.ranks);
    free(buf);

    welcome = (rt_welcome_t){.status = RMPI_OK};
    buf     = encode_welcome(&welcome, &len);
    assert_int_equal(rt_welcome_decode(buf, len, &got), RMPI_OK);
    assert_int_equal(got.status, RMPI_OK);
    assert_int_equal(got.error_len, 0);
    assert_int_equal(got.num_ranks, 0);
    assert_null(got.ranks);
    free(buf);
}

/* The samples themselves decode (so the malformed tests start from valid input). */
static void test_samples_valid(void **state)
{
    sample_t s[MAX_SAMPLES];
    size_t   n = build_samples(s);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        assert_type(s[i].buf, s[i].len, s[i].type);
        assert_int_equal(decode_copy(s[i].type, s[i].buf, s[i].len), RMPI_OK);
    }
    free_samples(s, n);
}

/* --- malformed input ----------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

/* Every prefix, both as received (header length disagrees) and with the header's
 * length rewritten to match (so the inner lengths must catch it). */
static void test_truncations(void **state)
{
    sample_t s[MAX_SAMPLES];
    size_t   n = build_samples(s);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        for (size_t len = 0; len < s[i].len; len++) {
            uint8_t copy[8192];

            assert_true(s[i].len <= sizeof(copy));
            assert_int_equal(decode_copy(s[i].type, s[i].buf, len), RMPI_ERR_MESSAGE);
            if (len >= HDR) {
                memcpy(copy, s[i].buf, len);
                put_u32(copy + 4, (uint32_t)len);
                assert_int_equal(decode_copy(s[i].type, copy, len), RMPI_ERR_MESSAGE);
            }
        }
    }
    free_samples(s, n);
}

/* Bytes after the end: as received, and with the header's length covering them. */
static void test_trailing_bytes(void **state)
{
    sample_t s[MAX_SAMPLES];
    size_t   n = build_samples(s);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint8_t copy[8192];

        memcpy(copy, s[i].buf, s[i].len);
        copy[s[i].len] = 0;
        assert_int_equal(decode_copy(s[i].type, copy, s[i].len + 1), RMPI_ERR_MESSAGE);
        put_u32(copy + 4, (uint32_t)(s[i].len + 1));
        assert_int_equal(decode_copy(s[i].type, copy, s[i].len + 1), RMPI_ERR_MESSAGE);
    }
    free_samples(s, n);
}

/* Every change of every header byte (version, type, reserved flags, length). */
static void test_header_corruption(void **state)
{
    sample_t s[MAX_SAMPLES];
    size_t   n = build_samples(s);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint8_t copy[8192];

        for (size_t byte = 0; byte < HDR; byte++) {
            for (unsigned x = 1; x < 256; x++) {
                rt_msg_type_t type;

                memcpy(copy, s[i].buf, s[i].len);
                copy[byte] ^= (uint8_t)x;
                assert_int_equal(decode_copy(s[i].type, copy, s[i].len), RMPI_ERR_MESSAGE);
                if (byte != 1) { /* any other type byte is another message */
                    assert_int_equal(rt_msg_peek(copy, s[i].len, &type), RMPI_ERR_MESSAGE);
                }
            }
        }
    }
    free_samples(s, n);
}

/* Each decoder refuses every other type's message. */
static void test_wrong_type(void **state)
{
    sample_t s[MAX_SAMPLES];
    size_t   n = build_samples(s);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        for (rt_msg_type_t type = RT_MSG_HELLO; type < RT_MSG_TYPE_LAST; type++) {
            if (type != s[i].type) {
                assert_int_equal(decode_copy(type, s[i].buf, s[i].len), RMPI_ERR_MESSAGE);
            }
        }
    }
    free_samples(s, n);
}

/* DEVOBJ_STAGE/STAGED round trip; a STAGED with a bad status or rank is refused. */
static void test_devobj_messages(void **state)
{
    rt_devobj_stage_t  stage  = {.cookie = 99}, stage_out;
    rt_devobj_staged_t staged = {.cookie = 5,
                                 .status = RMPI_ERR_NOT_FOUND,
                                 .loc    = {.rank = 3, .offset = 64, .size = 8}},
                       staged_out;
    uint8_t buf[RT_DEVOBJ_STAGED_LEN];

    (void)state;
    fill_oid(&stage.oid, 3);
    assert_int_equal(rt_devobj_stage_encode(&stage, buf), RT_DEVOBJ_STAGE_LEN);
    assert_int_equal(rt_devobj_stage_decode(buf, RT_DEVOBJ_STAGE_LEN, &stage_out), RMPI_OK);
    assert_memory_equal(&stage_out.oid, &stage.oid, sizeof(stage.oid));
    assert_int_equal(stage_out.cookie, 99);

    assert_int_equal(rt_devobj_staged_encode(&staged, buf), RT_DEVOBJ_STAGED_LEN);
    assert_int_equal(rt_devobj_staged_decode(buf, RT_DEVOBJ_STAGED_LEN, &staged_out), RMPI_OK);
    assert_int_equal(staged_out.status, RMPI_ERR_NOT_FOUND);
    assert_int_equal(staged_out.loc.rank, 3);
    assert_int_equal(staged_out.loc.device, RT_LOC_HOST);
    assert_int_equal(staged_out.loc.offset, 64);
    assert_int_equal(staged_out.loc.size, 8);

    staged.status = 1; /* not a status */
    rt_devobj_staged_encode(&staged, buf);
    assert_int_equal(rt_devobj_staged_decode(buf, RT_DEVOBJ_STAGED_LEN, &staged_out),
                     RMPI_ERR_MESSAGE);
    staged.status   = RMPI_OK;
    staged.loc.rank = -1;
    rt_devobj_staged_encode(&staged, buf);
    assert_int_equal(rt_devobj_staged_decode(buf, RT_DEVOBJ_STAGED_LEN, &staged_out),
                     RMPI_ERR_MESSAGE);
}

/* NODE_PULL/PULLED/COPY round trip; a bad status or a negative rank is refused. */
static void test_nodepull_messages(void **state)
{
    rt_node_pull_t pull = {.cookie = 77, .from = {.rank = 4, .offset = 128, .size = 1 << 20}},
                   pull_out;
    rt_node_pulled_t pulled = {.cookie = 8, .status = RMPI_OK, .loc = {.rank = 2, .size = 16}},
                     pulled_out;
    store_oid_t oid, oid_out;
    uint8_t     buf[RT_NODE_PULL_LEN];

    (void)state;
    fill_oid(&pull.oid, 5);
    assert_int_equal(rt_node_pull_encode(&pull, buf), RT_NODE_PULL_LEN);
    assert_int_equal(rt_node_pull_decode(buf, RT_NODE_PULL_LEN, &pull_out), RMPI_OK);
    assert_memory_equal(&pull_out.oid, &pull.oid, sizeof(pull.oid));
    assert_int_equal(pull_out.cookie, 77);
    assert_int_equal(pull_out.from.rank, 4);
    assert_int_equal(pull_out.from.device, RT_LOC_HOST);
    assert_int_equal(pull_out.from.offset, 128);
    assert_int_equal(pull_out.from.size, 1 << 20);
    assert_int_equal(rt_node_pull_decode(buf, RT_NODE_PULL_LEN - 1, &pull_out), RMPI_ERR_MESSAGE);
    pull.from.rank = -3;
    rt_node_pull_encode(&pull, buf);
    assert_int_equal(rt_node_pull_decode(buf, RT_NODE_PULL_LEN, &pull_out), RMPI_ERR_MESSAGE);

    assert_int_equal(rt_node_pulled_encode(&pulled, buf), RT_NODE_PULLED_LEN);
    assert_int_equal(rt_node_pulled_decode(buf, RT_NODE_PULLED_LEN, &pulled_out), RMPI_OK);
    assert_int_equal(pulled_out.cookie, 8);
    assert_int_equal(pulled_out.status, RMPI_OK);
    assert_int_equal(pulled_out.loc.rank, 2);
    assert_int_equal(pulled_out.loc.size, 16);
    pulled.status = 7; /* not a status */
    rt_node_pulled_encode(&pulled, buf);
    assert_int_equal(rt_node_pulled_decode(buf, RT_NODE_PULLED_LEN, &pulled_out), RMPI_ERR_MESSAGE);
    pulled.status   = RMPI_OK;
    pulled.loc.rank = -1;
    rt_node_pulled_encode(&pulled, buf);
    assert_int_equal(rt_node_pulled_decode(buf, RT_NODE_PULLED_LEN, &pulled_out), RMPI_ERR_MESSAGE);

    fill_oid(&oid, 13);
    assert_int_equal(rt_node_copy_encode(&oid, buf), RT_NODE_COPY_LEN);
    assert_int_equal(rt_node_copy_decode(buf, RT_NODE_COPY_LEN, &oid_out), RMPI_OK);
    assert_memory_equal(&oid_out, &oid, sizeof(oid));
    assert_int_equal(rt_node_copy_decode(buf, RT_NODE_COPY_LEN + 1, &oid_out), RMPI_ERR_MESSAGE);
    assert_int_equal(rt_node_pull_decode(buf, RT_NODE_COPY_LEN, &pull_out), RMPI_ERR_MESSAGE);
}

/* A stored value names a device only with offset 0, and only a device that can exist. */
static void test_value_device(void **state)
{
    rt_locate_reply_t reply = {.cookie = 1, .value = stored_value()}, out;
    size_t            len;
    uint8_t          *buf;

    (void)state;
    reply.value.loc.device = 3;
    reply.value.loc.offset = 0;
    buf                    = encode_locate_reply(&reply, &len);
    assert_int_equal(rt_locate_reply_decode(buf, len, &out), RMPI_OK);
    assert_int_equal(out.value.loc.device, 3);
    free(buf);
    reply.value.loc.offset = 64; /* a device object has no store offset */
    buf                    = encode_locate_reply(&reply, &len);
    assert_int_equal(rt_locate_reply_decode(buf, len, &out), RMPI_ERR_MESSAGE);
    free(buf);
    reply.value.loc.offset = 0;
    reply.value.loc.device = RT_LOC_MAX_DEVICES;
    buf                    = encode_locate_reply(&reply, &len);
    assert_int_equal(rt_locate_reply_decode(buf, len, &out), RMPI_ERR_MESSAGE);
    free(buf);
}

static void test_peek(void **state)
{
    uint8_t       buf[HDR];
    rt_msg_type_t type = RT_MSG_TYPE_LAST;

    (void)state;
    rt_bare_encode(RT_MSG_SHUTDOWN, buf);
    assert_int_equal(rt_msg_peek(buf, HDR - 1, &type), RMPI_ERR_MESSAGE);
    assert_int_equal(rt_msg_peek(buf, 0, &type), RMPI_ERR_MESSAGE);
    buf[1] = 0;
    assert_int_equal(rt_msg_peek(buf, HDR, &type), RMPI_ERR_MESSAGE);
    buf[1] = RT_MSG_TYPE_LAST;
    assert_int_equal(rt_msg_peek(buf, HDR, &type), RMPI_ERR_MESSAGE);
    assert_int_equal(type, RT_MSG_TYPE_LAST); /* untouched on failure */
    buf[1] = RT_MSG_TYPE_LAST - 1;
    assert_int_equal(rt_msg_peek(buf, HDR, &type), RMPI_OK);
    assert_int_equal(type, RT_MSG_TYPE_LAST - 1);
}

/* Change bytes past the header: whatever decodes must lie inside the message
 * (decode_copy's helpers assert it), and the decoder must never crash or leak. */
static void test_body_corruption(void **state)
{
    static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x80, 0xff};
    sample_t             s[MAX_SAMPLES];
    size_t               n = build_samples(s);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint8_t copy[8192];

        for (size_t byte = HDR; byte < s[i].len; byte++) {
            for (size_t m = 0; m < sizeof(masks); m++) {
                rmpi_status_t status;

                memcpy(copy, s[i].buf, s[i].len);
                copy[byte] ^= masks[m];
                status = decode_copy(s[i].type, copy, s[i].len);
                assert_true(status == RMPI_OK || status == RMPI_ERR_MESSAGE);
            }
        }
    }
    free_samples(s, n);
}

/* A one-arg spec, to corrupt its fields at known offsets. */
static uint8_t *one_arg_spec(rt_value_t value, bool is_ref, size_t *len_p)
{
    rt_spec_arg_t  arg = {.is_ref = is_ref, .value = value};
    rt_task_spec_t spec;

    min_spec(&spec);
    spec.args     = &arg;
    spec.num_args = 1;
    return encode_spec(&spec, len_p);
}

#define ARG0 SPEC_OFF_CUSTOM /* no custom resources, no name: the arg starts here */

static void expect_bad(rt_msg_type_t type, const uint8_t *buf, size_t len)
{
    assert_int_equal(decode_copy(type, buf, len), RMPI_ERR_MESSAGE);
}

static void patch_and_expect_bad(rt_msg_type_t type, const uint8_t *buf, size_t len, size_t off,
                                 const void *field, size_t field_len)
{
    uint8_t copy[8192];

    assert_true(off + field_len <= len && len <= sizeof(copy));
    memcpy(copy, buf, len);
    memcpy(copy + off, field, field_len);
    expect_bad(type, copy, len);
}

static void test_bad_values(void **state)
{
    static const uint8_t bad_kinds[] = {0, 4, 255};
    rt_value_t           array       = inline_value();
    size_t               len;
    uint8_t             *buf;
    uint8_t              u8;
    uint32_t             u32;
    uint64_t             u64;
    int32_t              i32;

    (void)state;
    buf = one_arg_spec(array, false, &len);
    assert_int_equal(decode_copy(RT_MSG_TASK_PUSH, buf, len), RMPI_OK);
    for (size_t k = 0; k < sizeof(bad_kinds); k++) {
        patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 1, &bad_kinds[k], 1);
    }
    u8 = 2; /* is_ref and has_array are booleans */
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0, &u8, 1);
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 2, &u8, 1);
    u8 = RMPI_DTYPE_LAST;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 3, &u8, 1);
    u8 = RMPI_ARRAY_MAX_DIMS + 1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 4, &u8, 1);
    u8 = 255;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 4, &u8, 1);
    /* the INLINE size after 2 shape entries: huge, and one past the bytes there are */
    u64 = UINT64_MAX;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 5 + 16, &u64, 8);
    u64 = array.size + 1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 5 + 16, &u64, 8);
    free(buf);

    buf = one_arg_spec(error_value(), true, &len);
    assert_int_equal(decode_copy(RT_MSG_TASK_PUSH, buf, len), RMPI_OK);
    u32 = RT_ERROR_MSG_MAX + 1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 1 + 16 + 2 + 4, &u32, 4);
    u32 = UINT32_MAX;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 1 + 16 + 2 + 4, &u32, 4);
    i32 = RMPI_OK; /* an error value must carry an error */
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 1 + 16 + 2, &i32, 4);
    free(buf);

    buf = one_arg_spec(stored_value(), false, &len);
    assert_int_equal(decode_copy(RT_MSG_TASK_PUSH, buf, len), RMPI_OK);
    i32 = -1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, ARG0 + 1 + 2, &i32, 4);
    free(buf);
}

/* Encoders write out-of-range fields as they are: the receiver rejects them. */
static void test_invalid_input_encodes_to_rejected(void **state)
{
    rt_value_t     values[RMPI_MAX_RETURNS + 1];
    rt_task_done_t done = {.num_returns = RMPI_MAX_RETURNS + 1, .returns = values};
    rt_value_t     bad;
    rt_task_spec_t spec;
    size_t         len;
    uint8_t       *buf;

    (void)state;
    bad            = inline_value();
    bad.array.ndim = RMPI_ARRAY_MAX_DIMS + 1;
    buf            = one_arg_spec(bad, false, &len);
    expect_bad(RT_MSG_TASK_PUSH, buf, len);
    free(buf);
    bad = (rt_value_t){.kind = (rt_value_kind_t)9};
    buf = one_arg_spec(bad, false, &len);
    expect_bad(RT_MSG_TASK_PUSH, buf, len);
    free(buf);

    min_spec(&spec);
    spec.num_custom = RT_MAX_CUSTOM + 1;
    buf             = encode_spec(&spec, &len);
    expect_bad(RT_MSG_TASK_PUSH, buf, len);
    free(buf);

    for (int i = 0; i <= RMPI_MAX_RETURNS; i++) {
        values[i] = stored_value();
    }
    buf = encode_done(&done, &len);
    expect_bad(RT_MSG_TASK_DONE, buf, len);
    free(buf);
}

static void test_bad_spec_fields(void **state)
{
    rt_spec_arg_t  args[4];
    rt_task_spec_t spec;
    size_t         len;
    uint8_t       *buf;
    uint32_t       u32;
    uint16_t       u16;
    uint8_t        u8;
    double         f64;
    const double   bad_amounts[] = {-1.0, -DBL_MIN, INFINITY, -INFINITY, NAN};

    (void)state;
    full_spec(&spec, args);
    buf = encode_spec(&spec, &len);
    u32 = UINT32_MAX; /* hostile arg counts: rejected before any allocation */
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NUM_ARGS, &u32, 4);
    u32 = (uint32_t)(len / 11);
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NUM_ARGS, &u32, 4);
    u32 = spec.num_args + 1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NUM_ARGS, &u32, 4);
    u32 = spec.num_args - 1; /* one arg left over */
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NUM_ARGS, &u32, 4);
    u16 = RMPI_MAX_RETURNS + 1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NUM_RETURNS, &u16, 2);
    u16 = UINT16_MAX;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NUM_RETURNS, &u16, 2);
    u8 = RT_MAX_CUSTOM + 1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NUM_CUSTOM, &u8, 1);
    u8 = RT_NAME_MAX + 1;
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NAME_LEN, &u8, 1);
    u8 = RT_MAX_CUSTOM; /* a custom index past the job's names */
    patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_CUSTOM + 9 * 3, &u8, 1);
    for (size_t i = 0; i < sizeof(bad_amounts) / sizeof(bad_amounts[0]); i++) {
        f64 = bad_amounts[i];
        patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_CPUS, &f64, 8);
        patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_GPUS, &f64, 8);
        patch_and_expect_bad(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_CUSTOM + 9 * 5 + 1, &f64, 8);
    }
    free(buf);
}

static void test_bad_counts(void **state)
{
    sample_t s[MAX_SAMPLES];
    size_t   n = build_samples(s);
    uint32_t u32, count;
    uint16_t u16;
    int32_t  i32;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *buf = s[i].buf;
        size_t         len = s[i].len;

        switch (s[i].type) {
        case RT_MSG_TASK_DONE:
            u16 = RMPI_MAX_RETURNS + 1;
            patch_and_expect_bad(s[i].type, buf, len, DONE_OFF_NUM_RETURNS, &u16, 2);
            u16 = RMPI_MAX_RETURNS; /* allowed, but more than the bytes hold */
            patch_and_expect_bad(s[i].type, buf, len, DONE_OFF_NUM_RETURNS, &u16, 2);
            i32 = -1;
            patch_and_expect_bad(s[i].type, buf, len, DONE_OFF_EXECUTOR, &i32, 4);
            break;
        case RT_MSG_REF_UPDATE:
        case RT_MSG_FREE:
        case RT_MSG_STEAL_REPLY:
            memcpy(&count, buf + HDR, 4);
            for (uint32_t d = 1; d < 8; d++) { /* any count but the right one */
                u32 = count + d;
                patch_and_expect_bad(s[i].type, buf, len, HDR, &u32, 4);
                if (count >= d) {
                    u32 = count - d;
                    patch_and_expect_bad(s[i].type, buf, len, HDR, &u32, 4);
                }
            }
            u32 = UINT32_MAX;
            patch_and_expect_bad(s[i].type, buf, len, HDR, &u32, 4);
            break;
        case RT_MSG_WELCOME:
            u32 = UINT32_MAX;
            patch_and_expect_bad(s[i].type, buf, len, WELCOME_OFF_ERROR_LEN, &u32, 4);
            u32 = RT_ERROR_MSG_MAX + 1;
            patch_and_expect_bad(s[i].type, buf, len, WELCOME_OFF_ERROR_LEN, &u32, 4);
            i32 = 1; /* neither OK nor an error */
            patch_and_expect_bad(s[i].type, buf, len, WELCOME_OFF_STATUS, &i32, 4);
            break;
        default:
            break;
        }
    }
    free_samples(s, n);
}

/* The steal reply's spec lengths: zero, one off either way, past the end. */
static void test_bad_steal_reply(void **state)
{
    sample_t s[MAX_SAMPLES];
    size_t   n = build_samples(s);
    uint32_t first_len;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        const uint32_t deltas[] = {1, UINT32_MAX, 1000};

        if (s[i].type != RT_MSG_STEAL_REPLY || s[i].len == HDR + 4) {
            continue;
        }
        memcpy(&first_len, s[i].buf + HDR + 4, 4);
        for (size_t d = 0; d < 3; d++) {
            uint32_t bad = first_len + deltas[d];

            patch_and_expect_bad(s[i].type, s[i].buf, s[i].len, HDR + 4, &bad, 4);
        }
        first_len = UINT32_MAX;
        patch_and_expect_bad(s[i].type, s[i].buf, s[i].len, HDR + 4, &first_len, 4);
    }
    free_samples(s, n);
}

static void test_bad_desc_fields(void **state)
{
    rt_hello_t   hello = {.fn_count = 1};
    size_t       len;
    uint8_t     *buf;
    uint8_t      u8;
    int32_t      i32;
    double       f64 = NAN;
    uint32_t     u32;
    const size_t rkey_len_off =
        HELLO_OFF_CUSTOM + 2 * (1 + 8) + strlen("GPU_A100") + strlen("license");

    (void)state;
    fill_desc(&hello.desc, 3, 2);
    buf = encode_hello(&hello, &len);
    assert_int_equal(decode_copy(RT_MSG_HELLO, buf, len), RMPI_OK);
    i32 = -1;
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, HELLO_OFF_RANK, &i32, 4);
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, HELLO_OFF_NODE, &i32, 4);
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, HELLO_OFF_CPUS, &f64, 8);
    u8 = RT_MAX_CUSTOM + 1;
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, HELLO_OFF_NUM_CUSTOM, &u8, 1);
    u8 = RMPI_RESOURCE_NAME_MAX; /* no room for the NUL */
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, HELLO_OFF_CUSTOM, &u8, 1);
    u8 = 255;
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, HELLO_OFF_CUSTOM, &u8, 1);
    u32 = UINT32_MAX;
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, rkey_len_off, &u32, 4);
    memcpy(&u32, buf + rkey_len_off, 4);
    assert_int_equal(u32, sizeof(rkey_bytes)); /* the offset above is the rkey length */
    u32++;
    patch_and_expect_bad(RT_MSG_HELLO, buf, len, rkey_len_off, &u32, 4);
    free(buf);
}

static void test_reserved_fields(void **state)
{
    rt_cancel_t cancel = {.flags = 1};
    rt_steal_t  steal  = {.max_tasks = 1, .free_cpus = 1};
    rt_moved_t  moved  = {.rank = 0};
    uint8_t     buf[64];
    uint8_t     one  = 1;
    double      cpus = -0.5;
    int32_t     rank = INT32_MIN;

    (void)state;
    rt_cancel_encode(&cancel, buf);
    patch_and_expect_bad(RT_MSG_CANCEL, buf, RT_CANCEL_LEN, HDR + 16 + 4, &one, 1);
    rt_steal_encode(&steal, buf);
    patch_and_expect_bad(RT_MSG_STEAL, buf, RT_STEAL_LEN, HDR + 4 + 3, &one, 1);
    patch_and_expect_bad(RT_MSG_STEAL, buf, RT_STEAL_LEN, HDR + 8, &cpus, 8);
    rt_moved_encode(&moved, buf);
    patch_and_expect_bad(RT_MSG_MOVED, buf, RT_MOVED_LEN, HDR + 16 + 4, &rank, 4);
}

/*
 * Lengths at their limit and one past it, in otherwise consistent messages (the
 * encoders cut strings, so these are built by growing a string inside an encoding):
 * @a field_off holds the string's length (@a field_size bytes), which is @a base,
 * and its bytes end at @a end_off.
 */
static void check_length_limit(rt_msg_type_t type, const uint8_t *buf, size_t len, size_t field_off,
                               size_t field_size, size_t end_off, uint32_t base, uint32_t limit)
{
    uint8_t grown[8192];

    assert_true(base < limit && len + (limit - base) + 1 <= sizeof(grown));
    for (uint32_t value = limit; value <= limit + 1; value++) {
        size_t extra = value - base;

        memcpy(grown, buf, end_off);
        memset(grown + end_off, 'g', extra);
        memcpy(grown + end_off + extra, buf + end_off, len - end_off);
        put_u32(grown + 4, (uint32_t)(len + extra));
        memcpy(grown + field_off, &value, field_size); /* little-endian: the low bytes */
        assert_int_equal(decode_copy(type, grown, len + extra),
                         value == limit ? RMPI_OK : RMPI_ERR_MESSAGE);
    }
}

static void test_length_limits(void **state)
{
    char           text[RT_ERROR_MSG_MAX];
    rt_task_spec_t spec;
    rt_value_t     error = error_value();
    rt_hello_t     hello = {.fn_count = 1};
    rt_welcome_t   welcome;
    size_t         len;
    uint8_t       *buf;

    (void)state;
    memset(text, 't', sizeof(text));
    min_spec(&spec);
    spec.name     = text;
    spec.name_len = RT_NAME_MAX - 1;
    buf           = encode_spec(&spec, &len);
    check_length_limit(RT_MSG_TASK_PUSH, buf, len, SPEC_OFF_NAME_LEN, 1,
                       SPEC_OFF_CUSTOM + RT_NAME_MAX - 1, RT_NAME_MAX - 1, RT_NAME_MAX);
    free(buf);

    error.data = text;
    error.size = RT_ERROR_MSG_MAX - 1;
    buf        = one_arg_spec(error, false, &len);
    check_length_limit(RT_MSG_TASK_PUSH, buf, len, ARG0 + 1 + 2 + 4, 4, len, RT_ERROR_MSG_MAX - 1,
                       RT_ERROR_MSG_MAX);
    free(buf);

    fill_desc(&hello.desc, 1, 1);
    hello.desc.custom[0].name     = text;
    hello.desc.custom[0].name_len = RMPI_RESOURCE_NAME_MAX - 2;
    buf                           = encode_hello(&hello, &len);
    check_length_limit(RT_MSG_HELLO, buf, len, HELLO_OFF_CUSTOM, 1,
                       HELLO_OFF_CUSTOM + 1 + RMPI_RESOURCE_NAME_MAX - 2,
                       RMPI_RESOURCE_NAME_MAX - 2, RMPI_RESOURCE_NAME_MAX - 1);
    free(buf);

    welcome =
        (rt_welcome_t){.status = RMPI_ERR_CONFIG, .error = text, .error_len = RT_ERROR_MSG_MAX - 1};
    buf = encode_welcome(&welcome, &len);
    check_length_limit(RT_MSG_WELCOME, buf, len, WELCOME_OFF_ERROR_LEN, 4,
                       WELCOME_OFF_ERROR_LEN + 4 + RT_ERROR_MSG_MAX - 1, RT_ERROR_MSG_MAX - 1,
                       RT_ERROR_MSG_MAX);
    free(buf);
}

/* An iterator that ran out of specs before the end of its reply reports it. */
static void test_steal_iter_leftover(void **state)
{
    uint8_t         bytes[4] = {0};
    rt_steal_iter_t it       = {.pos = bytes, .end = bytes + sizeof(bytes), .left = 0};
    const void     *spec     = NULL;
    size_t          spec_len = 0;

    (void)state;
    assert_int_equal(rt_steal_reply_next(&it, &spec, &spec_len), RMPI_ERR_MESSAGE);
    it = (rt_steal_iter_t){.pos = bytes, .end = bytes + 3, .left = 1}; /* no room for a length */
    assert_int_equal(rt_steal_reply_next(&it, &spec, &spec_len), RMPI_ERR_MESSAGE);
    assert_null(spec);
    assert_int_equal(spec_len, 0);
}

/* A failed decode leaves the caller's outputs as they were. */
/* Actor messages: a status above OK, a rank below -1, an oversized text are refused. */
static void test_bad_actor_fields(void **state)
{
    rt_actor_msg_t msg = {.rank = 1, .status = RMPI_OK, .text = "x", .text_len = 1};
    rt_actor_msg_t out;
    uint8_t        buf[256];
    size_t         len;

    (void)state;
    len = rt_actor_msg_encode(RT_MSG_ACTOR_LOCATION, &msg, buf);
    assert_int_equal(rt_actor_msg_decode(RT_MSG_ACTOR_LOCATION, buf, len, &out), RMPI_OK);
    assert_int_equal(rt_actor_msg_decode(RT_MSG_ACTOR_KILL, buf, len, &out), RMPI_ERR_MESSAGE);
    assert_int_equal(rt_actor_msg_decode(RT_MSG_TASK_PUSH, buf, len, &out), RMPI_ERR_MESSAGE);
    msg.status = 1;
    len        = rt_actor_msg_encode(RT_MSG_ACTOR_LOCATION, &msg, buf);
    assert_int_equal(rt_actor_msg_decode(RT_MSG_ACTOR_LOCATION, buf, len, &out), RMPI_ERR_MESSAGE);
    msg.status = RMPI_ERR_LAST;
    len        = rt_actor_msg_encode(RT_MSG_ACTOR_LOCATION, &msg, buf);
    assert_int_equal(rt_actor_msg_decode(RT_MSG_ACTOR_LOCATION, buf, len, &out), RMPI_ERR_MESSAGE);
    msg.status = RMPI_OK;
    msg.rank   = -2;
    len        = rt_actor_msg_encode(RT_MSG_ACTOR_LOCATION, &msg, buf);
    assert_int_equal(rt_actor_msg_decode(RT_MSG_ACTOR_LOCATION, buf, len, &out), RMPI_ERR_MESSAGE);
    msg.rank     = 0;
    len          = rt_actor_msg_encode(RT_MSG_ACTOR_LOCATION, &msg, buf);
    buf[len - 2] = 0xff; /* text_len (little-endian u32 before 1 byte of text) grows */
    buf[len - 3] = 0xff;
    assert_int_equal(rt_actor_msg_decode(RT_MSG_ACTOR_LOCATION, buf, len, &out), RMPI_ERR_MESSAGE);
}

/* A spec's actor block: CREATE and CALL together, or a CREATE without concurrency, fail. */
static void test_bad_spec_actor(void **state)
{
    rt_task_spec_t spec, out;
    size_t         len;
    uint8_t       *buf;

    (void)state;
    min_spec(&spec);
    spec.flags                 = RT_SPEC_ACTOR_CREATE;
    spec.actor.max_concurrency = 4;
    spec.actor.seq             = 77;
    buf                        = encode_spec(&spec, &len);
    assert_int_equal(rt_spec_decode(buf, len, &out), RMPI_OK);
    assert_int_equal(out.actor.max_concurrency, 4);
    assert_int_equal(out.actor.seq, 77);
    rt_spec_clear(&out);
    free(buf);
    spec.actor.max_concurrency = 0;
    buf                        = encode_spec(&spec, &len);
    assert_int_equal(rt_spec_decode(buf, len, &out), RMPI_ERR_MESSAGE);
    free(buf);
    spec.flags = RT_SPEC_ACTOR_CREATE | RT_SPEC_ACTOR_CALL;
    buf        = encode_spec(&spec, &len);
    assert_int_equal(rt_spec_decode(buf, len, &out), RMPI_ERR_MESSAGE);
    free(buf);
}

static void test_outputs_untouched_on_failure(void **state)
{
    rt_spec_arg_t   args[4];
    rt_task_spec_t  spec, out;
    rt_task_done_t  done_out;
    rt_ref_delta_t *deltas = (rt_ref_delta_t *)&out;
    size_t          count  = 12345, len;
    uint8_t        *buf;
    unsigned char   pattern[sizeof(out)];

    (void)state;
    full_spec(&spec, args);
    buf = encode_spec(&spec, &len);
    memset(&out, 0xa5, sizeof(out));
    memcpy(pattern, &out, sizeof(out));
    assert_int_equal(rt_spec_decode(buf, len - 1, &out), RMPI_ERR_MESSAGE);
    put_u32(buf + 4, (uint32_t)(len - 1));
    assert_int_equal(rt_spec_decode(buf, len - 1, &out), RMPI_ERR_MESSAGE);
    assert_memory_equal(&out, pattern, sizeof(out));
    memset(&done_out, 0xa5, sizeof(done_out));
    assert_int_equal(rt_done_decode(buf, len - 1, &done_out), RMPI_ERR_MESSAGE);
    assert_int_equal(done_out.num_returns, 0xa5a5);
    assert_int_equal(rt_ref_update_decode(buf, len - 1, &deltas, &count), RMPI_ERR_MESSAGE);
    assert_ptr_equal(deltas, (rt_ref_delta_t *)&out);
    assert_int_equal(count, 12345);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_round_trip),
        cmocka_unit_test(test_spec_cuts_long_strings),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_done_round_trip),
        cmocka_unit_test(test_locate_round_trip),
        cmocka_unit_test(test_id_lists_round_trip),
        cmocka_unit_test(test_control_round_trip),
        cmocka_unit_test(test_steal_reply_round_trip),
        cmocka_unit_test(test_wireup_round_trip),
        cmocka_unit_test(test_samples_valid),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_header_corruption),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_body_corruption),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_invalid_input_encodes_to_rejected),
        cmocka_unit_test(test_bad_spec_fields),
        cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_bad_steal_reply),
        cmocka_unit_test(test_bad_desc_fields),
        cmocka_unit_test(test_reserved_fields),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_steal_iter_leftover),
        cmocka_unit_test(test_outputs_untouched_on_failure),
        cmocka_unit_test(test_bad_actor_fields),
        cmocka_unit_test(test_bad_spec_actor),
        cmocka_unit_test(test_devobj_messages),
        cmocka_unit_test(test_nodepull_messages),
        cmocka_unit_test(test_value_device),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
