/*
 * runtime/msg_devobj.c - DEVOBJ_STAGE / DEVOBJ_STAGED codecs (msg_devobj.h).
 */
#include "runtime/msg_devobj.h"

#include "runtime/msg_io.h"

size_t rt_devobj_stage_encode(const rt_devobj_stage_t *msg, void *buf)
{
    uint8_t *p = wr_hdr(buf, RT_MSG_DEVOBJ_STAGE);

    p = wr_bytes(p, &msg->oid, OID_LEN);
    p = wr_u64(p, msg->cookie);
    return msg_finish(buf, p);
}

rmpi_status_t rt_devobj_stage_decode(const void *buf, size_t len, rt_devobj_stage_t *msg_p)
{
    msg_reader_t      r;
    rt_devobj_stage_t msg;

    if (!rd_hdr(&r, buf, len, RT_MSG_DEVOBJ_STAGE)) {
        return RMPI_ERR_MESSAGE;
    }
    rd_copy(&r, &msg.oid, OID_LEN);
    msg.cookie = rd_u64(&r);
    if (!rd_done(&r)) {
        return RMPI_ERR_MESSAGE;
    }
    *msg_p = msg;
    return RMPI_OK;
}

size_t rt_devobj_staged_encode(const rt_devobj_staged_t *msg, void *buf)
{
    return rt_loc_answer_encode(RT_MSG_DEVOBJ_STAGED, msg, buf);
}

rmpi_status_t rt_devobj_staged_decode(const void *buf, size_t len, rt_devobj_staged_t *msg_p)
{
    return rt_loc_answer_decode(RT_MSG_DEVOBJ_STAGED, buf, len, msg_p);
}
