/*
 * objstore/arena.h - a rank's shared-memory arena: naming, creation, peer mapping and
 * the clean-up of arenas left behind by dead processes.
 *
 * The arena is the POSIX shared-memory object "/raympi-<job id>-<rank>" (mode 0600,
 * created with O_EXCL), mapped whole. Its first STORE_ARENA_HDR_SIZE bytes are a header
 * page that says who made it (pid and process start time, so a recycled pid is not
 * taken for the creator), how big it is, and a generation that differs for every
 * arena ever made; objects follow.
 *
 * Thread safety: reentrant; an arena struct belongs to its caller.
 */
#ifndef OBJSTORE_ARENA_H_
#define OBJSTORE_ARENA_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_ARENA_MAGIC 0x616e657241534d52ull /* "RMSArena" */
#define STORE_ARENA_VERSION 1
#define STORE_ARENA_HDR_SIZE 4096
#define STORE_ARENA_NAME_MAX 256
#define STORE_ARENA_PREFIX "raympi-"

typedef struct store_arena_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size;   /**< STORE_ARENA_HDR_SIZE: objects start here */
    int64_t  pid;        /**< creator */
    uint64_t start_time; /**< creator's start time (/proc/<pid>/stat field 22) */
    uint64_t size;       /**< bytes of the whole arena */
    uint64_t generation; /**< unique per arena created */
    int32_t  rank;
    uint32_t reserved;
} store_arena_hdr_t;

typedef struct store_arena {
    char   name[STORE_ARENA_NAME_MAX]; /**< "/raympi-<job id>-<rank>" */
    void  *base;                       /**< the mapping */
    size_t size;                       /**< bytes mapped */
    bool   owner;                      /**< created here: writable, unlinked at destroy */
} store_arena_t;

/** The arena's shared-memory name into @a buf. RMPI_ERR_INVALID_ARG when too long. */
rmpi_status_t store_arena_name(const char *job_id, int rank, char *buf, size_t len);

/**
 * Create, size and map arena (@a job_id, @a rank) of @a size bytes and write its header.
 * RMPI_ERR_EXISTS when the name is taken, RMPI_ERR_NO_RESOURCE when /dev/shm has less
 * room than @a size (touching the missing pages later would raise SIGBUS),
 * RMPI_ERR_IO for other failures. Each is logged.
 */
rmpi_status_t store_arena_create(const char *job_id, int rank, size_t size, store_arena_t *arena_p);

/** Map peer arena (@a job_id, @a rank) read-only. RMPI_ERR_NOT_FOUND if absent or invalid. */
rmpi_status_t store_arena_open_peer(const char *job_id, int rank, store_arena_t *arena_p);

/** Unmap; also unlink when this process created it. */
void store_arena_close(store_arena_t *arena);

/**
 * Remove every arena in /dev/shm of this user whose creator is dead (its pid is gone,
 * or belongs to a process that started at another time). Live arenas and anything
 * without a valid header are left alone. Returns how many were removed.
 */
size_t store_arena_clean_stale(void);

/** Start time of process @a pid in clock ticks since boot (/proc/<pid>/stat field 22). */
rmpi_status_t store_proc_start_time(pid_t pid, uint64_t *start_p);

#endif /* OBJSTORE_ARENA_H_ */
