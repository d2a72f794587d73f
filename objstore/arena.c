/*
 * objstore/arena.c - shared-memory arenas and the clean-up of stale ones.
 *
 * A SIGKILLed rank cannot unlink its arena, and tmpfs keeps it (and its memory) until
 * someone does. So every store_create first looks for arenas of this user whose
 * creator is gone and removes them; the pid plus the process start time identify the
 * creator even after the pid has been reused.
 */
#include "objstore/arena.h"

#include "base/clock.h"
#include "base/hash.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define STORE_SHM_DIR "/dev/shm"

rmpi_status_t store_arena_name(const char *job_id, int rank, char *buf, size_t len)
{
    int n = snprintf(buf, len, "/" STORE_ARENA_PREFIX "%s-%d", job_id, rank);

    if ((n < 0) || ((size_t)n >= len) || (strchr(job_id, '/') != NULL)) {
        base_error("store: job id '%s' does not make a shared-memory name", job_id);
        return RMPI_ERR_INVALID_ARG;
    }
    return RMPI_OK;
}

rmpi_status_t store_proc_start_time(pid_t pid, uint64_t *start_p)
{
    char               path[64], buf[1024];
    const char        *p;
    unsigned long long start;
    ssize_t            n;
    int                fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return RMPI_ERR_NOT_FOUND;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return RMPI_ERR_IO;
    }
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': skip to its last ')'. */
    p = strrchr(buf, ')');
    if (p == NULL) {
        return RMPI_ERR_IO;
    }
    /* After ")": field 3 (state) ... field 22 (starttime) is the 20th. */
    for (int field = 3; field < 22; ++field) {
        p = strchr(p + 1, ' ');
        if (p == NULL) {
            return RMPI_ERR_IO;
        }
    }
    if (sscanf(p + 1, "%llu", &start) != 1) {
        return RMPI_ERR_IO;
    }
    *start_p = start;
    return RMPI_OK;
}

static uint64_t store_arena_new_generation(void)
{
    static uint64_t counter;

    return base_hash_u64(base_time_ns() ^ ((uint64_t)getpid() << 40) ^
                         __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
}

static rmpi_status_t store_arena_check_room(size_t size)
{
    struct statvfs vfs;
    uint64_t       avail;

    if (statvfs(STORE_SHM_DIR, &vfs) != 0) {
        return RMPI_OK; /* no /dev/shm to ask: shm_open will tell */
    }
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (avail < size) {
        base_error("store: %s has %llu bytes free, the arena needs %zu; lower "
                   "STORE_ARENA_SIZE or enlarge %s",
                   STORE_SHM_DIR, (unsigned long long)avail, size, STORE_SHM_DIR);
        return RMPI_ERR_NO_RESOURCE;
    }
    return RMPI_OK;
}

static void store_arena_write_header(store_arena_t *arena, int rank)
{
    store_arena_hdr_t *hdr   = arena->base;
    uint64_t           start = 0;

    store_proc_start_time(getpid(), &start);
    hdr->version    = STORE_ARENA_VERSION;
    hdr->hdr_size   = STORE_ARENA_HDR_SIZE;
    hdr->pid        = getpid();
    hdr->start_time = start;
    hdr->size       = arena->size;
    hdr->generation = store_arena_new_generation();
    hdr->rank       = rank;
    __atomic_store_n(&hdr->magic, STORE_ARENA_MAGIC, __ATOMIC_RELEASE); /* valid from now */
}

rmpi_status_t store_arena_create(const char *job_id, int rank, size_t size, store_arena_t *arena_p)
{
    store_arena_t arena = {.size = size, .owner = true};
    rmpi_status_t status;
    int           fd;

    status = store_arena_name(job_id, rank, arena.name, sizeof(arena.name));
    if (status != RMPI_OK) {
        return status;
    }
    status = store_arena_check_room(size);
    if (status != RMPI_OK) {
        return status;
    }
    fd = shm_open(arena.name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        status = (errno == EEXIST) ? RMPI_ERR_EXISTS : RMPI_ERR_IO;
        base_error("store: shm_open(%s) failed: %m%s", arena.name,
                   (errno == EEXIST) ? " (a live rank of this job id holds it)" : "");
        return status;
    }
    if (ftruncate(fd, (off_t)size) != 0) {
        base_error("store: ftruncate(%s, %zu) failed: %m", arena.name, size);
        status = RMPI_ERR_IO;
        goto err_unlink;
    }
    arena.base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (arena.base == MAP_FAILED) {
        base_error("store: mmap of %s (%zu bytes) failed: %m", arena.name, size);
        status = RMPI_ERR_IO;
        goto err_unlink;
    }
    close(fd);
    store_arena_write_header(&arena, rank);
    base_debug("store: created arena %s of %zu bytes", arena.name, size);
    *arena_p = arena;
    return RMPI_OK;

err_unlink:
    close(fd);
    shm_unlink(arena.name);
    return status;
}

rmpi_status_t store_arena_open_peer(const char *job_id, int rank, store_arena_t *arena_p)
{
    store_arena_t            arena = {.owner = false};
    const store_arena_hdr_t *hdr;
    struct stat              st;
    rmpi_status_t            status;
    int                      fd;

    status = store_arena_name(job_id, rank, arena.name, sizeof(arena.name));
    if (status != RMPI_OK) {
        return status;
    }
    fd = shm_open(arena.name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        base_debug("store: no arena %s: %m", arena.name);
        return RMPI_ERR_NOT_FOUND;
    }
    if ((fstat(fd, &st) != 0) || (st.st_size < STORE_ARENA_HDR_SIZE)) {
        close(fd);
        return RMPI_ERR_NOT_FOUND; /* still being created, or not an arena */
    }
    arena.size = (size_t)st.st_size;
    arena.base = mmap(NULL, arena.size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (arena.base == MAP_FAILED) {
        base_error("store: mmap of peer arena %s failed: %m", arena.name);
        return RMPI_ERR_IO;
    }
    hdr = arena.base;
    if ((__atomic_load_n(&hdr->magic, __ATOMIC_ACQUIRE) != STORE_ARENA_MAGIC) ||
        (hdr->version != STORE_ARENA_VERSION) || (hdr->size != arena.size) ||
        (hdr->hdr_size != STORE_ARENA_HDR_SIZE)) {
        base_warn("store: %s is not a valid arena (version %u, size %llu of %zu)", arena.name,
                  hdr->version, (unsigned long long)hdr->size, arena.size);
        munmap(arena.base, arena.size);
        return RMPI_ERR_NOT_FOUND;
    }
    *arena_p = arena;
    return RMPI_OK;
}

void store_arena_close(store_arena_t *arena)
{
    if (arena->base == NULL) {
        return;
    }
    munmap(arena->base, arena->size);
    if (arena->owner && (shm_unlink(arena->name) != 0)) {
        base_warn("store: shm_unlink(%s) failed: %m", arena->name);
    }
    arena->base = NULL;
}

/* --- stale arenas --------------------------------------------------------------------- */

static bool store_arena_creator_alive(const store_arena_hdr_t *hdr)
{
    uint64_t start;

    if ((kill((pid_t)hdr->pid, 0) != 0) && (errno == ESRCH)) {
        return false;
    }
    /* Someone has that pid: the creator only if it started at the same moment. */
    if (store_proc_start_time((pid_t)hdr->pid, &start) == RMPI_OK) {
        return start == hdr->start_time;
    }
    return true; /* cannot tell: never touch what might be live */
}

/* Whether /dev/shm/<name> is an arena of ours whose creator is dead. */
static bool store_arena_is_stale(const char *name)
{
    char               path[STORE_ARENA_NAME_MAX + sizeof(STORE_SHM_DIR)];
    store_arena_hdr_t *hdr;
    struct stat        st;
    bool               stale = false;
    int                fd;

    snprintf(path, sizeof(path), "%s/%s", STORE_SHM_DIR, name);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    if ((fstat(fd, &st) != 0) || !S_ISREG(st.st_mode) || (st.st_uid != getuid()) ||
        (st.st_size < STORE_ARENA_HDR_SIZE)) {
        close(fd);
        return false;
    }
    hdr = mmap(NULL, STORE_ARENA_HDR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (hdr == MAP_FAILED) {
        return false;
    }
    if (__atomic_load_n(&hdr->magic, __ATOMIC_ACQUIRE) == STORE_ARENA_MAGIC) {
        stale = !store_arena_creator_alive(hdr);
    }
    if (stale) {
        base_info("store: removing stale arena %s of dead pid %lld", name, (long long)hdr->pid);
    }
    munmap(hdr, STORE_ARENA_HDR_SIZE);
    return stale;
}

size_t store_arena_clean_stale(void)
{
    char           name[STORE_ARENA_NAME_MAX + 1];
    struct dirent *entry;
    size_t         removed = 0;
    DIR           *dir     = opendir(STORE_SHM_DIR);

    if (dir == NULL) {
        return 0;
    }
    while ((entry = readdir(dir)) != NULL) {
        if ((strncmp(entry->d_name, STORE_ARENA_PREFIX, strlen(STORE_ARENA_PREFIX)) != 0) ||
            !store_arena_is_stale(entry->d_name)) {
            continue;
        }
        snprintf(name, sizeof(name), "/%s", entry->d_name);
        if (shm_unlink(name) == 0) {
            removed++;
        } else if (errno != ENOENT) { /* ENOENT: another rank removed it first */
            base_warn("store: cannot remove stale arena %s: %m", name);
        }
    }
    closedir(dir);
    return removed;
}
