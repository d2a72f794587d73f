/*
 * base/status.c - the strings behind rmpi_status_t, and the library version.
 */
#include <raympi.h>

RMPI_API const char *rmpi_status_str(rmpi_status_t status)
{
    /* A switch rather than a table: the codes are sparse and the compiler
     * warns (-Wswitch) when a new enumerator has no string. */
    switch (status) {
    case RMPI_OK:
        return "success";
    case RMPI_INPROGRESS:
        return "operation in progress";
    case RMPI_ERR_INVALID_ARG:
        return "invalid argument";
    case RMPI_ERR_NO_MEMORY:
        return "out of memory";
    case RMPI_ERR_NOT_FOUND:
        return "not found";
    case RMPI_ERR_EXISTS:
        return "already exists";
    case RMPI_ERR_TIMEOUT:
        return "timed out";
    case RMPI_ERR_UNSUPPORTED:
        return "operation not supported";
    case RMPI_ERR_NOT_READY:
        return "runtime not initialized or already shut down";
    case RMPI_ERR_IO:
        return "input/output error";
    case RMPI_ERR_CONFIG:
        return "invalid configuration";
    case RMPI_ERR_BUSY:
        return "resource busy";
    case RMPI_ERR_TRUNCATED:
        return "output buffer too small";
    case RMPI_ERR_MESSAGE:
        return "malformed message";
    case RMPI_ERR_CANCELED:
        return "operation canceled";
    case RMPI_ERR_INFEASIBLE:
        return "request can never be satisfied";
    case RMPI_ERR_NO_DEVICE:
        return "no GPU device or driver";
    case RMPI_ERR_DEVICE:
        return "GPU driver error";
    case RMPI_ERR_NO_RESOURCE:
        return "out of transport or system resources";
    case RMPI_ERR_MISMATCH:
        return "ranks disagree";
    case RMPI_ERR_TASK_FAILED:
        return "task failed";
    case RMPI_ERR_TASK_RETRIES:
        return "task failed after all retries";
    case RMPI_ERR_ACTOR_DIED:
        return "actor died";
    case RMPI_ERR_OBJECT_LOST:
        return "object lost";
    case RMPI_ERR_OWNER_DIED:
        return "object owner died";
    case RMPI_ERR_STORE_FULL:
        return "object store full";
    case RMPI_ERR_CORRUPT:
        return "data corrupted (checksum mismatch)";
    case RMPI_ERR_PEER_DIED:
        return "peer rank died";
    case RMPI_ERR_TRANSPORT:
        return "transport error";
    case RMPI_ERR_SHUTDOWN:
        return "runtime shutting down";
    case RMPI_ERR_WALLTIME:
        return "job reached its wall time";
    case RMPI_ERR_LAST:
        break;
    }
    return "unknown status";
}

RMPI_API const char *rmpi_version(void)
{
    return RMPI_VERSION_STRING;
}
