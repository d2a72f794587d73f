/*
 * runtime/msg_pg.c - encode and defensively decode the placement-group messages
 * (layouts in msg_pg.h), with msg.c's cursor writers and sticky reader.
 *
 * Decoders accept only what the encoders write, so a decoded message encodes
 * back to the same bytes (the fuzz target checks it): custom amounts appear in
 * increasing index order and only when positive, reserved fields are zero, a
 * name appears only where the layout allows one, and the ranks of a reply
 * agree with its state.
 */
#include "runtime/msg_pg.h"
#include "runtime/msg_io.h"

#include <stdlib.h>
#include <string.h>

#define PG_ID_LEN ((size_t)sizeof(rmpi_pg_t))
#define RESVEC_MIN_LEN (8 + 8 + 8 + 1)
#define CREATE_FIXED_LEN (RT_MSG_HDR_LEN + 8 + PG_ID_LEN + 4 + 4)
#define REQUEST_FIXED_LEN (RT_MSG_HDR_LEN + 8 + 8 + PG_ID_LEN)
#define REPLY_FIXED_LEN (RT_MSG_HDR_LEN + 8 + 4 + 4 + PG_ID_LEN + 4 + 4)

_Static_assert(sizeof(rmpi_pg_t) == 16, "group IDs are 16 bytes on the wire");
_Static_assert(RMPI_PG_NAME_MAX <= UINT8_MAX, "u8 group name lengths");
_Static_assert(RT_SCHED_MAX_CUSTOM == RT_MAX_CUSTOM, "one custom resource table");

/* --- resources ------------------------------------------------------------------ */

static size_t resvec_num_custom(const rt_resvec_t *vec)
{
    size_t n = 0;

    for (size_t i = 0; i < RT_MAX_CUSTOM; ++i) {
        n += vec->custom[i] != 0;
    }
    return n;
}

static size_t resvec_size(const rt_resvec_t *vec)
{
    return RESVEC_MIN_LEN + resvec_num_custom(vec) * (1 + 8);
}

static uint8_t *wr_resvec(uint8_t *p, const rt_resvec_t *vec)
{
    p = wr_f64(p, vec->cpus);
    p = wr_f64(p, vec->gpus);
    p = wr_u64(p, vec->memory);
    p = wr_u8(p, (uint8_t)resvec_num_custom(vec));
    for (size_t i = 0; i < RT_MAX_CUSTOM; ++i) {
        if (vec->custom[i] != 0) {
            p = wr_u8(p, (uint8_t)i);
            p = wr_f64(p, vec->custom[i]);
        }
    }
    return p;
}

static void rd_resvec(msg_reader_t *r, rt_resvec_t *vec)
{
    size_t  count;
    int     last = -1;
    uint8_t index;
    double  amount;

    memset(vec, 0, sizeof(*vec));
    vec->cpus   = rd_amount(r);
    vec->gpus   = rd_amount(r);
    vec->memory = rd_u64(r);
    count       = rd_u8(r);
    rd_check(r, count <= RT_MAX_CUSTOM);
    for (size_t i = 0; i < count && !r->bad; ++i) {
        index  = rd_u8(r);
        amount = rd_amount(r);
        rd_check(r, index < RT_MAX_CUSTOM && (int)index > last && amount > 0);
        if (!r->bad) {
            vec->custom[index] = amount;
            last               = index;
        }
    }
}

static size_t bundles_size(const rt_resvec_t *bundles, uint32_t count)
{
    size_t size = 0;

    for (uint32_t i = 0; bundles != NULL && i < count; ++i) {
        size += resvec_size(&bundles[i]);
    }
    return size;
}

/* --- PG_CREATE ---------------------------------------------------------------------- */

size_t rt_pg_create_size(const rt_pg_create_t *msg)
{
    return CREATE_FIXED_LEN + bounded_len(msg->name, msg->name_len, RMPI_PG_NAME_MAX) +
           bundles_size(msg->bundles, msg->num_bundles);
}

size_t rt_pg_create_encode(const rt_pg_create_t *msg, void *buf)
{
    size_t   name_len = bounded_len(msg->name, msg->name_len, RMPI_PG_NAME_MAX);
    uint8_t *p        = wr_hdr(buf, RT_MSG_PG_CREATE);

    p = wr_u64(p, msg->cookie);
    p = wr_bytes(p, msg->id.id, PG_ID_LEN);
    p = wr_u8(p, msg->strategy);
    p = wr_u8(p, msg->flags);
    p = wr_u8(p, (uint8_t)name_len);
    p = wr_u8(p, 0);
    p = wr_u32(p, msg->bundles != NULL ? msg->num_bundles : 0);
    p = wr_bytes(p, msg->name, name_len);
    for (uint32_t i = 0; msg->bundles != NULL && i < msg->num_bundles; ++i) {
        p = wr_resvec(p, &msg->bundles[i]);
    }
    return msg_finish(buf, p);
}

rmpi_status_t rt_pg_create_decode(const void *buf, size_t len, rt_pg_create_t *msg_p)
{
    msg_reader_t   r;
    rt_pg_create_t msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_PG_CREATE)) {
        return RMPI_ERR_MESSAGE;
    }
    memset(&msg, 0, sizeof(msg));
    msg.cookie = rd_u64(&r);
    rd_copy(&r, msg.id.id, PG_ID_LEN);
    msg.strategy = rd_u8(&r);
    msg.flags    = rd_u8(&r);
    msg.name_len = rd_u8(&r);
    rd_check(&r, rd_u8(&r) == 0);
    msg.num_bundles = rd_u32(&r);
    rd_check(&r, msg.strategy <= RMPI_PG_STRICT_SPREAD &&
                     (msg.flags & ~(uint8_t)RT_PG_CREATE_DETACHED) == 0 &&
                     msg.name_len <= RMPI_PG_NAME_MAX && msg.num_bundles >= 1 &&
                     msg.num_bundles <= RMPI_PG_MAX_BUNDLES);
    msg.name = (const char *)rd_take(&r, msg.name_len);
    if (!rd_count_fits(&r, msg.num_bundles, RESVEC_MIN_LEN)) {
        return RMPI_ERR_MESSAGE;
    }
    msg.bundles = malloc(msg.num_bundles * sizeof(*msg.bundles));
    if (msg.bundles == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    for (uint32_t i = 0; i < msg.num_bundles; ++i) {
        rd_resvec(&r, &msg.bundles[i]);
    }
    if (!rd_done(&r)) {
        free(msg.bundles);
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

void rt_pg_create_clear(rt_pg_create_t *msg)
{
    free(msg->bundles);
    msg->bundles     = NULL;
    msg->num_bundles = 0;
}

/* --- PG_REQUEST ------------------------------------------------------------------------ */

size_t rt_pg_request_size(const rt_pg_request_t *msg)
{
    return REQUEST_FIXED_LEN + bounded_len(msg->name, msg->name_len, RMPI_PG_NAME_MAX);
}

size_t rt_pg_request_encode(const rt_pg_request_t *msg, void *buf)
{
    size_t   name_len = bounded_len(msg->name, msg->name_len, RMPI_PG_NAME_MAX);
    uint8_t *p        = wr_hdr(buf, RT_MSG_PG_REQUEST);

    p = wr_u64(p, msg->cookie);
    p = wr_u8(p, msg->op);
    p = wr_u8(p, (uint8_t)name_len);
    p = wr_u16(p, 0);
    p = wr_u32(p, 0);
    p = wr_bytes(p, msg->id.id, PG_ID_LEN);
    p = wr_bytes(p, msg->name, name_len);
    return msg_finish(buf, p);
}

rmpi_status_t rt_pg_request_decode(const void *buf, size_t len, rt_pg_request_t *msg_p)
{
    msg_reader_t    r;
    rt_pg_request_t msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_PG_REQUEST)) {
        return RMPI_ERR_MESSAGE;
    }
    msg.cookie   = rd_u64(&r);
    msg.op       = rd_u8(&r);
    msg.name_len = rd_u8(&r);
    rd_check(&r, rd_u16(&r) == 0);
    rd_check(&r, rd_u32(&r) == 0);
    rd_copy(&r, msg.id.id, PG_ID_LEN);
    /* GET names a group (and only GET does) */
    rd_check(&r, msg.op >= RT_PG_OP_WAIT && msg.op < RT_PG_OP_LAST &&
                     msg.name_len <= RMPI_PG_NAME_MAX &&
                     (msg.op == RT_PG_OP_GET) == (msg.name_len > 0));
    msg.name = (const char *)rd_take(&r, msg.name_len);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

/* --- PG_REPLY ------------------------------------------------------------------------------ */

size_t rt_pg_reply_size(const rt_pg_reply_t *msg)
{
    size_t size = REPLY_FIXED_LEN + bounded_len(msg->error, msg->error_len, RT_ERROR_MSG_MAX);

    if (msg->bundles != NULL && msg->ranks != NULL) {
        size += 4 * (size_t)msg->num_bundles + bundles_size(msg->bundles, msg->num_bundles);
    }
    return size;
}

size_t rt_pg_reply_encode(const rt_pg_reply_t *msg, void *buf)
{
    size_t   error_len = bounded_len(msg->error, msg->error_len, RT_ERROR_MSG_MAX);
    uint32_t count     = msg->bundles != NULL && msg->ranks != NULL ? msg->num_bundles : 0;
    uint8_t *p         = wr_hdr(buf, RT_MSG_PG_REPLY);

    p = wr_u64(p, msg->cookie);
    p = wr_i32(p, msg->status);
    p = wr_u8(p, msg->state);
    p = wr_u8(p, msg->strategy);
    p = wr_u16(p, 0);
    p = wr_bytes(p, msg->id.id, PG_ID_LEN);
    p = wr_u32(p, (uint32_t)error_len);
    p = wr_bytes(p, msg->error, error_len);
    p = wr_u32(p, count);
    for (uint32_t i = 0; i < count; ++i) {
        p = wr_i32(p, msg->ranks[i]);
        p = wr_resvec(p, &msg->bundles[i]);
    }
    return msg_finish(buf, p);
}

/* A rank that agrees with the group's state: placed when READY, not yet when PENDING. */
static bool reply_rank_ok(uint8_t state, int32_t rank)
{
    if (state == RT_PG_READY) {
        return rank >= 0;
    }
    return state == RT_PG_PENDING ? rank == -1 : rank >= -1;
}

static rmpi_status_t reply_read_bundles(msg_reader_t *r, rt_pg_reply_t *msg)
{
    void *block;

    if (!rd_count_fits(r, msg->num_bundles, 4 + RESVEC_MIN_LEN)) {
        return RMPI_ERR_MESSAGE;
    }
    if (msg->num_bundles == 0) {
        return RMPI_OK;
    }
    block = malloc(msg->num_bundles * (sizeof(rt_resvec_t) + sizeof(int32_t)));
    if (block == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    msg->bundles = block;
    msg->ranks   = (int32_t *)(msg->bundles + msg->num_bundles);
    for (uint32_t i = 0; i < msg->num_bundles; ++i) {
        msg->ranks[i] = rd_i32(r);
        rd_check(r, reply_rank_ok(msg->state, msg->ranks[i]));
        rd_resvec(r, &msg->bundles[i]);
    }
    return RMPI_OK;
}

rmpi_status_t rt_pg_reply_decode(const void *buf, size_t len, rt_pg_reply_t *msg_p)
{
    msg_reader_t  r;
    rt_pg_reply_t msg;
    rmpi_status_t status;

    if (!rd_hdr(&r, buf, len, RT_MSG_PG_REPLY)) {
        return RMPI_ERR_MESSAGE;
    }
    memset(&msg, 0, sizeof(msg));
    msg.cookie   = rd_u64(&r);
    msg.status   = rd_i32(&r);
    msg.state    = rd_u8(&r);
    msg.strategy = rd_u8(&r);
    rd_check(&r, rd_u16(&r) == 0);
    rd_copy(&r, msg.id.id, PG_ID_LEN);
    msg.error_len = rd_u32(&r);
    rd_check(&r, msg.status > RMPI_ERR_LAST && msg.status <= RMPI_INPROGRESS &&
                     msg.state < RT_PG_STATE_LAST && msg.strategy <= RMPI_PG_STRICT_SPREAD &&
                     msg.error_len <= RT_ERROR_MSG_MAX);
    msg.error       = (const char *)rd_take(&r, msg.error_len);
    msg.num_bundles = rd_u32(&r);
    /* no group, no bundles; a pending or placed one shows them all (gone ones may not) */
    rd_check(&r,
             msg.num_bundles <= RMPI_PG_MAX_BUNDLES &&
                 (msg.state != RT_PG_NONE || msg.num_bundles == 0) &&
                 ((msg.state != RT_PG_PENDING && msg.state != RT_PG_READY) || msg.num_bundles > 0));
    status = reply_read_bundles(&r, &msg);
    if (status == RMPI_OK && !rd_done(&r)) {
        status = RMPI_ERR_MESSAGE;
    }
    if (status != RMPI_OK) {
        free(msg.bundles);
        return status;
    }
    *msg_p = msg;
    return RMPI_OK;
}

void rt_pg_reply_clear(rt_pg_reply_t *msg)
{
    free(msg->bundles);
    msg->bundles     = NULL;
    msg->ranks       = NULL;
    msg->num_bundles = 0;
}
