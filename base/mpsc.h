/*
 * base/mpsc.h - an intrusive lock-free multi-producer single-consumer queue.
 *
 * Executor threads push work to the progress thread through this queue without
 * a lock (Vyukov's node-based MPSC design): push is one atomic exchange and
 * is wait-free; pop is lock-free and runs on the single consumer thread.
 * FIFO order holds per producer. The queue has no wake-up of its own: a
 * producer that must wake the consumer signals it separately (transport/).
 *
 * Thread safety: base_mpsc_push from any number of threads at once;
 * base_mpsc_pop and base_mpsc_is_empty from one consumer thread at a time.
 */
#ifndef BASE_MPSC_H_
#define BASE_MPSC_H_

#include <stdbool.h>

typedef struct base_mpsc_node {
    struct base_mpsc_node *next;
} base_mpsc_node_t;

typedef struct base_mpsc {
    base_mpsc_node_t *head; /**< producers exchange here (atomic) */
    char              pad_[64 - sizeof(void *)];
    base_mpsc_node_t *tail; /**< consumer side */
    base_mpsc_node_t  stub;
} base_mpsc_t;

void base_mpsc_init(base_mpsc_t *queue);
/** Enqueue @a node (owned by the queue until popped). */
void base_mpsc_push(base_mpsc_t *queue, base_mpsc_node_t *node);
/**
 * Dequeue the oldest node, or NULL when empty. May also return NULL for an
 * instant while a producer is between its two steps; the consumer then
 * retries on its next pass (the producer's wake-up follows its push).
 */
base_mpsc_node_t *base_mpsc_pop(base_mpsc_t *queue);
bool base_mpsc_is_empty(const base_mpsc_t *queue);

#endif /* BASE_MPSC_H_ */
