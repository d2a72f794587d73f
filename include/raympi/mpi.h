/**
 * @file raympi/mpi.h
 * @brief MPI communicators for gangs of tasks in a placement group.
 *
 * A separate header because it includes <mpi.h>: <raympi.h> does not, so
 * programs that never touch MPI need no MPI headers. Build with the MPI the
 * library was built with (its mpicc, or its compile and link flags).
 *
 * Threading: rmpi_init initializes MPI with MPI_THREAD_MULTIPLE (or checks
 * that the program did), and executor threads may call MPI concurrently:
 * tasks on one rank run on several threads at once. MPI_COMM_WORLD's ranks
 * are the runtime's ranks (rmpi_rank()).
 */
#ifndef RAYMPI_MPI_H_
#define RAYMPI_MPI_H_

#include <mpi.h>
#include <raympi.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A new communicator over the distinct ranks holding @a pg's bundles, ordered
 * by their first bundle (the rank of bundle 0 is rank 0 of the communicator),
 * made with MPI_Comm_create_group over MPI_COMM_WORLD with a tag derived from
 * the group's ID. Collective over those ranks: one caller on each of them -
 * typically a gang of tasks, one pinned to each bundle (on distinct ranks),
 * all running at once. The caller owns the communicator (MPI_Comm_free).
 *
 * RMPI_ERR_NOT_READY when the group is not placed yet (rmpi_pg_wait first),
 * RMPI_ERR_INVALID_ARG when the calling rank holds none of its bundles,
 * RMPI_ERR_NOT_FOUND for a removed group, RMPI_ERR_TRANSPORT when MPI fails.
 */
RMPI_API rmpi_status_t rmpi_pg_comm(rmpi_pg_t pg, MPI_Comm *comm_p);

#ifdef __cplusplus
}
#endif

#endif /* RAYMPI_MPI_H_ */
