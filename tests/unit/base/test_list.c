/*
 * Unit tests of base/list.h: intrusive circular doubly-linked lists.
 */
#include "base/list.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

typedef struct item {
    int         value;
    base_list_t link;
} item_t;

static void items_init(item_t *items, int count)
{
    for (int i = 0; i < count; ++i) {
        items[i].value = i;
    }
}

/* Assert that @a head holds exactly @a expected, in order, both ways round. */
static void assert_list_equals(const base_list_t *head, const int *expected, int count)
{
    const base_list_t *it;
    int                i = 0;

    base_list_for_each(it, head)
    {
        assert_true(i < count);
        assert_int_equal(base_container_of(it, item_t, link)->value, expected[i]);
        assert_ptr_equal(it->next->prev, it);
        ++i;
    }
    assert_int_equal(i, count);

    for (it = head->prev; it != head; it = it->prev) {
        --i;
        assert_int_equal(base_container_of(it, item_t, link)->value, expected[i]);
    }
    assert_int_equal(i, 0);
    assert_int_equal(base_list_length(head), (size_t)count);
}

static void test_empty_list(void **state)
{
    base_list_t head = BASE_LIST_HEAD_INIT(head);
    base_list_t other;

    base_list_init(&other);
    assert_true(base_list_is_empty(&head));
    assert_true(base_list_is_empty(&other));
    assert_int_equal(base_list_length(&head), 0);
    assert_null(base_list_pop_head(&head));
    assert_true(base_list_is_empty(&head));
}

static void test_add_head_and_tail_order(void **state)
{
    static const int expected[] = {2, 1, 0, 3, 4};
    base_list_t      head;
    item_t           items[5];

    items_init(items, 5);
    base_list_init(&head);
    base_list_add_head(&head, &items[0].link);
    base_list_add_head(&head, &items[1].link);
    base_list_add_head(&head, &items[2].link);
    base_list_add_tail(&head, &items[3].link);
    base_list_add_tail(&head, &items[4].link);

    assert_false(base_list_is_empty(&head));
    assert_list_equals(&head, expected, 5);
    assert_int_equal(base_list_first(&head, item_t, link)->value, 2);
}

static void test_pop_head_is_fifo_with_add_tail(void **state)
{
    base_list_t head;
    item_t      items[8];

    items_init(items, 8);
    base_list_init(&head);
    for (int i = 0; i < 8; ++i) {
        base_list_add_tail(&head, &items[i].link);
    }
    for (int i = 0; i < 8; ++i) {
        base_list_t *elem = base_list_pop_head(&head);

        assert_non_null(elem);
        assert_int_equal(base_container_of(elem, item_t, link)->value, i);
        /* A popped element points at itself, so it reads as an empty list. */
        assert_true(base_list_is_empty(elem));
        assert_int_equal(base_list_length(&head), (size_t)(7 - i));
    }
    assert_null(base_list_pop_head(&head));
}

static void test_del_first_middle_last_and_twice(void **state)
{
    static const int after_middle[] = {0, 1, 3, 4};
    static const int after_ends[]   = {1, 3};
    base_list_t      head;
    item_t           items[5];

    items_init(items, 5);
    base_list_init(&head);
    for (int i = 0; i < 5; ++i) {
        base_list_add_tail(&head, &items[i].link);
    }

    base_list_del(&items[2].link);
    assert_list_equals(&head, after_middle, 4);

    base_list_del(&items[0].link);
    base_list_del(&items[4].link);
    assert_list_equals(&head, after_ends, 2);

    /* A second del of an unlinked element must not disturb the list. */
    base_list_del(&items[2].link);
    base_list_del(&items[0].link);
    assert_list_equals(&head, after_ends, 2);

    base_list_del(&items[1].link);
    base_list_del(&items[3].link);
    assert_true(base_list_is_empty(&head));
}

static void test_splice_tail(void **state)
{
    static const int joined[] = {0, 1, 2, 3, 4, 5};
    base_list_t      dst, src;
    item_t           items[6];

    items_init(items, 6);
    base_list_init(&dst);
    base_list_init(&src);
    for (int i = 0; i < 3; ++i) {
        base_list_add_tail(&dst, &items[i].link);
        base_list_add_tail(&src, &items[i + 3].link);
    }

    base_list_splice_tail(&dst, &src);
    assert_true(base_list_is_empty(&src));
    assert_list_equals(&dst, joined, 6);

    /* Splicing an empty list is a no-op. */
    base_list_splice_tail(&dst, &src);
    assert_list_equals(&dst, joined, 6);
    assert_true(base_list_is_empty(&src));
}

static void test_splice_into_empty(void **state)
{
    static const int moved[] = {0, 1, 2};
    base_list_t      dst, src;
    item_t           items[3];
    item_t           extra = {.value = 9};

    items_init(items, 3);
    base_list_init(&dst);
    base_list_init(&src);
    for (int i = 0; i < 3; ++i) {
        base_list_add_tail(&src, &items[i].link);
    }

    base_list_splice_tail(&dst, &src);
    assert_list_equals(&dst, moved, 3);
    assert_true(base_list_is_empty(&src));

    /* The emptied source is a valid list head again. */
    base_list_add_tail(&src, &extra.link);
    assert_int_equal(base_list_length(&src), 1);
    assert_ptr_equal(base_list_first(&src, item_t, link), &extra);
    assert_list_equals(&dst, moved, 3);
}

static void test_for_each_safe_deletes_evens(void **state)
{
    static const int odds[] = {1, 3, 5, 7, 9};
    base_list_t      head, *it, *tmp;
    item_t           items[10];
    int              visited = 0;

    items_init(items, 10);
    base_list_init(&head);
    for (int i = 0; i < 10; ++i) {
        base_list_add_tail(&head, &items[i].link);
    }

    base_list_for_each_safe(it, tmp, &head)
    {
        ++visited;
        if (base_container_of(it, item_t, link)->value % 2 == 0) {
            base_list_del(it);
        }
    }
    assert_int_equal(visited, 10);
    assert_list_equals(&head, odds, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_list),
        cmocka_unit_test(test_add_head_and_tail_order),
        cmocka_unit_test(test_pop_head_is_fifo_with_add_tail),
        cmocka_unit_test(test_del_first_middle_last_and_twice),
        cmocka_unit_test(test_splice_tail),
        cmocka_unit_test(test_splice_into_empty),
        cmocka_unit_test(test_for_each_safe_deletes_evens),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
