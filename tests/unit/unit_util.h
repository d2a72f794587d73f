/*
 * tests/unit/unit_util.h - small helpers shared by the cmocka unit tests.
 * Include after <cmocka.h>: failures are reported with cmocka's asserts.
 */
#ifndef TESTS_UNIT_UTIL_H_
#define TESTS_UNIT_UTIL_H_

#include <stdio.h>
#include <stdlib.h>

/** The whole file at @a path as a NUL-terminated string (caller frees). */
static inline char *unit_read_file(const char *path)
{
    FILE *file = fopen(path, "r");
    char *text;
    long  size;

    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    size = ftell(file);
    rewind(file);
    text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, file), (size_t)size);
    text[size] = '\0';
    fclose(file);
    return text;
}

#endif /* TESTS_UNIT_UTIL_H_ */
