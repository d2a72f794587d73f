/*
 * transport/wire.c - encode and validate transport frames (see wire.h).
 * Everything is read with memcpy: frames arrive at any alignment.
 */
#include "transport/wire.h"

#include <string.h>

typedef struct wire_frame_hdr {
    uint32_t magic;
    uint8_t  version;
    uint8_t  type;
    uint16_t zero;
    uint32_t src;
    uint32_t count;
} wire_frame_hdr_t;

typedef struct wire_record_hdr {
    uint16_t am_id;
    uint16_t hdr_len;
    uint32_t zero;
    uint64_t data_len;
} wire_record_hdr_t;

_Static_assert(sizeof(wire_frame_hdr_t) == XPORT_WIRE_FRAME_HDR, "frame header layout");
_Static_assert(sizeof(wire_record_hdr_t) == XPORT_WIRE_RECORD_HDR, "record header layout");

static size_t wire_align(size_t len)
{
    return (len + XPORT_WIRE_ALIGN - 1) & ~(size_t)(XPORT_WIRE_ALIGN - 1);
}

size_t xport_wire_record_size(size_t hdr_len, size_t data_len)
{
    return wire_align(XPORT_WIRE_RECORD_HDR + hdr_len + data_len);
}

size_t xport_wire_frame_init(void *buf, xport_wire_type_t type, uint32_t src)
{
    wire_frame_hdr_t fh = {
        .magic   = XPORT_WIRE_MAGIC,
        .version = XPORT_WIRE_VERSION,
        .type    = (uint8_t)type,
        .src     = src,
        .count   = 0,
    };

    memcpy(buf, &fh, sizeof(fh));
    return sizeof(fh);
}

static void wire_put_record_hdr(char *dst, xport_am_id_t id, size_t hdr_len, uint64_t data_len)
{
    wire_record_hdr_t rh = {.am_id = id, .hdr_len = (uint16_t)hdr_len, .data_len = data_len};

    memcpy(dst, &rh, sizeof(rh));
}

size_t xport_wire_frame_append(void *buf, size_t offset, xport_am_id_t id, const void *hdr,
                               size_t hdr_len, const void *data, size_t data_len)
{
    char    *p    = (char *)buf + offset;
    size_t   size = xport_wire_record_size(hdr_len, data_len);
    size_t   used = XPORT_WIRE_RECORD_HDR + hdr_len + data_len;
    uint32_t count;

    wire_put_record_hdr(p, id, hdr_len, data_len);
    if (hdr_len > 0) {
        memcpy(p + XPORT_WIRE_RECORD_HDR, hdr, hdr_len);
    }
    if (data_len > 0) {
        memcpy(p + XPORT_WIRE_RECORD_HDR + hdr_len, data, data_len);
    }
    memset(p + used, 0, size - used);

    memcpy(&count, (char *)buf + offsetof(wire_frame_hdr_t, count), sizeof(count));
    ++count;
    memcpy((char *)buf + offsetof(wire_frame_hdr_t, count), &count, sizeof(count));
    return offset + size;
}

static bool wire_id_valid(uint16_t id, const xport_wire_limits_t *limits)
{
    return id < limits->num_ids ||
           (id >= XPORT_WIRE_ID_INTERNAL && id < XPORT_WIRE_ID_INTERNAL_END);
}

static rmpi_status_t wire_bad(xport_bad_reason_t reason, xport_bad_reason_t *reason_p)
{
    if (reason_p != NULL) {
        *reason_p = reason;
    }
    return RMPI_ERR_MESSAGE;
}

/* Check the frame header; *count_p and *src_p are set on success. */
static rmpi_status_t wire_check_frame_hdr(const void *buf, size_t len, xport_wire_type_t type,
                                          const xport_wire_limits_t *limits, wire_frame_hdr_t *fh,
                                          xport_bad_reason_t *reason_p)
{
    if (buf == NULL || len < sizeof(*fh)) {
        return wire_bad(XPORT_BAD_TRUNCATED, reason_p);
    }
    memcpy(fh, buf, sizeof(*fh));
    if (fh->magic != XPORT_WIRE_MAGIC || fh->version != XPORT_WIRE_VERSION || fh->type != type ||
        fh->zero != 0) {
        return wire_bad(XPORT_BAD_MAGIC, reason_p);
    }
    if (fh->src >= limits->num_ranks) {
        return wire_bad(XPORT_BAD_RANK, reason_p);
    }
    if (fh->count == 0) {
        return wire_bad(XPORT_BAD_EMPTY, reason_p);
    }
    return RMPI_OK;
}

/*
 * Parse the record at @a offset of a BATCH frame; on success *rec_p points
 * into @a buf and *next_p is the offset of the next record.
 */
static rmpi_status_t wire_parse_record(const char *buf, size_t len, size_t offset,
                                       const xport_wire_limits_t *limits,
                                       xport_wire_record_t *rec_p, size_t *next_p,
                                       xport_bad_reason_t *reason_p)
{
    wire_record_hdr_t rh;
    size_t            room = len - offset;
    size_t            body;

    if (room < sizeof(rh)) {
        return wire_bad(XPORT_BAD_TRUNCATED, reason_p);
    }
    memcpy(&rh, buf + offset, sizeof(rh));
    if (rh.zero != 0) {
        return wire_bad(XPORT_BAD_MAGIC, reason_p);
    }
    if (!wire_id_valid(rh.am_id, limits)) {
        return wire_bad(XPORT_BAD_HANDLER, reason_p);
    }
    if (rh.data_len > room) { /* also keeps the sums below from overflowing */
        return wire_bad(XPORT_BAD_LENGTH, reason_p);
    }
    body = wire_align(sizeof(rh) + rh.hdr_len + (size_t)rh.data_len);
    if (body > room) {
        return wire_bad(XPORT_BAD_TRUNCATED, reason_p);
    }
    rec_p->am_id    = rh.am_id;
    rec_p->hdr_len  = rh.hdr_len;
    rec_p->hdr      = rh.hdr_len ? buf + offset + sizeof(rh) : NULL;
    rec_p->data_len = rh.data_len;
    rec_p->data     = rh.data_len ? buf + offset + sizeof(rh) + rh.hdr_len : NULL;
    *next_p         = offset + body;
    return RMPI_OK;
}

/* Walk all records; call @a visit for each when it is not NULL. */
static rmpi_status_t wire_walk(const char *buf, size_t len, const wire_frame_hdr_t *fh,
                               const xport_wire_limits_t *limits, xport_wire_visit_t visit,
                               void *arg, xport_bad_reason_t *reason_p)
{
    size_t              offset = sizeof(*fh);
    xport_wire_record_t rec;
    rmpi_status_t       status;

    for (uint32_t i = 0; i < fh->count; ++i) {
        status = wire_parse_record(buf, len, offset, limits, &rec, &offset, reason_p);
        if (status != RMPI_OK) {
            return status;
        }
        if (visit != NULL) {
            visit(arg, fh->src, &rec);
        }
    }
    if (offset != len) {
        return wire_bad(XPORT_BAD_TRAILING, reason_p);
    }
    return RMPI_OK;
}

rmpi_status_t xport_wire_decode_batch(const void *buf, size_t len,
                                      const xport_wire_limits_t *limits, xport_wire_visit_t visit,
                                      void *arg, xport_bad_reason_t *reason_p)
{
    wire_frame_hdr_t fh;
    rmpi_status_t    status;

    status = wire_check_frame_hdr(buf, len, XPORT_WIRE_BATCH, limits, &fh, reason_p);
    if (status != RMPI_OK) {
        return status;
    }
    /* Each record takes at least a record header: bound count before walking. */
    if (fh.count > (len - sizeof(fh)) / XPORT_WIRE_RECORD_HDR) {
        return wire_bad(XPORT_BAD_TRUNCATED, reason_p);
    }
    status = wire_walk(buf, len, &fh, limits, NULL, NULL, reason_p);
    if (status != RMPI_OK || visit == NULL) {
        return status;
    }
    return wire_walk(buf, len, &fh, limits, visit, arg, reason_p);
}

size_t xport_wire_large_size(size_t hdr_len)
{
    return XPORT_WIRE_FRAME_HDR + XPORT_WIRE_RECORD_HDR + hdr_len;
}

void xport_wire_encode_large(void *buf, uint32_t src, xport_am_id_t id, const void *hdr,
                             size_t hdr_len, uint64_t data_len)
{
    char    *p     = buf;
    uint32_t count = 1;

    xport_wire_frame_init(p, XPORT_WIRE_LARGE, src);
    memcpy(p + offsetof(wire_frame_hdr_t, count), &count, sizeof(count));
    wire_put_record_hdr(p + XPORT_WIRE_FRAME_HDR, id, hdr_len, data_len);
    if (hdr_len > 0) {
        memcpy(p + XPORT_WIRE_FRAME_HDR + XPORT_WIRE_RECORD_HDR, hdr, hdr_len);
    }
}

rmpi_status_t xport_wire_decode_large(const void *buf, size_t len, uint64_t data_len,
                                      const xport_wire_limits_t *limits, uint32_t *src_p,
                                      xport_wire_record_t *rec_p, xport_bad_reason_t *reason_p)
{
    const char       *p = buf;
    wire_frame_hdr_t  fh;
    wire_record_hdr_t rh;
    rmpi_status_t     status;

    status = wire_check_frame_hdr(buf, len, XPORT_WIRE_LARGE, limits, &fh, reason_p);
    if (status != RMPI_OK) {
        return status;
    }
    if (fh.count != 1) {
        return wire_bad(XPORT_BAD_LENGTH, reason_p);
    }
    if (len < XPORT_WIRE_FRAME_HDR + sizeof(rh)) {
        return wire_bad(XPORT_BAD_TRUNCATED, reason_p);
    }
    memcpy(&rh, p + XPORT_WIRE_FRAME_HDR, sizeof(rh));
    if (rh.zero != 0) {
        return wire_bad(XPORT_BAD_MAGIC, reason_p);
    }
    if (!wire_id_valid(rh.am_id, limits)) {
        return wire_bad(XPORT_BAD_HANDLER, reason_p);
    }
    if (len < xport_wire_large_size(rh.hdr_len)) {
        return wire_bad(XPORT_BAD_TRUNCATED, reason_p);
    }
    if (len > xport_wire_large_size(rh.hdr_len)) {
        return wire_bad(XPORT_BAD_TRAILING, reason_p);
    }
    if (rh.data_len != data_len) {
        return wire_bad(XPORT_BAD_LENGTH, reason_p);
    }
    *src_p          = fh.src;
    rec_p->am_id    = rh.am_id;
    rec_p->hdr_len  = rh.hdr_len;
    rec_p->hdr      = rh.hdr_len ? p + xport_wire_large_size(0) : NULL;
    rec_p->data     = NULL;
    rec_p->data_len = rh.data_len;
    return RMPI_OK;
}

const char *xport_bad_reason_name(xport_bad_reason_t reason)
{
    static const char *const names[XPORT_BAD_LAST] = {
        [XPORT_BAD_TRUNCATED] = "truncated",     [XPORT_BAD_MAGIC] = "bad magic",
        [XPORT_BAD_LENGTH] = "bad length",       [XPORT_BAD_HANDLER] = "handler out of range",
        [XPORT_BAD_RANK] = "rank out of range",  [XPORT_BAD_EMPTY] = "empty frame",
        [XPORT_BAD_TRAILING] = "trailing bytes", [XPORT_BAD_NO_HANDLER] = "no handler",
        [XPORT_BAD_REQUEST] = "bad request",
    };

    return ((unsigned)reason < XPORT_BAD_LAST) ? names[reason] : "unknown";
}
