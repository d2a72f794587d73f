/*
 * runtime/msg_nodepull.h - the messages of node-level pulls (runtime/nodepull.h):
 * encoding and defensive decoding, with the rules of msg.h (common header,
 * little-endian, every length checked, RMPI_ERR_MESSAGE on bad input).
 *
 *   NODE_PULL    reader -> the node's puller (a rank of the reader's node):
 *                pull object @a oid from @a from (a host location on another
 *                node) into your store, once for the whole node
 *   NODE_PULLED  puller -> reader: the answer to that cookie: a status and, on
 *                RMPI_OK, the location of the node copy in the puller's store
 *   NODE_COPY    puller -> owner: I keep a copy of @a oid for my node until you
 *                FREE it (the owner answers FREE at once when the object is gone)
 *
 * Layouts (after the 8-byte header):
 *
 *   NODE_PULL    oid[16] | u64 cookie | i32 rank | u64 offset | u64 size
 *   NODE_PULLED  a location answer (msg.h: rt_loc_answer_t)
 *   NODE_COPY    oid[16]
 *
 * Thread safety: reentrant; no global state.
 */
#ifndef RUNTIME_MSG_NODEPULL_H_
#define RUNTIME_MSG_NODEPULL_H_

#include "runtime/msg.h"

#include <raympi.h>
#include <stddef.h>
#include <stdint.h>

#define RT_NODE_PULL_LEN (RT_MSG_HDR_LEN + 16 + 8 + 4 + 8 + 8)
#define RT_NODE_PULLED_LEN RT_LOC_ANSWER_LEN
#define RT_NODE_COPY_LEN (RT_MSG_HDR_LEN + 16)

typedef struct rt_node_pull {
    store_oid_t   oid;
    uint64_t      cookie;
    rt_location_t from; /**< the holder's host location (device RT_LOC_HOST on decode) */
} rt_node_pull_t;

/** NODE_PULLED: on RMPI_OK, the node copy's location (msg.h). */
typedef rt_loc_answer_t rt_node_pulled_t;

/** Write RT_NODE_PULL_LEN bytes into @a buf; returns that length. */
size_t        rt_node_pull_encode(const rt_node_pull_t *msg, void *buf);
rmpi_status_t rt_node_pull_decode(const void *buf, size_t len, rt_node_pull_t *msg_p);
/** Write RT_NODE_PULLED_LEN bytes into @a buf; returns that length. */
size_t        rt_node_pulled_encode(const rt_node_pulled_t *msg, void *buf);
rmpi_status_t rt_node_pulled_decode(const void *buf, size_t len, rt_node_pulled_t *msg_p);
/** Write RT_NODE_COPY_LEN bytes into @a buf; returns that length. */
size_t        rt_node_copy_encode(const store_oid_t *oid, void *buf);
rmpi_status_t rt_node_copy_decode(const void *buf, size_t len, store_oid_t *oid_p);

#endif /* RUNTIME_MSG_NODEPULL_H_ */
