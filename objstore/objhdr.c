/*
 * objstore/objhdr.c - object headers and the checksum they and spill files use.
 */
#include "objstore/objhdr.h"

#include "base/hash.h"

#include <string.h>

#define STORE_CSUM_PRIME1 0x9e3779b185ebca87ull
#define STORE_CSUM_PRIME2 0xc2b2ae3d27d4eb4full

static inline uint64_t store_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t store_csum_round(uint64_t lane, uint64_t word)
{
    return store_rotl(lane + word * STORE_CSUM_PRIME2, 31) * STORE_CSUM_PRIME1;
}

uint64_t store_checksum(const void *data, size_t len)
{
    const unsigned char *bytes   = data;
    size_t               strides = len / 32;
    uint64_t             lane[4] = {1, 2, 3, 4};
    uint64_t             word, state = (uint64_t)len;

    for (size_t s = 0; s < strides; ++s, bytes += 32) {
        for (size_t i = 0; i < 4; ++i) {
            memcpy(&word, bytes + 8 * i, sizeof(word)); /* any alignment */
            lane[i] = store_csum_round(lane[i], word);
        }
    }
    for (size_t i = 0; i < 4; ++i) {
        state = base_hash_u64(state ^ lane[i]);
    }
    if (len % 32 != 0) { /* the last 1..31 bytes */
        state ^= base_hash_bytes(bytes, len % 32);
    }
    return base_hash_u64(state);
}

static uint64_t store_objhdr_sum(const store_objhdr_t *hdr)
{
    return store_checksum(hdr, offsetof(store_objhdr_t, checksum));
}

void store_objhdr_init(store_objhdr_t *hdr, const store_oid_t *oid, uint64_t size, uint32_t flags)
{
    store_objhdr_t tmp = {
        .magic = STORE_OBJHDR_MAGIC,
        .state = STORE_OBJHDR_CREATED,
        .flags = flags,
        .oid   = *oid,
        .size  = size,
    };

    tmp.checksum = store_objhdr_sum(&tmp);
    memcpy(hdr, &tmp, sizeof(tmp));
}

void store_objhdr_seal(store_objhdr_t *hdr)
{
    store_objhdr_t tmp;

    memcpy(&tmp, hdr, sizeof(tmp));
    tmp.state    = STORE_OBJHDR_SEALED;
    tmp.checksum = store_objhdr_sum(&tmp);
    /* The payload must be visible before a reader can see the object as sealed. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(hdr, &tmp, sizeof(tmp));
}

void store_objhdr_clear(store_objhdr_t *hdr)
{
    memset(hdr, 0, sizeof(*hdr));
}

bool store_objhdr_valid(const store_objhdr_t *hdr, const store_oid_t *oid, uint64_t size)
{
    store_objhdr_t copy;

    memcpy(&copy, hdr, sizeof(copy));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return (copy.magic == STORE_OBJHDR_MAGIC) && (copy.state == STORE_OBJHDR_SEALED) &&
           store_oid_equal(&copy.oid, oid) && (copy.size == size) &&
           (copy.checksum == store_objhdr_sum(&copy));
}
