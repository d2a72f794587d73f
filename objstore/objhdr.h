/*
 * objstore/objhdr.h - the header in front of every object in an arena, and checksums.
 *
 * The owner's bookkeeping is private, so a peer that maps the arena read-only and was
 * told "object X is at offset O" can only trust what it finds at O. Each object
 * therefore starts with a 64-byte header that names it and checks itself; the payload
 * follows it, 64-byte aligned. A freed object's header is wiped so a stale offset
 * never validates.
 *
 * Thread safety: reentrant. A peer may read a header while its owner rewrites it: the
 * checksum makes a torn read fail validation instead of being believed.
 */
#ifndef OBJSTORE_OBJHDR_H_
#define OBJSTORE_OBJHDR_H_

#include "objstore/store.h"

#include <stdbool.h>
#include <stdint.h>

#define STORE_OBJHDR_MAGIC 0x6a624f5352u /* "RSObj" */
#define STORE_OBJHDR_SIZE 64

typedef enum store_objhdr_state {
    STORE_OBJHDR_FREE    = 0,
    STORE_OBJHDR_CREATED = 1,
    STORE_OBJHDR_SEALED  = 2,
} store_objhdr_state_t;

typedef struct store_objhdr {
    uint64_t    magic;
    uint32_t    state; /**< store_objhdr_state_t */
    uint32_t    flags; /**< STORE_OBJECT_* of the creator */
    store_oid_t oid;
    uint64_t    size; /**< payload bytes */
    uint64_t    reserved[2];
    uint64_t    checksum; /**< of every byte above */
} store_objhdr_t;

_Static_assert(sizeof(store_objhdr_t) == STORE_OBJHDR_SIZE, "object header is 64 bytes");

/** Fill in the header at @a hdr (in the arena) for a new object, state CREATED. */
void store_objhdr_init(store_objhdr_t *hdr, const store_oid_t *oid, uint64_t size, uint32_t flags);

/** Mark the header SEALED (after the payload is written: release ordering). */
void store_objhdr_seal(store_objhdr_t *hdr);

/** Wipe the header of a freed object. */
void store_objhdr_clear(store_objhdr_t *hdr);

/**
 * Whether the header at @a hdr describes sealed object @a oid of @a size bytes and
 * checks out. Reads through a copy, so a torn read fails cleanly.
 */
bool store_objhdr_valid(const store_objhdr_t *hdr, const store_oid_t *oid, uint64_t size);

/**
 * A fast 64-bit checksum of @a len bytes: four independent multiply-rotate lanes over
 * 32-byte strides (about memory speed), then a mix. Any change of a single 8-byte word
 * changes the result (each step is a bijection of the lane), and the length is mixed
 * in. Not cryptographic: it guards against disks and bugs, not adversaries.
 */
uint64_t store_checksum(const void *data, size_t len);

#endif /* OBJSTORE_OBJHDR_H_ */
