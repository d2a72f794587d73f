/*
 * runtime/msg_devobj.h - the messages that copy a device object to the host
 * (runtime/devobj.h): encoding and defensive decoding, with the rules of
 * msg.h (common header, little-endian, every length checked,
 * RMPI_ERR_MESSAGE on bad input).
 *
 *   DEVOBJ_STAGE   reader -> holder: copy device object @a oid into your
 *                  store (once; it stays there until the owner frees it)
 *   DEVOBJ_STAGED  holder -> reader: the answer to that cookie: a status and,
 *                  on RMPI_OK, the host location of the copy
 *
 * Layouts (after the 8-byte header):
 *
 *   DEVOBJ_STAGE   oid[16] | u64 cookie
 *   DEVOBJ_STAGED  a location answer (msg.h: rt_loc_answer_t)
 *
 * Thread safety: reentrant; no global state.
 */
#ifndef RUNTIME_MSG_DEVOBJ_H_
#define RUNTIME_MSG_DEVOBJ_H_

#include "runtime/msg.h"

#include <raympi.h>
#include <stddef.h>
#include <stdint.h>

#define RT_DEVOBJ_STAGE_LEN (RT_MSG_HDR_LEN + 16 + 8)
#define RT_DEVOBJ_STAGED_LEN RT_LOC_ANSWER_LEN

typedef struct rt_devobj_stage {
    store_oid_t oid;
    uint64_t    cookie;
} rt_devobj_stage_t;

/** DEVOBJ_STAGED: on RMPI_OK, the host location of the copy (msg.h). */
typedef rt_loc_answer_t rt_devobj_staged_t;

/** Write RT_DEVOBJ_STAGE_LEN bytes into @a buf; returns that length. */
size_t        rt_devobj_stage_encode(const rt_devobj_stage_t *msg, void *buf);
rmpi_status_t rt_devobj_stage_decode(const void *buf, size_t len, rt_devobj_stage_t *msg_p);
/** Write RT_DEVOBJ_STAGED_LEN bytes into @a buf; returns that length. */
size_t        rt_devobj_staged_encode(const rt_devobj_staged_t *msg, void *buf);
rmpi_status_t rt_devobj_staged_decode(const void *buf, size_t len, rt_devobj_staged_t *msg_p);

#endif /* RUNTIME_MSG_DEVOBJ_H_ */
