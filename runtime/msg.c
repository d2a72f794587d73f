/*
 * runtime/msg.c - encode and defensively decode the runtime's messages (see msg.h).
 *
 * Messages arrive at any alignment, so every field is moved with memcpy through a
 * cursor. Encoders write the header with a zero length and patch it once the body is
 * written (one pass). Decoders read through a reader that fails "sticky": a read past
 * the end, or a value that breaks a rule, empties the reader, and every later read
 * yields zeros, so a decoder reads its fields in order and checks the reader once
 * before it trusts a count (to allocate) and once at the end (nothing left over).
 *
 * Layouts (after the 8-byte common header; the header's flags are reserved, zero):
 *
 *   value      u8 kind | u8 has_array [| u8 dtype | u8 ndim | u64 shape[ndim]]
 *              INLINE: u64 size | bytes
 *              STORED: i32 rank | i32 device (-1: host store) | u64 offset | u64 size
 *              ERROR:  i32 status | u32 len | bytes
 *   TASK_PUSH  oid task_id | u32 fn_index | u32 attempt | u16 num_returns | u16 flags |
 *              i32 max_retries | f64 cpus | f64 gpus | u64 memory | u8 num_custom |
 *              u8 name_len | u32 num_args | (u8 index | f64 amount)[num_custom] |
 *              name | (u8 is_ref [| oid] | value)[num_args]
 *   TASK_DONE  oid task_id | u32 attempt | i32 executor | u32 queued | u32 running |
 *              u16 num_returns | value[num_returns]
 *   LOCATE     oid | u64 cookie                LOCATE_REPLY  oid | u64 cookie | value
 *   REF_UPDATE u32 count | (oid | i32 delta)[count]      FREE  u32 count | oid[count]
 *   CANCEL     oid | u32 flags | u32 zero      STEAL  u32 max_tasks | u32 zero | f64 cpus
 *   MOVED      oid | u32 attempt | i32 rank
 *   actor block (TASK_PUSH with ACTOR_CREATE/CALL, after num_args):
 *              oid id | u32 incarnation | u32 max_concurrency | u64 seq
 *   ACTOR_CHECKPOINT oid id | u32 incarnation | u32 zero | u64 version | u64 len | bytes
 *   ACTOR_*    oid id | u64 cookie | u32 incarnation | u32 flags | i32 rank | i32 status |
 *              u32 cls | i32 max_task_retries | u32 text_len | text
 *   STEAL_REPLY u32 count | (u32 len | encoded TASK_PUSH)[count]
 *   rank desc  i32 rank | i32 node | f64 cpus | f64 gpus | u64 memory | u8 num_custom |
 *              (u8 name_len | name | f64 amount)[num_custom] | u32 rkey_len | rkey
 *   HELLO      u64 fn_digest | u32 fn_count | rank desc
 *   WELCOME    i32 status | u32 error_len | error | u32 num_ranks | rank desc[num_ranks]
 *
 * Encoders trust their caller (the runtime validated its inputs at the API): names and
 * error messages are cut to their limits; an out-of-range count or descriptor is
 * written as it is, with only the entries that exist, so the receiver rejects the
 * message instead of misreading it.
 */
#include "runtime/msg.h"
#include "runtime/msg_io.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* Smallest encodings, to bound a count by the bytes left before allocating for it. */
#define VALUE_MIN_LEN (2 + 8)                    /* kind, has_array, INLINE/ERROR of 0 bytes */
#define ARG_MIN_LEN (1 + VALUE_MIN_LEN)          /* is_ref, value */
#define DESC_MIN_LEN (4 + 4 + 8 + 8 + 8 + 1 + 4) /* no custom resources, empty rkey */
#define SPEC_FIXED_LEN (RT_MSG_HDR_LEN + 16 + 4 + 4 + 2 + 2 + 4 + 8 + 8 + 8 + 1 + 1 + 4)
#define SPEC_ACTOR_LEN (16 + 4 + 4 + 8)
#define ACTOR_FIXED_LEN (RT_MSG_HDR_LEN + 16 + 8 + 4 + 4 + 4 + 4 + 4 + 4 + 4)
#define DONE_FIXED_LEN (RT_MSG_HDR_LEN + 16 + 4 + 4 + 4 + 4 + 2)

/* Custom resource names fit rmpi_resources_t's name with its NUL. */
#define RESOURCE_NAME_MAX (RMPI_RESOURCE_NAME_MAX - 1)

_Static_assert(sizeof(store_oid_t) == 16, "object IDs are 16 bytes on the wire");
_Static_assert(sizeof(double) == 8, "doubles travel as IEEE-754 binary64");
_Static_assert(RT_NAME_MAX <= UINT8_MAX && RESOURCE_NAME_MAX <= UINT8_MAX, "u8 name lengths");
_Static_assert(RT_MAX_CUSTOM <= UINT8_MAX, "u8 custom resource counts");

rmpi_status_t rt_msg_peek(const void *buf, size_t len, rt_msg_type_t *type_p)
{
    const uint8_t *p = buf;
    uint16_t       flags;
    uint32_t       length;

    if (len < RT_MSG_HDR_LEN || p[0] != RT_MSG_VERSION || p[1] == 0 || p[1] >= RT_MSG_TYPE_LAST) {
        return RMPI_ERR_MESSAGE;
    }
    memcpy(&flags, p + 2, sizeof(flags));
    memcpy(&length, p + 4, sizeof(length));
    if (flags != 0 || length != len) {
        return RMPI_ERR_MESSAGE;
    }
    /* No decoder follows a bare message: its length is checked here. */
    if ((p[1] == RT_MSG_SHUTDOWN || p[1] == RT_MSG_TIMELINE) && len != RT_MSG_HDR_LEN) {
        return RMPI_ERR_MESSAGE;
    }
    *type_p = (rt_msg_type_t)p[1];
    return RMPI_OK;
}

/* --- values --------------------------------------------------------------------- */

static inline size_t array_ndim(const rmpi_array_desc_t *array)
{
    return min_size(array->ndim, RMPI_ARRAY_MAX_DIMS);
}

static inline size_t value_size(const rt_value_t *v)
{
    size_t size = 2;

    if (v->has_array) {
        size += 2 + 8 * array_ndim(&v->array);
    }
    switch (v->kind) {
    case RT_VALUE_INLINE:
        return size + 8 + v->size;
    case RT_VALUE_STORED:
        return size + 4 + 4 + 8 + 8;
    case RT_VALUE_ERROR:
        return size + 4 + 4 + bounded_len(v->data, v->size, RT_ERROR_MSG_MAX);
    }
    return size; /* an unknown kind: its receiver rejects it */
}

static inline uint8_t *wr_value(uint8_t *p, const rt_value_t *v)
{
    size_t len;

    p = wr_u8(p, (uint8_t)v->kind);
    p = wr_u8(p, v->has_array);
    if (v->has_array) {
        p = wr_u8(p, v->array.dtype);
        p = wr_u8(p, v->array.ndim);
        p = wr_bytes(p, v->array.shape, 8 * array_ndim(&v->array));
    }
    switch (v->kind) {
    case RT_VALUE_INLINE:
        p = wr_u64(p, v->size);
        p = wr_bytes(p, v->data, v->size);
        break;
    case RT_VALUE_STORED:
        p = wr_i32(p, v->loc.rank);
        p = wr_i32(p, v->loc.device);
        p = wr_u64(p, v->loc.offset);
        p = wr_u64(p, v->loc.size);
        break;
    case RT_VALUE_ERROR:
        len = bounded_len(v->data, v->size, RT_ERROR_MSG_MAX);
        p   = wr_i32(p, v->status);
        p   = wr_u32(p, (uint32_t)len);
        p   = wr_bytes(p, v->data, len);
        break;
    }
    return p;
}

static inline void rd_array(msg_reader_t *r, rmpi_array_desc_t *array)
{
    array->dtype = rd_u8(r);
    array->ndim  = rd_u8(r);
    rd_check(r, array->dtype < RMPI_DTYPE_LAST && array->ndim <= RMPI_ARRAY_MAX_DIMS);
    if (r->bad) {
        array->ndim = 0;
    }
    rd_copy(r, array->shape, 8 * (size_t)array->ndim);
    memset(array->shape + array->ndim, 0, 8 * (RMPI_ARRAY_MAX_DIMS - (size_t)array->ndim));
}

static inline void rd_value(msg_reader_t *r, rt_value_t *v)
{
    uint64_t size;

    v->kind      = (rt_value_kind_t)rd_u8(r);
    v->has_array = rd_bool(r);
    if (v->has_array) {
        rd_array(r, &v->array);
    } else {
        memset(&v->array, 0, sizeof(v->array));
    }
    v->data   = NULL;
    v->size   = 0;
    v->loc    = (rt_location_t){0};
    v->status = RMPI_OK;
    switch (v->kind) {
    case RT_VALUE_INLINE:
        size = rd_u64(r);
        rd_check(r, size <= rd_left(r)); /* before the cast: size_t may be 32 bits */
        v->size = r->bad ? 0 : (size_t)size;
        v->data = rd_take(r, v->size);
        break;
    case RT_VALUE_STORED:
        v->loc.rank   = rd_rank(r);
        v->loc.device = rd_i32(r);
        v->loc.offset = rd_u64(r);
        v->loc.size   = rd_u64(r);
        rd_check(r, v->loc.device >= RT_LOC_HOST && v->loc.device < RT_LOC_MAX_DEVICES &&
                        (v->loc.device == RT_LOC_HOST || v->loc.offset == 0));
        break;
    case RT_VALUE_ERROR:
        v->status = (rmpi_status_t)rd_i32(r);
        v->size   = rd_u32(r);
        /* An error value carries an error; its message is bounded. */
        rd_check(r, v->status < RMPI_OK && v->size <= RT_ERROR_MSG_MAX);
        v->data = rd_take(r, v->size);
        break;
    default:
        rd_fail(r);
        break;
    }
}

/* --- answers with a host location --------------------------------------------- */

size_t rt_loc_answer_encode(rt_msg_type_t type, const rt_loc_answer_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, type);

    p = wr_u64(p, msg->cookie);
    p = wr_i32(p, msg->status);
    p = wr_i32(p, msg->loc.rank);
    p = wr_u64(p, msg->loc.offset);
    p = wr_u64(p, msg->loc.size);
    return msg_finish(buf, p);
}

rmpi_status_t rt_loc_answer_decode(rt_msg_type_t type, const void *buf, size_t len,
                                   rt_loc_answer_t *msg_p)
{
    msg_reader_t    r;
    rt_loc_answer_t msg;

    if (!rd_hdr(&r, buf, len, type)) {
        return RMPI_ERR_MESSAGE;
    }
    msg.cookie     = rd_u64(&r);
    msg.status     = (rmpi_status_t)rd_i32(&r);
    msg.loc.rank   = rd_rank(&r);
    msg.loc.device = RT_LOC_HOST;
    msg.loc.offset = rd_u64(&r);
    msg.loc.size   = rd_u64(&r);
    rd_check(&r, msg.status <= RMPI_OK && msg.status > RMPI_ERR_LAST);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

/* --- TASK_PUSH ------------------------------------------------------------------ */

static inline size_t spec_name_len(const rt_task_spec_t *spec)
{
    return bounded_len(spec->name, spec->name_len, RT_NAME_MAX);
}

static inline size_t spec_num_custom(const rt_task_spec_t *spec)
{
    return min_size(spec->num_custom, RT_MAX_CUSTOM);
}

static inline bool spec_has_actor(uint16_t flags)
{
    return (flags & (RT_SPEC_ACTOR_CREATE | RT_SPEC_ACTOR_CALL)) != 0;
}

size_t rt_spec_size(const rt_task_spec_t *spec)
{
    size_t size = SPEC_FIXED_LEN + spec_num_custom(spec) * (1 + 8) + spec_name_len(spec) +
                  (spec_has_actor(spec->flags) ? SPEC_ACTOR_LEN : 0);

    for (uint32_t i = 0; i < spec->num_args; i++) {
        size += 1 + (spec->args[i].is_ref ? OID_LEN : 0) + value_size(&spec->args[i].value);
    }
    return size;
}

size_t rt_spec_encode(const rt_task_spec_t *spec, void *buf)
{
    size_t   name_len = spec_name_len(spec);
    uint8_t *p        = wr_hdr(buf, RT_MSG_TASK_PUSH);

    p = wr_oid(p, &spec->task_id);
    p = wr_u32(p, spec->fn_index);
    p = wr_u32(p, spec->attempt);
    p = wr_u16(p, spec->num_returns);
    p = wr_u16(p, spec->flags);
    p = wr_i32(p, spec->max_retries);
    p = wr_f64(p, spec->num_cpus);
    p = wr_f64(p, spec->num_gpus);
    p = wr_u64(p, spec->memory);
    p = wr_u8(p, spec->num_custom);
    p = wr_u8(p, (uint8_t)name_len);
    p = wr_u32(p, spec->num_args);
    if (spec_has_actor(spec->flags)) {
        p = wr_oid(p, &spec->actor.id);
        p = wr_u32(p, spec->actor.incarnation);
        p = wr_u32(p, spec->actor.max_concurrency);
        p = wr_u64(p, spec->actor.seq);
    }
    for (size_t i = 0; i < spec_num_custom(spec); i++) {
        p = wr_u8(p, spec->custom_index[i]);
        p = wr_f64(p, spec->custom_amount[i]);
    }
    p = wr_bytes(p, spec->name, name_len);
    for (uint32_t i = 0; i < spec->num_args; i++) {
        const rt_spec_arg_t *arg = &spec->args[i];

        p = wr_u8(p, arg->is_ref);
        if (arg->is_ref) {
            p = wr_oid(p, &arg->oid);
        }
        p = wr_value(p, &arg->value);
    }
    return msg_finish(buf, p);
}

/** Everything of a spec before its arguments. */
static inline void rd_spec_head(msg_reader_t *r, rt_task_spec_t *spec)
{
    rd_copy(r, spec->task_id.bytes, OID_LEN);
    spec->fn_index    = rd_u32(r);
    spec->attempt     = rd_u32(r);
    spec->num_returns = rd_u16(r);
    spec->flags       = rd_u16(r);
    spec->max_retries = rd_i32(r);
    spec->num_cpus    = rd_amount(r);
    spec->num_gpus    = rd_amount(r);
    spec->memory      = rd_u64(r);
    spec->num_custom  = rd_u8(r);
    spec->name_len    = rd_u8(r);
    spec->num_args    = rd_u32(r);
    memset(&spec->actor, 0, sizeof(spec->actor));
    if (spec_has_actor(spec->flags)) {
        rd_copy(r, spec->actor.id.bytes, OID_LEN);
        spec->actor.incarnation     = rd_u32(r);
        spec->actor.max_concurrency = rd_u32(r);
        spec->actor.seq             = rd_u64(r);
        rd_check(r, (spec->flags & (RT_SPEC_ACTOR_CREATE | RT_SPEC_ACTOR_CALL)) !=
                            (RT_SPEC_ACTOR_CREATE | RT_SPEC_ACTOR_CALL) &&
                        (!(spec->flags & RT_SPEC_ACTOR_CREATE) ||
                         (spec->actor.max_concurrency >= 1 &&
                          spec->actor.max_concurrency <= RMPI_ACTOR_MAX_CONCURRENCY)));
    }
    rd_check(r, spec->num_returns <= RMPI_MAX_RETURNS && spec->num_custom <= RT_MAX_CUSTOM &&
                    spec->name_len <= RT_NAME_MAX);
    if (r->bad) {
        spec->num_custom = 0;
    }
    for (size_t i = 0; i < spec->num_custom; i++) {
        spec->custom_index[i] = rd_u8(r);
        rd_check(r, spec->custom_index[i] < RT_MAX_CUSTOM);
        spec->custom_amount[i] = rd_amount(r);
    }
    memset(spec->custom_index + spec->num_custom, 0, RT_MAX_CUSTOM - (size_t)spec->num_custom);
    memset(spec->custom_amount + spec->num_custom, 0,
           sizeof(double) * (RT_MAX_CUSTOM - (size_t)spec->num_custom));
    spec->name = (const char *)rd_take(r, spec->name_len);
}

static inline void rd_arg(msg_reader_t *r, rt_spec_arg_t *arg)
{
    arg->is_ref = rd_bool(r);
    if (arg->is_ref) {
        rd_copy(r, arg->oid.bytes, OID_LEN);
    } else {
        memset(arg->oid.bytes, 0, OID_LEN);
    }
    rd_value(r, &arg->value);
}

rmpi_status_t rt_spec_decode(const void *buf, size_t len, rt_task_spec_t *spec_p)
{
    msg_reader_t   r;
    rt_task_spec_t spec;

    if (!rd_hdr(&r, buf, len, RT_MSG_TASK_PUSH)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_spec_head(&r, &spec);
    if (!rd_count_fits(&r, spec.num_args, ARG_MIN_LEN)) {
        return RMPI_ERR_MESSAGE;
    }
    spec.args = NULL;
    if (spec.num_args > 0) {
        spec.args = malloc(sizeof(*spec.args) * spec.num_args);
        if (spec.args == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
    }
    for (uint32_t i = 0; i < spec.num_args && !r.bad; i++) {
        rd_arg(&r, &spec.args[i]);
    }
    if (!rd_done(&r)) {
        free(spec.args);
        return RMPI_ERR_MESSAGE;
    }
    *spec_p = spec;
    return RMPI_OK;
}

void rt_spec_clear(rt_task_spec_t *spec)
{
    free(spec->args);
    spec->args     = NULL;
    spec->num_args = 0;
}

/* --- TASK_DONE ------------------------------------------------------------------ */

size_t rt_done_size(const rt_task_done_t *done)
{
    size_t size = DONE_FIXED_LEN;

    for (uint16_t i = 0; i < done->num_returns; i++) {
        size += value_size(&done->returns[i]);
    }
    return size;
}

size_t rt_done_encode(const rt_task_done_t *done, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_TASK_DONE);

    p = wr_oid(p, &done->task_id);
    p = wr_u32(p, done->attempt);
    p = wr_i32(p, done->executor);
    p = wr_u32(p, done->queued);
    p = wr_u32(p, done->running);
    p = wr_u16(p, done->num_returns);
    for (uint16_t i = 0; i < done->num_returns; i++) {
        p = wr_value(p, &done->returns[i]);
    }
    return msg_finish(buf, p);
}

rmpi_status_t rt_done_decode(const void *buf, size_t len, rt_task_done_t *done_p)
{
    msg_reader_t   r;
    rt_task_done_t done;

    if (!rd_hdr(&r, buf, len, RT_MSG_TASK_DONE)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, done.task_id.bytes, OID_LEN);
    done.attempt     = rd_u32(&r);
    done.executor    = rd_rank(&r);
    done.queued      = rd_u32(&r);
    done.running     = rd_u32(&r);
    done.num_returns = rd_u16(&r);
    rd_check(&r, done.num_returns <= RMPI_MAX_RETURNS);
    if (!rd_count_fits(&r, done.num_returns, VALUE_MIN_LEN)) {
        return RMPI_ERR_MESSAGE;
    }
    done.returns = NULL;
    if (done.num_returns > 0) {
        done.returns = malloc(sizeof(*done.returns) * done.num_returns);
        if (done.returns == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
    }
    for (uint16_t i = 0; i < done.num_returns && !r.bad; i++) {
        rd_value(&r, &done.returns[i]);
    }
    if (!rd_done(&r)) {
        free(done.returns);
        return RMPI_ERR_MESSAGE;
    }
    *done_p = done;
    return RMPI_OK;
}

void rt_done_clear(rt_task_done_t *done)
{
    free(done->returns);
    done->returns     = NULL;
    done->num_returns = 0;
}

/* --- LOCATE / LOCATE_REPLY ------------------------------------------------------ */

size_t rt_locate_encode(const rt_locate_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_LOCATE);

    p = wr_oid(p, &msg->oid);
    p = wr_u64(p, msg->cookie);
    return msg_finish(buf, p);
}

rmpi_status_t rt_locate_decode(const void *buf, size_t len, rt_locate_t *msg_p)
{
    msg_reader_t r;
    rt_locate_t  msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_LOCATE)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, msg.oid.bytes, OID_LEN);
    msg.cookie = rd_u64(&r);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

size_t rt_locate_reply_size(const rt_locate_reply_t *msg)
{
    return RT_MSG_HDR_LEN + OID_LEN + 8 + value_size(&msg->value);
}

size_t rt_locate_reply_encode(const rt_locate_reply_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_LOCATE_REPLY);

    p = wr_oid(p, &msg->oid);
    p = wr_u64(p, msg->cookie);
    p = wr_value(p, &msg->value);
    return msg_finish(buf, p);
}

rmpi_status_t rt_locate_reply_decode(const void *buf, size_t len, rt_locate_reply_t *msg_p)
{
    msg_reader_t      r;
    rt_locate_reply_t msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_LOCATE_REPLY)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, msg.oid.bytes, OID_LEN);
    msg.cookie = rd_u64(&r);
    rd_value(&r, &msg.value);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

/* --- REF_UPDATE, FREE ----------------------------------------------------------- */

#define REF_DELTA_LEN (OID_LEN + 4)

size_t rt_ref_update_size(size_t count)
{
    return RT_MSG_HDR_LEN + 4 + count * REF_DELTA_LEN;
}

size_t rt_ref_update_encode(const rt_ref_delta_t *deltas, size_t count, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_REF_UPDATE);

    p = wr_u32(p, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        p = wr_oid(p, &deltas[i].oid);
        p = wr_i32(p, deltas[i].delta);
    }
    return msg_finish(buf, p);
}

rmpi_status_t rt_ref_update_decode(const void *buf, size_t len, rt_ref_delta_t **deltas_p,
                                   size_t *count_p)
{
    msg_reader_t    r;
    uint32_t        count;
    rt_ref_delta_t *deltas = NULL;

    if (!rd_hdr(&r, buf, len, RT_MSG_REF_UPDATE)) {
        return RMPI_ERR_MESSAGE;
    }
    count = rd_u32(&r);
    /* The entries have a fixed size: they must fill the rest exactly. */
    if (r.bad || rd_left(&r) / REF_DELTA_LEN != count || rd_left(&r) % REF_DELTA_LEN != 0) {
        return RMPI_ERR_MESSAGE;
    }
    if (count > 0) {
        deltas = malloc(sizeof(*deltas) * count);
        if (deltas == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        rd_copy(&r, deltas[i].oid.bytes, OID_LEN);
        deltas[i].delta = rd_i32(&r);
    }
    *deltas_p = deltas;
    *count_p  = count;
    return RMPI_OK;
}

size_t rt_free_size(size_t count)
{
    return RT_MSG_HDR_LEN + 4 + count * OID_LEN;
}

size_t rt_free_encode(const store_oid_t *oids, size_t count, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_FREE);

    p = wr_u32(p, (uint32_t)count);
    p = wr_bytes(p, oids, count * OID_LEN);
    return msg_finish(buf, p);
}

rmpi_status_t rt_free_decode(const void *buf, size_t len, const store_oid_t **oids_p,
                             size_t *count_p)
{
    msg_reader_t r;
    uint32_t     count;

    if (!rd_hdr(&r, buf, len, RT_MSG_FREE)) {
        return RMPI_ERR_MESSAGE;
    }
    count = rd_u32(&r);
    if (r.bad || rd_left(&r) / OID_LEN != count || rd_left(&r) % OID_LEN != 0) {
        return RMPI_ERR_MESSAGE;
    }
    *oids_p  = (const store_oid_t *)r.pos;
    *count_p = count;
    return RMPI_OK;
}

/* --- small control messages ----------------------------------------------------- */

size_t rt_cancel_encode(const rt_cancel_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_CANCEL);

    p = wr_oid(p, &msg->task_id);
    p = wr_u32(p, msg->flags);
    p = wr_u32(p, 0);
    return msg_finish(buf, p);
}

rmpi_status_t rt_cancel_decode(const void *buf, size_t len, rt_cancel_t *msg_p)
{
    msg_reader_t r;
    rt_cancel_t  msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_CANCEL)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, msg.task_id.bytes, OID_LEN);
    msg.flags = rd_u32(&r);
    rd_check(&r, rd_u32(&r) == 0);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

size_t rt_steal_encode(const rt_steal_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_STEAL);

    p = wr_u32(p, msg->max_tasks);
    p = wr_u32(p, 0);
    p = wr_f64(p, msg->free_cpus);
    return msg_finish(buf, p);
}

rmpi_status_t rt_steal_decode(const void *buf, size_t len, rt_steal_t *msg_p)
{
    msg_reader_t r;
    rt_steal_t   msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_STEAL)) {
        return RMPI_ERR_MESSAGE;
    }
    msg.max_tasks = rd_u32(&r);
    rd_check(&r, rd_u32(&r) == 0);
    msg.free_cpus = rd_amount(&r);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

size_t rt_moved_encode(const rt_moved_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_MOVED);

    p = wr_oid(p, &msg->task_id);
    p = wr_u32(p, msg->attempt);
    p = wr_i32(p, msg->rank);
    return msg_finish(buf, p);
}

rmpi_status_t rt_moved_decode(const void *buf, size_t len, rt_moved_t *msg_p)
{
    msg_reader_t r;
    rt_moved_t   msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_MOVED)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, msg.task_id.bytes, OID_LEN);
    msg.attempt = rd_u32(&r);
    msg.rank    = rd_rank(&r);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

/* --- actor control messages ------------------------------------------------------ */

static inline size_t actor_text_len(const rt_actor_msg_t *msg)
{
    return bounded_len(msg->text, msg->text_len, RT_ACTOR_TEXT_MAX);
}

size_t rt_actor_msg_size(const rt_actor_msg_t *msg)
{
    return ACTOR_FIXED_LEN + actor_text_len(msg);
}

size_t rt_actor_msg_encode(rt_msg_type_t type, const rt_actor_msg_t *msg, void *buf)
{
    size_t   text_len = actor_text_len(msg);
    uint8_t *p        = wr_hdr(buf, type);

    p = wr_oid(p, &msg->id);
    p = wr_u64(p, msg->cookie);
    p = wr_u32(p, msg->incarnation);
    p = wr_u32(p, msg->flags);
    p = wr_i32(p, msg->rank);
    p = wr_i32(p, msg->status);
    p = wr_u32(p, msg->cls);
    p = wr_i32(p, msg->max_task_retries);
    p = wr_u32(p, (uint32_t)text_len);
    p = wr_bytes(p, msg->text, text_len);
    return msg_finish(buf, p);
}

rmpi_status_t rt_actor_msg_decode(rt_msg_type_t type, const void *buf, size_t len,
                                  rt_actor_msg_t *msg_p)
{
    msg_reader_t   r;
    rt_actor_msg_t msg;

    if (type < RT_MSG_ACTOR_LOCATE || type > RT_MSG_ACTOR_NAME_REPLY ||
        !rd_hdr(&r, buf, len, type)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, msg.id.bytes, OID_LEN);
    msg.cookie           = rd_u64(&r);
    msg.incarnation      = rd_u32(&r);
    msg.flags            = rd_u32(&r);
    msg.rank             = rd_i32(&r);
    msg.status           = rd_i32(&r);
    msg.cls              = rd_u32(&r);
    msg.max_task_retries = rd_i32(&r);
    msg.text_len         = rd_u32(&r);
    rd_check(&r, msg.rank >= -1 && msg.status <= RMPI_OK && msg.status > RMPI_ERR_LAST &&
                     msg.max_task_retries >= -1 && msg.text_len <= RT_ACTOR_TEXT_MAX);
    msg.text = (const char *)rd_take(&r, r.bad ? 0 : msg.text_len);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

#define CKPT_FIXED_LEN (RT_MSG_HDR_LEN + 16 + 4 + 4 + 8 + 8)

size_t rt_actor_ckpt_size(const rt_actor_ckpt_t *msg)
{
    return CKPT_FIXED_LEN + msg->len;
}

size_t rt_actor_ckpt_encode(const rt_actor_ckpt_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_ACTOR_CHECKPOINT);

    p = wr_oid(p, &msg->id);
    p = wr_u32(p, msg->incarnation);
    p = wr_u32(p, 0);
    p = wr_u64(p, msg->version);
    p = wr_u64(p, msg->len);
    p = wr_bytes(p, msg->data, msg->len);
    return msg_finish(buf, p);
}

rmpi_status_t rt_actor_ckpt_decode(const void *buf, size_t len, rt_actor_ckpt_t *msg_p)
{
    msg_reader_t    r;
    rt_actor_ckpt_t msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_ACTOR_CHECKPOINT)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, msg.id.bytes, OID_LEN);
    msg.incarnation = rd_u32(&r);
    rd_check(&r, rd_u32(&r) == 0);
    msg.version = rd_u64(&r);
    msg.len     = rd_u64(&r);
    rd_check(&r, msg.len <= RT_ACTOR_CKPT_MAX);
    msg.data = rd_take(&r, r.bad ? 0 : msg.len);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

size_t rt_bare_encode(rt_msg_type_t type, void *buf)
{
    return msg_finish(buf, wr_hdr(buf, type));
}

/* --- STEAL_REPLY ---------------------------------------------------------------- */

size_t rt_steal_reply_size(const size_t *spec_lens, size_t count)
{
    size_t size = RT_MSG_HDR_LEN + 4;

    for (size_t i = 0; i < count; i++) {
        size += 4 + spec_lens[i];
    }
    return size;
}

size_t rt_steal_reply_encode(const void *const *specs, const size_t *spec_lens, size_t count,
                             void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_STEAL_REPLY);

    p = wr_u32(p, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        p = wr_u32(p, (uint32_t)spec_lens[i]);
        p = wr_bytes(p, specs[i], spec_lens[i]);
    }
    return msg_finish(buf, p);
}

/** One length-prefixed spec; the reader fails when it does not fit. */
static inline const uint8_t *rd_steal_entry(msg_reader_t *r, size_t *len_p)
{
    *len_p = rd_u32(r);
    return rd_take(r, *len_p);
}

rmpi_status_t rt_steal_reply_begin(const void *buf, size_t len, rt_steal_iter_t *it)
{
    msg_reader_t   r;
    const uint8_t *first;
    uint32_t       count;
    size_t         spec_len;

    if (!rd_hdr(&r, buf, len, RT_MSG_STEAL_REPLY)) {
        return RMPI_ERR_MESSAGE;
    }
    count = rd_u32(&r);
    first = r.pos;
    /* Walk the lengths now, so that no spec of a malformed reply is ever handed out. */
    if (!rd_count_fits(&r, count, 4 + SPEC_FIXED_LEN)) {
        return RMPI_ERR_MESSAGE;
    }
    for (uint32_t i = 0; i < count && !r.bad; i++) {
        rd_steal_entry(&r, &spec_len);
    }
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *it = (rt_steal_iter_t){.pos = first, .end = r.end, .left = count};
    return RMPI_OK;
}

rmpi_status_t rt_steal_reply_next(rt_steal_iter_t *it, const void **spec_p, size_t *len_p)
{
    msg_reader_t   r = {.pos = it->pos, .end = it->end, .bad = false};
    const uint8_t *spec;
    size_t         spec_len;

    if (it->left == 0) {
        return it->pos == it->end ? RMPI_ERR_NOT_FOUND : RMPI_ERR_MESSAGE;
    }
    spec = rd_steal_entry(&r, &spec_len);
    if (r.bad) {
        return RMPI_ERR_MESSAGE;
    }
    it->pos = r.pos;
    it->left--;
    *spec_p = spec;
    *len_p  = spec_len;
    return RMPI_OK;
}

/* --- wire-up -------------------------------------------------------------------- */

static inline size_t desc_num_custom(const rt_rank_desc_t *desc)
{
    return min_size(desc->num_custom, RT_MAX_CUSTOM);
}

static inline size_t desc_name_len(const rt_rank_desc_t *desc, size_t i)
{
    return bounded_len(desc->custom[i].name, desc->custom[i].name_len, RESOURCE_NAME_MAX);
}

static inline size_t desc_size(const rt_rank_desc_t *desc)
{
    size_t size = DESC_MIN_LEN + desc->rkey_len;

    for (size_t i = 0; i < desc_num_custom(desc); i++) {
        size += 1 + desc_name_len(desc, i) + 8;
    }
    return size;
}

static inline uint8_t *wr_desc(uint8_t *p, const rt_rank_desc_t *desc)
{
    p = wr_i32(p, desc->rank);
    p = wr_i32(p, desc->node);
    p = wr_f64(p, desc->cpus);
    p = wr_f64(p, desc->gpus);
    p = wr_u64(p, desc->memory);
    p = wr_u8(p, desc->num_custom);
    for (size_t i = 0; i < desc_num_custom(desc); i++) {
        size_t name_len = desc_name_len(desc, i);

        p = wr_u8(p, (uint8_t)name_len);
        p = wr_bytes(p, desc->custom[i].name, name_len);
        p = wr_f64(p, desc->custom[i].amount);
    }
    p = wr_u32(p, (uint32_t)desc->rkey_len);
    return wr_bytes(p, desc->rkey, desc->rkey_len);
}

static inline void rd_desc(msg_reader_t *r, rt_rank_desc_t *desc)
{
    memset(desc, 0, sizeof(*desc)); /* unused custom slots included */
    desc->rank       = rd_rank(r);
    desc->node       = rd_rank(r);
    desc->cpus       = rd_amount(r);
    desc->gpus       = rd_amount(r);
    desc->memory     = rd_u64(r);
    desc->num_custom = rd_u8(r);
    rd_check(r, desc->num_custom <= RT_MAX_CUSTOM);
    if (r->bad) {
        desc->num_custom = 0;
    }
    for (size_t i = 0; i < desc->num_custom; i++) {
        desc->custom[i].name_len = rd_u8(r);
        rd_check(r, desc->custom[i].name_len <= RESOURCE_NAME_MAX);
        desc->custom[i].name   = (const char *)rd_take(r, desc->custom[i].name_len);
        desc->custom[i].amount = rd_amount(r);
    }
    desc->rkey_len = rd_u32(r);
    desc->rkey     = rd_take(r, desc->rkey_len);
}

size_t rt_hello_size(const rt_hello_t *msg)
{
    return RT_MSG_HDR_LEN + 8 + 4 + desc_size(&msg->desc);
}

size_t rt_hello_encode(const rt_hello_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_HELLO);

    p = wr_u64(p, msg->fn_digest);
    p = wr_u32(p, msg->fn_count);
    p = wr_desc(p, &msg->desc);
    return msg_finish(buf, p);
}

rmpi_status_t rt_hello_decode(const void *buf, size_t len, rt_hello_t *msg_p)
{
    msg_reader_t r;
    rt_hello_t   msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_HELLO)) {
        return RMPI_ERR_MESSAGE;
    }
    msg.fn_digest = rd_u64(&r);
    msg.fn_count  = rd_u32(&r);
    rd_desc(&r, &msg.desc);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

static inline size_t welcome_error_len(const rt_welcome_t *msg)
{
    return bounded_len(msg->error, msg->error_len, RT_ERROR_MSG_MAX);
}

size_t rt_welcome_size(const rt_welcome_t *msg)
{
    size_t size = RT_MSG_HDR_LEN + 4 + 4 + welcome_error_len(msg) + 4;

    for (uint32_t i = 0; i < msg->num_ranks; i++) {
        size += desc_size(&msg->ranks[i]);
    }
    return size;
}

size_t rt_welcome_encode(const rt_welcome_t *msg, void *buf)
{
    size_t   error_len = welcome_error_len(msg);
    uint8_t *p         = wr_hdr(buf, RT_MSG_WELCOME);

    p = wr_i32(p, msg->status);
    p = wr_u32(p, (uint32_t)error_len);
    p = wr_bytes(p, msg->error, error_len);
    p = wr_u32(p, msg->num_ranks);
    for (uint32_t i = 0; i < msg->num_ranks; i++) {
        p = wr_desc(p, &msg->ranks[i]);
    }
    return msg_finish(buf, p);
}

rmpi_status_t rt_welcome_decode(const void *buf, size_t len, rt_welcome_t *msg_p)
{
    msg_reader_t r;
    rt_welcome_t msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_WELCOME)) {
        return RMPI_ERR_MESSAGE;
    }
    msg.status    = (rmpi_status_t)rd_i32(&r);
    msg.error_len = rd_u32(&r);
    rd_check(&r, msg.status <= RMPI_OK && msg.error_len <= RT_ERROR_MSG_MAX);
    msg.error     = (const char *)rd_take(&r, msg.error_len);
    msg.num_ranks = rd_u32(&r);
    if (!rd_count_fits(&r, msg.num_ranks, DESC_MIN_LEN)) {
        return RMPI_ERR_MESSAGE;
    }
    msg.ranks = NULL;
    if (msg.num_ranks > 0) {
        msg.ranks = malloc(sizeof(*msg.ranks) * msg.num_ranks);
        if (msg.ranks == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
    }
    for (uint32_t i = 0; i < msg.num_ranks && !r.bad; i++) {
        rd_desc(&r, &msg.ranks[i]);
    }
    if (!rd_done(&r)) {
        free(msg.ranks);
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

void rt_welcome_clear(rt_welcome_t *msg)
{
    free(msg->ranks);
    msg->ranks     = NULL;
    msg->num_ranks = 0;
}
