/*
 * tests/integration/rt_gpu_env.c - the CUDA_VISIBLE_DEVICES each rank ended up
 * with after rmpi_init (gpu_slurm_bind narrows it in a Slurm step whose GPUs
 * were not bound per task). Needs no GPU: it only reads the environment.
 *
 *   srun -n N ray-mpi rt_gpu_env
 *
 * Prints "RESULT rank0=LIST rank1=LIST ... ok" ("-" for unset).
 */
#include <raympi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

RMPI_REMOTE(visible_devices)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");

    (void)args, (void)nargs;
    if (cvd == NULL) {
        cvd = "-";
    }
    return rmpi_return(ctx, 0, cvd, strlen(cvd) + 1);
}

int main(int argc, char **argv)
{
    int ok = 1;

    if (rmpi_init(&argc, &argv, NULL) != RMPI_OK) {
        return 1;
    }
    printf("RESULT");
    for (int r = 0; r < rmpi_size(); ++r) {
        rmpi_task_options_t opts = {.field_mask    = RMPI_TASK_OPT_STRATEGY,
                                    .strategy      = RMPI_SCHED_RANK_AFFINITY,
                                    .affinity_rank = r};
        rmpi_object_t       obj;
        rmpi_ref_t          ref;

        if (rmpi_submit("visible_devices", NULL, 0, &opts, &ref) != RMPI_OK ||
            rmpi_get(&ref, 1, 60, &obj) != RMPI_OK) {
            ok = 0;
            continue;
        }
        if (obj.status == RMPI_OK && obj.size > 0 && ((const char *)obj.data)[obj.size - 1] == 0) {
            printf(" rank%d=%s", r, (const char *)obj.data);
        } else {
            ok = 0;
        }
        rmpi_object_release(&obj);
        rmpi_ref_free(ref);
    }
    printf(" %s\n", ok ? "ok" : "FAILED");
    rmpi_shutdown();
    return ok ? 0 : 1;
}
