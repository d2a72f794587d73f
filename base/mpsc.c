/*
 * base/mpsc.c - Vyukov's intrusive MPSC queue.
 *
 * Nodes form a singly linked list from `tail` (oldest, consumer side) to
 * `head` (newest, producer side). A producer swaps itself in as the new head
 * and then links the old head to itself; between those two steps the list is
 * briefly cut, which is the one moment pop may see NULL on a non-empty queue.
 * The stub node keeps the list non-empty so that neither side ever has to
 * touch the other's pointer except through that exchange.
 *
 * Memory order: the exchange and the link store release the node's contents;
 * the consumer's acquire load of `next` makes them visible before it returns
 * the node.
 */
#include "base/mpsc.h"

#include <stddef.h>

void base_mpsc_init(base_mpsc_t *queue)
{
    queue->stub.next = NULL;
    queue->tail      = &queue->stub;
    __atomic_store_n(&queue->head, &queue->stub, __ATOMIC_RELEASE);
}

void base_mpsc_push(base_mpsc_t *queue, base_mpsc_node_t *node)
{
    base_mpsc_node_t *prev;

    __atomic_store_n(&node->next, NULL, __ATOMIC_RELAXED);
    prev = __atomic_exchange_n(&queue->head, node, __ATOMIC_ACQ_REL);
    __atomic_store_n(&prev->next, node, __ATOMIC_RELEASE);
}

base_mpsc_node_t *base_mpsc_pop(base_mpsc_t *queue)
{
    base_mpsc_node_t *tail = queue->tail;
    base_mpsc_node_t *next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);

    /* Step over the stub: it carries no data. */
    if (tail == &queue->stub) {
        if (next == NULL) {
            return NULL;
        }
        queue->tail = next;
        tail        = next;
        next        = __atomic_load_n(&next->next, __ATOMIC_ACQUIRE);
    }

    if (next != NULL) {
        queue->tail = next;
        return tail;
    }

    /* tail is the last linked node; a producer may be between its two steps. */
    if (tail != __atomic_load_n(&queue->head, __ATOMIC_ACQUIRE)) {
        return NULL;
    }

    /* tail is the newest node: put the stub behind it so tail can be handed out. */
    base_mpsc_push(queue, &queue->stub);
    next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);
    if (next != NULL) {
        queue->tail = next;
        return tail;
    }
    return NULL; /* another producer got in before the stub; it links up shortly */
}

bool base_mpsc_is_empty(const base_mpsc_t *queue)
{
    /*
     * Empty when the consumer sits on the stub, nothing is linked after it,
     * and no producer has swapped in a node since it was pushed.
     */
    return (queue->tail == &queue->stub) &&
           (__atomic_load_n(&queue->stub.next, __ATOMIC_ACQUIRE) == NULL) &&
           (__atomic_load_n(&queue->head, __ATOMIC_ACQUIRE) == &queue->stub);
}
