/*
 * transport/bootstrap_mpi.c - rank, size and the address exchange with MPI
 * collectives, for launchers that serve no PMIx. MPI must be initialized.
 */
#include "transport/xport_int.h"

#include "base/log.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

bool xport_bootstrap_mpi_available(void)
{
    int initialized = 0, finalized = 0;

    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized && !finalized;
}

rmpi_status_t xport_bootstrap_mpi(xport_ctx_h ctx, const void *blob, size_t len, char **all_p,
                                  size_t *stride_p)
{
    unsigned long mine = len, stride = 0;
    char         *in, *all;
    int           rc;

    MPI_Comm_rank(MPI_COMM_WORLD, &ctx->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ctx->size);
    rc = MPI_Allreduce(&mine, &stride, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS || stride > INT32_MAX) {
        base_error("MPI_Allreduce of address sizes failed (rc %d)", rc);
        return RMPI_ERR_TRANSPORT;
    }
    stride = (stride + 7) & ~7ul; /* keep every slot aligned */
    in     = calloc(1, stride);
    all    = calloc((size_t)ctx->size, stride);
    if (in == NULL || all == NULL) {
        free(in), free(all);
        return RMPI_ERR_NO_MEMORY;
    }
    memcpy(in, blob, len);
    rc = MPI_Allgather(in, (int)stride, MPI_BYTE, all, (int)stride, MPI_BYTE, MPI_COMM_WORLD);
    free(in);
    if (rc != MPI_SUCCESS) {
        free(all);
        base_error("MPI_Allgather of worker addresses failed (rc %d)", rc);
        return RMPI_ERR_TRANSPORT;
    }
    *all_p    = all;
    *stride_p = stride;
    return RMPI_OK;
}
