/*
 * runtime/rt_conf.c - the "runtime" config table (RAYMPI_RT_*, RAYMPI_TIMELINE).
 */
#include "runtime/rt_int.h"

#include "base/conf.h"
#include "base/log.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const base_config_field_t rt_conf_fields[] = {
    {"RT_NUM_CPUS", "0",
     "CPU slots of each rank for tasks (fractions allowed). 0 means SLURM_CPUS_PER_TASK "
     "in a Slurm step started with -c, else the number of hardware threads the rank is "
     "bound to.",
     BASE_CONFIG_DOUBLE, offsetof(rt_conf_t, num_cpus)},
    {"RT_NUM_GPUS", "-1",
     "GPUs each rank offers to tasks; -1 means every device visible to the rank "
     "(CUDA_VISIBLE_DEVICES, Slurm's binding).",
     BASE_CONFIG_INT, offsetof(rt_conf_t, num_gpus)},
    {"RT_RESOURCES", "",
     "Custom resources of each rank, as name:amount pairs separated by commas "
     "(e.g. \"fpga:1,license:4\"). Tasks ask for them by name.",
     BASE_CONFIG_STRING, offsetof(rt_conf_t, resources)},
    {"RT_INLINE_MAX", "8k",
     "Objects up to this size travel inside messages and live in their owner's "
     "table; larger ones live in the object store of the rank that made them.",
     BASE_CONFIG_SIZE, offsetof(rt_conf_t, inline_max)},
    {"RT_MAX_THREADS", "256",
     "Most executor threads per rank, counting tasks blocked in rmpi_get (each "
     "blocked task frees its CPU for another thread).",
     BASE_CONFIG_INT, offsetof(rt_conf_t, max_threads)},
    {"RT_SHUTDOWN_GRACE", "10s",
     "How long running tasks may go on after the driver calls rmpi_shutdown before "
     "the ranks exit anyway.",
     BASE_CONFIG_TIME, offsetof(rt_conf_t, shutdown_grace)},
    {"RT_STEAL", "yes", "Idle ranks steal queued tasks from busy ranks of their node.",
     BASE_CONFIG_BOOL, offsetof(rt_conf_t, steal)},
    {"RT_GPU_PIN_STORE", "yes",
     "On ranks with GPUs, page-lock the rank's object store (cuMemHostRegister) so "
     "device objects are copied to and from it at pinned-memory speed, with no "
     "staging copy. Costs locked memory the size of the store.",
     BASE_CONFIG_BOOL, offsetof(rt_conf_t, gpu_pin_store)},
    {"TIMELINE", "",
     "Write a Chrome trace (chrome://tracing, Perfetto) of task submission and "
     "execution on every rank and thread to this file at shutdown.",
     BASE_CONFIG_STRING, offsetof(rt_conf_t, timeline)},
    {NULL, NULL, NULL, BASE_CONFIG_STRING, 0},
};

static base_config_table_t rt_conf_table = {
    .name   = "runtime",
    .fields = rt_conf_fields,
    .size   = sizeof(rt_conf_t),
};

BASE_CONFIG_REGISTER(rt_conf_table)

rmpi_status_t rt_conf_load(const char *const *config, size_t num_config, rt_conf_t *conf)
{
    rmpi_status_t status = base_config_parse(&rt_conf_table, conf, NULL, config, num_config);

    if (status != RMPI_OK) {
        return status;
    }
    if (conf->num_cpus < 0 || !isfinite(conf->num_cpus) || conf->max_threads < 1 ||
        conf->shutdown_grace < 0) {
        base_error("runtime: RT_NUM_CPUS must be >= 0 and RT_MAX_THREADS >= 1");
        rt_conf_release(conf);
        return RMPI_ERR_CONFIG;
    }
    return RMPI_OK;
}

void rt_conf_release(rt_conf_t *conf)
{
    base_config_release(&rt_conf_table, conf);
}

static rmpi_status_t rt_conf_parse_pair(const char *pair, size_t len, char **name_p,
                                        double *amount_p)
{
    const char *colon = memchr(pair, ':', len);
    char        number[64], *end;
    size_t      name_len;

    if (colon == NULL || colon == pair || (size_t)(pair + len - colon - 1) >= sizeof(number)) {
        return RMPI_ERR_CONFIG;
    }
    name_len = (size_t)(colon - pair);
    if (name_len >= RMPI_RESOURCE_NAME_MAX) {
        return RMPI_ERR_CONFIG;
    }
    memcpy(number, colon + 1, (size_t)(pair + len - colon - 1));
    number[pair + len - colon - 1] = '\0';
    errno                          = 0;
    *amount_p                      = strtod(number, &end);
    if (errno != 0 || end == number || *end != '\0' || !(*amount_p >= 0) || isinf(*amount_p)) {
        return RMPI_ERR_CONFIG;
    }
    *name_p = strndup(pair, name_len);
    return *name_p != NULL ? RMPI_OK : RMPI_ERR_NO_MEMORY;
}

rmpi_status_t rt_conf_parse_resources(const char *text, char **names, double *amounts, size_t max,
                                      size_t *count_p)
{
    size_t count = 0;

    while (text != NULL && *text != '\0') {
        size_t        len = strcspn(text, ",");
        rmpi_status_t status;

        if (count == max) {
            base_error("runtime: RT_RESOURCES: more than %zu custom resources", max);
            goto fail;
        }
        status = rt_conf_parse_pair(text, len, &names[count], &amounts[count]);
        if (status != RMPI_OK) {
            base_error("runtime: RT_RESOURCES: '%.*s' is not name:amount (amount >= 0, "
                       "name under %d bytes)",
                       (int)len, text, RMPI_RESOURCE_NAME_MAX);
            goto fail;
        }
        ++count;
        text += len + (text[len] == ',');
    }
    *count_p = count;
    return RMPI_OK;
fail:
    while (count > 0) {
        free(names[--count]);
    }
    return RMPI_ERR_CONFIG;
}
