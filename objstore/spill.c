/*
 * objstore/spill.c - writing objects to files and reading them back, checksummed.
 */
#include "objstore/spill.h"

#include "objstore/objhdr.h"

#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define STORE_SPILL_MAGIC 0x6c6c6970534d52ull /* "RMSpill" */
#define STORE_SPILL_VERSION 1
/* One read moves at most this much: large, and under Linux's 2 GiB cap. */
#define STORE_SPILL_CHUNK (1ull << 30)

typedef struct store_spill_hdr {
    uint64_t    magic;
    uint32_t    version;
    uint32_t    hdr_size;
    store_oid_t oid;
    uint64_t    size;
    uint64_t    payload_sum;
    uint64_t    reserved;
    uint64_t    hdr_sum; /**< of every byte above */
} store_spill_hdr_t;

_Static_assert(sizeof(store_spill_hdr_t) == 64, "spill header is 64 bytes");

rmpi_status_t store_spill_path(const char *dir, const store_oid_t *oid, char *buf, size_t len)
{
    char hex[33];
    int  n;

    store_oid_format(oid, hex);
    n = snprintf(buf, len, "%s/%s.spill", dir, hex);
    if ((n < 0) || ((size_t)n >= len)) {
        base_error("store: spill path under '%s' is too long", dir);
        return RMPI_ERR_INVALID_ARG;
    }
    return RMPI_OK;
}

static uint64_t store_spill_hdr_sum(const store_spill_hdr_t *hdr)
{
    return store_checksum(hdr, offsetof(store_spill_hdr_t, hdr_sum));
}

/*
 * Write all of @a iov (header, payload). Linux moves at most about 2 GiB per call and
 * returns a short count beyond that, so the loop also covers huge payloads.
 */
static rmpi_status_t store_spill_writev_all(int fd, struct iovec *iov, int iovcnt, const char *path)
{
    while (iovcnt > 0) {
        ssize_t n = writev(fd, iov, iovcnt);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            base_error("store: writing spill file %s failed: %m", path);
            return RMPI_ERR_IO;
        }
        while ((iovcnt > 0) && ((size_t)n >= iov[0].iov_len)) {
            n -= (ssize_t)iov[0].iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov[0].iov_base = (char *)iov[0].iov_base + n;
            iov[0].iov_len -= (size_t)n;
        }
    }
    return RMPI_OK;
}

rmpi_status_t store_spill_write(const char *path, const store_oid_t *oid, const void *data,
                                size_t size)
{
    store_spill_hdr_t hdr = {
        .magic       = STORE_SPILL_MAGIC,
        .version     = STORE_SPILL_VERSION,
        .hdr_size    = sizeof(store_spill_hdr_t),
        .oid         = *oid,
        .size        = size,
        .payload_sum = store_checksum(data, size),
    };
    struct iovec  iov[2] = {{&hdr, sizeof(hdr)}, {(void *)data, size}};
    rmpi_status_t status;
    int           fd;

    hdr.hdr_sum = store_spill_hdr_sum(&hdr);
    fd          = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        base_error("store: cannot create spill file %s: %m", path);
        return RMPI_ERR_IO;
    }
    status = store_spill_writev_all(fd, iov, (size > 0) ? 2 : 1, path);
    if (close(fd) != 0 && status == RMPI_OK) {
        base_error("store: closing spill file %s failed: %m", path);
        status = RMPI_ERR_IO;
    }
    if (status != RMPI_OK) {
        unlink(path);
    }
    return status;
}

/* Read exactly @a len bytes; RMPI_ERR_CORRUPT when the file ends first. */
static rmpi_status_t store_spill_read_all(int fd, void *buf, size_t len, const char *path)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, (len > STORE_SPILL_CHUNK) ? STORE_SPILL_CHUNK : len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            base_error("store: reading spill file %s failed: %m", path);
            return RMPI_ERR_IO;
        }
        if (n == 0) {
            base_error("store: spill file %s is truncated (%zu bytes missing)", path, len);
            return RMPI_ERR_CORRUPT;
        }
        p += n;
        len -= (size_t)n;
    }
    return RMPI_OK;
}

static rmpi_status_t store_spill_check_hdr(const store_spill_hdr_t *hdr, const store_oid_t *oid,
                                           size_t size, const char *path)
{
    if ((hdr->magic != STORE_SPILL_MAGIC) || (hdr->hdr_sum != store_spill_hdr_sum(hdr))) {
        base_error("store: spill file %s has a damaged header", path);
        return RMPI_ERR_CORRUPT;
    }
    if ((hdr->version != STORE_SPILL_VERSION) || !store_oid_equal(&hdr->oid, oid) ||
        (hdr->size != size)) {
        base_error("store: spill file %s holds another object (version %u, %llu bytes, "
                   "expected %zu)",
                   path, hdr->version, (unsigned long long)hdr->size, size);
        return RMPI_ERR_CORRUPT;
    }
    return RMPI_OK;
}

rmpi_status_t store_spill_read(const char *path, const store_oid_t *oid, void *data, size_t size)
{
    store_spill_hdr_t hdr;
    rmpi_status_t     status;
    char              extra;
    int               fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        base_error("store: cannot open spill file %s: %m", path);
        return RMPI_ERR_IO;
    }
    status = store_spill_read_all(fd, &hdr, sizeof(hdr), path);
    if (status == RMPI_OK) {
        status = store_spill_check_hdr(&hdr, oid, size, path);
    }
    if (status == RMPI_OK) {
        status = store_spill_read_all(fd, data, size, path);
    }
    if ((status == RMPI_OK) && (read(fd, &extra, 1) != 0)) {
        base_error("store: spill file %s is longer than its object", path);
        status = RMPI_ERR_CORRUPT;
    }
    if ((status == RMPI_OK) && (store_checksum(data, size) != hdr.payload_sum)) {
        base_error("store: spill file %s fails its checksum", path);
        status = RMPI_ERR_CORRUPT;
    }
    close(fd);
    return status;
}

void store_spill_clear_dir(const char *dir, bool remove_dir)
{
    char           path[STORE_SPILL_PATH_MAX];
    struct dirent *entry;
    DIR           *d = opendir(dir);

    if (d == NULL) {
        return;
    }
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        if ((unlink(path) != 0) && (errno != ENOENT)) {
            base_warn("store: cannot remove %s: %m", path);
        }
    }
    closedir(d);
    if (remove_dir && (rmdir(dir) != 0) && (errno != ENOENT)) {
        base_warn("store: cannot remove spill folder %s: %m", dir);
    }
}
