/*
 * runtime/msg_pg.h - the placement-group messages between ranks and the head
 * service on rank 0 (docs/runtime.md, "Placement groups"): encoding and
 * defensive decoding, with the rules of msg.h (common header, little-endian,
 * every length checked, RMPI_ERR_MESSAGE on bad input).
 *
 *   PG_CREATE   rank -> head: a group to place (the creator chose the ID)
 *   PG_REQUEST  rank -> head: WAIT (answered when the group is placed or
 *               gone), INFO (answered at once), REMOVE, GET (by name)
 *   PG_REPLY    head -> rank: the answer to a request (its cookie), or with
 *               cookie 0 a change the head pushes to ranks that know the
 *               group (it failed or was removed)
 *
 * Layouts (after the 8-byte header):
 *
 *   resources  f64 cpus | f64 gpus | u64 memory | u8 num_custom |
 *              (u8 index | f64 amount)[num_custom]   (indices increasing, amounts > 0)
 *   PG_CREATE  u64 cookie | id[16] | u8 strategy | u8 flags | u8 name_len | u8 zero |
 *              u32 num_bundles | name | resources[num_bundles]
 *   PG_REQUEST u64 cookie | u8 op | u8 name_len | u16 zero | u32 zero | id[16] | name
 *   PG_REPLY   u64 cookie | i32 status | u8 state | u8 strategy | u16 zero | id[16] |
 *              u32 error_len | error | u32 num_bundles | (i32 rank | resources)[num_bundles]
 *
 * Decoded names and errors point into the message; decoded bundle arrays are
 * malloc'd and released with the matching *_clear function.
 *
 * Thread safety: reentrant; no global state.
 */
#ifndef RUNTIME_MSG_PG_H_
#define RUNTIME_MSG_PG_H_

#include "runtime/msg.h"
#include "runtime/sched.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    RT_PG_CREATE_DETACHED = RMPI_BIT(0), /**< PG_CREATE flags */
};

typedef enum rt_pg_op {
    RT_PG_OP_WAIT = 1, /**< reply when the group is placed, failed or gone */
    RT_PG_OP_INFO,     /**< reply now with what the head knows */
    RT_PG_OP_REMOVE,
    RT_PG_OP_GET, /**< by name (the only op that carries one) */
    RT_PG_OP_LAST
} rt_pg_op_t;

/** A group's state as the head sees it. */
typedef enum rt_pg_state {
    RT_PG_NONE = 0, /**< no such group (the reply's status says why) */
    RT_PG_PENDING,  /**< waiting for room; no bundle placed */
    RT_PG_READY,    /**< every bundle placed */
    RT_PG_FAILED,   /**< a rank holding a bundle died, or it can never fit now */
    RT_PG_GONE,     /**< removed */
    RT_PG_STATE_LAST
} rt_pg_state_t;

typedef struct rt_pg_create {
    uint64_t     cookie;
    rmpi_pg_t    id;
    uint8_t      strategy; /**< rmpi_pg_strategy_t */
    uint8_t      flags;    /**< RT_PG_CREATE_* */
    const char  *name;     /**< name_len bytes, NOT NUL-terminated on decode; 0: unnamed */
    size_t       name_len;
    uint32_t     num_bundles;
    rt_resvec_t *bundles; /**< decode: malloc'd (rt_pg_create_clear); encode: caller's */
} rt_pg_create_t;

typedef struct rt_pg_request {
    uint64_t    cookie;
    uint8_t     op;   /**< rt_pg_op_t */
    rmpi_pg_t   id;   /**< all ops but GET */
    const char *name; /**< GET: 1..RMPI_PG_NAME_MAX bytes, NOT NUL-terminated on decode */
    size_t      name_len;
} rt_pg_request_t;

typedef struct rt_pg_reply {
    uint64_t     cookie; /**< the request's; 0: pushed by the head */
    int32_t      status; /**< rmpi_status_t of the request */
    uint8_t      state;  /**< rt_pg_state_t of the group */
    uint8_t      strategy;
    rmpi_pg_t    id;
    const char  *error; /**< why, for errors; NOT NUL-terminated on decode */
    size_t       error_len;
    uint32_t     num_bundles;
    rt_resvec_t *bundles; /**< decode: malloc'd with ranks (rt_pg_reply_clear) */
    int32_t     *ranks;   /**< READY: >= 0; PENDING: -1 */
} rt_pg_reply_t;

size_t        rt_pg_create_size(const rt_pg_create_t *msg);
size_t        rt_pg_create_encode(const rt_pg_create_t *msg, void *buf);
rmpi_status_t rt_pg_create_decode(const void *buf, size_t len, rt_pg_create_t *msg);
void          rt_pg_create_clear(rt_pg_create_t *msg);

size_t        rt_pg_request_size(const rt_pg_request_t *msg);
size_t        rt_pg_request_encode(const rt_pg_request_t *msg, void *buf);
rmpi_status_t rt_pg_request_decode(const void *buf, size_t len, rt_pg_request_t *msg);

size_t        rt_pg_reply_size(const rt_pg_reply_t *msg);
size_t        rt_pg_reply_encode(const rt_pg_reply_t *msg, void *buf);
rmpi_status_t rt_pg_reply_decode(const void *buf, size_t len, rt_pg_reply_t *msg);
void          rt_pg_reply_clear(rt_pg_reply_t *msg);

#endif /* RUNTIME_MSG_PG_H_ */
