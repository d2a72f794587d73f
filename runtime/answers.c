/*
 * runtime/answers.c - tables of waits for location answers (answers.h).
 */
#include "runtime/answers.h"

#include <errno.h>
#include <math.h>
#include <time.h>

void rt_answers_init(rt_answers_t *answers)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&answers->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&answers->cond, &attr);
    pthread_condattr_destroy(&attr);
    base_list_init(&answers->waits);
    answers->next_cookie = 0;
    answers->closed      = false;
}

void rt_answers_destroy(rt_answers_t *answers)
{
    pthread_cond_destroy(&answers->cond);
    pthread_mutex_destroy(&answers->lock);
}

rmpi_status_t rt_answers_add(rt_answers_t *answers, rt_answer_wait_t *wait, int rank)
{
    rmpi_status_t status = RMPI_ERR_SHUTDOWN;

    *wait = (rt_answer_wait_t){.rank = rank};
    pthread_mutex_lock(&answers->lock);
    if (!answers->closed) {
        wait->cookie = ++answers->next_cookie;
        base_list_add_tail(&answers->waits, &wait->link);
        status = RMPI_OK;
    }
    pthread_mutex_unlock(&answers->lock);
    return status;
}

/* Sleep until signalled or @a deadline (base_time_sec() seconds; < 0: none); false: passed. */
static bool rt_answers_sleep_locked(rt_answers_t *answers, double deadline)
{
    struct timespec ts;
    double          whole;

    if (deadline < 0) {
        pthread_cond_wait(&answers->cond, &answers->lock);
        return true;
    }
    ts.tv_nsec = (long)(modf(deadline, &whole) * 1e9);
    ts.tv_sec  = (time_t)whole;
    return pthread_cond_timedwait(&answers->cond, &answers->lock, &ts) != ETIMEDOUT;
}

rmpi_status_t rt_answers_end(rt_answers_t *answers, rt_answer_wait_t *wait, rmpi_status_t status,
                             double deadline)
{
    pthread_mutex_lock(&answers->lock);
    while (status == RMPI_OK && !wait->done && rt_answers_sleep_locked(answers, deadline)) {
    }
    if (status == RMPI_OK) {
        status = wait->done ? wait->status : RMPI_ERR_TIMEOUT;
    }
    base_list_del(&wait->link);
    pthread_mutex_unlock(&answers->lock);
    return status;
}

void rt_answers_deliver(rt_answers_t *answers, int rank, const rt_loc_answer_t *msg)
{
    base_list_t *it;

    pthread_mutex_lock(&answers->lock);
    base_list_for_each (it, &answers->waits) {
        rt_answer_wait_t *wait = base_container_of(it, rt_answer_wait_t, link);

        if (wait->cookie == msg->cookie && wait->rank == rank && !wait->done) {
            wait->done   = true;
            wait->status = msg->status;
            wait->loc    = msg->loc;
            pthread_cond_broadcast(&answers->cond);
            break;
        }
    }
    pthread_mutex_unlock(&answers->lock);
}

static void rt_answers_fail_locked(rt_answers_t *answers, int rank, rmpi_status_t status)
{
    base_list_t *it;

    base_list_for_each (it, &answers->waits) {
        rt_answer_wait_t *wait = base_container_of(it, rt_answer_wait_t, link);

        if (!wait->done && (rank < 0 || wait->rank == rank)) {
            wait->done      = true;
            wait->status    = status;
            wait->rank_died = rank >= 0;
        }
    }
    pthread_cond_broadcast(&answers->cond);
}

void rt_answers_fail(rt_answers_t *answers, int rank, rmpi_status_t status)
{
    pthread_mutex_lock(&answers->lock);
    rt_answers_fail_locked(answers, rank, status);
    pthread_mutex_unlock(&answers->lock);
}

void rt_answers_close(rt_answers_t *answers)
{
    pthread_mutex_lock(&answers->lock);
    answers->closed = true;
    rt_answers_fail_locked(answers, -1, RMPI_ERR_SHUTDOWN);
    pthread_mutex_unlock(&answers->lock);
}
