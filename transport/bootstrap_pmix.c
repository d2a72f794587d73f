/*
 * transport/bootstrap_pmix.c - rank, size and the address exchange through
 * PMIx (served by `srun --mpi=pmix` and by Open MPI's mpirun): Put, Commit,
 * Fence with data collection, then one Get per rank.
 */
#include "transport/xport_int.h"

#include "base/log.h"

#include <pmix.h>
#include <stdlib.h>
#include <string.h>

#define XPORT_PMIX_KEY "rmpi.xport.boot"

bool xport_bootstrap_pmix_available(void)
{
    /* Set by every PMIx server for its clients; absent for a plain ./prog. */
    return getenv("PMIX_NAMESPACE") != NULL;
}

static rmpi_status_t xport_pmix_fail(const char *what, pmix_status_t rc)
{
    base_error("%s failed: %s", what, PMIx_Error_string(rc));
    return RMPI_ERR_TRANSPORT;
}

static rmpi_status_t xport_pmix_job_size(const pmix_proc_t *me, int *size_p)
{
    pmix_proc_t   job;
    pmix_value_t *val = NULL;
    pmix_status_t rc;

    PMIX_PROC_LOAD(&job, me->nspace, PMIX_RANK_WILDCARD);
    rc = PMIx_Get(&job, PMIX_JOB_SIZE, NULL, 0, &val);
    if (rc != PMIX_SUCCESS) {
        return xport_pmix_fail("PMIx_Get(PMIX_JOB_SIZE)", rc);
    }
    *size_p = (int)val->data.uint32;
    PMIX_VALUE_RELEASE(val);
    return RMPI_OK;
}

static rmpi_status_t xport_pmix_publish(const pmix_proc_t *me, const void *blob, size_t len)
{
    pmix_value_t  value;
    pmix_info_t   info;
    pmix_proc_t   job;
    bool          collect = true;
    pmix_status_t rc;

    value.type          = PMIX_BYTE_OBJECT;
    value.data.bo.bytes = (char *)blob;
    value.data.bo.size  = len;
    rc                  = PMIx_Put(PMIX_GLOBAL, XPORT_PMIX_KEY, &value);
    if (rc == PMIX_SUCCESS) {
        rc = PMIx_Commit();
    }
    if (rc != PMIX_SUCCESS) {
        return xport_pmix_fail("PMIx_Put/Commit", rc);
    }
    PMIX_PROC_LOAD(&job, me->nspace, PMIX_RANK_WILDCARD);
    PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    rc = PMIx_Fence(&job, 1, &info, 1);
    PMIX_INFO_DESTRUCT(&info);
    return rc == PMIX_SUCCESS ? RMPI_OK : xport_pmix_fail("PMIx_Fence", rc);
}

/* Fetch every rank's blob into one array of max-size slots. */
static rmpi_status_t xport_pmix_collect(const pmix_proc_t *me, int size, char **all_p,
                                        size_t *stride_p)
{
    pmix_value_t **vals   = calloc((size_t)size, sizeof(*vals));
    rmpi_status_t  status = vals ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    size_t         stride = 0;
    char          *all    = NULL;
    pmix_proc_t    peer;

    for (int r = 0; r < size && status == RMPI_OK; ++r) {
        pmix_status_t rc;

        PMIX_PROC_LOAD(&peer, me->nspace, (pmix_rank_t)r);
        rc = PMIx_Get(&peer, XPORT_PMIX_KEY, NULL, 0, &vals[r]);
        if (rc != PMIX_SUCCESS || vals[r]->type != PMIX_BYTE_OBJECT) {
            status = xport_pmix_fail("PMIx_Get(address)", rc);
        } else if (vals[r]->data.bo.size > stride) {
            stride = vals[r]->data.bo.size;
        }
    }
    stride = (stride + 7) & ~(size_t)7; /* keep every slot aligned */
    if (status == RMPI_OK) {
        all    = calloc((size_t)size, stride);
        status = all ? RMPI_OK : RMPI_ERR_NO_MEMORY;
    }
    for (int r = 0; vals != NULL && r < size; ++r) {
        if (vals[r] != NULL) {
            if (all != NULL) {
                memcpy(all + (size_t)r * stride, vals[r]->data.bo.bytes, vals[r]->data.bo.size);
            }
            PMIX_VALUE_RELEASE(vals[r]);
        }
    }
    free(vals);
    if (status == RMPI_OK) {
        *all_p    = all;
        *stride_p = stride;
    }
    return status;
}

rmpi_status_t xport_bootstrap_pmix(xport_ctx_h ctx, const void *blob, size_t len, char **all_p,
                                   size_t *stride_p)
{
    pmix_proc_t   me;
    pmix_status_t rc;
    rmpi_status_t status;

    rc = PMIx_Init(&me, NULL, 0);
    if (rc != PMIX_SUCCESS) {
        return xport_pmix_fail("PMIx_Init", rc);
    }
    ctx->rank = (int)me.rank;
    status    = xport_pmix_job_size(&me, &ctx->size);
    if (status == RMPI_OK) {
        status = xport_pmix_publish(&me, blob, len);
    }
    if (status == RMPI_OK) {
        status = xport_pmix_collect(&me, ctx->size, all_p, stride_p);
    }
    /* PMIx counts its users; the MPI library (if any) keeps its own reference. */
    PMIx_Finalize(NULL, 0);
    return status;
}
