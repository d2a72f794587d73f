/*
 * runtime/status_srv.c - rank 0 serves `ray-mpi status` on a Unix-domain
 * socket in the job's run directory (protocol: runtime/status.h).
 *
 * `ray-mpi status` is a separate process, not part of the MPI job, and the
 * runtime listens on no TCP port: a socket file in the per-job, mode-0700 run
 * directory is found from the job ID alone and reachable only by the job's
 * user. One thread sleeps in poll() on the socket and a stop pipe (no
 * spinning when idle) and answers one client at a time with a report built
 * from every rank's view (status_view.c).
 */
#include "runtime/status.h"

#include "runtime/rt_int.h"

#include "base/log.h"
#include "base/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define RT_STATUS_REQUEST_MAX 64

static struct {
    bool      serving;
    int       listen_fd;
    int       stop_pipe[2]; /* written once by rt_status_stop */
    pthread_t thread;
    char      path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char      job_id[NAME_MAX + 1];
} rt_srv = {.listen_fd = -1, .stop_pipe = {-1, -1}};

void rt_status_unlink(void)
{
    if (rt_srv.path[0] != '\0') {
        (void)unlink(rt_srv.path);
    }
}

/* --- the report ----------------------------------------------------------------------------- */

static void rt_status_totals(const rt_status_rank_t *views, const bool *answered,
                             rt_status_rank_t *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (int r = 0; r < rt.size; ++r) {
        if (!answered[r]) {
            continue;
        }
        sum->cpus += views[r].cpus;
        sum->cpus_free += views[r].cpus_free;
        sum->gpus += views[r].gpus;
        sum->gpus_free += views[r].gpus_free;
        sum->queued += views[r].queued;
        sum->running += views[r].running;
        sum->executed += views[r].executed;
        sum->store_objects += views[r].store_objects;
        sum->store_bytes += views[r].store_bytes;
        sum->store_total += views[r].store_total;
        sum->store_spilled += views[r].store_spilled;
        sum->device_objects += views[r].device_objects;
        sum->device_bytes += views[r].device_bytes;
        sum->actors_hosted += views[r].actors_hosted;
    }
}

static void rt_status_text_rank(FILE *out, const rt_status_rank_t *v)
{
    fprintf(out,
            "rank %-5d node %d %s pid %" PRId64 ": cpus %g/%g free, gpus %g/%g free; tasks %" PRIu64
            " queued, %" PRIu64 " running, %" PRIu64 " executed; store %" PRIu64
            " object(s), %" PRIu64 " B; actors %" PRIu64,
            v->rank, v->node, v->host, v->pid, v->cpus_free, v->cpus, v->gpus_free, v->gpus,
            v->queued, v->running, v->executed, v->store_objects, v->store_bytes, v->actors_hosted);
    if (v->store_spilled > 0 || v->store_evictions > 0 || v->store_pulls > 0) {
        fprintf(out, "; store %" PRIu64 " B spilled, %" PRIu64 " evicted, %" PRIu64 " pulled",
                v->store_spilled, v->store_evictions, v->store_pulls);
    }
    if (v->device_objects > 0) {
        fprintf(out, "; device objects %" PRIu64 ", %" PRIu64 " B (+%" PRIu64 " B spilled)",
                v->device_objects, v->device_bytes, v->device_spilled);
    }
    for (uint32_t i = 0; i < v->num_names; ++i) {
        fprintf(out, "%s %s x%" PRIu32, i == 0 ? "; running" : ",", v->names[i].name,
                v->names[i].count);
    }
    fputc('\n', out);
}

static void rt_status_text(FILE *out, const rt_status_rank_t *views, const bool *answered)
{
    rt_status_rank_t sum;

    rt_status_totals(views, answered, &sum);
    fprintf(out, "%-10s job %s: %d rank(s) on %d node(s), head pid %ld\n", "runtime", rt_srv.job_id,
            rt.size, rt.num_nodes, (long)getpid());
    fprintf(out,
            "%-10s cpus %g/%g free, gpus %g/%g free, store %" PRIu64 " of %" PRIu64 " B in %" PRIu64
            " object(s)\n",
            "resources", sum.cpus_free, sum.cpus, sum.gpus_free, sum.gpus, sum.store_bytes,
            sum.store_total, sum.store_objects);
    fprintf(out, "%-10s %" PRIu64 " queued, %" PRIu64 " running, %" PRIu64 " executed\n", "tasks",
            sum.queued, sum.running, sum.executed);
    for (int r = 0; r < rt.size; ++r) {
        if (answered[r]) {
            rt_status_text_rank(out, &views[r]);
        } else {
            fprintf(out, "rank %-5d %s\n", r,
                    rt_cluster_is_dead(rt.cluster, r) ? "dead" : "no answer");
        }
    }
}

/* Host names and function names come from this job, but quote them properly anyway. */
static void rt_status_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; ++s) {
        if (*s == '"' || *s == '\\') {
            fprintf(out, "\\%c", *s);
        } else if ((unsigned char)*s < 0x20) {
            fprintf(out, "\\u%04x", (unsigned char)*s);
        } else {
            fputc(*s, out);
        }
    }
    fputc('"', out);
}

static void rt_status_json_rank(FILE *out, const rt_status_rank_t *v)
{
    fprintf(out, "{\"rank\":%d,\"state\":\"up\",\"node\":%d,\"host\":", v->rank, v->node);
    rt_status_json_str(out, v->host);
    fprintf(out,
            ",\"pid\":%" PRId64 ",\"cpus\":%g,\"cpus_free\":%g,\"gpus\":%g,\"gpus_free\":%g,"
            "\"tasks_queued\":%" PRIu64 ",\"tasks_running\":%" PRIu64 ",\"tasks_executed\":%" PRIu64
            ",\"tasks_submitted\":%" PRIu64 ",\"store_objects\":%" PRIu64
            ",\"store_bytes\":%" PRIu64 ",\"store_total\":%" PRIu64 ",\"store_spilled\":%" PRIu64
            ",\"store_evictions\":%" PRIu64 ",\"store_pulls\":%" PRIu64
            ",\"device_objects\":%" PRIu64 ",\"device_bytes\":%" PRIu64
            ",\"device_spilled\":%" PRIu64 ",\"actors_hosted\":%" PRIu64 ",\"running\":{",
            v->pid, v->cpus, v->cpus_free, v->gpus, v->gpus_free, v->queued, v->running,
            v->executed, v->submitted, v->store_objects, v->store_bytes, v->store_total,
            v->store_spilled, v->store_evictions, v->store_pulls, v->device_objects,
            v->device_bytes, v->device_spilled, v->actors_hosted);
    for (uint32_t i = 0; i < v->num_names; ++i) {
        fputs(i == 0 ? "" : ",", out);
        rt_status_json_str(out, v->names[i].name);
        fprintf(out, ":%" PRIu32, v->names[i].count);
    }
    fputs("}}", out);
}

static void rt_status_json(FILE *out, const rt_status_rank_t *views, const bool *answered)
{
    rt_status_rank_t sum;

    rt_status_totals(views, answered, &sum);
    fputs("{\"job\":", out);
    rt_status_json_str(out, rt_srv.job_id);
    fprintf(out,
            ",\"ranks\":%d,\"nodes\":%d,\"head_pid\":%ld,\"cpus\":%g,\"cpus_free\":%g,"
            "\"gpus\":%g,\"gpus_free\":%g,\"tasks_queued\":%" PRIu64 ",\"tasks_running\":%" PRIu64
            ",\"tasks_executed\":%" PRIu64 ",\"rank_views\":[",
            rt.size, rt.num_nodes, (long)getpid(), sum.cpus, sum.cpus_free, sum.gpus, sum.gpus_free,
            sum.queued, sum.running, sum.executed);
    for (int r = 0; r < rt.size; ++r) {
        fputs(r == 0 ? "" : ",", out);
        if (answered[r]) {
            rt_status_json_rank(out, &views[r]);
        } else {
            fprintf(out, "{\"rank\":%d,\"state\":\"%s\"}", r,
                    rt_cluster_is_dead(rt.cluster, r) ? "dead" : "no answer");
        }
    }
    fputs("]}\n", out);
}

/* The report into a malloc'd buffer (*text_p, *len_p); false when out of memory. */
static bool rt_status_report(bool json, char **text_p, size_t *len_p)
{
    rt_status_rank_t *views    = calloc((size_t)rt.size, sizeof(*views));
    bool             *answered = calloc((size_t)rt.size, sizeof(*answered));
    FILE             *out      = open_memstream(text_p, len_p);
    bool              ok       = views != NULL && answered != NULL && out != NULL &&
              rt_status_gather(RT_STATUS_GATHER_TIMEOUT, views, answered) == RMPI_OK;

    if (ok) {
        (json ? rt_status_json : rt_status_text)(out, views, answered);
    }
    if (out != NULL) {
        ok = fclose(out) == 0 && ok;
    }
    free(views);
    free(answered);
    return ok;
}

/* --- the connection ------------------------------------------------------------------------- */

/* Send all of @a buf; a client that went away gives EPIPE here, not SIGPIPE. */
static void rt_status_send(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            base_debug("status: client gone while sending: %m");
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Read one request line into @a line; false on timeout, EOF or an over-long line. */
static bool rt_status_read_line(int fd, char *line, size_t size)
{
    size_t used = 0;

    while (used + 1 < size) {
        ssize_t n = recv(fd, line + used, size - 1 - used, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        used += (size_t)n;
        line[used] = '\0';
        if (strchr(line, '\n') != NULL) {
            *strchr(line, '\n') = '\0';
            return true;
        }
    }
    return false;
}

/*
 * After an error, take what the client still sends (bounded by the receive
 * timeout) so that closing with unread bytes does not reset the connection
 * before the client has read the error.
 */
static void rt_status_drain(int fd)
{
    char sink[256];

    (void)shutdown(fd, SHUT_WR);
    for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), 0) > 0; ++i) {
    }
}

static void rt_status_serve_client(int fd)
{
    struct timeval io = {.tv_sec = RT_STATUS_IO_TIMEOUT};
    char           line[RT_STATUS_REQUEST_MAX];
    char          *text = NULL;
    size_t         len  = 0;
    const char    *err;

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io, sizeof(io));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io, sizeof(io));
    if (!rt_status_read_line(fd, line, sizeof(line))) {
        err = "error: expected a request line (\"status\" or \"status json\")\n";
    } else if (strcmp(line, "status") != 0 && strcmp(line, "status json") != 0) {
        err = "error: unknown request (expected \"status\" or \"status json\")\n";
    } else if (!rt_status_report(strcmp(line, "status json") == 0, &text, &len)) {
        err = "error: the runtime could not build its report\n";
    } else {
        err = NULL;
    }
    if (err != NULL) {
        base_debug("status: %s", err);
        rt_status_send(fd, err, strlen(err));
        rt_status_drain(fd);
    } else {
        rt_status_send(fd, text, len);
    }
    free(text);
}

static void *rt_status_thread(void *arg)
{
    struct pollfd fds[2] = {{.fd = rt_srv.listen_fd, .events = POLLIN},
                            {.fd = rt_srv.stop_pipe[0], .events = POLLIN}};

    (void)arg;
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            base_warn("status: poll failed, no more status reports: %m");
            return NULL;
        }
        if (fds[1].revents != 0) {
            return NULL;
        }
        if (fds[0].revents & POLLIN) {
            int fd = accept(rt_srv.listen_fd, NULL, NULL);

            if (fd >= 0) {
                (void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* tasks may fork and exec */
                rt_status_serve_client(fd);
                close(fd);
            }
        }
    }
}

/* --- start and stop ------------------------------------------------------------------------- */

/* Bind and listen on <run dir>/status.sock; a stale file of a dead run is replaced. */
static rmpi_status_t rt_status_listen(void)
{
    char               dir[PATH_MAX];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int                n;

    if (base_run_dir(dir, sizeof(dir)) != RMPI_OK ||
        base_job_id(rt_srv.job_id, sizeof(rt_srv.job_id)) != RMPI_OK) {
        return RMPI_ERR_IO;
    }
    n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir, RT_STATUS_SOCKET_NAME);
    if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
        base_warn("status: run dir '%s' is too long for a socket path (%zu bytes at most); "
                  "`ray-mpi status` will not see this job",
                  dir, sizeof(addr.sun_path) - sizeof("/" RT_STATUS_SOCKET_NAME));
        return RMPI_ERR_TRUNCATED;
    }
    rt_srv.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rt_srv.listen_fd < 0) {
        return RMPI_ERR_IO;
    }
    (void)unlink(addr.sun_path); /* our job's own run dir: only a dead run of it left this */
    if (bind(rt_srv.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        chmod(addr.sun_path, 0600) != 0 || listen(rt_srv.listen_fd, 4) != 0) {
        base_warn("status: cannot listen on '%s': %m", addr.sun_path);
        close(rt_srv.listen_fd);
        rt_srv.listen_fd = -1;
        return RMPI_ERR_IO;
    }
    memcpy(rt_srv.path, addr.sun_path, (size_t)n + 1);
    return RMPI_OK;
}

static void rt_status_close_fds(void)
{
    rt_status_unlink();
    rt_srv.path[0] = '\0';
    for (int i = 0; i < 2; ++i) {
        if (rt_srv.stop_pipe[i] >= 0) {
            close(rt_srv.stop_pipe[i]);
            rt_srv.stop_pipe[i] = -1;
        }
    }
    if (rt_srv.listen_fd >= 0) {
        close(rt_srv.listen_fd);
        rt_srv.listen_fd = -1;
    }
}

void rt_status_start(void)
{
    if (rt_srv.serving || rt_status_listen() != RMPI_OK) {
        return;
    }
    if (pipe(rt_srv.stop_pipe) != 0 || fcntl(rt_srv.stop_pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(rt_srv.stop_pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
        pthread_create(&rt_srv.thread, NULL, rt_status_thread, NULL) != 0) {
        base_warn("status: cannot start the status thread: %m");
        rt_status_close_fds();
        return;
    }
    rt_srv.serving = true;
    base_debug("status: serving on %s", rt_srv.path);
}

void rt_status_stop(void)
{
    if (!rt_srv.serving) {
        return;
    }
    /* A client being served is finished first. */
    ssize_t n = write(rt_srv.stop_pipe[1], "x", 1);

    (void)n; /* a full pipe already holds the stop */
    pthread_join(rt_srv.thread, NULL);
    rt_status_close_fds();
    rt_srv.serving = false;
}
