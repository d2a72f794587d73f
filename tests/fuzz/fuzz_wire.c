/*
 * libFuzzer target for the transport's frame decoders (transport/wire.c).
 * Build: ./configure CC=clang --enable-fuzzers && make -C tests fuzz/fuzz_wire
 * Run:   tests/fuzz/fuzz_wire -max_total_time=60
 * The first input byte picks the decoder and its limits; every accepted
 * record must lie inside the input.
 */
#include "transport/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct bounds {
    const char *begin;
    const char *end;
} bounds_t;

static void check_inside(const bounds_t *b, const void *ptr, size_t len)
{
    if (len > 0 &&
        (ptr == NULL || (const char *)ptr < b->begin || (const char *)ptr + len > b->end ||
         (const char *)ptr + len < (const char *)ptr)) {
        abort(); /* a decoder bug: report it to the fuzzer */
    }
}

static void visit(void *arg, uint32_t src, const xport_wire_record_t *rec)
{
    (void)src;
    check_inside(arg, rec->hdr, rec->hdr_len);
    check_inside(arg, rec->data, rec->data_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xport_wire_limits_t limits = {.num_ranks = 8, .num_ids = 64};
    xport_wire_record_t rec;
    uint32_t            src;
    char               *copy;
    bounds_t            b;

    if (size < 1) {
        return 0;
    }
    /* A private copy so reads past the end are caught by ASan. */
    copy = malloc(size - 1 ? size - 1 : 1);
    memcpy(copy, data + 1, size - 1);
    b = (bounds_t){copy, copy + size - 1};
    if (data[0] & 1) {
        if (xport_wire_decode_large(copy, size - 1, data[0] >> 1, &limits, &src, &rec, NULL) ==
            RMPI_OK) {
            check_inside(&b, rec.hdr, rec.hdr_len);
            if (src >= limits.num_ranks) {
                abort();
            }
        }
    } else {
        xport_wire_decode_batch(copy, size - 1, &limits, visit, &b, NULL);
    }
    free(copy);
    return 0;
}
