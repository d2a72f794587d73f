/*
 * runtime/oid.h - the runtime's encoding of object IDs (16 bytes):
 *
 *   bytes 0-3   owner rank        (little-endian)
 *   bytes 4-7   owner incarnation (0 until ranks can restart)
 *   bytes 8-15  task_seq << 16 | return index   (rmpi_put: index RT_OID_PUT_INDEX)
 *
 * so the owner of any object is known from its ID (Ray's ownership model).
 * A task's ID is the ID of its return 0. Thread safety: pure functions.
 */
#ifndef RUNTIME_OID_H_
#define RUNTIME_OID_H_

#include "objstore/store.h"

#include <raympi.h>
#include <stdint.h>
#include <string.h>

#define RT_OID_PUT_INDEX 0xffffu

static inline store_oid_t rt_oid_make(int owner, uint32_t incarnation, uint64_t seq, unsigned index)
{
    store_oid_t oid;
    uint32_t    rank = (uint32_t)owner;
    uint64_t    low  = (seq << 16) | (index & 0xffffu);

    memcpy(oid.bytes, &rank, 4);
    memcpy(oid.bytes + 4, &incarnation, 4);
    memcpy(oid.bytes + 8, &low, 8);
    return oid;
}

static inline int rt_oid_owner(const store_oid_t *oid)
{
    uint32_t rank;

    memcpy(&rank, oid->bytes, 4);
    return rank > INT32_MAX ? -1 : (int)rank;
}

static inline unsigned rt_oid_index(const store_oid_t *oid)
{
    uint64_t low;

    memcpy(&low, oid->bytes + 8, 8);
    return (unsigned)(low & 0xffffu);
}

/** The ID of return @a index of the task @a task_id. */
static inline store_oid_t rt_oid_return(const store_oid_t *task_id, unsigned index)
{
    store_oid_t oid = *task_id;
    uint64_t    low;

    memcpy(&low, oid.bytes + 8, 8);
    low = (low & ~(uint64_t)0xffffu) | (index & 0xffffu);
    memcpy(oid.bytes + 8, &low, 8);
    return oid;
}

/** The task that produced @a oid (its return 0). */
static inline store_oid_t rt_oid_task(const store_oid_t *oid)
{
    return rt_oid_return(oid, 0);
}

static inline store_oid_t rt_oid_from_ref(rmpi_ref_t ref)
{
    store_oid_t oid;

    memcpy(oid.bytes, ref.id, sizeof(oid.bytes));
    return oid;
}

static inline rmpi_ref_t rt_ref_from_oid(const store_oid_t *oid)
{
    rmpi_ref_t ref;

    memcpy(ref.id, oid->bytes, sizeof(ref.id));
    return ref;
}

#endif /* RUNTIME_OID_H_ */
