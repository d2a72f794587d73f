/*
 * runtime/msg_nodepull.c - NODE_PULL / NODE_PULLED / NODE_COPY codecs (msg_nodepull.h).
 */
#include "runtime/msg_nodepull.h"

#include "runtime/msg_io.h"

size_t rt_node_pull_encode(const rt_node_pull_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_NODE_PULL);

    p = wr_bytes(p, &msg->oid, OID_LEN);
    p = wr_u64(p, msg->cookie);
    p = wr_i32(p, msg->from.rank);
    p = wr_u64(p, msg->from.offset);
    p = wr_u64(p, msg->from.size);
    return msg_finish(buf, p);
}

rmpi_status_t rt_node_pull_decode(const void *buf, size_t len, rt_node_pull_t *msg_p)
{
    msg_reader_t   r;
    rt_node_pull_t msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_NODE_PULL)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, &msg.oid, OID_LEN);
    msg.cookie      = rd_u64(&r);
    msg.from.rank   = rd_rank(&r);
    msg.from.device = RT_LOC_HOST;
    msg.from.offset = rd_u64(&r);
    msg.from.size   = rd_u64(&r);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

size_t rt_node_pulled_encode(const rt_node_pulled_t *msg, void *buf)
{
    return rt_loc_answer_encode(RT_MSG_NODE_PULLED, msg, buf);
}

rmpi_status_t rt_node_pulled_decode(const void *buf, size_t len, rt_node_pulled_t *msg_p)
{
    return rt_loc_answer_decode(RT_MSG_NODE_PULLED, buf, len, msg_p);
}

size_t rt_node_copy_encode(const store_oid_t *oid, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_NODE_COPY);

    p = wr_bytes(p, oid, OID_LEN);
    return msg_finish(buf, p);
}

rmpi_status_t rt_node_copy_decode(const void *buf, size_t len, store_oid_t *oid_p)
{
    msg_reader_t r;
    store_oid_t  oid;

    if (!rd_hdr(&r, buf, len, RT_MSG_NODE_COPY)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, &oid, OID_LEN);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *oid_p = oid;
    return RMPI_OK;
}
