/*
 * runtime/answers.h - waiting for a location answer from another rank:
 * a reader asks a rank to do something for it (DEVOBJ_STAGE to a device
 * object's holder, NODE_PULL to its node's puller) and waits for the answer
 * (DEVOBJ_STAGED, NODE_PULLED) that carries the same cookie. The waits of one
 * protocol live in one table; an answer finds its wait by cookie and sender,
 * a rank's death fails the waits on it, shutdown fails them all, and a wait
 * ends by its deadline otherwise — never a hang.
 *
 * Thread safety: a table has its own mutex; waits live on the waiters'
 * stacks. Deliver and fail never block (AM handlers, the failure hook).
 */
#ifndef RUNTIME_ANSWERS_H_
#define RUNTIME_ANSWERS_H_

#include "base/list.h"
#include "runtime/msg.h"

#include <pthread.h>
#include <raympi.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct rt_answer_wait {
    base_list_t   link;
    uint64_t      cookie; /**< set by rt_answers_add */
    int           rank;   /**< who answers */
    bool          done;
    bool          rank_died; /**< ended by rt_answers_fail for its rank */
    rmpi_status_t status;
    rt_location_t loc; /**< on RMPI_OK */
} rt_answer_wait_t;

typedef struct rt_answers {
    pthread_mutex_t lock;
    pthread_cond_t  cond; /* CLOCK_MONOTONIC */
    base_list_t     waits;
    uint64_t        next_cookie;
    bool            closed;
} rt_answers_t;

void rt_answers_init(rt_answers_t *answers);
void rt_answers_destroy(rt_answers_t *answers);

/** List @a wait for an answer from @a rank (cookie assigned); RMPI_ERR_SHUTDOWN once closed. */
rmpi_status_t rt_answers_add(rt_answers_t *answers, rt_answer_wait_t *wait, int rank);
/**
 * Unlist @a wait after waiting, while @a status (how sending the request
 * went) is RMPI_OK, until it is answered or @a deadline (base_time_sec()
 * seconds; < 0: none) passes: the answer's status, RMPI_ERR_TIMEOUT, or @a status.
 */
rmpi_status_t rt_answers_end(rt_answers_t *answers, rt_answer_wait_t *wait, rmpi_status_t status,
                             double deadline);

/** The answer @a msg from @a rank: ends the wait with its cookie, if any. */
void rt_answers_deliver(rt_answers_t *answers, int rank, const rt_loc_answer_t *msg);
/** End the waits on @a rank (-1: every wait) with @a status. */
void rt_answers_fail(rt_answers_t *answers, int rank, rmpi_status_t status);
/** Fail every wait with RMPI_ERR_SHUTDOWN and refuse new ones. */
void rt_answers_close(rt_answers_t *answers);

#endif /* RUNTIME_ANSWERS_H_ */
