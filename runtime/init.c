/*
 * runtime/init.c - rmpi_init / rmpi_shutdown, the wire-up exchange, the
 * worker's serve loop, and the runtime's message plumbing.
 *
 * Wire-up (after the transport's own bootstrap): every rank sends HELLO to
 * rank 0 with its function-table digest, resources, node and store key;
 * rank 0 checks the digests, and answers every rank with one WELCOME holding
 * the verdict and all ranks' descriptions. It is an exchange over active
 * messages rather than an MPI collective so that a dead rank fails it
 * instead of hanging it.
 */
#include "runtime/actor.h"
#include "runtime/devobj.h"
#include "runtime/nodepull.h"
#include "runtime/pg.h"
#include "runtime/rt_int.h"
#include "runtime/status.h"
#include "runtime/timeline.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/rundir.h"
#include "gpu/gpu.h"
#include "objstore/remote.h"

#include <errno.h>
#include <hwloc.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

rt_t rt = {.phase = RT_DOWN};

#define RT_WIREUP_TIMEOUT 120.0
#define RT_TIMELINE_TIMEOUT 10.0

/* --- hash tables --------------------------------------------------------------- */

static uint64_t rt_hash_oid(const void *key)
{
    return store_oid_hash(key);
}

static bool rt_obj_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, rt_obj_t, hnode)->oid);
}

static bool rt_task_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, rt_task_t, hnode)->id);
}

static bool rt_borrow_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, rt_borrow_t, hnode)->oid);
}

static bool rt_run_equal(const void *key, const base_hash_node_t *node)
{
    return store_oid_equal(key, &base_container_of(node, rt_run_t, hnode)->spec.task_id);
}

static uint64_t rt_hash_cookie(const void *key)
{
    return base_hash_u64(*(const uint64_t *)key);
}

static bool rt_locate_equal(const void *key, const base_hash_node_t *node)
{
    return *(const uint64_t *)key == base_container_of(node, rt_locate_req_t, hnode)->cookie;
}

static const base_hash_ops_t rt_objs_ops    = {rt_hash_oid, rt_obj_equal};
static const base_hash_ops_t rt_tasks_ops   = {rt_hash_oid, rt_task_equal};
static const base_hash_ops_t rt_borrows_ops = {rt_hash_oid, rt_borrow_equal};
static const base_hash_ops_t rt_runs_ops    = {rt_hash_oid, rt_run_equal};
static const base_hash_ops_t rt_locates_ops = {rt_hash_cookie, rt_locate_equal};

static rmpi_status_t rt_tables_init(void)
{
    base_list_init(&rt.ready);
    if (base_hash_init(&rt.objs, &rt_objs_ops, 1024) != RMPI_OK ||
        base_hash_init(&rt.tasks, &rt_tasks_ops, 1024) != RMPI_OK ||
        base_hash_init(&rt.borrows, &rt_borrows_ops, 64) != RMPI_OK ||
        base_hash_init(&rt.runs, &rt_runs_ops, 256) != RMPI_OK ||
        base_hash_init(&rt.locates, &rt_locates_ops, 64) != RMPI_OK ||
        rt_devobj_init() != RMPI_OK || rt_nodepull_init() != RMPI_OK) {
        return RMPI_ERR_NO_MEMORY;
    }
    rt_actor_job_init();
    return rt_actor_tables_init();
}

static void rt_tables_cleanup(void)
{
    base_hash_cleanup(&rt.objs);
    base_hash_cleanup(&rt.tasks);
    base_hash_cleanup(&rt.borrows);
    base_hash_cleanup(&rt.runs);
    base_hash_cleanup(&rt.locates);
    rt_actor_tables_cleanup();
}

/* --- time and waiting ------------------------------------------------------------- */

double rt_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Wait on @a cond with rt.lock until @a deadline_s (CLOCK_MONOTONIC seconds;
 * < 0: forever). Returns 0 or ETIMEDOUT. The condition variables are created
 * with CLOCK_MONOTONIC (rt_cond_init).
 */
int rt_cond_wait(pthread_cond_t *cond, double deadline_s)
{
    struct timespec ts;

    if (deadline_s < 0) {
        return pthread_cond_wait(cond, &rt.lock);
    }
    ts.tv_sec  = (time_t)deadline_s;
    ts.tv_nsec = (long)((deadline_s - (double)ts.tv_sec) * 1e9);
    return pthread_cond_timedwait(cond, &rt.lock, &ts);
}

int rt_waker_wait_locked(base_waker_t *waker, double deadline_s)
{
    uint32_t seq = base_waker_seq(waker);
    int      rc;

    pthread_mutex_unlock(&rt.lock);
    rc = base_waker_wait(waker, seq, deadline_s);
    pthread_mutex_lock(&rt.lock);
    return rc;
}

void rt_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* --- messages ----------------------------------------------------------------------- */

static void rt_send_free(void *arg, rmpi_status_t status)
{
    (void)status;
    free(arg);
}

rmpi_status_t rt_send(int dst, rt_msg_type_t type, void *buf, size_t len, bool owned)
{
    bool          copied = len <= xport_eager_max(rt.xp);
    rmpi_status_t status;

    status = xport_am_send(rt.xp, dst, (xport_am_id_t)(RT_AM_BASE + type), NULL, 0, buf, len,
                           owned && !copied ? rt_send_free : NULL, buf);
    if (owned && (copied || status != RMPI_OK)) {
        free(buf);
    }
    return status;
}

void rt_count_bad(int src, rt_msg_type_t type, rmpi_status_t status)
{
    if (atomic_fetch_add(&rt.stats.bad_messages, 1) == 0) {
        base_warn("runtime: dropped a malformed message of type %d from rank %d (%s); "
                  "further ones are only counted",
                  (int)type, src, rmpi_status_str(status));
    }
}

typedef void (*rt_handler_t)(int src, const void *data, size_t len);

static void rt_on_hello(int src, const void *data, size_t len);
static void rt_on_welcome(int src, const void *data, size_t len);
static void rt_on_shutdown(int src, const void *data, size_t len);
static void rt_on_timeline(int src, const void *data, size_t len);

static const rt_handler_t rt_handlers[RT_MSG_TYPE_LAST] = {
    [RT_MSG_HELLO]            = rt_on_hello,
    [RT_MSG_WELCOME]          = rt_on_welcome,
    [RT_MSG_TASK_PUSH]        = rt_on_task_push,
    [RT_MSG_TASK_DONE]        = rt_on_task_done,
    [RT_MSG_LOCATE]           = rt_on_locate,
    [RT_MSG_LOCATE_REPLY]     = rt_on_locate_reply,
    [RT_MSG_REF_UPDATE]       = rt_on_ref_update,
    [RT_MSG_FREE]             = rt_on_free,
    [RT_MSG_CANCEL]           = rt_on_cancel,
    [RT_MSG_STEAL]            = rt_on_steal,
    [RT_MSG_STEAL_REPLY]      = rt_on_steal_reply,
    [RT_MSG_MOVED]            = rt_on_moved,
    [RT_MSG_SHUTDOWN]         = rt_on_shutdown,
    [RT_MSG_TIMELINE]         = rt_on_timeline,
    [RT_MSG_ACTOR_LOCATE]     = rt_on_actor_locate,
    [RT_MSG_ACTOR_LOCATION]   = rt_on_actor_location,
    [RT_MSG_ACTOR_KILL]       = rt_on_actor_kill,
    [RT_MSG_ACTOR_EXITED]     = rt_on_actor_exited,
    [RT_MSG_ACTOR_NAME]       = rt_on_actor_name,
    [RT_MSG_ACTOR_NAME_REPLY] = rt_on_actor_name_reply,
    [RT_MSG_ACTOR_CHECKPOINT] = rt_on_actor_checkpoint,
    [RT_MSG_PG_CREATE]        = rt_on_pg_create,
    [RT_MSG_PG_REQUEST]       = rt_on_pg_request,
    [RT_MSG_PG_REPLY]         = rt_on_pg_reply,
    [RT_MSG_DEVOBJ_STAGE]     = rt_on_devobj_stage,
    [RT_MSG_DEVOBJ_STAGED]    = rt_on_devobj_staged,
    [RT_MSG_NODE_PULL]        = rt_on_node_pull,
    [RT_MSG_NODE_PULLED]      = rt_on_node_pulled,
    [RT_MSG_NODE_COPY]        = rt_on_node_copy,
};

typedef struct rt_rndv {
    rt_msg_type_t type;
    int           src;
    size_t        len;
    uint8_t       data[];
} rt_rndv_t;

static void rt_rndv_done(void *arg, rmpi_status_t status)
{
    rt_rndv_t *rndv = arg;

    if (status == RMPI_OK) {
        rt_handlers[rndv->type](rndv->src, rndv->data, rndv->len);
    }
    free(rndv);
}

/* One AM handler for all types: rendezvous payloads are received first. */
static void rt_am_dispatch(void *arg, int src, const void *hdr, size_t hdr_len,
                           xport_am_payload_t *payload)
{
    rt_msg_type_t type = (rt_msg_type_t)(uintptr_t)arg;
    rt_rndv_t    *rndv;

    (void)hdr, (void)hdr_len;
    if (payload->data != NULL) {
        rt_handlers[type](src, payload->data, payload->len);
        return;
    }
    rndv = malloc(sizeof(*rndv) + payload->len);
    if (rndv == NULL) {
        base_error("runtime: no memory for a %zu-byte message from rank %d", payload->len, src);
        return;
    }
    rndv->type = type;
    rndv->src  = src;
    rndv->len  = payload->len;
    if (xport_am_recv_data(rt.xp, payload, rndv->data, payload->len, rt_rndv_done, rndv) !=
        RMPI_OK) {
        free(rndv);
    }
}

/* --- resources of this rank ------------------------------------------------------------ */

static double rt_bound_pus(void)
{
    hwloc_topology_t topo;
    hwloc_bitmap_t   set = hwloc_bitmap_alloc();
    int              pus = 1;

    if (set != NULL && hwloc_topology_init(&topo) == 0) {
        if (hwloc_topology_load(topo) == 0 &&
            hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0) {
            pus = hwloc_bitmap_weight(set);
        }
        hwloc_topology_destroy(topo);
    }
    hwloc_bitmap_free(set);
    return pus > 0 ? pus : 1;
}

/*
 * In a Slurm step started with --cpus-per-task, the task's share of the node
 * (0 otherwise): clusters without task binding (TaskPlugin=task/none) leave
 * every PU of the node in the binding, which would count each CPU once per rank.
 */
static double rt_slurm_cpus(void)
{
    const char   *text = getenv("SLURM_CPUS_PER_TASK");
    char         *end  = NULL;
    unsigned long cpus;

    /* Parsed here, not with slurm/: the core library does not link libslurm. */
    if (text == NULL || getenv("SLURM_STEP_ID") == NULL) {
        return 0;
    }
    errno = 0;
    cpus  = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || cpus == 0 || cpus > 1u << 20) {
        base_warn("runtime: SLURM_CPUS_PER_TASK='%s' is not a CPU count; using the binding", text);
        return 0;
    }
    return (double)cpus;
}

/* RT_NUM_CPUS, else the Slurm task's CPUs, else the PUs this rank is bound to. */
static double rt_rank_cpus(void)
{
    double slurm;

    if (rt.conf.num_cpus > 0) {
        return rt.conf.num_cpus;
    }
    slurm = rt_slurm_cpus();
    return slurm > 0 ? slurm : rt_bound_pus();
}

/* RT_NUM_GPUS, or every visible device; a GPU task on a rank without a driver fails at run. */
static int rt_visible_gpus(void)
{
    int devices = gpu_init() == RMPI_OK ? gpu_device_count() : 0;

    if (rt.conf.num_gpus >= 0 && rt.conf.num_gpus > devices) {
        base_warn("runtime: RT_NUM_GPUS=%d but %d GPU(s) are visible; GPU tasks beyond them "
                  "will fail",
                  rt.conf.num_gpus, devices);
    }
    return rt.conf.num_gpus >= 0 ? rt.conf.num_gpus : devices;
}

/* --- wire-up ----------------------------------------------------------------------------- */

typedef struct rt_my_desc {
    rt_hello_t hello;
    char      *names[RT_MAX_CUSTOM];
    void      *rkey;
} rt_my_desc_t;

static rmpi_status_t rt_describe_self(rt_my_desc_t *me)
{
    double        amounts[RT_MAX_CUSTOM];
    size_t        count = 0, rkey_len = 0;
    store_stats_t sstats;
    rmpi_status_t status;

    memset(me, 0, sizeof(*me));
    status = rt_conf_parse_resources(rt.conf.resources, me->names, amounts, RT_MAX_CUSTOM, &count);
    if (status == RMPI_OK) {
        status = store_remote_rkey(rt.store, &me->rkey, &rkey_len);
    }
    if (status != RMPI_OK) {
        return status;
    }
    store_stats(rt.store, &sstats);
    me->hello.fn_digest       = rt_registry_digest();
    me->hello.fn_count        = (uint32_t)rt_registry_count();
    me->hello.desc.rank       = rt.rank;
    me->hello.desc.node       = rt.node;
    me->hello.desc.cpus       = rt_rank_cpus();
    me->hello.desc.gpus       = rt_visible_gpus();
    me->hello.desc.memory     = sstats.capacity;
    me->hello.desc.num_custom = (uint8_t)count;
    for (size_t i = 0; i < count; ++i) {
        me->hello.desc.custom[i].name     = me->names[i];
        me->hello.desc.custom[i].name_len = strlen(me->names[i]);
        me->hello.desc.custom[i].amount   = amounts[i];
    }
    me->hello.desc.rkey     = me->rkey;
    me->hello.desc.rkey_len = rkey_len;
    return RMPI_OK;
}

static void rt_forget_self(rt_my_desc_t *me)
{
    for (size_t i = 0; i < me->hello.desc.num_custom; ++i) {
        free(me->names[i]);
    }
    free(me->rkey);
}

/* Rank 0: all HELLOs are in; answer everyone. Called with rt.lock held. */
static void rt_welcome_all(void)
{
    rt_welcome_t    msg        = {.status = RMPI_OK, .num_ranks = (uint32_t)rt.size};
    char            error[256] = "";
    rt_rank_desc_t *descs      = calloc((size_t)rt.size, sizeof(*descs));
    size_t          len;
    void           *buf;

    for (int r = 0; r < rt.size && descs != NULL; ++r) {
        descs[r] = rt.hellos[r].desc;
        if (msg.status == RMPI_OK && (rt.hellos[r].fn_digest != rt.hellos[0].fn_digest ||
                                      rt.hellos[r].fn_count != rt.hellos[0].fn_count)) {
            msg.status = RMPI_ERR_MISMATCH;
            snprintf(error, sizeof(error),
                     "rank %d registered %u remote functions (digest %016llx) but rank 0 "
                     "registered %u (digest %016llx): every rank must register the same "
                     "functions in the same order",
                     r, rt.hellos[r].fn_count, (unsigned long long)rt.hellos[r].fn_digest,
                     rt.hellos[0].fn_count, (unsigned long long)rt.hellos[0].fn_digest);
        }
    }
    if (descs == NULL) {
        msg.status    = RMPI_ERR_NO_MEMORY;
        msg.num_ranks = 0;
        snprintf(error, sizeof(error), "rank 0 ran out of memory during wire-up");
    }
    msg.ranks     = descs;
    msg.error     = error;
    msg.error_len = strlen(error);
    len           = rt_welcome_size(&msg);
    for (int r = 0; r < rt.size; ++r) {
        buf = malloc(len);
        if (buf != NULL) {
            rt_welcome_encode(&msg, buf);
            (void)rt_send(r, RT_MSG_WELCOME, buf, len, true);
        }
    }
    free(descs);
}

static void rt_on_hello(int src, const void *data, size_t len)
{
    rt_hello_t msg;
    void      *copy;

    if (rt.rank != 0 || rt.hellos == NULL || src < 0 || src >= rt.size) {
        rt_count_bad(src, RT_MSG_HELLO, RMPI_ERR_MESSAGE);
        return;
    }
    copy = malloc(len);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, data, len);
    if (rt_hello_decode(copy, len, &msg) != RMPI_OK || msg.desc.rank != src) {
        rt_count_bad(src, RT_MSG_HELLO, RMPI_ERR_MESSAGE);
        free(copy);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    if (rt.hello_bufs[src] == NULL) {
        rt.hello_bufs[src] = copy;
        rt.hellos[src]     = msg;
        copy               = NULL;
        if (--rt.hellos_left == 0) {
            rt_welcome_all();
        }
    }
    pthread_mutex_unlock(&rt.lock);
    free(copy);
}

static void rt_on_welcome(int src, const void *data, size_t len)
{
    void *copy;

    if (src != 0) {
        rt_count_bad(src, RT_MSG_WELCOME, RMPI_ERR_MESSAGE);
        return;
    }
    copy = malloc(len);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, data, len);
    pthread_mutex_lock(&rt.lock);
    if (!rt.welcomed) {
        rt.welcome_buf = copy;
        rt.welcome_len = len;
        rt.welcomed    = true;
        copy           = NULL;
        pthread_cond_broadcast(&rt.cond);
    }
    pthread_mutex_unlock(&rt.lock);
    free(copy);
}

/* Map each rank's custom resource names to one job-wide index (first seen first). */
static rmpi_status_t rt_custom_names(const rt_welcome_t *msg, char **names, size_t *count_p)
{
    size_t count = 0;

    for (uint32_t r = 0; r < msg->num_ranks; ++r) {
        for (size_t i = 0; i < msg->ranks[r].num_custom; ++i) {
            const char *name = msg->ranks[r].custom[i].name;
            size_t      nlen = msg->ranks[r].custom[i].name_len, k;

            for (k = 0; k < count; ++k) {
                if (strlen(names[k]) == nlen && memcmp(names[k], name, nlen) == 0) {
                    break;
                }
            }
            if (k < count) {
                continue;
            }
            if (count == RT_MAX_CUSTOM) {
                base_error("runtime: the job has more than %d custom resource names",
                           RT_MAX_CUSTOM);
                return RMPI_ERR_CONFIG;
            }
            names[count] = strndup(name, nlen);
            if (names[count++] == NULL) {
                return RMPI_ERR_NO_MEMORY;
            }
        }
    }
    *count_p = count;
    return RMPI_OK;
}

static void rt_rank_res(const rt_rank_desc_t *desc, char *const *names, size_t num_names,
                        rt_rank_res_t *res)
{
    memset(res, 0, sizeof(*res));
    res->node         = desc->node;
    res->total.cpus   = desc->cpus;
    res->total.gpus   = desc->gpus;
    res->total.memory = desc->memory;
    for (size_t i = 0; i < desc->num_custom; ++i) {
        for (size_t k = 0; k < num_names; ++k) {
            if (strlen(names[k]) == desc->custom[i].name_len &&
                memcmp(names[k], desc->custom[i].name, desc->custom[i].name_len) == 0) {
                res->total.custom[k] = desc->custom[i].amount;
            }
        }
    }
}

static rmpi_status_t rt_build_view(const rt_welcome_t *msg)
{
    char         *names[RT_MAX_CUSTOM];
    size_t        num_names = 0;
    rmpi_status_t status    = rt_custom_names(msg, names, &num_names);

    if (status == RMPI_OK) {
        status =
            rt_cluster_create(rt.size, rt.rank, num_names, (const char *const *)names, &rt.cluster);
    }
    rt.peers = status == RMPI_OK ? calloc((size_t)rt.size, sizeof(*rt.peers)) : NULL;
    if (status == RMPI_OK && rt.peers == NULL) {
        status = RMPI_ERR_NO_MEMORY;
    }
    for (int r = 0; status == RMPI_OK && r < rt.size; ++r) {
        rt_rank_res_t res;

        rt_rank_res(&msg->ranks[r], names, num_names, &res);
        rt_cluster_set_rank(rt.cluster, r, &res);
        if (r == rt.rank) {
            rt.my_res = res.total;
        }
        rt.peers[r].node     = msg->ranks[r].node;
        rt.peers[r].rkey_len = msg->ranks[r].rkey_len;
        rt.peers[r].rkey     = malloc(msg->ranks[r].rkey_len + 1);
        if (rt.peers[r].rkey == NULL) {
            status = RMPI_ERR_NO_MEMORY;
        } else {
            memcpy(rt.peers[r].rkey, msg->ranks[r].rkey, msg->ranks[r].rkey_len);
        }
    }
    for (size_t k = 0; k < num_names; ++k) {
        free(names[k]);
    }
    return status;
}

/* Before HELLO: tasks may arrive as soon as rank 0 has everyone's HELLO. */
static rmpi_status_t rt_start_exec(double cpus, int gpus)
{
    rt_exec_params_t params = {
        .field_mask  = RT_EXEC_PARAM_CPUS | RT_EXEC_PARAM_GPUS | RT_EXEC_PARAM_MAX_THREADS,
        .cpus        = cpus,
        .gpus        = gpus,
        .max_threads = rt.conf.max_threads,
        .run_cb      = rt_exec_run,
    };
    rmpi_status_t status = rt_exec_create(&params, &rt.exec);

    if (status == RMPI_OK && rt.conf.steal && rt.size > 1) {
        rt_exec_set_idle_cb(rt.exec, rt_steal_on_idle, NULL);
    }
    return status;
}

static rmpi_status_t rt_wireup(void)
{
    rt_my_desc_t  me;
    rt_welcome_t  msg;
    double        deadline = rt_now() + RT_WIREUP_TIMEOUT;
    rmpi_status_t status   = rt_describe_self(&me);
    size_t        len;
    void         *buf;

    if (status == RMPI_OK) {
        status = rt_start_exec(me.hello.desc.cpus, (int)me.hello.desc.gpus);
    }
    if (status != RMPI_OK) {
        rt_forget_self(&me);
        return status;
    }
    len = rt_hello_size(&me.hello);
    buf = malloc(len);
    if (buf == NULL) {
        rt_forget_self(&me);
        return RMPI_ERR_NO_MEMORY;
    }
    rt_hello_encode(&me.hello, buf);
    rt_forget_self(&me);
    status = rt_send(0, RT_MSG_HELLO, buf, len, true);
    pthread_mutex_lock(&rt.lock);
    while (status == RMPI_OK && !rt.welcomed) {
        if (rt_cond_wait(&rt.cond, deadline) == ETIMEDOUT) {
            status = RMPI_ERR_TIMEOUT;
        }
    }
    pthread_mutex_unlock(&rt.lock);
    if (status != RMPI_OK) {
        base_error("runtime: wire-up with rank 0 failed: %s", rmpi_status_str(status));
        return status;
    }
    status = rt_welcome_decode(rt.welcome_buf, rt.welcome_len, &msg);
    if (status != RMPI_OK || msg.status != RMPI_OK) {
        if (status == RMPI_OK) {
            status = msg.status;
            base_error("runtime: %.*s", (int)msg.error_len, msg.error);
            rt_welcome_clear(&msg);
        }
        return status;
    }
    if (msg.num_ranks != (uint32_t)rt.size) {
        status = RMPI_ERR_MESSAGE;
    } else {
        status = rt_build_view(&msg);
    }
    rt_welcome_clear(&msg);
    return status;
}

/* --- start-up ------------------------------------------------------------------------------ */

static rmpi_status_t rt_start_mpi(int *argc, char ***argv)
{
    int inited = 0, provided = 0;

    MPI_Initialized(&inited);
    if (inited) {
        MPI_Query_thread(&provided);
        if (provided < MPI_THREAD_MULTIPLE) {
            base_warn("runtime: MPI was initialized without MPI_THREAD_MULTIPLE; user code "
                      "must not call MPI from tasks");
        }
        return RMPI_OK;
    }
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        base_error("runtime: MPI_Init_thread failed");
        return RMPI_ERR_TRANSPORT;
    }
    rt.mpi_ours = true;
    return RMPI_OK;
}

static rmpi_status_t rt_start_transport(void)
{
    xport_am_handler_def_t defs[RT_MSG_TYPE_LAST];
    size_t                 n = 0;
    xport_params_t         params;

    for (int type = 1; type < RT_MSG_TYPE_LAST; ++type) {
        defs[n++] = (xport_am_handler_def_t){(xport_am_id_t)(RT_AM_BASE + type), rt_am_dispatch,
                                             (void *)(uintptr_t)type};
    }
    params = (xport_params_t){
        .field_mask    = XPORT_PARAM_AM_TABLE_SIZE | XPORT_PARAM_HANDLERS | XPORT_PARAM_FAILURE_CB,
        .am_table_size = RT_AM_TABLE_SIZE,
        .handlers      = defs,
        .num_handlers  = n,
        .failure_cb    = rt_on_peer_failure,
    };
    return xport_init(&params, &rt.xp);
}

static rmpi_status_t rt_start_store(void)
{
    store_params_t params = {.field_mask = STORE_PARAM_RANK, .rank = rt.rank};
    rmpi_status_t  status = store_create(&params, &rt.store);

    if (status == RMPI_OK) {
        rt_signals_install(store_shm_name(rt.store), store_spill_folder(rt.store));
        status = store_remote_attach(rt.store, rt.xp);
    }
    return status;
}

static rmpi_status_t rt_start_wireup_state(void)
{
    rt.rank      = xport_rank(rt.xp);
    rt.size      = xport_size(rt.xp);
    rt.node      = xport_node_of(rt.xp, rt.rank);
    rt.num_nodes = xport_num_nodes(rt.xp);
    base_log_set_rank(rt.rank);
    if (rt.rank == 0) {
        rt.hellos      = calloc((size_t)rt.size, sizeof(*rt.hellos));
        rt.hello_bufs  = calloc((size_t)rt.size, sizeof(*rt.hello_bufs));
        rt.hellos_left = rt.size;
        if (rt.hellos == NULL || rt.hello_bufs == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
    }
    return RMPI_OK;
}

static void rt_free_wireup_state(void)
{
    for (int r = 0; rt.hello_bufs != NULL && r < rt.size; ++r) {
        free(rt.hello_bufs[r]);
    }
    free(rt.hello_bufs);
    free(rt.hellos);
    free(rt.welcome_buf);
    rt.hello_bufs  = NULL;
    rt.hellos      = NULL;
    rt.welcome_buf = NULL;
}

static void rt_teardown(bool finalize_mpi);
static void rt_serve(void) __attribute__((noreturn));

/*
 * The transport's handlers are installed before its bootstrap barrier, and a
 * HELLO may reach rank 0 before rank 0's xport_init returns: the state they
 * touch (rt.lock, the hello table) is ready before xport_init is called,
 * except the hello table, which needs the size: rank 0 drops nothing because
 * rt_on_hello only runs after xport_init returned on rank 0 (the transport
 * starts delivering when its progress thread starts, at the end of init).
 */
rmpi_status_t rmpi_init(int *argc, char ***argv, const rmpi_init_params_t *params)
{
    rt_phase_t    expected = RT_DOWN;
    rmpi_status_t status;

    if (params != NULL && (params->field_mask & ~(uint64_t)RMPI_INIT_PARAM_CONFIG) != 0) {
        base_error("rmpi_init: unknown bits in params->field_mask");
        return RMPI_ERR_INVALID_ARG;
    }
    if (!atomic_compare_exchange_strong(&rt.phase, &expected, RT_WIRING)) {
        base_error("rmpi_init: the runtime is already initialized");
        return RMPI_ERR_EXISTS;
    }
    pthread_mutex_init(&rt.lock, NULL);
    rt_cond_init(&rt.cond);
    rt_registry_freeze();
    status = rt_conf_load(
        params != NULL && (params->field_mask & RMPI_INIT_PARAM_CONFIG) ? params->config : NULL,
        params != NULL && (params->field_mask & RMPI_INIT_PARAM_CONFIG) ? params->num_config : 0,
        &rt.conf);
    if (status != RMPI_OK) {
        goto fail_conf;
    }
    gpu_slurm_bind(); /* before anything starts the CUDA driver */
    if ((status = rt_tables_init()) != RMPI_OK || (status = rt_start_mpi(argc, argv)) != RMPI_OK) {
        goto fail;
    }
    pthread_mutex_lock(&rt.lock); /* HELLOs wait for the hello table */
    status = rt_start_transport();
    if (status == RMPI_OK) {
        status = rt_start_wireup_state();
    }
    pthread_mutex_unlock(&rt.lock);
    if (status != RMPI_OK || (status = rt_start_store()) != RMPI_OK ||
        (status = rt_wireup()) != RMPI_OK || (status = rt_pg_start()) != RMPI_OK) {
        goto fail;
    }
    rt_free_wireup_state();
    rt_devobj_pin_store(); /* device objects copy straight into the store */
    if ((status = rt_checkpoint_start()) != RMPI_OK) { /* tasks that arrive wait for it */
        goto fail;
    }
    if (rt.conf.timeline[0] != '\0') {
        (void)rt_timeline_enable(rt.rank);
    }
    pthread_mutex_lock(&rt.lock);
    atomic_store(&rt.phase, RT_UP);
    pthread_cond_broadcast(&rt.cond); /* tasks that arrived during wire-up */
    pthread_mutex_unlock(&rt.lock);
    if (rt.conf.steal && rt.size > 1) {
        rt_steal_on_idle(NULL, true); /* the pool went idle before there was anyone to ask */
    }
    base_debug("runtime: up on rank %d of %d (node %d of %d, %.2f CPUs, %.0f GPUs)", rt.rank,
               rt.size, rt.node, rt.num_nodes, rt.my_res.cpus, rt.my_res.gpus);
    if (rt.rank != 0) {
        rt_serve();
    }
    rt_status_start(); /* `ray-mpi status` asks the head */
    return RMPI_OK;
fail:
    base_error("rmpi_init failed on rank %d: %s", rt.xp != NULL ? rt.rank : -1,
               rmpi_status_str(status));
    rt_free_wireup_state();
    rt_teardown(false);
    rt_conf_release(&rt.conf);
fail_conf:
    rt_registry_thaw();
    atomic_store(&rt.phase, RT_DOWN);
    return status;
}

/* --- shut-down ------------------------------------------------------------------------------- */

static void rt_on_shutdown(int src, const void *data, size_t len)
{
    (void)data, (void)len;
    if (src != 0) {
        rt_count_bad(src, RT_MSG_SHUTDOWN, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    rt.shutdown_requested = true;
    pthread_cond_broadcast(&rt.cond);
    pthread_mutex_unlock(&rt.lock);
}

static void rt_on_timeline(int src, const void *data, size_t len)
{
    char *copy;

    if (rt.rank != 0 || src <= 0 || src >= rt.size) {
        rt_count_bad(src, RT_MSG_TIMELINE, RMPI_ERR_MESSAGE);
        return;
    }
    copy = malloc(len + 1);
    pthread_mutex_lock(&rt.lock);
    if (copy != NULL && rt.timeline_parts != NULL && rt.timeline_parts[src] == NULL) {
        memcpy(copy, data, len);
        rt.timeline_parts[src] = copy;
        rt.timeline_lens[src]  = len;
        copy                   = NULL;
        --rt.timeline_left;
        pthread_cond_broadcast(&rt.cond);
    }
    pthread_mutex_unlock(&rt.lock);
    free(copy);
}

/* Workers send their events to rank 0; rank 0 writes the file. */
static void rt_timeline_gather(void)
{
    char  *mine = NULL;
    size_t len  = 0;

    if (!rt_timeline_enabled() || rt_timeline_serialize(&mine, &len) != RMPI_OK) {
        return;
    }
    if (rt.rank != 0) {
        (void)rt_send(0, RT_MSG_TIMELINE, mine, len, true);
        return;
    }
    double deadline = rt_now() + RT_TIMELINE_TIMEOUT;

    pthread_mutex_lock(&rt.lock);
    rt.timeline_parts[0] = mine;
    rt.timeline_lens[0]  = len;
    while (rt.timeline_left > 0 && rt_cond_wait(&rt.cond, deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&rt.lock);
    size_t n = 0;
    for (int r = 0; r < rt.size; ++r) {
        if (rt.timeline_parts[r] != NULL && rt.timeline_lens[r] > 0) {
            rt.timeline_parts[n]  = rt.timeline_parts[r];
            rt.timeline_lens[n++] = rt.timeline_lens[r];
        }
    }
    if (rt_timeline_write_file(rt.conf.timeline, (const char *const *)rt.timeline_parts,
                               rt.timeline_lens, n) == RMPI_OK) {
        base_info("runtime: timeline of %d ranks written to %s", rt.size, rt.conf.timeline);
    }
}

static void rt_timeline_prepare(void)
{
    if (rt.rank != 0 || !rt_timeline_enabled()) {
        return;
    }
    pthread_mutex_lock(&rt.lock);
    rt.timeline_parts = calloc((size_t)rt.size, sizeof(*rt.timeline_parts));
    rt.timeline_lens  = calloc((size_t)rt.size, sizeof(*rt.timeline_lens));
    rt.timeline_left  = rt.size - 1;
    for (int r = 1; r < rt.size; ++r) {
        rt.timeline_left -= xport_peer_dead(rt.xp, r);
    }
    pthread_mutex_unlock(&rt.lock);
}

static void rt_timeline_free(void)
{
    for (int r = 0; rt.timeline_parts != NULL && r < rt.size; ++r) {
        free(rt.timeline_parts[r]);
    }
    free(rt.timeline_parts);
    free(rt.timeline_lens);
    rt.timeline_parts = NULL;
    rt.timeline_lens  = NULL;
    rt_timeline_reset();
}

static bool rt_free_borrow(base_hash_node_t *node, void *arg)
{
    (void)arg;
    free(base_container_of(node, rt_borrow_t, hnode));
    return true;
}

static bool rt_free_obj(base_hash_node_t *node, void *arg)
{
    rt_obj_t *obj = base_container_of(node, rt_obj_t, hnode);

    (void)arg;
    free(obj->data);
    free(obj->copies);
    free(obj);
    return true;
}

static bool rt_free_task(base_hash_node_t *node, void *arg)
{
    (void)arg;
    rt_task_free(base_container_of(node, rt_task_t, hnode));
    return true;
}

/* Free what the tables still hold (the job is over: no messages, no owners). */
static void rt_tables_drain(void)
{
    if (rt.objs.buckets != NULL) {
        base_hash_foreach(&rt.objs, rt_free_obj, NULL);
        base_hash_foreach(&rt.tasks, rt_free_task, NULL);
        base_hash_foreach(&rt.borrows, rt_free_borrow, NULL);
    }
}

/*
 * Order matters: handlers run until xport_fini stops the progress thread, and
 * they use the executor and the store, so those go after it.
 */
/*
 * After a rank died, Open MPI's MPI_Finalize may wait for it forever (its
 * finalize fence counts every process): the job ends without it then.
 */
static bool rt_may_finalize_mpi(void)
{
    if (!atomic_load(&rt.peers_died)) {
        return true;
    }
    base_warn("runtime: a rank died during the job; MPI_Finalize is skipped (it could wait "
              "for the dead rank forever)");
    return false;
}

static void rt_teardown(bool finalize_mpi)
{
    rt_status_stop();
    rt_checkpoint_stop();
    rt_nodepull_stop(); /* its worker starts pulls: none may start during the detach */
    if (rt.store != NULL) {
        store_remote_detach(rt.store);
    }
    rt_devobj_stop(); /* its stager sends through the transport */
    if (rt.xp != NULL) {
        (void)xport_fini(rt.xp);
        rt.xp = NULL;
    }
    if (rt.exec != NULL) {
        rt_exec_destroy(rt.exec);
        rt.exec = NULL;
    }
    rt_devobj_fini(); /* no task reads device objects any more; before the store and GPUs go */
    rt_nodepull_fini();
    if (rt.store != NULL) {
        rt_signals_remove();
        store_destroy(rt.store);
        rt.store = NULL;
    }
    rt_pg_stop();
    rt_tables_drain();
    rt_tables_cleanup();
    for (int r = 0; rt.peers != NULL && r < rt.size; ++r) {
        free(rt.peers[r].rkey);
    }
    free(rt.peers);
    rt.peers = NULL;
    if (rt.cluster != NULL) {
        rt_cluster_destroy(rt.cluster);
        rt.cluster = NULL;
    }
    gpu_finalize();
    base_run_dir_remove_if_empty(); /* the last rank of the node takes the job's folder along */
    if (finalize_mpi && rt.mpi_ours && rt_may_finalize_mpi()) {
        MPI_Finalize();
        rt.mpi_ours = false;
    }
}

/* Stop taking work and let running tasks finish (up to the grace period). */
static void rt_quiesce(void)
{
    atomic_store(&rt.phase, RT_STOPPING);
    rt_pg_quiesce(); /* tasks waiting for placement groups return */
    if (rt.exec != NULL &&
        rt_exec_stop(rt.exec, rt.conf.shutdown_grace, rt_exec_drop, NULL) == RMPI_ERR_TIMEOUT) {
        base_warn("runtime: tasks still running %.1f s after shutdown; leaving them",
                  rt.conf.shutdown_grace);
    }
    rt_actor_hosts_shutdown(); /* destructors run after the last call returned */
}

/*
 * A worker never returns to the program, so MPI that the program initialized
 * itself is finalized here too: else mpirun reports the exit as abnormal.
 */
static void rt_finalize_foreign_mpi(void)
{
    int finalized = 0;

    MPI_Finalized(&finalized);
    if (!finalized && rt_may_finalize_mpi()) {
        MPI_Finalize();
    }
}

static void rt_serve(void)
{
    pthread_mutex_lock(&rt.lock);
    while (!rt.shutdown_requested) {
        pthread_cond_wait(&rt.cond, &rt.lock);
    }
    pthread_mutex_unlock(&rt.lock);
    rt_quiesce();
    rt_timeline_gather();
    rt_timeline_free();
    rt_teardown(true);
    rt_finalize_foreign_mpi();
    rt_conf_release(&rt.conf);
    base_log_close();
    exit(0);
}

rmpi_status_t rmpi_shutdown(void)
{
    uint8_t buf[RT_MSG_HDR_LEN];
    size_t  len;

    if (!rt_is_up()) {
        return RMPI_ERR_NOT_READY;
    }
    if (rt.rank != 0) {
        base_error("rmpi_shutdown: only the driver (rank 0) shuts the runtime down");
        return RMPI_ERR_INVALID_ARG;
    }
    rt_status_stop(); /* its reports ask every rank: before they stop */
    rt_timeline_prepare();
    len = rt_bare_encode(RT_MSG_SHUTDOWN, buf);
    for (int r = 1; r < rt.size; ++r) {
        (void)rt_send(r, RT_MSG_SHUTDOWN, buf, len, false);
    }
    rt_quiesce();
    rt_timeline_gather();
    rt_timeline_free();
    rt_teardown(true);
    rt_conf_release(&rt.conf);
    rt_registry_thaw();
    memset(&rt.stats, 0, sizeof(rt.stats));
    atomic_store(&rt.peers_died, false);
    rt.shutdown_requested = false;
    rt.welcomed           = false;
    atomic_store(&rt.phase, RT_DOWN);
    return RMPI_OK;
}
