/*
 * Unit tests of base/mpsc.h: the intrusive multi-producer single-consumer queue.
 */
#include "base/mpsc.h"

#include "base/list.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define NUM_PRODUCERS 4
#define NODES_PER_PRODUCER 200000

typedef struct msg {
    base_mpsc_node_t node;
    uint32_t         producer;
    uint32_t         seq;
} msg_t;

static msg_t *msg_pop(base_mpsc_t *queue)
{
    base_mpsc_node_t *node = base_mpsc_pop(queue);

    return (node == NULL) ? NULL : base_container_of(node, msg_t, node);
}

static void test_new_queue_is_empty(void **state)
{
    base_mpsc_t queue;

    base_mpsc_init(&queue);
    assert_true(base_mpsc_is_empty(&queue));
    assert_null(base_mpsc_pop(&queue));
    assert_null(base_mpsc_pop(&queue));
    assert_true(base_mpsc_is_empty(&queue));
}

static void test_fifo_single_thread(void **state)
{
    enum { COUNT = 100 };
    base_mpsc_t queue;
    msg_t       msgs[COUNT];

    base_mpsc_init(&queue);
    for (uint32_t i = 0; i < COUNT; ++i) {
        msgs[i].seq = i;
        base_mpsc_push(&queue, &msgs[i].node);
        assert_false(base_mpsc_is_empty(&queue));
    }
    for (uint32_t i = 0; i < COUNT; ++i) {
        msg_t *msg = msg_pop(&queue);

        assert_ptr_equal(msg, &msgs[i]);
        assert_int_equal(msg->seq, i);
    }
    assert_null(base_mpsc_pop(&queue));
    assert_true(base_mpsc_is_empty(&queue));
}

static void test_single_node_round_trips(void **state)
{
    base_mpsc_t queue;
    msg_t       msg = {.seq = 7};

    /* One node in an otherwise empty queue needs the stub to be pushed back. */
    base_mpsc_init(&queue);
    for (int round = 0; round < 1000; ++round) {
        base_mpsc_push(&queue, &msg.node);
        assert_false(base_mpsc_is_empty(&queue));
        assert_ptr_equal(msg_pop(&queue), &msg);
        assert_true(base_mpsc_is_empty(&queue));
        assert_null(base_mpsc_pop(&queue));
    }
}

static void test_interleaved_push_and_pop_keep_order(void **state)
{
    enum { COUNT = 1000 };
    base_mpsc_t queue;
    msg_t       msgs[COUNT];
    uint32_t    pushed = 0, popped = 0;

    base_mpsc_init(&queue);
    /* Push two, pop one, until everything is pushed; then drain. */
    while (pushed < COUNT) {
        for (int k = 0; (k < 2) && (pushed < COUNT); ++k, ++pushed) {
            msgs[pushed].seq = pushed;
            base_mpsc_push(&queue, &msgs[pushed].node);
        }
        assert_int_equal(msg_pop(&queue)->seq, popped++);
    }
    for (msg_t *msg; (msg = msg_pop(&queue)) != NULL;) {
        assert_int_equal(msg->seq, popped++);
    }
    assert_int_equal(popped, COUNT);
    assert_true(base_mpsc_is_empty(&queue));
}

static void test_popped_nodes_can_be_pushed_again(void **state)
{
    base_mpsc_t queue;
    msg_t       a = {.seq = 1}, b = {.seq = 2};

    base_mpsc_init(&queue);
    base_mpsc_push(&queue, &a.node);
    base_mpsc_push(&queue, &b.node);
    assert_ptr_equal(msg_pop(&queue), &a);
    base_mpsc_push(&queue, &a.node); /* a goes behind b now */
    assert_ptr_equal(msg_pop(&queue), &b);
    assert_ptr_equal(msg_pop(&queue), &a);
    assert_null(msg_pop(&queue));
    assert_true(base_mpsc_is_empty(&queue));
}

/*
 * Replay by hand a producer stopped between its exchange and its link (what
 * base_mpsc_push does in two steps), to check what the consumer sees then.
 */
static base_mpsc_node_t *push_first_half(base_mpsc_t *queue, base_mpsc_node_t *node)
{
    node->next = NULL;
    return __atomic_exchange_n(&queue->head, node, __ATOMIC_ACQ_REL);
}

static void test_pop_during_a_half_done_push(void **state)
{
    base_mpsc_t       queue;
    msg_t             a = {.seq = 1}, b = {.seq = 2};
    base_mpsc_node_t *prev;

    /* Into an empty queue: nothing to pop yet, but the queue is not empty. */
    base_mpsc_init(&queue);
    prev = push_first_half(&queue, &a.node);
    assert_null(base_mpsc_pop(&queue));
    assert_false(base_mpsc_is_empty(&queue));
    __atomic_store_n(&prev->next, &a.node, __ATOMIC_RELEASE);
    assert_ptr_equal(msg_pop(&queue), &a);

    /* Behind a linked node: that node is still held back until the link. */
    base_mpsc_push(&queue, &a.node);
    prev = push_first_half(&queue, &b.node);
    assert_null(base_mpsc_pop(&queue));
    assert_false(base_mpsc_is_empty(&queue));
    __atomic_store_n(&prev->next, &b.node, __ATOMIC_RELEASE);
    assert_ptr_equal(msg_pop(&queue), &a);
    assert_ptr_equal(msg_pop(&queue), &b);
    assert_null(base_mpsc_pop(&queue));
    assert_true(base_mpsc_is_empty(&queue));
}

typedef struct producer {
    base_mpsc_t       *queue;
    msg_t             *msgs;
    uint32_t           id;
    pthread_barrier_t *start;
    int               *done;
} producer_t;

static void *producer_run(void *arg)
{
    producer_t *producer = arg;

    pthread_barrier_wait(producer->start);
    for (uint32_t i = 0; i < NODES_PER_PRODUCER; ++i) {
        producer->msgs[i].producer = producer->id;
        producer->msgs[i].seq      = i;
        base_mpsc_push(producer->queue, &producer->msgs[i].node);
    }
    __atomic_fetch_add(producer->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_many_producers_lose_nothing(void **state)
{
    base_mpsc_t       queue;
    pthread_barrier_t start;
    pthread_t         threads[NUM_PRODUCERS];
    producer_t        producers[NUM_PRODUCERS];
    uint32_t          next_seq[NUM_PRODUCERS] = {0};
    msg_t            *msgs;
    int               done     = 0;
    size_t            received = 0;
    const size_t      total    = (size_t)NUM_PRODUCERS * NODES_PER_PRODUCER;

    msgs = calloc(total, sizeof(*msgs));
    assert_non_null(msgs);
    base_mpsc_init(&queue);
    assert_int_equal(pthread_barrier_init(&start, NULL, NUM_PRODUCERS + 1), 0);

    for (uint32_t p = 0; p < NUM_PRODUCERS; ++p) {
        producers[p] = (producer_t){.queue = &queue,
                                    .msgs  = msgs + (size_t)p * NODES_PER_PRODUCER,
                                    .id    = p,
                                    .start = &start,
                                    .done  = &done};
        assert_int_equal(pthread_create(&threads[p], NULL, producer_run, &producers[p]), 0);
    }
    pthread_barrier_wait(&start);

    while (received < total) {
        msg_t *msg = msg_pop(&queue);

        if (msg == NULL) {
            if (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < NUM_PRODUCERS) {
                sched_yield(); /* producers still running: let them */
                continue;
            }
            /*
             * Every push has now completed and is linked (the first pop may
             * have raced the last one), so an empty pop here means a lost node.
             */
            msg = msg_pop(&queue);
            assert_non_null(msg);
        }
        assert_true(msg->producer < NUM_PRODUCERS);
        /* Per-producer FIFO; a duplicate or a gap breaks the sequence. */
        assert_int_equal(msg->seq, next_seq[msg->producer]);
        ++next_seq[msg->producer];
        ++received;
    }

    for (uint32_t p = 0; p < NUM_PRODUCERS; ++p) {
        assert_int_equal(pthread_join(threads[p], NULL), 0);
        assert_int_equal(next_seq[p], NODES_PER_PRODUCER);
    }
    assert_null(base_mpsc_pop(&queue));
    assert_true(base_mpsc_is_empty(&queue));
    pthread_barrier_destroy(&start);
    free(msgs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_queue_is_empty),
        cmocka_unit_test(test_fifo_single_thread),
        cmocka_unit_test(test_single_node_round_trips),
        cmocka_unit_test(test_interleaved_push_and_pop_keep_order),
        cmocka_unit_test(test_popped_nodes_can_be_pushed_again),
        cmocka_unit_test(test_pop_during_a_half_done_push),
        cmocka_unit_test(test_many_producers_lose_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
