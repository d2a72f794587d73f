/*
 * transport/wire.h - the on-the-wire format of transport messages.
 *
 * A frame is a 16-byte frame header followed by records, each starting at a
 * multiple of 8 bytes from the frame start:
 *
 *   frame:  u32 magic | u8 version | u8 type | u16 zero | u32 src rank | u32 count
 *   record: u16 handler id | u16 header length | u32 zero | u64 data length |
 *           header bytes | data bytes | zero padding to 8
 *
 * A BATCH frame carries count >= 1 records with their data inline (one UCX
 * active message holds many small messages). A LARGE frame is the UCX header
 * of one message whose data travels as the UCX payload (eager or
 * rendezvous): one record holding only the user header.
 * Integers are in host byte order (a foreign byte order fails the magic).
 *
 * Decoding validates the whole frame before any record is handed out, so a
 * corrupt frame is dropped as a whole. Thread safety: reentrant.
 */
#ifndef TRANSPORT_WIRE_H_
#define TRANSPORT_WIRE_H_

#include "transport/xport.h"

#define XPORT_WIRE_MAGIC 0x52584d52u /* "RMXR" as little-endian bytes */
#define XPORT_WIRE_VERSION 1
#define XPORT_WIRE_FRAME_HDR 16
#define XPORT_WIRE_RECORD_HDR 16
#define XPORT_WIRE_ALIGN 8
#define XPORT_WIRE_HDR_LEN_MAX UINT16_MAX

/* Handler IDs at and above this are the transport's own protocols. */
#define XPORT_WIRE_ID_INTERNAL 0xff00u

enum {
    XPORT_WIRE_ID_PULL_REQ = XPORT_WIRE_ID_INTERNAL, /**< please send me this memory */
    XPORT_WIRE_ID_PULL_REPLY,                        /**< the memory (or an error) */
    XPORT_WIRE_ID_FIN_REQ,                           /**< shutdown: I have reached fini */
    XPORT_WIRE_ID_FIN_ACK,                           /**< shutdown: everyone has */
    XPORT_WIRE_ID_INTERNAL_END
};

typedef enum xport_wire_type {
    XPORT_WIRE_BATCH = 1,
    XPORT_WIRE_LARGE = 2,
} xport_wire_type_t;

/** What a decoder accepts. */
typedef struct xport_wire_limits {
    uint32_t num_ranks; /**< source ranks must be below this */
    uint32_t num_ids;   /**< user handler IDs must be below this */
} xport_wire_limits_t;

typedef struct xport_wire_record {
    xport_am_id_t am_id;
    const void   *hdr; /**< not aligned; NULL when hdr_len is 0 */
    size_t        hdr_len;
    const void   *data; /**< NULL in a LARGE frame (data is the UCX payload) */
    size_t        data_len;
} xport_wire_record_t;

typedef void (*xport_wire_visit_t)(void *arg, uint32_t src, const xport_wire_record_t *rec);

/** Bytes a record with these lengths takes in a BATCH frame (padding included). */
size_t xport_wire_record_size(size_t hdr_len, size_t data_len);

/** Start a frame in @a buf (at least XPORT_WIRE_FRAME_HDR bytes); returns its length. */
size_t xport_wire_frame_init(void *buf, xport_wire_type_t type, uint32_t src);

/**
 * Append one record to the BATCH frame in @a buf whose current length is
 * @a offset; the caller has made room for xport_wire_record_size() more bytes.
 * Returns the new length. @a hdr_len must be <= XPORT_WIRE_HDR_LEN_MAX.
 */
size_t xport_wire_frame_append(void *buf, size_t offset, xport_am_id_t id, const void *hdr,
                               size_t hdr_len, const void *data, size_t data_len);

/**
 * Validate the BATCH frame @a buf of @a len bytes, then call @a visit for
 * each record. On a bad frame nothing is visited, *@a reason_p tells why and
 * RMPI_ERR_MESSAGE is returned.
 */
rmpi_status_t xport_wire_decode_batch(const void *buf, size_t len,
                                      const xport_wire_limits_t *limits, xport_wire_visit_t visit,
                                      void *arg, xport_bad_reason_t *reason_p);

/** Bytes of the UCX header of a LARGE message with a @a hdr_len user header. */
size_t xport_wire_large_size(size_t hdr_len);

/** Write the LARGE header into @a buf (xport_wire_large_size() bytes). */
void xport_wire_encode_large(void *buf, uint32_t src, xport_am_id_t id, const void *hdr,
                             size_t hdr_len, uint64_t data_len);

/**
 * Validate the LARGE header @a buf of @a len bytes of a message whose UCX
 * payload is @a data_len bytes; on success fill *@a src_p and *@a rec_p.
 */
rmpi_status_t xport_wire_decode_large(const void *buf, size_t len, uint64_t data_len,
                                      const xport_wire_limits_t *limits, uint32_t *src_p,
                                      xport_wire_record_t *rec_p, xport_bad_reason_t *reason_p);

/** A short name of @a reason for logs ("truncated", ...). */
const char *xport_bad_reason_name(xport_bad_reason_t reason);

#endif /* TRANSPORT_WIRE_H_ */
