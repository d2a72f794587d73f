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

/* ======================================================================== */
/* Core runtime: tasks, futures, objects (runtime/, docs/runtime.md)        */
/* ======================================================================== */

/**
 * Threading: rmpi_register_function() may run before rmpi_init (from
 * constructors, see RMPI_REMOTE). rmpi_init() and rmpi_shutdown() are called
 * once each, from one thread (the program's main thread). Every other call
 * below is MULTI: any thread of any rank may call it between init and
 * shutdown, tasks included (nested tasks). MPI is initialized with
 * MPI_THREAD_MULTIPLE and MPI_COMM_WORLD stays the program's.
 */

/**
 * A reference to an object (a future): 16 bytes naming the object and its
 * owner (the rank that submitted the task or called rmpi_put). A value type:
 * copy it freely. Each ref returned by rmpi_submit/rmpi_put carries one
 * *handle*; rmpi_ref_free() drops it. A ref copied into a value and sent to
 * another rank is not counted there until that rank calls rmpi_ref_retain().
 */
typedef struct rmpi_ref {
    uint8_t id[16];
} rmpi_ref_t;

/** Element types of array descriptors. */
typedef enum rmpi_dtype {
    RMPI_DTYPE_BYTES = 0,
    RMPI_DTYPE_INT8,
    RMPI_DTYPE_UINT8,
    RMPI_DTYPE_INT16,
    RMPI_DTYPE_UINT16,
    RMPI_DTYPE_INT32,
    RMPI_DTYPE_UINT32,
    RMPI_DTYPE_INT64,
    RMPI_DTYPE_UINT64,
    RMPI_DTYPE_FLOAT16,
    RMPI_DTYPE_FLOAT32,
    RMPI_DTYPE_FLOAT64,
    RMPI_DTYPE_LAST
} rmpi_dtype_t;

#define RMPI_ARRAY_MAX_DIMS 8

/** Optional description of a value as a dense row-major array. */
typedef struct rmpi_array_desc {
    uint8_t  dtype; /**< rmpi_dtype_t */
    uint8_t  ndim;  /**< 0..RMPI_ARRAY_MAX_DIMS */
    uint64_t shape[RMPI_ARRAY_MAX_DIMS];
} rmpi_array_desc_t;

/** A named amount of a resource ("CPU", "GPU", "memory" or a custom name). */
typedef struct rmpi_resource {
    const char *name;
    double      amount;
} rmpi_resource_t;

/* --- lifecycle ----------------------------------------------------------- */

enum {
    RMPI_INIT_PARAM_CONFIG = RMPI_BIT(0), /**< config, num_config */
};

typedef struct rmpi_init_params {
    uint64_t           field_mask;
    const char *const *config; /**< "KEY=value" overrides (after the environment) */
    size_t             num_config;
} rmpi_init_params_t;

/**
 * Start the runtime on every rank (collective). Initializes MPI
 * (MPI_THREAD_MULTIPLE) unless the program did, wires up the transport,
 * creates the object store, and checks that every rank registered the same
 * functions (RMPI_ERR_MISMATCH names the first difference).
 *
 * On rank 0 (the driver) it returns RMPI_OK. On every other rank it serves
 * tasks until the driver calls rmpi_shutdown(), then finalizes and exits the
 * process with status 0 — it does not return (except with an error, before
 * serving). @a argc, @a argv and @a params may be NULL.
 */
RMPI_API rmpi_status_t rmpi_init(int *argc, char ***argv, const rmpi_init_params_t *params);

/**
 * On the driver: stop every rank (queued tasks are dropped, running ones get
 * RAYMPI_RT_SHUTDOWN_GRACE seconds), write the timeline, tear down, finalize MPI
 * if rmpi_init initialized it. After it, rmpi_is_initialized() is 0.
 */
RMPI_API rmpi_status_t rmpi_shutdown(void);

RMPI_API int rmpi_is_initialized(void);
/** This rank, the number of ranks, this rank's logical node and the node count (-1 before init). */
RMPI_API int rmpi_rank(void);
RMPI_API int rmpi_size(void);
RMPI_API int rmpi_node(void);
RMPI_API int rmpi_num_nodes(void);

#define RMPI_MAX_CUSTOM_RESOURCES 16
#define RMPI_RESOURCE_NAME_MAX 32

/** Resources of the whole job, or what is free now. */
typedef struct rmpi_resources {
    double   cpus;
    double   gpus;
    uint64_t memory; /**< bytes of object store */
    size_t   num_custom;
    struct {
        char   name[RMPI_RESOURCE_NAME_MAX];
        double amount;
    } custom[RMPI_MAX_CUSTOM_RESOURCES];
} rmpi_resources_t;

/** Total resources of all live ranks (from wire-up). */
RMPI_API rmpi_status_t rmpi_cluster_resources(rmpi_resources_t *res_p);
/** The job's resources with CPUs as free now (asks every rank: a round trip each, in parallel). */
RMPI_API rmpi_status_t rmpi_available_resources(rmpi_resources_t *res_p);

/* --- remote functions ---------------------------------------------------- */

typedef struct rmpi_task_ctx *rmpi_task_ctx_h;

/**
 * A resolved argument: a read-only view valid while the task runs, zero-copy
 * when the value is in the object store (64-byte aligned there; values that
 * came inline in the task message are 8-byte aligned).
 */
typedef struct rmpi_arg {
    const void              *data;
    size_t                   size;
    const rmpi_array_desc_t *array; /**< NULL unless the value was described as an array */
    /**
     * -1: @a data is host memory. Otherwise the argument is a device object
     * (rmpi_return_device) given to a task that asked for a GPU: @a data is a
     * CUdeviceptr (rmpi_arg_devptr) on the task's device, @a device. It is the
     * producer's own memory (no copy) when the object was made on this rank
     * and device, else a copy the runtime frees when the task returns. Read
     * it only; it is valid until the task returns. A task without a GPU gets
     * device objects as host bytes (device -1), copied out.
     */
    int device;
} rmpi_arg_t;

/** The CUdeviceptr of a device argument (args[i].device >= 0). */
#define rmpi_arg_devptr(_arg) ((uint64_t)(uintptr_t)(_arg)->data)

/**
 * A remote function. It produces its returns with rmpi_return*() and
 * returns RMPI_OK, or fails: any other status (message with
 * rmpi_task_error()) makes every return an error object.
 */
typedef rmpi_status_t (*rmpi_task_fn_t)(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs);

/**
 * Register @a fn under @a name (at most 63 bytes). Every rank must register
 * the same names in the same order before rmpi_init; RMPI_REMOTE does it from
 * a constructor, which guarantees that for one binary.
 * RMPI_ERR_EXISTS for a name taken, RMPI_ERR_NOT_READY after rmpi_init.
 */
RMPI_API rmpi_status_t rmpi_register_function(const char *name, rmpi_task_fn_t fn);

/** Define and register a remote function: RMPI_REMOTE(f) { ... use ctx, args, nargs ... } */
#define RMPI_REMOTE(_fn)                                                                 \
    static rmpi_status_t _fn(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs); \
    static void __attribute__((constructor)) rmpi_register_##_fn(void)                   \
    {                                                                                    \
        (void)rmpi_register_function(#_fn, _fn);                                         \
    }                                                                                    \
    static rmpi_status_t _fn(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)

/** Return @a index of the running task: a copy of @a size bytes. */
RMPI_API rmpi_status_t rmpi_return(rmpi_task_ctx_h ctx, size_t index, const void *data,
                                   size_t size);
/**
 * Return @a index by filling a buffer the runtime allocates (in the object
 * store when large: zero-copy output). The buffer is the task's until it
 * returns; @a array (may be NULL) describes it.
 */
RMPI_API rmpi_status_t rmpi_return_alloc(rmpi_task_ctx_h ctx, size_t index, size_t size,
                                         const rmpi_array_desc_t *array, void **buf_p);
/**
 * Return @a index as a device object: @a size bytes of memory on the task's
 * GPU (rmpi_task_gpu), which the task fills before it returns (kernels or
 * copies on rmpi_task_stream's stream; the runtime synchronizes it before the
 * object is sealed). The object stays in device memory on this rank: a task
 * with a GPU here on the same device receives it without a copy (see
 * rmpi_arg_t.device); a task elsewhere, or on another device, receives a copy
 * (device -> host -> remote -> device); rmpi_get copies it to the host. Device
 * objects count against the device's memory (RAYMPI_GPU_MEMORY_FRACTION); when
 * it is full, unused device objects are spilled to host memory (least
 * recently used first) and copied back when a task needs them.
 * RMPI_ERR_NO_DEVICE for a task without a GPU; RMPI_ERR_NO_MEMORY when the
 * device has no room even after spilling.
 */
RMPI_API rmpi_status_t rmpi_return_device(rmpi_task_ctx_h ctx, size_t index, size_t size,
                                          const rmpi_array_desc_t *array, uint64_t *devptr_p);
/** Set the message of the task's failure (printf format; truncated at 1 KiB). */
RMPI_API void rmpi_task_error(rmpi_task_ctx_h ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Number of returns the caller asked for. */
RMPI_API size_t rmpi_task_num_returns(rmpi_task_ctx_h ctx);
/** Whether the task was asked to stop (rmpi_cancel); long tasks should poll it. */
RMPI_API int rmpi_task_canceled(rmpi_task_ctx_h ctx);
/**
 * Index (among the rank's visible devices) of the GPU given to the running
 * task, which asked for num_gpus > 0; -1 for a task without a GPU. A task
 * with a share (< 1) shares the device with other tasks; with n >= 1 it has
 * devices rmpi_task_gpu() to rmpi_task_gpu() + n - 1 to itself. In an
 * actor's constructor and methods: the device the actor holds for its life
 * (rmpi_actor_options_t.num_gpus), the same for every call.
 */
RMPI_API int rmpi_task_gpu(rmpi_task_ctx_h ctx);
/**
 * A CUDA stream (a CUstream) of the task's GPU, taken from the rank's pool on
 * first call. The device's primary context is current on the task's thread
 * for the whole task. The runtime synchronizes the stream after the task
 * returns and before its returns are sealed, so kernels queued on it have
 * finished when a consumer sees the result. RMPI_ERR_NO_DEVICE for a task
 * without a GPU.
 */
RMPI_API rmpi_status_t rmpi_task_stream(rmpi_task_ctx_h ctx, void **stream_p);

/* --- GPU work in a task ----------------------------------------------------
 * For tasks that asked for num_gpus, on the task's GPU and stream (taken as
 * rmpi_task_stream does): a program launches kernels and copies without
 * linking libcuda itself, so one binary runs with and without GPUs. Work is
 * queued on the stream; the runtime synchronizes it when the task returns.
 * Every call returns RMPI_ERR_NO_DEVICE in a task without a GPU.
 */

typedef struct rmpi_gpu_kernel *rmpi_gpu_kernel_h;

typedef struct rmpi_gpu_dim3 {
    unsigned x, y, z;
} rmpi_gpu_dim3_t;

/**
 * A kernel the library carries, loaded on the task's GPU: "saxpy"
 * (int n, float a, const float *x, float *y: y = a x + y) and "empty".
 * RMPI_ERR_UNSUPPORTED when the library was built without nvcc.
 */
RMPI_API rmpi_status_t rmpi_gpu_builtin_kernel(rmpi_task_ctx_h ctx, const char *name,
                                               rmpi_gpu_kernel_h *kernel_p);
/** Launch @a kernel on the task's stream; @a args as cuLaunchKernel takes them. */
RMPI_API rmpi_status_t rmpi_gpu_launch(rmpi_task_ctx_h ctx, rmpi_gpu_kernel_h kernel,
                                       rmpi_gpu_dim3_t grid, rmpi_gpu_dim3_t block,
                                       unsigned shmem_bytes, void **args);
/**
 * Copies on the task's stream (device addresses are CUdeviceptr values). Host
 * memory must stay valid until rmpi_gpu_sync or the task returns.
 */
RMPI_API rmpi_status_t rmpi_gpu_copy_to_device(rmpi_task_ctx_h ctx, uint64_t dst, const void *src,
                                               size_t size);
RMPI_API rmpi_status_t rmpi_gpu_copy_to_host(rmpi_task_ctx_h ctx, void *dst, uint64_t src,
                                             size_t size);
RMPI_API rmpi_status_t rmpi_gpu_copy_on_device(rmpi_task_ctx_h ctx, uint64_t dst, uint64_t src,
                                               size_t size);
/**
 * @a size bytes of device memory on the task's GPU, freed when the task
 * returns (after its stream is synchronized); at most 16 per task.
 * RMPI_ERR_NO_MEMORY when the device is full even after spilling device objects.
 */
RMPI_API rmpi_status_t rmpi_gpu_scratch(rmpi_task_ctx_h ctx, size_t size, uint64_t *devptr_p);
/**
 * @a size bytes of device memory on the task's GPU that outlive the task, for
 * state an actor keeps on its device across calls; free it with
 * rmpi_gpu_free (a destructor runs with the actor's device current). Counts
 * against the device's memory like device objects (which are spilled to make
 * room). RMPI_ERR_NO_MEMORY when it does not fit.
 */
RMPI_API rmpi_status_t rmpi_gpu_alloc(rmpi_task_ctx_h ctx, size_t size, uint64_t *devptr_p);
/** Free memory of rmpi_gpu_alloc on GPU @a device; RMPI_ERR_INVALID_ARG for anything else. */
RMPI_API rmpi_status_t rmpi_gpu_free(int device, uint64_t devptr);
/** Wait for everything queued on the task's stream. */
RMPI_API rmpi_status_t rmpi_gpu_sync(rmpi_task_ctx_h ctx);

/* --- submission ---------------------------------------------------------- */

typedef enum rmpi_arg_kind {
    RMPI_ARG_VALUE = 0, /**< bytes copied at submission */
    RMPI_ARG_REF   = 1, /**< an object: resolved to its value before the task runs */
} rmpi_arg_kind_t;

/**
 * An argument as the caller passes it. Only top-level refs are resolved (as in
 * Ray); refs copied inside a value's bytes reach the task as bytes.
 */
typedef struct rmpi_task_arg {
    rmpi_arg_kind_t          kind;
    const void              *data;  /**< VALUE */
    size_t                   size;  /**< VALUE */
    const rmpi_array_desc_t *array; /**< VALUE, optional */
    rmpi_ref_t               ref;   /**< REF */
} rmpi_task_arg_t;

static inline rmpi_task_arg_t rmpi_arg_value(const void *data, size_t size)
{
    rmpi_task_arg_t arg = {RMPI_ARG_VALUE, data, size, NULL, {{0}}};
    return arg;
}

static inline rmpi_task_arg_t rmpi_arg_ref(rmpi_ref_t ref)
{
    rmpi_task_arg_t arg = {RMPI_ARG_REF, NULL, 0, NULL, ref};
    return arg;
}

typedef enum rmpi_sched_strategy {
    RMPI_SCHED_DEFAULT       = 0, /**< locality, then load (power of two choices) */
    RMPI_SCHED_SPREAD        = 1, /**< round robin over the feasible ranks */
    RMPI_SCHED_NODE_AFFINITY = 2, /**< on affinity_node (soft: elsewhere if infeasible there) */
    RMPI_SCHED_RANK_AFFINITY = 3, /**< on affinity_rank (soft: elsewhere if infeasible there) */
} rmpi_sched_strategy_t;

enum {
    RMPI_TASK_OPT_NUM_CPUS         = RMPI_BIT(0),
    RMPI_TASK_OPT_NUM_GPUS         = RMPI_BIT(1),
    RMPI_TASK_OPT_MEMORY           = RMPI_BIT(2),
    RMPI_TASK_OPT_RESOURCES        = RMPI_BIT(3),
    RMPI_TASK_OPT_NUM_RETURNS      = RMPI_BIT(4),
    RMPI_TASK_OPT_MAX_RETRIES      = RMPI_BIT(5),
    RMPI_TASK_OPT_RETRY_EXCEPTIONS = RMPI_BIT(6),
    RMPI_TASK_OPT_STRATEGY         = RMPI_BIT(7), /**< strategy, affinity_*, soft */
    RMPI_TASK_OPT_NAME             = RMPI_BIT(8),
    RMPI_TASK_OPT_PLACEMENT        = RMPI_BIT(9), /**< pg, bundle_index */
    RMPI_TASK_OPT_LAST             = RMPI_BIT(10),
};

#define RMPI_MAX_RETURNS 64

/**
 * A placement group (see "Placement groups" below): 16 bytes naming the
 * group. A value type: copy it freely, pass it to tasks as bytes.
 */
typedef struct rmpi_pg {
    uint8_t id[16];
} rmpi_pg_t;

typedef struct rmpi_task_options {
    uint64_t               field_mask;
    double                 num_cpus;  /**< default 1 (0 allowed) */
    double                 num_gpus;  /**< default 0; fractions allowed */
    uint64_t               memory;    /**< bytes of object store; default 0 */
    const rmpi_resource_t *resources; /**< custom resources */
    size_t                 num_resources;
    unsigned               num_returns;      /**< default 1, at most RMPI_MAX_RETURNS */
    int                    max_retries;      /**< on rank death; default 3; -1 = forever */
    int                    retry_exceptions; /**< also retry application errors; default 0 */
    rmpi_sched_strategy_t  strategy;
    int                    affinity_node;
    int                    affinity_rank;
    int                    soft; /**< affinity may fall back */
    const char            *name; /**< for logs and the timeline; default fn name */
    /**
     * RMPI_TASK_OPT_PLACEMENT: run in bundle @a bundle_index of @a pg (-1: any
     * bundle, round robin), on that bundle's rank (hard affinity, never
     * stolen). The demand must fit the bundle (else RMPI_ERR_INFEASIBLE).
     * Excludes a strategy other than RMPI_SCHED_DEFAULT.
     */
    rmpi_pg_t pg;
    int       bundle_index;
} rmpi_task_options_t;

/**
 * Submit a call of the function registered as @a fn with @a nargs arguments.
 * Writes num_returns refs (each with one handle) to @a returns. Returns at
 * once; the task runs on the rank the scheduler picks once its ref arguments
 * are ready. RMPI_ERR_NOT_FOUND for an unregistered name,
 * RMPI_ERR_INFEASIBLE (with a log line naming the resource) when no rank
 * could ever run it, RMPI_ERR_INVALID_ARG for unknown option bits, negative
 * resources or a freed ref.
 */
RMPI_API rmpi_status_t rmpi_submit(const char *fn, const rmpi_task_arg_t *args, size_t nargs,
                                   const rmpi_task_options_t *opts, rmpi_ref_t *returns);

/* --- placement groups ----------------------------------------------------- */

/**
 * A placement group reserves bundles of resources, each on one rank, all at
 * once (gang scheduling): tasks placed into a bundle run on its rank. Ranks
 * form logical nodes (RAYMPI_XPORT_NODE_SPLIT splits a host into several),
 * and the strategy says how bundles relate to nodes. The head service on
 * rank 0 keeps the groups and a ledger of each rank's resources minus what
 * placed bundles hold. The ledger is the only thing a bundle reserves: tasks
 * outside groups are not kept off reserved CPUs (docs/runtime.md).
 *
 * Lifetime: a group lives until rmpi_pg_remove() or rmpi_shutdown(). A group
 * that is not detached is also removed when the rank that created it dies.
 * Threading: MULTI, like the calls above (tasks may create and wait).
 */

typedef enum rmpi_pg_strategy {
    RMPI_PG_PACK          = 0, /**< as few nodes as possible, one if it fits (default) */
    RMPI_PG_SPREAD        = 1, /**< distinct nodes, then distinct ranks, where possible */
    RMPI_PG_STRICT_PACK   = 2, /**< all bundles on one node, or it never fits */
    RMPI_PG_STRICT_SPREAD = 3, /**< every bundle on a node of its own, or it never fits */
} rmpi_pg_strategy_t;

/**
 * One bundle: amounts of "CPU", "GPU" (fractions allowed), "memory" (bytes
 * of object store) or custom resources of the job, each > 0. Names given
 * twice add up. All of a bundle lies on one rank.
 */
typedef struct rmpi_bundle {
    const rmpi_resource_t *resources;
    size_t                 num_resources;
} rmpi_bundle_t;

#define RMPI_PG_MAX_BUNDLES 1024
#define RMPI_PG_NAME_MAX 63

enum {
    RMPI_PG_OPT_STRATEGY = RMPI_BIT(0),
    RMPI_PG_OPT_NAME     = RMPI_BIT(1),
    RMPI_PG_OPT_DETACHED = RMPI_BIT(2),
    RMPI_PG_OPT_LAST     = RMPI_BIT(3),
};

typedef struct rmpi_pg_options {
    uint64_t           field_mask;
    rmpi_pg_strategy_t strategy; /**< default RMPI_PG_PACK */
    const char        *name;     /**< unique in the job, 1..RMPI_PG_NAME_MAX bytes; NULL: none */
    int                detached; /**< survives the death of its creating rank; default 0 */
} rmpi_pg_options_t;

/**
 * Create a group of @a num_bundles (1..RMPI_PG_MAX_BUNDLES) bundles and write
 * its ID to @a pg_p. Returns at once, with the group placed (all bundles) or
 * pending (all of them wait); a pending group is placed when other groups are
 * removed. RMPI_ERR_INFEASIBLE, at once and with a log line naming the bundle
 * and resource, when the group can never fit on this job's ranks (a bundle no
 * rank could hold, STRICT_PACK beyond every node, STRICT_SPREAD with more
 * bundles than nodes, or an unknown resource name). RMPI_ERR_INVALID_ARG for
 * an empty bundle, an amount that is not finite and > 0, unknown option bits
 * or strategy; RMPI_ERR_EXISTS when the name is taken.
 */
RMPI_API rmpi_status_t rmpi_pg_create(const rmpi_bundle_t *bundles, size_t num_bundles,
                                      const rmpi_pg_options_t *opts, rmpi_pg_t *pg_p);

/**
 * Wait up to @a timeout seconds (< 0: forever; 0: just look) until @a pg is
 * placed. RMPI_OK when it is, RMPI_ERR_TIMEOUT when still pending,
 * RMPI_ERR_NOT_FOUND when it was removed (or never existed),
 * RMPI_ERR_PEER_DIED when a rank holding one of its bundles (or the head)
 * died, RMPI_ERR_INFEASIBLE when a pending group can no longer ever fit
 * (ranks died). A task waiting here gives its CPU back.
 */
RMPI_API rmpi_status_t rmpi_pg_wait(rmpi_pg_t pg, double timeout);

/**
 * Remove @a pg: its reservations go back to the ledger (pending groups may
 * be placed now), waits end with RMPI_ERR_NOT_FOUND, tasks waiting for it to
 * be placed fail. Tasks already running in it run on. RMPI_ERR_NOT_FOUND if
 * there is no such group.
 */
RMPI_API rmpi_status_t rmpi_pg_remove(rmpi_pg_t pg);

/** The group named @a name (RMPI_ERR_NOT_FOUND if none). */
RMPI_API rmpi_status_t rmpi_pg_get(const char *name, rmpi_pg_t *pg_p);

/**
 * The rank holding bundle @a index of @a pg. RMPI_ERR_NOT_READY while the
 * group is pending, RMPI_ERR_INVALID_ARG for an index out of range,
 * RMPI_ERR_NOT_FOUND for a removed group.
 */
RMPI_API rmpi_status_t rmpi_pg_bundle_rank(rmpi_pg_t pg, size_t index, int *rank_p);

/* --- objects and futures ------------------------------------------------- */

/**
 * An object as rmpi_get() returns it: a read-only view (zero-copy when the
 * object is in this node's shared memory), valid until rmpi_object_release().
 * For a failed task, status is its error and error its message chain.
 */
typedef struct rmpi_object {
    const void              *data;
    size_t                   size;
    const rmpi_array_desc_t *array;
    rmpi_status_t            status; /**< RMPI_OK, or why the value is missing */
    const char              *error;  /**< "" or the error message ("caused by: ..." chained) */
    void                    *priv_;
} rmpi_object_t;

/**
 * Wait up to @a timeout seconds (< 0: forever) for @a n objects and map them
 * into @a objs. RMPI_ERR_TIMEOUT (nothing written) if they are not all ready
 * in time. Otherwise every objs[i] is written and must be released, and the
 * result is RMPI_OK or the status of the first failed object (e.g.
 * RMPI_ERR_TASK_FAILED, RMPI_ERR_OWNER_DIED). A task calling rmpi_get gives
 * its CPU back while it waits.
 */
RMPI_API rmpi_status_t rmpi_get(const rmpi_ref_t *refs, size_t n, double timeout,
                                rmpi_object_t *objs);
RMPI_API void          rmpi_object_release(rmpi_object_t *obj);

enum {
    RMPI_WAIT_FETCH_LOCAL = RMPI_BIT(0), /**< ready means present on this node (pulls it) */
};

/**
 * Wait until @a num_returns of the @a n refs are ready (or failed), or
 * @a timeout passes (then fewer are; not an error). ready[i] is set to 1 for
 * each ready ref, 0 otherwise; *num_ready_p to their count.
 */
RMPI_API rmpi_status_t rmpi_wait(const rmpi_ref_t *refs, size_t n, size_t num_returns,
                                 double timeout, uint64_t flags, uint8_t *ready,
                                 size_t *num_ready_p);

/** Store a copy of @a size bytes (@a array may be NULL) and return a ref to it. */
RMPI_API rmpi_status_t rmpi_put(const void *data, size_t size, const rmpi_array_desc_t *array,
                                rmpi_ref_t *ref_p);

enum {
    RMPI_CANCEL_FORCE = RMPI_BIT(0), /**< also stop a running task: see rmpi_cancel */
};

/**
 * Cancel the task producing @a ref. A queued task is removed and its
 * returns fail with RMPI_ERR_CANCELED. A running task is asked to stop
 * (rmpi_task_canceled() turns true); it is never killed in the middle of
 * user code, but with RMPI_CANCEL_FORCE its returns fail with
 * RMPI_ERR_CANCELED at once and whatever it returns later is dropped.
 * RMPI_ERR_INVALID_ARG for a ref this rank does not own (a put or a borrowed ref).
 */
RMPI_API rmpi_status_t rmpi_cancel(rmpi_ref_t ref, uint64_t flags);

/** Drop the handle of @a ref; the object is freed everywhere when no one holds it. */
RMPI_API rmpi_status_t rmpi_ref_free(rmpi_ref_t ref);
/** Take one more handle of @a ref (on another rank: become a borrower). */
RMPI_API rmpi_status_t rmpi_ref_retain(rmpi_ref_t ref);
/** Owner rank of @a ref. */
RMPI_API int rmpi_ref_owner(rmpi_ref_t ref);
/** 32 hex digits and a NUL into @a buf (33 bytes). */
RMPI_API void rmpi_ref_format(rmpi_ref_t ref, char *buf);

/* ======================================================================== */
/* Actors: stateful workers (runtime/actor_*.c, docs/runtime.md "Actors")   */
/* ======================================================================== */

/**
 * A handle on an actor: a value (copy it, pass it to tasks and other actors
 * as bytes). @a id names the actor (its owner is the rank that created it);
 * @a cls is the index of its class in the job's agreed function table.
 */
typedef struct rmpi_actor {
    uint8_t  id[16];
    uint32_t cls;
    uint32_t job; /**< tag of the job that made it: another job's handle is refused */
} rmpi_actor_t;

/** Frees the state a constructor set; runs on the actor's rank when it stops. */
typedef void (*rmpi_actor_dtor_t)(void *state);

/**
 * Register actor class @a cls: @a ctor runs once on the hosting rank with the
 * creation arguments and calls rmpi_actor_set_state(); @a dtor (may be NULL)
 * frees that state when the actor stops. Before rmpi_init, on every rank.
 */
RMPI_API rmpi_status_t rmpi_register_actor_class(const char *cls, rmpi_task_fn_t ctor,
                                                 rmpi_actor_dtor_t dtor);
/** Register method @a method of class @a cls (registered as "cls.method"). */
RMPI_API rmpi_status_t rmpi_register_actor_method(const char *cls, const char *method,
                                                  rmpi_task_fn_t fn);

/** Save an actor's state into *buf_p (malloc'd; the runtime frees it), *len_p bytes. */
typedef rmpi_status_t (*rmpi_actor_save_fn_t)(void *state, void **buf_p, size_t *len_p);
/** Restore a freshly constructed actor's @a state from a saved checkpoint. */
typedef rmpi_status_t (*rmpi_actor_restore_fn_t)(void *state, const void *buf, size_t len);

/**
 * Checkpoint hooks for class @a cls (registered already): after every
 * @a every_calls successful method calls its host saves the state and sends
 * it to the actor's owner; an actor restarted after its rank died is
 * constructed from its original arguments, then restored from the latest
 * checkpoint. With max_concurrency > 1, @a save runs while other calls may
 * change the state: it must synchronize with them.
 */
RMPI_API rmpi_status_t rmpi_register_actor_checkpoint(const char *cls, rmpi_actor_save_fn_t save,
                                                      rmpi_actor_restore_fn_t restore,
                                                      unsigned                every_calls);

/** Define and register a method: RMPI_ACTOR_METHOD(Counter, add) { ... } */
#define RMPI_ACTOR_METHOD(_cls, _method)                                               \
    static rmpi_status_t _cls##_##_method(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, \
                                          size_t nargs);                               \
    static void __attribute__((constructor)) rmpi_register_##_cls##_##_method(void)    \
    {                                                                                  \
        (void)rmpi_register_actor_method(#_cls, #_method, _cls##_##_method);           \
    }                                                                                  \
    static rmpi_status_t _cls##_##_method(rmpi_task_ctx_h ctx, const rmpi_arg_t *args, size_t nargs)

/** In a constructor: the actor's state (owned by the actor; its dtor frees it). */
RMPI_API rmpi_status_t rmpi_actor_set_state(rmpi_task_ctx_h ctx, void *state);
/** In a method: the state its constructor set (NULL outside an actor). */
RMPI_API void *rmpi_actor_state(rmpi_task_ctx_h ctx);
/** In a constructor or method: a handle on the actor itself. */
RMPI_API rmpi_status_t rmpi_actor_self(rmpi_task_ctx_h ctx, rmpi_actor_t *actor_p);
/**
 * In a method: stop the actor once this call returns (graceful exit). Calls
 * queued behind it fail with RMPI_ERR_ACTOR_DIED; it is not restarted.
 */
RMPI_API rmpi_status_t rmpi_actor_exit(rmpi_task_ctx_h ctx);

typedef enum rmpi_actor_lifetime {
    RMPI_ACTOR_OWNED    = 0, /**< dies with its creator: the task that made it, or the driver */
    RMPI_ACTOR_DETACHED = 1, /**< lives until killed, it exits, or the job ends */
} rmpi_actor_lifetime_t;

enum {
    RMPI_ACTOR_OPT_NUM_CPUS         = RMPI_BIT(0),
    RMPI_ACTOR_OPT_RESOURCES        = RMPI_BIT(1),
    RMPI_ACTOR_OPT_NAME             = RMPI_BIT(2), /**< name, namespace_ */
    RMPI_ACTOR_OPT_LIFETIME         = RMPI_BIT(3),
    RMPI_ACTOR_OPT_MAX_CONCURRENCY  = RMPI_BIT(4),
    RMPI_ACTOR_OPT_MAX_RESTARTS     = RMPI_BIT(5),
    RMPI_ACTOR_OPT_MAX_TASK_RETRIES = RMPI_BIT(6),
    RMPI_ACTOR_OPT_STRATEGY         = RMPI_BIT(7), /**< strategy, affinity_*, soft */
    RMPI_ACTOR_OPT_GET_IF_EXISTS    = RMPI_BIT(8),
    RMPI_ACTOR_OPT_PLACEMENT        = RMPI_BIT(9),  /**< pg, bundle_index */
    RMPI_ACTOR_OPT_ASYNC            = RMPI_BIT(10), /**< async */
    RMPI_ACTOR_OPT_NUM_GPUS         = RMPI_BIT(11),
    RMPI_ACTOR_OPT_LAST             = RMPI_BIT(12),
};

#define RMPI_ACTOR_NAME_MAX 63
#define RMPI_ACTOR_MAX_CONCURRENCY 1024

typedef struct rmpi_actor_options {
    uint64_t               field_mask;
    double                 num_cpus;  /**< held for the actor's life; default 0 */
    const rmpi_resource_t *resources; /**< custom resources (placement only) */
    size_t                 num_resources;
    const char            *name;       /**< named actors are found with rmpi_actor_get */
    const char            *namespace_; /**< default "" */
    rmpi_actor_lifetime_t  lifetime;
    unsigned               max_concurrency;  /**< calls run at once; default 1 (ordered) */
    int                    max_restarts;     /**< after its rank dies; default 0; -1 = forever */
    int                    max_task_retries; /**< calls in flight when it died; default 0 */
    rmpi_sched_strategy_t  strategy;
    int                    affinity_node;
    int                    affinity_rank;
    int                    soft;
    int                    get_if_exists; /**< a named actor that exists is returned */
    /** RMPI_ACTOR_OPT_PLACEMENT: live in bundle @a bundle_index of @a pg (-1: any that fits). */
    rmpi_pg_t pg;
    int       bundle_index;
    /**
     * An async actor runs its calls as fibres on one executor thread: a call
     * waiting in rmpi_get/rmpi_wait suspends and the next call runs, holding
     * no thread. Up to max_concurrency calls (default 1000 for async actors)
     * are in flight; they interleave only where they wait.
     */
    int async;
    /**
     * GPUs held for the actor's life, as a task's num_gpus (default 0; a share
     * below 1, or whole devices): every call runs with the device's context
     * current, rmpi_task_gpu() gives it and rmpi_task_stream() a stream on it.
     */
    double num_gpus;
} rmpi_actor_options_t;

/**
 * Create an actor of class @a cls (placed like a task; its constructor runs
 * there). Returns at once: calls made before the constructor finished wait
 * for it. RMPI_ERR_EXISTS when the name is taken (without get_if_exists).
 */
RMPI_API rmpi_status_t rmpi_actor_create(const char *cls, const rmpi_task_arg_t *args, size_t nargs,
                                         const rmpi_actor_options_t *opts, rmpi_actor_t *actor_p);

enum {
    RMPI_CALL_OPT_NUM_RETURNS = RMPI_BIT(0),
    RMPI_CALL_OPT_NAME        = RMPI_BIT(1),
    RMPI_CALL_OPT_LAST        = RMPI_BIT(2),
};

typedef struct rmpi_call_options {
    uint64_t    field_mask;
    unsigned    num_returns; /**< default 1 */
    const char *name;        /**< for logs and the timeline; default "cls.method" */
} rmpi_call_options_t;

/**
 * Call @a method of @a actor; @a returns get refs as for rmpi_submit. Calls
 * from one rank run in the order they were made (max_concurrency 1), or
 * start in that order (max_concurrency > 1). A call on an actor known to be
 * dead fails with RMPI_ERR_ACTOR_DIED; one that dies with it returns refs
 * whose get fails with RMPI_ERR_ACTOR_DIED.
 */
RMPI_API rmpi_status_t rmpi_actor_call(rmpi_actor_t actor, const char *method,
                                       const rmpi_task_arg_t *args, size_t nargs,
                                       const rmpi_call_options_t *opts, rmpi_ref_t *returns);

/** Find named actor @a name in @a namespace_ (NULL = ""); RMPI_ERR_NOT_FOUND if none. */
RMPI_API rmpi_status_t rmpi_actor_get(const char *name, const char *namespace_,
                                      rmpi_actor_t *actor_p);

/**
 * Wait until the actor's constructor finished: RMPI_OK (alive),
 * RMPI_ERR_ACTOR_DIED (it failed or died, with the reason logged) or
 * RMPI_ERR_TIMEOUT (@a timeout seconds, < 0 = forever).
 */
RMPI_API rmpi_status_t rmpi_actor_wait_ready(rmpi_actor_t actor, double timeout);

enum {
    RMPI_ACTOR_KILL_NO_RESTART = RMPI_BIT(0), /**< do not restart it, whatever max_restarts */
};

/**
 * Stop @a actor: queued calls fail with RMPI_ERR_ACTOR_DIED, a running call
 * finishes, then its destructor runs. Without RMPI_ACTOR_KILL_NO_RESTART an
 * actor with restarts left is started again (a new incarnation).
 */
RMPI_API rmpi_status_t rmpi_actor_kill(rmpi_actor_t actor, uint64_t flags);

/** 32 hex digits and a NUL into @a buf (33 bytes). */
RMPI_API void rmpi_actor_format(rmpi_actor_t actor, char *buf);

/* --- actor pools (Ray's ActorPool) ------------------------------------------ */

/**
 * Spreads calls over a fixed set of actors, one call in flight per actor: a
 * submission goes to an idle actor, or waits in the pool until a result is
 * taken and its actor is idle again. The pool does not own the actors (it
 * neither creates nor kills them). Thread safety: a pool is used by one
 * thread at a time.
 */
typedef struct rmpi_actor_pool *rmpi_actor_pool_h;

/** A pool over @a actors (copied); @a n >= 1. */
RMPI_API rmpi_status_t rmpi_actor_pool_create(const rmpi_actor_t *actors, size_t n,
                                              rmpi_actor_pool_h *pool_p);
/** Free the pool; calls in flight are left to finish, their results dropped. */
RMPI_API void rmpi_actor_pool_destroy(rmpi_actor_pool_h pool);
/** Call @a method with @a args (values copied, refs retained) on the next idle actor. */
RMPI_API rmpi_status_t rmpi_actor_pool_submit(rmpi_actor_pool_h pool, const char *method,
                                              const rmpi_task_arg_t *args, size_t nargs);
/** Whether a submitted call's result has not been taken yet. */
RMPI_API int rmpi_actor_pool_has_next(rmpi_actor_pool_h pool);
/**
 * The next result in submission order (release it with rmpi_object_release);
 * RMPI_ERR_NOT_FOUND when there is none, RMPI_ERR_TIMEOUT after @a timeout.
 * A failed call is a result with an error status, not a failure of this call.
 */
RMPI_API rmpi_status_t rmpi_actor_pool_get_next(rmpi_actor_pool_h pool, double timeout,
                                                rmpi_object_t *obj);
/** The result that finished first, whatever its order; its submission index in *index_p. */
RMPI_API rmpi_status_t rmpi_actor_pool_get_next_unordered(rmpi_actor_pool_h pool, double timeout,
                                                          rmpi_object_t *obj, size_t *index_p);
/**
 * Call @a method once per input (each input the only argument) and fill
 * @a objs[i] with the result for inputs[i]. With @a unordered, objs are in
 * completion order and @a indices (may be NULL) tell each one's input.
 */
RMPI_API rmpi_status_t rmpi_actor_pool_map(rmpi_actor_pool_h pool, const char *method,
                                           const rmpi_task_arg_t *inputs, size_t n, int unordered,
                                           double timeout, rmpi_object_t *objs, size_t *indices);

/* --- introspection ------------------------------------------------------- */

/** Counters of this rank (for leak checks, `ray-mpi status` and metrics). */
typedef struct rmpi_runtime_stats {
    uint64_t owned_objects;    /**< entries in this rank's owner table */
    uint64_t borrowed_objects; /**< refs of other owners this rank holds */
    uint64_t pending_tasks;    /**< submitted by this rank, not finished */
    uint64_t queued_tasks;     /**< waiting for a slot on this rank */
    uint64_t running_tasks;    /**< executing on this rank */
    uint64_t tasks_submitted;  /**< ever, by this rank */
    uint64_t tasks_executed;   /**< ever, on this rank */
    uint64_t tasks_stolen;     /**< ever, taken by this rank from others */
    uint64_t store_objects;    /**< objects in this rank's store */
    uint64_t store_bytes;      /**< bytes allocated in this rank's store */
    uint64_t actors_owned;     /**< actors this rank created that are not dead */
    uint64_t actors_hosted;    /**< actors alive on this rank */
    uint64_t actor_refs;       /**< actors this rank has called or looked up */
    uint64_t device_objects;   /**< device objects held on this rank (rmpi_return_device) */
    uint64_t device_bytes;     /**< their bytes in GPU memory */
    uint64_t device_spilled;   /**< their bytes spilled to host memory */
    uint64_t store_pulls;      /**< ever: objects pulled into this rank's store from other nodes */
} rmpi_runtime_stats_t;

RMPI_API rmpi_status_t rmpi_runtime_stats(rmpi_runtime_stats_t *stats_p);

/* --- wall-time checkpoints ------------------------------------------------ */

/** Exit status of a rank that ran its checkpoint hooks on the checkpoint signal. */
#define RMPI_EXIT_CHECKPOINTED 85

/** What a checkpoint or restore hook is told (restore hooks run before rmpi_rank() works). */
typedef struct rmpi_checkpoint_info {
    int      rank, size;
    unsigned restart_count; /**< how often the job was requeued (SLURM_RESTART_COUNT) */
} rmpi_checkpoint_info_t;

/** A checkpoint or restore hook: return RMPI_OK or why it failed. */
typedef rmpi_status_t (*rmpi_checkpoint_fn_t)(void *arg, const rmpi_checkpoint_info_t *info);

/**
 * Register a pair of hooks on this rank (either may be NULL, not both; at
 * most 32 pairs). Register before rmpi_init so that worker ranks, which do
 * not return from it, have them too.
 *
 * - @a restore runs inside rmpi_init on every rank of a requeued job
 *   (restart count > 0), before any task; a failure fails rmpi_init with its
 *   status.
 * - @a checkpoint runs when the rank receives SIGUSR1 (`#SBATCH
 *   --signal=USR1@SECONDS`, `scancel --signal=USR1`, mpirun forwards it):
 *   hooks run in registration order on a runtime thread while tasks go on,
 *   then the rank removes its shared memory and exits with
 *   RMPI_EXIT_CHECKPOINTED (1 if a hook failed). A job script requeues on
 *   that status (`scontrol requeue $SLURM_JOB_ID`). SIGUSR1 is taken only
 *   while at least one checkpoint hook is registered and the program left
 *   it at its default action.
 */
RMPI_API rmpi_status_t rmpi_register_checkpoint(rmpi_checkpoint_fn_t checkpoint,
                                                rmpi_checkpoint_fn_t restore, void *arg);
/** How often the job was requeued (SLURM_RESTART_COUNT), read at rmpi_init; 0 before. */
RMPI_API unsigned rmpi_restart_count(void);

#ifdef __cplusplus
}
#endif

#endif /* RAYMPI_H_ */
