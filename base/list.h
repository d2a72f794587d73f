/*
 * base/list.h - intrusive circular doubly-linked lists.
 *
 * Embed a base_list_t in each element; the list head is a base_list_t too.
 * Nothing here allocates. Thread safety: none; callers serialize access.
 */
#ifndef BASE_LIST_H_
#define BASE_LIST_H_

#include <stdbool.h>
#include <stddef.h>

typedef struct base_list {
    struct base_list *prev;
    struct base_list *next;
} base_list_t;

#define BASE_LIST_HEAD_INIT(_name) { &(_name), &(_name) }

/** The struct of type @a _type whose member @a _member is at @a _ptr. */
#define base_container_of(_ptr, _type, _member) \
    ((_type *)((char *)(_ptr) - offsetof(_type, _member)))

static inline void base_list_init(base_list_t *head)
{
    head->prev = head;
    head->next = head;
}

static inline bool base_list_is_empty(const base_list_t *head)
{
    return head->next == head;
}

static inline void base_list_insert_between_(base_list_t *elem, base_list_t *prev,
                                             base_list_t *next)
{
    elem->prev = prev;
    elem->next = next;
    prev->next = elem;
    next->prev = elem;
}

static inline void base_list_add_head(base_list_t *head, base_list_t *elem)
{
    base_list_insert_between_(elem, head, head->next);
}

static inline void base_list_add_tail(base_list_t *head, base_list_t *elem)
{
    base_list_insert_between_(elem, head->prev, head);
}

/** Unlink @a elem; it is left pointing at itself so a second del is harmless. */
static inline void base_list_del(base_list_t *elem)
{
    elem->prev->next = elem->next;
    elem->next->prev = elem->prev;
    base_list_init(elem);
}

/** Remove and return the first element, or NULL when empty. */
static inline base_list_t *base_list_pop_head(base_list_t *head)
{
    base_list_t *first = head->next;

    if (first == head) {
        return NULL;
    }
    base_list_del(first);
    return first;
}

static inline size_t base_list_length(const base_list_t *head)
{
    size_t n = 0;

    for (const base_list_t *it = head->next; it != head; it = it->next) {
        ++n;
    }
    return n;
}

/** Move every element of @a src to the tail of @a dst; @a src becomes empty. */
static inline void base_list_splice_tail(base_list_t *dst, base_list_t *src)
{
    if (base_list_is_empty(src)) {
        return;
    }
    src->next->prev = dst->prev;
    dst->prev->next = src->next;
    src->prev->next = dst;
    dst->prev       = src->prev;
    base_list_init(src);
}

#define base_list_first(_head, _type, _member) \
    base_container_of((_head)->next, _type, _member)

/** Iterate; the body may delete the current element (@a _tmp holds the next). */
#define base_list_for_each_safe(_it, _tmp, _head) \
    for ((_it) = (_head)->next, (_tmp) = (_it)->next; (_it) != (_head); \
         (_it) = (_tmp), (_tmp) = (_it)->next)

#define base_list_for_each(_it, _head) \
    for ((_it) = (_head)->next; (_it) != (_head); (_it) = (_it)->next)

#endif /* BASE_LIST_H_ */
