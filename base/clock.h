/*
 * base/clock.h - monotonic clock helpers. Thread safety: all reentrant.
 */
#ifndef BASE_CLOCK_H_
#define BASE_CLOCK_H_

#include <stdint.h>
#include <time.h>

/** Monotonic time in nanoseconds. */
static inline uint64_t base_time_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** Monotonic time in seconds. */
static inline double base_time_sec(void)
{
    return (double)base_time_ns() * 1e-9;
}

#endif /* BASE_CLOCK_H_ */
