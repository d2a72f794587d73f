/*
 * objstore/spill.h - spill files: one file per object, a checksummed header, then the
 * payload, written and read with large sequential calls.
 *
 * File layout: store_spill_hdr_t (64 bytes: magic, version, object ID, payload size,
 * payload checksum, header checksum), then the payload. Checksums are store_checksum()
 * (objstore/objhdr.h). The files are not fsynced: they only have to outlive memory
 * pressure within this job, not a crash of the node.
 *
 * Thread safety: reentrant; the store guarantees one writer or reader per file.
 */
#ifndef OBJSTORE_SPILL_H_
#define OBJSTORE_SPILL_H_

#include "objstore/store.h"

#include <stddef.h>

#define STORE_SPILL_PATH_MAX 4096

/** The spill file of @a oid in folder @a dir into @a buf. */
rmpi_status_t store_spill_path(const char *dir, const store_oid_t *oid, char *buf, size_t len);

/** Write @a size bytes at @a data as the spill file @a path (replacing any). RMPI_ERR_IO. */
rmpi_status_t store_spill_write(const char *path, const store_oid_t *oid, const void *data,
                                size_t size);

/**
 * Read spill file @a path of object @a oid (@a size bytes) into @a data and verify it.
 * RMPI_ERR_CORRUPT when the header, size or checksum do not match or the file is short;
 * RMPI_ERR_IO when it cannot be opened or read. Each is logged with the path.
 */
rmpi_status_t store_spill_read(const char *path, const store_oid_t *oid, void *data, size_t size);

/** Remove every regular file in @a dir (a rank's own spill folder); then the folder if @a rmdir. */
void store_spill_clear_dir(const char *dir, bool remove_dir);

#endif /* OBJSTORE_SPILL_H_ */
