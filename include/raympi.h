/**
 * @file raympi.h
 * @brief ray-mpi: Ray's programming model (tasks, actors, futures, objects) on MPI ranks.
 *
 * Conventions (see docs/api-conventions.md):
 *  - Every function that can fail returns rmpi_status_t; outputs go through
 *    pointer arguments (last, suffix _p) and are written only on RMPI_OK.
 *  - Option structs start with `uint64_t field_mask`; a field is read only when
 *    its bit is set, so fields can be added without breaking callers.
 *  - No function aborts the process on bad input: it returns an error and logs
 *    where the error was first seen.
 *
 * Thread safety: rmpi_status_str() and rmpi_version() are safe from any thread.
 */
#ifndef RAYMPI_H_
#define RAYMPI_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <raympi/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RMPI_API __attribute__((visibility("default")))
#else
#define RMPI_API
#endif

/** Bit @a n of a field mask. Bits are never renumbered once published. */
#define RMPI_BIT(n) (1ull << (n))

/**
 * Status codes. RMPI_OK is 0, RMPI_INPROGRESS is positive, errors are
 * negative and grouped by what the caller has lost: nothing but the call
 * (argument errors), a task, an actor, an object, a node, or the job.
 * Values are part of the ABI and are never renumbered.
 */
typedef enum rmpi_status {
    RMPI_OK         = 0,
    RMPI_INPROGRESS = 1, /**< operation started, completes later */

    /* The call failed; nothing else is affected. [-1, -19] */
    RMPI_ERR_INVALID_ARG   = -1,  /**< bad argument (null, size, range) */
    RMPI_ERR_NO_MEMORY     = -2,  /**< a host allocation failed */
    RMPI_ERR_NOT_FOUND     = -3,  /**< a name or ID that does not exist */
    RMPI_ERR_EXISTS        = -4,  /**< a name or ID already taken */
    RMPI_ERR_TIMEOUT       = -5,  /**< a blocking call reached its timeout */
    RMPI_ERR_UNSUPPORTED   = -6,  /**< not built in, or not possible here */
    RMPI_ERR_NOT_READY     = -7,  /**< called before init or after shutdown */
    RMPI_ERR_IO            = -8,  /**< a file or system call failed */
    RMPI_ERR_CONFIG        = -9,  /**< a malformed config file, key or value */
    RMPI_ERR_BUSY          = -10, /**< resource in use; retry later */
    RMPI_ERR_TRUNCATED     = -11, /**< output buffer too small */
    RMPI_ERR_MESSAGE       = -12, /**< a malformed message was received */
    RMPI_ERR_CANCELED      = -13, /**< the operation was canceled */
    RMPI_ERR_INFEASIBLE    = -14, /**< no rank can ever satisfy the request */
    RMPI_ERR_NO_DEVICE     = -15, /**< no GPU, or no GPU driver */
    RMPI_ERR_DEVICE        = -16, /**< a GPU driver call failed */
    RMPI_ERR_NO_RESOURCE   = -17, /**< a transport or system resource ran out */
    RMPI_ERR_MISMATCH      = -18, /**< ranks disagree (function table, version) */

    /* A task was lost. [-20, -29] */
    RMPI_ERR_TASK_FAILED   = -20, /**< the task returned an application error */
    RMPI_ERR_TASK_RETRIES  = -21, /**< the task failed after all its retries */

    /* An actor was lost. [-30, -39] */
    RMPI_ERR_ACTOR_DIED    = -30, /**< the actor died and will not restart */

    /* An object was lost. [-40, -49] */
    RMPI_ERR_OBJECT_LOST   = -40, /**< every copy is gone and it cannot be rebuilt */
    RMPI_ERR_OWNER_DIED    = -41, /**< the object's owner rank died */
    RMPI_ERR_STORE_FULL    = -42, /**< no room even after eviction and spilling */
    RMPI_ERR_CORRUPT       = -43, /**< a checksum did not match (spill file, message) */

    /* A node or rank was lost. [-50, -59] */
    RMPI_ERR_PEER_DIED     = -50, /**< the remote rank died during the operation */
    RMPI_ERR_TRANSPORT     = -51, /**< the transport failed for another reason */

    /* The job is going away. [-60, -69] */
    RMPI_ERR_SHUTDOWN      = -60, /**< the runtime is shutting down */
    RMPI_ERR_WALLTIME      = -61, /**< the job reached its wall-time signal */

    RMPI_ERR_LAST          = -70
} rmpi_status_t;

#define RMPI_IS_TASK_ERROR(s)   ((s) <= -20 && (s) > -30)
#define RMPI_IS_ACTOR_ERROR(s)  ((s) <= -30 && (s) > -40)
#define RMPI_IS_OBJECT_ERROR(s) ((s) <= -40 && (s) > -50)
#define RMPI_IS_NODE_ERROR(s)   ((s) <= -50 && (s) > -60)
#define RMPI_IS_JOB_ERROR(s)    ((s) <= -60 && (s) > RMPI_ERR_LAST)

/** A static, human-readable description of @a status (never NULL). */
RMPI_API const char *rmpi_status_str(rmpi_status_t status);

/** The library's version string, e.g. "0.1.0". */
RMPI_API const char *rmpi_version(void);

/** Flags for rmpi_config_print(). */
enum {
    RMPI_CONFIG_PRINT_HELP = RMPI_BIT(0), /**< print each key's help text */
};

/**
 * Print every configuration key of every layer with its current value (after
 * defaults < config file < RAYMPI_* environment), one per line, as
 * `RAYMPI_KEY=value` so the output can be sourced or saved as a config file.
 *
 * @param stream  where to print.
 * @param flags   RMPI_CONFIG_PRINT_* bits.
 */
RMPI_API rmpi_status_t rmpi_config_print(FILE *stream, uint64_t flags);

#ifdef __cplusplus
}
#endif

#endif /* RAYMPI_H_ */
