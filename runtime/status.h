/*
 * runtime/status.h - the runtime's own view for `ray-mpi status`: what each
 * rank has and runs (status_view.c), and the Unix-domain socket rank 0 serves
 * it on (status_srv.c).
 *
 * The socket is <run dir>/status.sock (mode 0600 in the 0700 run directory,
 * so only the job's user can ask). Protocol: the client sends one line,
 * "status\n" or "status json\n", and reads the report until the server
 * closes the connection. Anything else gets "error: ...\n". One client is
 * served at a time; a client gets RT_STATUS_IO_TIMEOUT seconds to send its
 * line and to take the report, so a stuck or vanished client costs the job
 * nothing but that wait on the server's own thread.
 *
 * Thread safety: rt_status_start/stop are called by rmpi_init/rmpi_shutdown
 * on rank 0 only; the server thread is the only other user. rt_status_gather
 * may be called from any non-runtime thread while the runtime is up.
 */
#ifndef RUNTIME_STATUS_H_
#define RUNTIME_STATUS_H_

#include <raympi.h>
#include <stdbool.h>
#include <stdint.h>

/** Name of the socket file in the job's run directory. */
#define RT_STATUS_SOCKET_NAME "status.sock"
/** Seconds a client has to send its request and to read the report. */
#define RT_STATUS_IO_TIMEOUT 5
/** Seconds rank 0 waits for the ranks' views before reporting the missing ones. */
#define RT_STATUS_GATHER_TIMEOUT 5.0
/** Distinct names of running tasks reported per rank. */
#define RT_STATUS_MAX_NAMES 8

/** One rank's view; plain bytes (it travels as a task's return value). */
typedef struct rt_status_rank {
    int32_t  rank, node;
    int64_t  pid;
    char     host[64];
    double   cpus, cpus_free, gpus, gpus_free;
    uint64_t queued, running, executed, submitted;
    uint64_t store_objects, store_bytes, store_total;
    uint64_t store_spilled, store_evictions, store_pulls;  /**< bytes in spill files; ever; ever */
    uint64_t device_objects, device_bytes, device_spilled; /**< device objects (devobj.h) */
    uint64_t actors_hosted;
    uint32_t num_names;
    struct {
        char     name[64]; /**< function, or "Class.method" */
        uint32_t count;    /**< running now */
    } names[RT_STATUS_MAX_NAMES];
} rt_status_rank_t;

/** This rank's view now. */
void rt_status_my_view(rt_status_rank_t *view);

/**
 * Every live rank's view into @a views[rank] (rt.size entries), waiting at
 * most @a timeout seconds; answered[rank] says which arrived.
 */
rmpi_status_t rt_status_gather(double timeout, rt_status_rank_t *views, bool *answered);

/**
 * Start serving the socket (rank 0). A failure is logged as a warning and
 * leaves the job without `ray-mpi status`: never a reason to fail rmpi_init.
 */
void rt_status_start(void);
/** Stop the server thread and remove the socket; a no-op when not serving. */
void rt_status_stop(void);
/** Unlink the socket's name (async-signal-safe: the checkpoint and fatal-signal exits). */
void rt_status_unlink(void);

#endif /* RUNTIME_STATUS_H_ */
