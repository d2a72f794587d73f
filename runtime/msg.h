/*
 * runtime/msg.h - the runtime's messages on the wire: encoding and defensive
 * decoding. See docs/runtime.md for the protocols that use them.
 *
 * Every message (the AM header bytes; the runtime sends no AM payload except
 * where noted) starts with
 *
 *     u8 version (RT_MSG_VERSION) | u8 type (rt_msg_type_t) | u16 flags | u32 length
 *
 * where length is the whole message's byte count. Integers are little-endian
 * host order (as the transport's frames); doubles are IEEE-754 bit patterns.
 * Variable-length parts are length-prefixed. A decoder checks every length
 * against the bytes it was given before reading, so truncated, oversized or
 * inconsistent input returns RMPI_ERR_MESSAGE and never reads out of bounds.
 *
 * Decoded structures point INTO the message buffer (zero copy): they are valid
 * while the buffer is. Arrays that a decoder allocates (args of a spec, values
 * of a done message) are released with the matching *_clear function.
 *
 * Thread safety: reentrant; no global state.
 */
#ifndef RUNTIME_MSG_H_
#define RUNTIME_MSG_H_

#include "objstore/store.h"

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_MSG_VERSION 1
#define RT_MSG_HDR_LEN 8
/** Error messages are cut to this many bytes (without the NUL). */
#define RT_ERROR_MSG_MAX 1024
/** Trace names in specs are cut to this many bytes. */
#define RT_NAME_MAX 63
/** Custom resource slots per job (names agreed at wire-up). */
#define RT_MAX_CUSTOM RMPI_MAX_CUSTOM_RESOURCES

typedef enum rt_msg_type {
    RT_MSG_HELLO = 1,        /**< wire-up: rank -> 0 */
    RT_MSG_WELCOME,          /**< wire-up: 0 -> rank (the job table) */
    RT_MSG_TASK_PUSH,        /**< submitter -> executor: one spec */
    RT_MSG_TASK_DONE,        /**< executor -> owner: the returns */
    RT_MSG_LOCATE,           /**< anyone -> owner: tell me when/where an object is */
    RT_MSG_LOCATE_REPLY,     /**< owner -> asker */
    RT_MSG_REF_UPDATE,       /**< borrower -> owner: (oid, delta) pairs */
    RT_MSG_FREE,             /**< owner -> holder: delete these copies */
    RT_MSG_CANCEL,           /**< owner -> executor */
    RT_MSG_STEAL,            /**< idle rank -> busy rank */
    RT_MSG_STEAL_REPLY,      /**< busy rank -> thief: zero or more specs */
    RT_MSG_MOVED,            /**< thief -> owner: your task now runs here */
    RT_MSG_SHUTDOWN,         /**< driver -> all */
    RT_MSG_TIMELINE,         /**< rank -> 0 at shutdown: JSON events as the AM payload */
    RT_MSG_ACTOR_LOCATE,     /**< caller -> owner: where is the actor (incarnation >= n)? */
    RT_MSG_ACTOR_LOCATION,   /**< owner -> caller: alive on a rank, or dead and why */
    RT_MSG_ACTOR_KILL,       /**< anyone -> owner, owner -> host */
    RT_MSG_ACTOR_EXITED,     /**< host -> owner: the actor stopped itself */
    RT_MSG_ACTOR_NAME,       /**< anyone -> head (rank 0): register, look up, remove a name */
    RT_MSG_ACTOR_NAME_REPLY, /**< head -> asker */
    RT_MSG_ACTOR_CHECKPOINT, /**< host -> owner: the actor's saved state */
    RT_MSG_PG_CREATE,        /**< rank -> head (0): a new placement group (msg_pg.h) */
    RT_MSG_PG_REQUEST,       /**< rank -> head: wait for, look up or remove a group */
    RT_MSG_PG_REPLY,         /**< head -> rank: the answer, or a change it pushes */
    RT_MSG_DEVOBJ_STAGE,     /**< reader -> holder: copy a device object to your store */
    RT_MSG_DEVOBJ_STAGED,    /**< holder -> reader: where the host copy lies (msg_devobj.h) */
    RT_MSG_NODE_PULL,        /**< reader -> its node's puller: pull for the node (msg_nodepull.h) */
    RT_MSG_NODE_PULLED,      /**< puller -> reader: where the node copy lies */
    RT_MSG_NODE_COPY,        /**< puller -> owner: a node copy to FREE with the object */
    RT_MSG_TYPE_LAST
} rt_msg_type_t;

/* --- common parts ---------------------------------------------------------- */

#define RT_LOC_HOST (-1)
#define RT_LOC_MAX_DEVICES 16 /* = RT_EXEC_MAX_GPUS */

/**
 * Where a sealed object lies: in the store of @a rank at @a offset (device
 * RT_LOC_HOST), or in the memory of GPU @a device of @a rank (a device
 * object, runtime/devobj.h; @a offset is then 0).
 */
typedef struct rt_location {
    int32_t  rank;
    int32_t  device;
    uint64_t offset;
    uint64_t size;
} rt_location_t;

/**
 * An answer that carries a host location (DEVOBJ_STAGED, NODE_PULLED):
 *   u64 cookie | i32 status | i32 rank | u64 offset | u64 size
 * The status is RMPI_OK or an error; the location is meaningful on RMPI_OK
 * and decodes with device RT_LOC_HOST.
 */
typedef struct rt_loc_answer {
    uint64_t      cookie;
    rmpi_status_t status;
    rt_location_t loc;
} rt_loc_answer_t;

#define RT_LOC_ANSWER_LEN (RT_MSG_HDR_LEN + 8 + 4 + 4 + 8 + 8)

/** Write RT_LOC_ANSWER_LEN bytes of message @a type into @a buf; returns that length. */
size_t        rt_loc_answer_encode(rt_msg_type_t type, const rt_loc_answer_t *msg, void *buf);
rmpi_status_t rt_loc_answer_decode(rt_msg_type_t type, const void *buf, size_t len,
                                   rt_loc_answer_t *msg_p);

typedef enum rt_value_kind {
    RT_VALUE_INLINE = 1, /**< bytes in the message */
    RT_VALUE_STORED = 2, /**< a location */
    RT_VALUE_ERROR  = 3, /**< status + message (for a failed task or a lost object) */
} rt_value_kind_t;

/** A value, as specs, done messages and locate replies carry it. */
typedef struct rt_value {
    rt_value_kind_t   kind;
    bool              has_array;
    rmpi_array_desc_t array;  /**< when has_array */
    const void       *data;   /**< INLINE: the bytes; ERROR: the message (not NUL-terminated) */
    size_t            size;   /**< INLINE/ERROR: byte count */
    rt_location_t     loc;    /**< STORED */
    rmpi_status_t     status; /**< ERROR */
} rt_value_t;

/* --- TASK_PUSH ------------------------------------------------------------- */

enum {
    RT_SPEC_RETRY_EXCEPTIONS = RMPI_BIT(0),
    RT_SPEC_STOLEN           = RMPI_BIT(1), /**< set by a victim when handing it to a thief */
    RT_SPEC_NO_STEAL         = RMPI_BIT(2), /**< placed on purpose (affinity, custom resources) */
    RT_SPEC_ACTOR_CREATE     = RMPI_BIT(3), /**< runs an actor's constructor (spec.actor) */
    RT_SPEC_ACTOR_CALL       = RMPI_BIT(4), /**< calls a method of spec.actor */
    RT_SPEC_ACTOR_RESTORE    = RMPI_BIT(5), /**< CREATE: the last argument is a checkpoint */
    RT_SPEC_ACTOR_ASYNC      = RMPI_BIT(6), /**< CREATE: run its calls as fibres */
};

/** The actor a CREATE or CALL spec is about (absent from other specs on the wire). */
typedef struct rt_spec_actor {
    store_oid_t id;              /**< the actor (its creation task's ID) */
    uint32_t    incarnation;     /**< 0, +1 per restart */
    uint32_t    max_concurrency; /**< CREATE */
    uint64_t    seq;             /**< CALL: per calling rank and incarnation, from 0 */
} rt_spec_actor_t;

/** An argument of a spec: a value, and for refs the object's ID (for logs, pins). */
typedef struct rt_spec_arg {
    bool        is_ref;
    store_oid_t oid;   /**< when is_ref */
    rt_value_t  value; /**< resolved by the submitter before the push */
} rt_spec_arg_t;

typedef struct rt_task_spec {
    store_oid_t     task_id;  /**< owner's ID of the task = ID of return 0 */
    uint32_t        fn_index; /**< in the (agreed) function table */
    uint32_t        attempt;  /**< 0 on the first run, +1 per retry */
    uint16_t        num_returns;
    uint16_t        flags; /**< RT_SPEC_* */
    int32_t         max_retries;
    double          num_cpus;
    double          num_gpus;
    uint64_t        memory;
    uint8_t         num_custom;
    uint8_t         custom_index[RT_MAX_CUSTOM]; /**< into the job's custom resource names */
    double          custom_amount[RT_MAX_CUSTOM];
    const char     *name; /**< trace name, NOT NUL-terminated on decode: use name_len */
    size_t          name_len;
    uint32_t        num_args;
    rt_spec_arg_t  *args;  /**< decode: malloc'd (rt_spec_clear); encode: caller's */
    rt_spec_actor_t actor; /**< with RT_SPEC_ACTOR_CREATE or RT_SPEC_ACTOR_CALL */
} rt_task_spec_t;

/** Bytes rt_spec_encode() will write. */
size_t rt_spec_size(const rt_task_spec_t *spec);
/** Encode into @a buf of at least rt_spec_size() bytes; returns the bytes written. */
size_t rt_spec_encode(const rt_task_spec_t *spec, void *buf);
/** Decode a TASK_PUSH; on success spec->args must be released with rt_spec_clear(). */
rmpi_status_t rt_spec_decode(const void *buf, size_t len, rt_task_spec_t *spec);
void          rt_spec_clear(rt_task_spec_t *spec);

/* --- TASK_DONE --------------------------------------------------------------- */

typedef struct rt_task_done {
    store_oid_t task_id;
    uint32_t    attempt;
    int32_t     executor; /**< rank that ran it */
    uint32_t    queued;   /**< executor's load after the task: queued tasks */
    uint32_t    running;  /**<   and running tasks */
    uint16_t    num_returns;
    rt_value_t *returns; /**< decode: malloc'd (rt_done_clear) */
} rt_task_done_t;

size_t        rt_done_size(const rt_task_done_t *done);
size_t        rt_done_encode(const rt_task_done_t *done, void *buf);
rmpi_status_t rt_done_decode(const void *buf, size_t len, rt_task_done_t *done);
void          rt_done_clear(rt_task_done_t *done);

/* --- LOCATE / LOCATE_REPLY --------------------------------------------------- */

typedef struct rt_locate {
    store_oid_t oid;
    uint64_t    cookie; /**< echoed in the reply */
} rt_locate_t;

typedef struct rt_locate_reply {
    store_oid_t oid;
    uint64_t    cookie;
    rt_value_t  value; /**< ERROR with RMPI_ERR_NOT_FOUND when the owner has no such object */
} rt_locate_reply_t;

size_t        rt_locate_encode(const rt_locate_t *msg, void *buf); /**< buf >= RT_LOCATE_LEN */
rmpi_status_t rt_locate_decode(const void *buf, size_t len, rt_locate_t *msg);
size_t        rt_locate_reply_size(const rt_locate_reply_t *msg);
size_t        rt_locate_reply_encode(const rt_locate_reply_t *msg, void *buf);
rmpi_status_t rt_locate_reply_decode(const void *buf, size_t len, rt_locate_reply_t *msg);
#define RT_LOCATE_LEN (RT_MSG_HDR_LEN + 16 + 8)

/* --- REF_UPDATE, FREE: lists of object IDs ----------------------------------- */

typedef struct rt_ref_delta {
    store_oid_t oid;
    int32_t     delta; /**< +n: became a borrower / more handles; -n: dropped */
} rt_ref_delta_t;

/** @a type is RT_MSG_REF_UPDATE. */
size_t rt_ref_update_size(size_t count);
size_t rt_ref_update_encode(const rt_ref_delta_t *deltas, size_t count, void *buf);
/** Decoded entries are copied into the malloc'd *deltas_p (free()). */
rmpi_status_t rt_ref_update_decode(const void *buf, size_t len, rt_ref_delta_t **deltas_p,
                                   size_t *count_p);

size_t rt_free_size(size_t count);
size_t rt_free_encode(const store_oid_t *oids, size_t count, void *buf);
/** *oids_p points into @a buf (16-byte IDs have no alignment needs as store_oid_t). */
rmpi_status_t rt_free_decode(const void *buf, size_t len, const store_oid_t **oids_p,
                             size_t *count_p);

/* --- small control messages ---------------------------------------------------- */

typedef struct rt_cancel {
    store_oid_t task_id;
    uint32_t    flags; /**< RMPI_CANCEL_* */
} rt_cancel_t;

typedef struct rt_steal {
    uint32_t max_tasks;
    double   free_cpus;
} rt_steal_t;

typedef struct rt_moved {
    store_oid_t task_id;
    uint32_t    attempt;
    int32_t     rank;
} rt_moved_t;

#define RT_CANCEL_LEN (RT_MSG_HDR_LEN + 16 + 8)
#define RT_STEAL_LEN (RT_MSG_HDR_LEN + 16)
#define RT_MOVED_LEN (RT_MSG_HDR_LEN + 16 + 8)

size_t        rt_cancel_encode(const rt_cancel_t *msg, void *buf);
rmpi_status_t rt_cancel_decode(const void *buf, size_t len, rt_cancel_t *msg);
size_t        rt_steal_encode(const rt_steal_t *msg, void *buf);
rmpi_status_t rt_steal_decode(const void *buf, size_t len, rt_steal_t *msg);
size_t        rt_moved_encode(const rt_moved_t *msg, void *buf);
rmpi_status_t rt_moved_decode(const void *buf, size_t len, rt_moved_t *msg);

/**
 * STEAL_REPLY: a count and that many length-prefixed encoded specs (each as
 * rt_spec_encode writes it). rt_steal_reply_next() walks them: it returns
 * RMPI_OK with the next spec's bytes in *spec_p and *len_p, RMPI_ERR_NOT_FOUND
 * at the end, RMPI_ERR_MESSAGE on malformed input.
 */
size_t rt_steal_reply_size(const size_t *spec_lens, size_t count);
size_t rt_steal_reply_encode(const void *const *specs, const size_t *spec_lens, size_t count,
                             void *buf);
typedef struct rt_steal_iter {
    const uint8_t *pos, *end;
    uint32_t       left;
} rt_steal_iter_t;
rmpi_status_t rt_steal_reply_begin(const void *buf, size_t len, rt_steal_iter_t *it);
rmpi_status_t rt_steal_reply_next(rt_steal_iter_t *it, const void **spec_p, size_t *len_p);

/* --- actors ------------------------------------------------------------------- */

/** Operations of ACTOR_NAME (flags). */
enum {
    RT_NAME_REGISTER = 1, /**< take the name for id (reply EXISTS with the holder's id) */
    RT_NAME_LOOKUP   = 2,
    RT_NAME_REMOVE   = 3, /**< release it if id still holds it (no reply) */
};

/**
 * The actor control messages share one layout; each type uses some fields:
 *   LOCATE     id, cookie, incarnation (the least acceptable)
 *   LOCATION   id, cookie, status (OK or the reason it is dead), rank, incarnation,
 *              max_task_retries, text (error message)
 *   KILL       id, incarnation (to the host), flags (RMPI_ACTOR_KILL_*)
 *   EXITED     id, incarnation
 *   NAME       id, cookie, cls, flags (RT_NAME_*), text ("namespace" NUL "name")
 *   NAME_REPLY id, cookie, cls, status
 */
typedef struct rt_actor_msg {
    store_oid_t id;
    uint64_t    cookie;
    uint32_t    incarnation;
    uint32_t    flags;
    int32_t     rank;
    int32_t     status;
    uint32_t    cls;
    int32_t     max_task_retries;
    const char *text; /**< NOT NUL-terminated on decode */
    size_t      text_len;
} rt_actor_msg_t;

#define RT_ACTOR_TEXT_MAX RT_ERROR_MSG_MAX

size_t rt_actor_msg_size(const rt_actor_msg_t *msg);
size_t rt_actor_msg_encode(rt_msg_type_t type, const rt_actor_msg_t *msg, void *buf);
/** @a type is the type the handler expects (one of RT_MSG_ACTOR_*). */
rmpi_status_t rt_actor_msg_decode(rt_msg_type_t type, const void *buf, size_t len,
                                  rt_actor_msg_t *msg);

/** ACTOR_CHECKPOINT: a saved state of incarnation @a incarnation, newer as @a version grows. */
typedef struct rt_actor_ckpt {
    store_oid_t id;
    uint32_t    incarnation;
    uint64_t    version;
    const void *data; /**< points into the message on decode */
    size_t      len;
} rt_actor_ckpt_t;

#define RT_ACTOR_CKPT_MAX ((size_t)1 << 30)

size_t        rt_actor_ckpt_size(const rt_actor_ckpt_t *msg);
size_t        rt_actor_ckpt_encode(const rt_actor_ckpt_t *msg, void *buf);
rmpi_status_t rt_actor_ckpt_decode(const void *buf, size_t len, rt_actor_ckpt_t *msg);

/** A message with only the common header (SHUTDOWN, TIMELINE). */
size_t rt_bare_encode(rt_msg_type_t type, void *buf); /**< RT_MSG_HDR_LEN bytes */

/* --- wire-up ------------------------------------------------------------------- */

/** What each rank tells rank 0 (HELLO) and rank 0 tells everyone (WELCOME, one per rank). */
typedef struct rt_rank_desc {
    int32_t  rank;
    int32_t  node;
    double   cpus;
    double   gpus;
    uint64_t memory;
    uint8_t  num_custom;
    struct {
        const char *name; /**< NOT NUL-terminated on decode */
        size_t      name_len;
        double      amount;
    } custom[RT_MAX_CUSTOM];
    const void *rkey; /**< the store's packed remote key */
    size_t      rkey_len;
} rt_rank_desc_t;

typedef struct rt_hello {
    uint64_t       fn_digest; /**< of the function table (names in order) */
    uint32_t       fn_count;
    rt_rank_desc_t desc;
} rt_hello_t;

size_t        rt_hello_size(const rt_hello_t *msg);
size_t        rt_hello_encode(const rt_hello_t *msg, void *buf);
rmpi_status_t rt_hello_decode(const void *buf, size_t len, rt_hello_t *msg);

/**
 * WELCOME: the wire-up verdict (RMPI_OK or the error every rank returns
 * from rmpi_init, with a message) and the descriptions of all ranks.
 */
typedef struct rt_welcome {
    rmpi_status_t   status;
    const char     *error; /**< NOT NUL-terminated on decode */
    size_t          error_len;
    uint32_t        num_ranks;
    rt_rank_desc_t *ranks; /**< decode: malloc'd (rt_welcome_clear) */
} rt_welcome_t;

size_t        rt_welcome_size(const rt_welcome_t *msg);
size_t        rt_welcome_encode(const rt_welcome_t *msg, void *buf);
rmpi_status_t rt_welcome_decode(const void *buf, size_t len, rt_welcome_t *msg);
void          rt_welcome_clear(rt_welcome_t *msg);

/** Type of a message, after checking version and length; RMPI_ERR_MESSAGE if bad. */
rmpi_status_t rt_msg_peek(const void *buf, size_t len, rt_msg_type_t *type_p);

#endif /* RUNTIME_MSG_H_ */
