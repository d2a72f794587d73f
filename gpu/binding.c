/*
 * gpu/binding.c - the GPUs Slurm bound to this process, for reports (the
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
