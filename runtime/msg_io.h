/*
 * runtime/msg_io.h - the cursor writers and the sticky-failing reader that the
 * runtime's message codecs share (msg.c, msg_pg.c); see msg.c for the rules.
 * Private to those files.
 *
 * Thread safety: reentrant; no global state.
 */
#ifndef RUNTIME_MSG_IO_H_
#define RUNTIME_MSG_IO_H_

#include "runtime/msg.h"

#include <float.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define OID_LEN ((size_t)sizeof(store_oid_t))

/* --- writing -------------------------------------------------------------------- */

static inline uint8_t *wr_bytes(uint8_t *p, const void *src, size_t len)
{
    if (len > 0) {
        memcpy(p, src, len);
    }
    return p + len;
}

static inline uint8_t *wr_u8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static inline uint8_t *wr_u16(uint8_t *p, uint16_t v)
{
    return wr_bytes(p, &v, sizeof(v));
}

static inline uint8_t *wr_u32(uint8_t *p, uint32_t v)
{
    return wr_bytes(p, &v, sizeof(v));
}

static inline uint8_t *wr_i32(uint8_t *p, int32_t v)
{
    return wr_bytes(p, &v, sizeof(v));
}

static inline uint8_t *wr_u64(uint8_t *p, uint64_t v)
{
    return wr_bytes(p, &v, sizeof(v));
}

static inline uint8_t *wr_f64(uint8_t *p, double v)
{
    return wr_bytes(p, &v, sizeof(v)); /* the bit pattern, NaNs included */
}

static inline uint8_t *wr_oid(uint8_t *p, const store_oid_t *oid)
{
    return wr_bytes(p, oid->bytes, OID_LEN);
}

/** The header with a zero length; msg_finish() fills it in. */
static inline uint8_t *wr_hdr(void *buf, rt_msg_type_t type)
{
    uint8_t *p = buf;

    p = wr_u8(p, RT_MSG_VERSION);
    p = wr_u8(p, (uint8_t)type);
    p = wr_u16(p, 0);
    return wr_u32(p, 0);
}

/** Patch the header's length and return it. */
static inline size_t msg_finish(void *buf, const uint8_t *end)
{
    size_t len = (size_t)(end - (const uint8_t *)buf);

    /* A message beyond 4 GiB gets a wrong length, which its receiver rejects. */
    wr_u32((uint8_t *)buf + 4, (uint32_t)len);
    return len;
}

static inline size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static inline size_t bounded_len(const void *ptr, size_t len, size_t max)
{
    return ptr == NULL ? 0 : min_size(len, max);
}

/* --- reading -------------------------------------------------------------------- */

typedef struct msg_reader {
    const uint8_t *pos;
    const uint8_t *end;
    bool           bad;
} msg_reader_t;

static inline size_t rd_left(const msg_reader_t *r)
{
    return (size_t)(r->end - r->pos);
}

/** Mark the message malformed: nothing more can be read from it. */
static inline void rd_fail(msg_reader_t *r)
{
    r->bad = true;
    r->pos = r->end;
}

static inline void rd_check(msg_reader_t *r, bool ok)
{
    if (!ok) {
        rd_fail(r);
    }
}

/** The next @a len bytes, or NULL (and a failed reader) when fewer are left. */
static inline const uint8_t *rd_take(msg_reader_t *r, size_t len)
{
    const uint8_t *p = r->pos;

    if (len > rd_left(r)) {
        rd_fail(r);
        return NULL;
    }
    r->pos += len;
    return p;
}

static inline void rd_copy(msg_reader_t *r, void *dst, size_t len)
{
    const uint8_t *p = rd_take(r, len);

    if (p != NULL) {
        memcpy(dst, p, len);
    } else {
        memset(dst, 0, len);
    }
}

static inline uint8_t rd_u8(msg_reader_t *r)
{
    const uint8_t *p = rd_take(r, 1);

    return p != NULL ? *p : 0;
}

static inline uint16_t rd_u16(msg_reader_t *r)
{
    uint16_t v;

    rd_copy(r, &v, sizeof(v));
    return v;
}

static inline uint32_t rd_u32(msg_reader_t *r)
{
    uint32_t v;

    rd_copy(r, &v, sizeof(v));
    return v;
}

static inline int32_t rd_i32(msg_reader_t *r)
{
    int32_t v;

    rd_copy(r, &v, sizeof(v));
    return v;
}

static inline uint64_t rd_u64(msg_reader_t *r)
{
    uint64_t v;

    rd_copy(r, &v, sizeof(v));
    return v;
}

static inline double rd_f64(msg_reader_t *r)
{
    double v;

    rd_copy(r, &v, sizeof(v));
    return v;
}

static inline bool rd_bool(msg_reader_t *r)
{
    uint8_t v = rd_u8(r);

    rd_check(r, v <= 1);
    return v == 1;
}

/** A resource amount: finite and not negative (NaN fails both comparisons). */
static inline double rd_amount(msg_reader_t *r)
{
    double v = rd_f64(r);

    rd_check(r, v >= 0.0 && v <= DBL_MAX);
    return v;
}

static inline int32_t rd_rank(msg_reader_t *r)
{
    int32_t v = rd_i32(r);

    rd_check(r, v >= 0);
    return v;
}

/** A count read before its entries: fail unless @a count entries could fit. */
static inline bool rd_count_fits(msg_reader_t *r, size_t count, size_t min_entry_len)
{
    rd_check(r, count <= rd_left(r) / min_entry_len);
    return !r->bad;
}

/** Everything read, nothing left over, no rule broken. */
static inline bool rd_done(const msg_reader_t *r)
{
    return !r->bad && r->pos == r->end;
}

/** Check the common header for @a type and position @a r after it. */
static inline bool rd_hdr(msg_reader_t *r, const void *buf, size_t len, rt_msg_type_t type)
{
    rt_msg_type_t got;

    if (rt_msg_peek(buf, len, &got) != RMPI_OK || got != type) {
        return false;
    }
    r->pos = (const uint8_t *)buf + RT_MSG_HDR_LEN;
    r->end = (const uint8_t *)buf + len;
    r->bad = false;
    return true;
}

#endif /* RUNTIME_MSG_IO_H_ */
