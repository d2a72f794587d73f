/*
 * libFuzzer target for the runtime's message decoders (runtime/msg.c, runtime/msg_pg.c,
 * runtime/msg_devobj.c, runtime/msg_nodepull.c).
 * Build: ./configure CC=clang --enable-fuzzers && make -C tests fuzz/fuzz_rt_msg
 * Run:   tests/fuzz/fuzz_rt_msg -max_total_time=60
 * Every input goes to every decoder (each rejects the types that are not its
 * own, so most inputs reach one decoder's body). Whatever a decoder accepts
 * must lie inside the input, and an accepted message must encode back to the
 * same bytes: the decoders accept only what the encoders write.
 */
#include "runtime/msg.h"
#include "runtime/msg_devobj.h"
#include "runtime/msg_nodepull.h"
#include "runtime/msg_pg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct bounds {
    const uint8_t *begin;
    const uint8_t *end;
} bounds_t;

static void check_inside(const bounds_t *b, const void *ptr, size_t len)
{
    const uint8_t *p = ptr;

    if (len > 0 && (p == NULL || p < b->begin || p > b->end || len > (size_t)(b->end - p))) {
        abort(); /* a decoder bug: report it to the fuzzer */
    }
}

static void check_value(const bounds_t *b, const rt_value_t *v)
{
    if (v->kind == RT_VALUE_ERROR && v->size > RT_ERROR_MSG_MAX) {
        abort();
    }
    if (v->has_array &&
        (v->array.ndim > RMPI_ARRAY_MAX_DIMS || v->array.dtype >= RMPI_DTYPE_LAST)) {
        abort();
    }
    if (v->kind != RT_VALUE_STORED) {
        check_inside(b, v->data, v->size);
    }
}

/** Encoding what was decoded gives back the input, byte for byte. */
static void check_same(const bounds_t *b, const uint8_t *encoded, size_t len)
{
    if (len != (size_t)(b->end - b->begin) || memcmp(encoded, b->begin, len) != 0) {
        abort();
    }
}

static void fuzz_spec(const bounds_t *b)
{
    size_t         len = (size_t)(b->end - b->begin);
    rt_task_spec_t spec;
    uint8_t       *again;

    if (rt_spec_decode(b->begin, len, &spec) != RMPI_OK) {
        return;
    }
    check_inside(b, spec.name, spec.name_len);
    if (spec.num_returns > RMPI_MAX_RETURNS || spec.num_custom > RT_MAX_CUSTOM) {
        abort();
    }
    for (uint32_t i = 0; i < spec.num_args; i++) {
        check_value(b, &spec.args[i].value);
    }
    again = malloc(rt_spec_size(&spec));
    check_same(b, again, rt_spec_encode(&spec, again));
    free(again);
    rt_spec_clear(&spec);
}

static void fuzz_done(const bounds_t *b)
{
    size_t         len = (size_t)(b->end - b->begin);
    rt_task_done_t done;
    uint8_t       *again;

    if (rt_done_decode(b->begin, len, &done) != RMPI_OK) {
        return;
    }
    for (uint16_t i = 0; i < done.num_returns; i++) {
        check_value(b, &done.returns[i]);
    }
    again = malloc(rt_done_size(&done));
    check_same(b, again, rt_done_encode(&done, again));
    free(again);
    rt_done_clear(&done);
}

static void fuzz_locate(const bounds_t *b)
{
    size_t            len = (size_t)(b->end - b->begin);
    rt_locate_t       locate;
    rt_locate_reply_t reply;
    uint8_t           small[64];
    uint8_t          *again;

    if (rt_locate_decode(b->begin, len, &locate) == RMPI_OK) {
        check_same(b, small, rt_locate_encode(&locate, small));
    }
    if (rt_locate_reply_decode(b->begin, len, &reply) == RMPI_OK) {
        check_value(b, &reply.value);
        again = malloc(rt_locate_reply_size(&reply));
        check_same(b, again, rt_locate_reply_encode(&reply, again));
        free(again);
    }
}

static void fuzz_lists(const bounds_t *b)
{
    size_t             len = (size_t)(b->end - b->begin);
    rt_ref_delta_t    *deltas;
    const store_oid_t *oids;
    size_t             count;
    uint8_t           *again;

    if (rt_ref_update_decode(b->begin, len, &deltas, &count) == RMPI_OK) {
        again = malloc(rt_ref_update_size(count));
        check_same(b, again, rt_ref_update_encode(deltas, count, again));
        free(again);
        free(deltas);
    }
    if (rt_free_decode(b->begin, len, &oids, &count) == RMPI_OK) {
        check_inside(b, oids, count * sizeof(*oids));
    }
}

static void fuzz_control(const bounds_t *b)
{
    size_t        len = (size_t)(b->end - b->begin);
    rt_cancel_t   cancel;
    rt_steal_t    steal;
    rt_moved_t    moved;
    rt_msg_type_t type;
    uint8_t       small[64];

    if (rt_cancel_decode(b->begin, len, &cancel) == RMPI_OK) {
        check_same(b, small, rt_cancel_encode(&cancel, small));
    }
    if (rt_steal_decode(b->begin, len, &steal) == RMPI_OK) {
        check_same(b, small, rt_steal_encode(&steal, small));
    }
    if (rt_moved_decode(b->begin, len, &moved) == RMPI_OK) {
        check_same(b, small, rt_moved_encode(&moved, small));
    }
    if (rt_msg_peek(b->begin, len, &type) == RMPI_OK &&
        (type == RT_MSG_SHUTDOWN || type == RT_MSG_TIMELINE)) {
        check_same(b, small, rt_bare_encode(type, small));
    }
}

static void fuzz_devobj(const bounds_t *b)
{
    size_t             len = (size_t)(b->end - b->begin);
    rt_devobj_stage_t  stage;
    rt_devobj_staged_t staged;
    uint8_t            small[64];

    if (rt_devobj_stage_decode(b->begin, len, &stage) == RMPI_OK) {
        check_same(b, small, rt_devobj_stage_encode(&stage, small));
    }
    if (rt_devobj_staged_decode(b->begin, len, &staged) == RMPI_OK) {
        check_same(b, small, rt_devobj_staged_encode(&staged, small));
    }
}

static void fuzz_nodepull(const bounds_t *b)
{
    size_t           len = (size_t)(b->end - b->begin);
    rt_node_pull_t   pull;
    rt_node_pulled_t pulled;
    store_oid_t      oid;
    uint8_t          small[64];

    if (rt_node_pull_decode(b->begin, len, &pull) == RMPI_OK) {
        check_same(b, small, rt_node_pull_encode(&pull, small));
    }
    if (rt_node_pulled_decode(b->begin, len, &pulled) == RMPI_OK) {
        check_same(b, small, rt_node_pulled_encode(&pulled, small));
    }
    if (rt_node_copy_decode(b->begin, len, &oid) == RMPI_OK) {
        check_same(b, small, rt_node_copy_encode(&oid, small));
    }
}

static void fuzz_actor(const bounds_t *b)
{
    size_t         len = (size_t)(b->end - b->begin);
    rt_actor_msg_t msg;

    for (rt_msg_type_t type = RT_MSG_ACTOR_LOCATE; type <= RT_MSG_ACTOR_NAME_REPLY; type++) {
        if (rt_actor_msg_decode(type, b->begin, len, &msg) == RMPI_OK) {
            uint8_t *again = malloc(rt_actor_msg_size(&msg));

            check_inside(b, msg.text, msg.text_len);
            check_same(b, again, rt_actor_msg_encode(type, &msg, again));
            free(again);
        }
    }
    rt_actor_ckpt_t ckpt;
    if (rt_actor_ckpt_decode(b->begin, len, &ckpt) == RMPI_OK) {
        uint8_t *again = malloc(rt_actor_ckpt_size(&ckpt));

        check_inside(b, ckpt.data, ckpt.len);
        check_same(b, again, rt_actor_ckpt_encode(&ckpt, again));
        free(again);
    }
}

static void fuzz_steal_reply(const bounds_t *b)
{
    size_t          len = (size_t)(b->end - b->begin);
    rt_steal_iter_t it;
    const void     *spec;
    size_t          spec_len;
    rmpi_status_t   status;

    if (rt_steal_reply_begin(b->begin, len, &it) != RMPI_OK) {
        return;
    }
    while ((status = rt_steal_reply_next(&it, &spec, &spec_len)) == RMPI_OK) {
        bounds_t inner = {spec, (const uint8_t *)spec + spec_len};

        check_inside(b, spec, spec_len);
        fuzz_spec(&inner);
    }
    if (status != RMPI_ERR_NOT_FOUND) {
        abort(); /* begin() checked every length */
    }
}

static void check_desc(const bounds_t *b, const rt_rank_desc_t *desc)
{
    if (desc->num_custom > RT_MAX_CUSTOM) {
        abort();
    }
    for (int i = 0; i < desc->num_custom; i++) {
        check_inside(b, desc->custom[i].name, desc->custom[i].name_len);
    }
    check_inside(b, desc->rkey, desc->rkey_len);
}

static void fuzz_wireup(const bounds_t *b)
{
    size_t       len = (size_t)(b->end - b->begin);
    rt_hello_t   hello;
    rt_welcome_t welcome;
    uint8_t     *again;

    if (rt_hello_decode(b->begin, len, &hello) == RMPI_OK) {
        check_desc(b, &hello.desc);
        again = malloc(rt_hello_size(&hello));
        check_same(b, again, rt_hello_encode(&hello, again));
        free(again);
    }
    if (rt_welcome_decode(b->begin, len, &welcome) == RMPI_OK) {
        check_inside(b, welcome.error, welcome.error_len);
        for (uint32_t i = 0; i < welcome.num_ranks; i++) {
            check_desc(b, &welcome.ranks[i]);
        }
        again = malloc(rt_welcome_size(&welcome));
        check_same(b, again, rt_welcome_encode(&welcome, again));
        free(again);
        rt_welcome_clear(&welcome);
    }
}

static void check_bundles(const rt_resvec_t *bundles, uint32_t n)
{
    for (uint32_t b = 0; b < n; b++) {
        if (!(bundles[b].cpus >= 0) || !(bundles[b].gpus >= 0)) {
            abort(); /* NaN or negative amounts must not pass */
        }
        for (size_t i = 0; i < RT_MAX_CUSTOM; i++) {
            if (!(bundles[b].custom[i] >= 0)) {
                abort();
            }
        }
    }
}

static void fuzz_pg(const bounds_t *b)
{
    size_t          len = (size_t)(b->end - b->begin);
    rt_pg_create_t  create;
    rt_pg_request_t request;
    rt_pg_reply_t   reply;
    uint8_t        *again;

    if (rt_pg_create_decode(b->begin, len, &create) == RMPI_OK) {
        check_inside(b, create.name, create.name_len);
        if (create.num_bundles == 0 || create.num_bundles > RMPI_PG_MAX_BUNDLES ||
            create.name_len > RMPI_PG_NAME_MAX) {
            abort();
        }
        check_bundles(create.bundles, create.num_bundles);
        again = malloc(rt_pg_create_size(&create));
        check_same(b, again, rt_pg_create_encode(&create, again));
        free(again);
        rt_pg_create_clear(&create);
    }
    if (rt_pg_request_decode(b->begin, len, &request) == RMPI_OK) {
        check_inside(b, request.name, request.name_len);
        again = malloc(rt_pg_request_size(&request));
        check_same(b, again, rt_pg_request_encode(&request, again));
        free(again);
    }
    if (rt_pg_reply_decode(b->begin, len, &reply) == RMPI_OK) {
        check_inside(b, reply.error, reply.error_len);
        if (reply.error_len > RT_ERROR_MSG_MAX || reply.num_bundles > RMPI_PG_MAX_BUNDLES) {
            abort();
        }
        check_bundles(reply.bundles, reply.num_bundles);
        again = malloc(rt_pg_reply_size(&reply));
        check_same(b, again, rt_pg_reply_encode(&reply, again));
        free(again);
        rt_pg_reply_clear(&reply);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy so reads past the end are caught by ASan. */
    uint8_t *copy = malloc(size ? size : 1);
    bounds_t b    = {copy, copy + size};

    memcpy(copy, data, size);
    fuzz_spec(&b);
    fuzz_done(&b);
    fuzz_locate(&b);
    fuzz_lists(&b);
    fuzz_control(&b);
    fuzz_steal_reply(&b);
    fuzz_actor(&b);
    fuzz_wireup(&b);
    fuzz_pg(&b);
    fuzz_devobj(&b);
    fuzz_nodepull(&b);
    free(copy);
    return 0;
}
