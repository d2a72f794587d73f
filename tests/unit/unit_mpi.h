/*
 * tests/unit/unit_mpi.h - include once (in the file with main) in a unit test
 * that starts MPI.
 *
 * Open MPI 4.1 leaks from plugins it dlopens, which LeakSanitizer cannot name,
 * so no suppression can match them. The sanitizer runtime reads this hook at
 * start-up (sanitized builds only); every other ASan/UBSan check stays on, and
 * valgrind still checks these tests for leaks of our own.
 */
#ifndef TESTS_UNIT_MPI_H_
#define TESTS_UNIT_MPI_H_

const char *__asan_default_options(void) __attribute__((visibility("default")));
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

#endif /* TESTS_UNIT_MPI_H_ */
