/*
 * runtime/pg_comm.c - rmpi_pg_comm (include/raympi/mpi.h): an MPI communicator
 * over the ranks of a placement group, for gangs of tasks.
 *
 * MPI_Comm_create_group is collective over the new group only, so the gang
 * needs no help from ranks outside it. Its tag comes from the group's ID, so
 * that gangs of different groups creating communicators at the same time on
 * overlapping ranks (threads of one process included) do not match each other.
 */
#include "runtime/pg_int.h"
#include "runtime/rt_int.h"

#include "base/log.h"

#include <mpi.h>
#include <raympi/mpi.h>
#include <stdlib.h>

/* MPI guarantees tags up to 32767 (MPI_TAG_UB is at least that). */
#define PG_COMM_TAG_RANGE 32768

static rmpi_status_t pg_comm_create(const int *ranks, size_t n, int tag, MPI_Comm *comm_p)
{
    MPI_Group world, gang;
    int       rc;

    if (MPI_Comm_group(MPI_COMM_WORLD, &world) != MPI_SUCCESS) {
        return RMPI_ERR_TRANSPORT;
    }
    rc = MPI_Group_incl(world, (int)n, ranks, &gang);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_create_group(MPI_COMM_WORLD, gang, tag, comm_p);
        MPI_Group_free(&gang);
    }
    MPI_Group_free(&world);
    return rc == MPI_SUCCESS ? RMPI_OK : RMPI_ERR_TRANSPORT;
}

static const char *pg_comm_why(rmpi_status_t status)
{
    switch (status) {
    case RMPI_ERR_NOT_READY:
        return "the placement group is not placed yet (rmpi_pg_wait for it first)";
    case RMPI_ERR_NOT_FOUND:
        return "no such placement group";
    case RMPI_ERR_INVALID_ARG:
        return "no communicator to write";
    default:
        return rmpi_status_str(status);
    }
}

static rmpi_status_t pg_comm_check_mpi(void)
{
    int inited = 0, finalized = 0, world_rank = -1;

    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized) {
        base_error("rmpi_pg_comm: MPI is not initialized");
        return RMPI_ERR_NOT_READY;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    if (world_rank != rt.rank) {
        base_error("rmpi_pg_comm: MPI_COMM_WORLD rank %d is runtime rank %d: the job was not "
                   "started as one MPI job",
                   world_rank, rt.rank);
        return RMPI_ERR_MISMATCH;
    }
    return RMPI_OK;
}

rmpi_status_t rmpi_pg_comm(rmpi_pg_t pg, MPI_Comm *comm_p)
{
    int          *ranks = malloc(RMPI_PG_MAX_BUNDLES * sizeof(*ranks));
    size_t        n     = 0;
    bool          mine  = false;
    MPI_Comm      comm;
    rmpi_status_t status;

    if (ranks == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    status =
        comm_p != NULL ? rt_pg_gang(&pg, ranks, RMPI_PG_MAX_BUNDLES, &n) : RMPI_ERR_INVALID_ARG;
    for (size_t i = 0; i < n && status == RMPI_OK; ++i) {
        mine = mine || ranks[i] == rt.rank;
    }
    if (status == RMPI_OK && !mine) {
        base_error("rmpi_pg_comm: rank %d holds no bundle of the placement group", rt.rank);
        status = RMPI_ERR_INVALID_ARG;
    } else if (status != RMPI_OK) {
        base_error("rmpi_pg_comm: %s", pg_comm_why(status));
    }
    if (status == RMPI_OK) {
        status = pg_comm_check_mpi();
    }
    if (status == RMPI_OK) {
        int tag = (int)(rt_pg_id_hash(&pg) % PG_COMM_TAG_RANGE);

        status = pg_comm_create(ranks, n, tag, &comm);
        if (status != RMPI_OK) {
            base_error("rmpi_pg_comm: MPI_Comm_create_group over %zu ranks failed", n);
        }
    }
    free(ranks);
    if (status == RMPI_OK) {
        *comm_p = comm;
    }
    return status;
}
