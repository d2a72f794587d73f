/*
 * gpu/binding.c - the GPUs Slurm gave this process: for reports, and this
 * task's share of a step's GPUs when Slurm did not bind them per task (the
 * driver itself honours CUDA_VISIBLE_DEVICES). Built with and without CUDA.
 */
#include "gpu/gpu.h"

#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse one "a" or "a-b" item of a Slurm ID list; false when malformed. */
static bool gpu_slurm_item(const char *item, long *first_p, long *last_p)
{
    char *end;

    errno    = 0;
    *first_p = strtol(item, &end, 10);
    *last_p  = *first_p;
    if ((end == item) || (errno != 0) || (*first_p < 0)) {
        return false;
    }
    if (*end == '-') {
        const char *second = end + 1;

        *last_p = strtol(second, &end, 10);
        if ((end == second) || (errno != 0) || (*last_p < *first_p)) {
            return false;
        }
    }
    return *end == '\0';
}

rmpi_status_t gpu_slurm_gpus(int *ids, size_t max, size_t *count_p)
{
    const char *value = getenv("SLURM_STEP_GPUS");
    char        list[256], *save = NULL;
    size_t      count = 0;

    if ((value == NULL) || (value[0] == '\0')) {
        value = getenv("SLURM_JOB_GPUS");
    }
    if ((value == NULL) || (value[0] == '\0')) {
        return RMPI_ERR_NOT_FOUND;
    }
    if (strlen(value) >= sizeof(list)) {
        base_warn("Slurm GPU list too long to report: '%.32s...'", value);
        return RMPI_ERR_CONFIG;
    }
    strcpy(list, value);
    for (char *item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        long first, last;

        if (!gpu_slurm_item(item, &first, &last) || (last - first > 4096)) {
            base_warn("malformed Slurm GPU list '%s'", value);
            return RMPI_ERR_CONFIG;
        }
        for (long id = first; id <= last; ++id, ++count) {
            if (count < max) {
                ids[count] = (int)id;
            }
        }
    }
    *count_p = (count < max) ? count : max;
    return RMPI_OK;
}

void gpu_binding_describe(char *buf, size_t len)
{
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    int         ids[64];
    size_t      count = 0, used;

    used = (size_t)snprintf(buf, len, "%d device(s), CUDA_VISIBLE_DEVICES=%s", gpu_device_count(),
                            visible ? visible : "(unset)");
    if ((gpu_slurm_gpus(ids, 64, &count) == RMPI_OK) && (used < len)) {
        used += (size_t)snprintf(buf + used, len - used, ", Slurm GPUs");
        for (size_t i = 0; (i < count) && (used < len); ++i) {
            used += (size_t)snprintf(buf + used, len - used, "%c%d", i ? ',' : ' ', ids[i]);
        }
    }
}

/* Number of items of a comma-separated list ("" has none). */
static unsigned gpu_list_count(const char *list)
{
    unsigned n = list[0] != '\0';

    for (const char *p = list; *p != '\0'; ++p) {
        n += *p == ',';
    }
    return n;
}

rmpi_status_t gpu_slurm_share(const char *visible, unsigned local_id, unsigned local_tasks,
                              char *out, size_t len)
{
    unsigned    count = visible != NULL ? gpu_list_count(visible) : 0;
    unsigned    per, first, index = 0;
    size_t      used = 0;
    const char *item = visible;

    if (count == 0 || local_tasks <= 1 || local_id >= local_tasks) {
        return RMPI_ERR_NOT_FOUND;
    }
    if (count % local_tasks != 0) {
        return RMPI_ERR_UNSUPPORTED;
    }
    per   = count / local_tasks;
    first = local_id * per;
    for (; index < first + per; ++index) {
        size_t item_len = strcspn(item, ",");

        if (index >= first) {
            if (used + item_len + 2 > len) {
                return RMPI_ERR_TRUNCATED;
            }
            used += (size_t)snprintf(out + used, len - used, "%s%.*s", used ? "," : "",
                                     (int)item_len, item);
        }
        item += item_len + (item[item_len] == ',');
    }
    return RMPI_OK;
}

rmpi_status_t gpu_slurm_tasks_on_node(const char *tasks_per_node, unsigned node_id,
                                      unsigned *tasks_p)
{
    const char *p = tasks_per_node;

    while (p != NULL && *p != '\0') {
        char         *end;
        unsigned long tasks = strtoul(p, &end, 10), repeat = 1;

        if (end == p) {
            return RMPI_ERR_CONFIG;
        }
        if (strncmp(end, "(x", 2) == 0) { /* "2(x3)": 2 tasks on each of 3 nodes */
            const char *r = end + 2;

            repeat = strtoul(r, &end, 10);
            if (end == r || *end != ')' || repeat == 0) {
                return RMPI_ERR_CONFIG;
            }
            end++;
        }
        if (node_id < repeat) {
            *tasks_p = (unsigned)tasks;
            return RMPI_OK;
        }
        node_id -= (unsigned)repeat;
        if (*end != ',' && *end != '\0') {
            return RMPI_ERR_CONFIG;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return RMPI_ERR_NOT_FOUND;
}

static bool gpu_env_set(const char *name)
{
    const char *value = getenv(name);

    return value != NULL && value[0] != '\0';
}

static unsigned gpu_env_uint(const char *name, bool *ok)
{
    const char   *value = getenv(name);
    char         *end;
    unsigned long n;

    if (value == NULL || value[0] == '\0') {
        *ok = false;
        return 0;
    }
    errno = 0;
    n     = strtoul(value, &end, 10);
    *ok   = *ok && errno == 0 && *end == '\0' && n <= 1u << 20;
    return (unsigned)n;
}

/*
 * Which step this is: Slurm gave it GPUs (SLURM_STEP_GPUS) but bound none per
 * task (no --gpus-per-task, no --gpu-bind), so every task on the node sees the
 * same CUDA_VISIBLE_DEVICES: the whole list. Then each rank would count (and
 * use) every device of the node.
 */
static bool gpu_slurm_unbound_step(const char *visible)
{
    int    ids[64];
    size_t count = 0;

    return gpu_env_set("SLURM_STEP_ID") && visible != NULL && visible[0] != '\0' &&
           !gpu_env_set("SLURM_GPUS_PER_TASK") && !gpu_env_set("SLURM_GPU_BIND") &&
           gpu_env_set("SLURM_STEP_GPUS") && gpu_slurm_gpus(ids, 64, &count) == RMPI_OK &&
           count == gpu_list_count(visible);
}

void gpu_slurm_bind(void)
{
    const char   *visible = getenv("CUDA_VISIBLE_DEVICES");
    char          share[256];
    unsigned      local_tasks = 0;
    bool          ok          = true;
    unsigned      local_id    = gpu_env_uint("SLURM_LOCALID", &ok);
    unsigned      node_id     = gpu_env_uint("SLURM_NODEID", &ok);
    rmpi_status_t status;

    if (!ok || !gpu_slurm_unbound_step(visible) ||
        gpu_slurm_tasks_on_node(getenv("SLURM_STEP_TASKS_PER_NODE"), node_id, &local_tasks) !=
            RMPI_OK) {
        return;
    }
    status = gpu_slurm_share(visible, local_id, local_tasks, share, sizeof(share));
    if (status == RMPI_ERR_UNSUPPORTED) {
        base_warn("gpu: the step's %u GPU(s) do not divide among its %u task(s) on this node; "
                  "every task sees them all (use --gpus-per-task)",
                  gpu_list_count(visible), local_tasks);
    } else if (status == RMPI_OK) {
        base_info("gpu: Slurm task %u of %u on this node takes GPU(s) %s of %s", local_id,
                  local_tasks, share, visible);
        setenv("CUDA_VISIBLE_DEVICES", share, 1);
    }
}
