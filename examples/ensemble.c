/*
 * examples/ensemble.c - ask three models at once: the answer takes as long as the
 * slowest model, not as long as all three.
 *
 *     RAYMPI_RT_NUM_CPUS=4 ray-mpi -n 2 ./ensemble
 *
 * Three "models" score the same input: each is a call of model_predict with its
 * own weights and its own latency (100, 200 and 300 ms, a sleep standing for
 * inference). The driver submits all three, gets the three scores and averages
 * them. The latency of the ensemble is about the slowest model's; the models one
 * after another would take the sum. The job needs three CPU slots. The last line:
 *
 *     RESULT models=3 latency_s=0.302 slowest_s=0.300 sum_s=0.600 prediction=0.123456 ok
 */
#include <errno.h>
#include <math.h>
#include <raympi.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ENSEMBLE_FEATURES 4
#define ENSEMBLE_MODELS 3

/* A model: linear weights over the features and how long it takes to answer. */
typedef struct ensemble_model {
    uint32_t latency_ms;
    double   weights[ENSEMBLE_FEATURES];
} ensemble_model_t;

static const ensemble_model_t ensemble_models[ENSEMBLE_MODELS] = {
    {100, {0.5, -0.25, 0.125, 1.0}},
    {200, {0.25, 0.5, -1.0, 0.75}},
    {300, {-0.5, 1.0, 0.25, 0.5}},
};

static void ensemble_sleep_ms(uint32_t ms)
{
    struct timespec left = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* The model's score of @a features: tanh of the weighted sum. */
static double ensemble_score(const ensemble_model_t *model, const double *features)
{
    double sum = 0;

    for (int i = 0; i < ENSEMBLE_FEATURES; i++) {
        sum += model->weights[i] * features[i];
    }
    return tanh(sum);
}

/* model_predict(ensemble_model_t model, float64[4] features) -> float64 score */
RMPI_REMOTE(model_predict)
{
    ensemble_model_t model;
    double           features[ENSEMBLE_FEATURES], score;

    if (nargs != 2 || args[0].size != sizeof(model) || args[1].size != sizeof(features)) {
        rmpi_task_error(ctx, "model_predict expects a model and %d float64 features",
                        ENSEMBLE_FEATURES);
        return RMPI_ERR_INVALID_ARG;
    }
    memcpy(&model, args[0].data, sizeof(model));
    memcpy(features, args[1].data, sizeof(features));
    ensemble_sleep_ms(model.latency_ms); /* the "inference" */
    score = ensemble_score(&model, features);
    return rmpi_return(ctx, 0, &score, sizeof(score));
}

static double ensemble_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ensemble_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "ensemble: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* Score @a features with every model in parallel into @a scores. */
static int ensemble_predict(const double *features, double *scores)
{
    rmpi_ref_t    refs[ENSEMBLE_MODELS];
    rmpi_object_t objs[ENSEMBLE_MODELS];
    rmpi_status_t status = RMPI_OK;
    int           submitted, ok = 1;

    for (submitted = 0; submitted < ENSEMBLE_MODELS; submitted++) {
        const ensemble_model_t *model   = &ensemble_models[submitted];
        size_t                  size    = ENSEMBLE_FEATURES * sizeof(double);
        rmpi_task_arg_t         args[2] = {rmpi_arg_value(model, sizeof(*model)),
                                           rmpi_arg_value(features, size)};

        status = rmpi_submit("model_predict", args, 2, NULL, &refs[submitted]);
        if (status != RMPI_OK) {
            break;
        }
    }
    if (status == RMPI_OK) {
        status = rmpi_get(refs, ENSEMBLE_MODELS, -1.0, objs);
    }
    for (int i = 0; i < submitted; i++) {
        rmpi_ref_free(refs[i]);
    }
    if (status != RMPI_OK) {
        return ensemble_fail("predict", status);
    }
    for (int i = 0; i < ENSEMBLE_MODELS; i++) {
        ok &= objs[i].size == sizeof(scores[i]);
        if (objs[i].size == sizeof(scores[i])) {
            memcpy(&scores[i], objs[i].data, sizeof(scores[i]));
        }
        rmpi_object_release(&objs[i]);
    }
    return ok ? 0 : ensemble_fail("a score has the wrong size", RMPI_ERR_MESSAGE);
}

static int ensemble_run(void)
{
    static const double features[ENSEMBLE_FEATURES] = {0.3, -1.2, 0.8, 0.5};
    double              scores[ENSEMBLE_MODELS], t0 = ensemble_now(), latency;
    double              prediction = 0, expected = 0, slowest = 0, sum = 0;
    int                 rc, ok = 1;

    rc      = ensemble_predict(features, scores);
    latency = ensemble_now() - t0;
    if (rc != 0) {
        return rc;
    }
    for (int i = 0; i < ENSEMBLE_MODELS; i++) {
        double model_s = ensemble_models[i].latency_ms / 1000.0;

        printf("model %d (%3u ms): score %+.6f\n", i, ensemble_models[i].latency_ms, scores[i]);
        /* the same code on another rank: equal but for another libm's last bit */
        ok &= fabs(scores[i] - ensemble_score(&ensemble_models[i], features)) < 1e-12;
        prediction += scores[i] / ENSEMBLE_MODELS;
        expected += ensemble_score(&ensemble_models[i], features) / ENSEMBLE_MODELS;
        slowest = model_s > slowest ? model_s : slowest;
        sum += model_s;
    }
    ok &= fabs(prediction - expected) < 1e-12;
    printf("ensemble prediction %+.6f in %.3f s (slowest model %.3f s, all in a row %.3f s)\n",
           prediction, latency, slowest, sum);
    printf("RESULT models=%d latency_s=%.3f slowest_s=%.3f sum_s=%.3f prediction=%.6f %s\n",
           ENSEMBLE_MODELS, latency, slowest, sum, prediction, ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    rmpi_status_t status;
    int           rc;

    if (argc > 1) {
        fprintf(stderr, "usage: %s\n", argv[0]);
        return 2;
    }
    status = rmpi_init(&argc, &argv, NULL); /* worker ranks serve tasks in here */
    if (status != RMPI_OK) {
        return ensemble_fail("init", status);
    }
    rc     = ensemble_run();
    status = rmpi_shutdown();
    if (status != RMPI_OK) {
        rc = ensemble_fail("shutdown", status);
    }
    return rc;
}
