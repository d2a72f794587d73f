/*
 * objstore/config.c - the "store" config table.
 */
#include "objstore/store_int.h"

#include <stddef.h>

static const base_config_field_t store_options_fields[] = {
    {"STORE_ARENA_SIZE", "1G",
     "Bytes of shared memory per rank for the object store (in /dev/shm; the pages are "
     "used only as objects fill them). Objects beyond it are spilled to disk.",
     BASE_CONFIG_SIZE, offsetof(store_options_t, arena_size)},
    {"STORE_SPILL_DIR", "",
     "Folder for objects spilled out of the store under memory pressure, one file per "
     "object in a subfolder per rank. Empty means <run dir>/spill. Node-local disk or a "
     "burst buffer is best.",
     BASE_CONFIG_STRING, offsetof(store_options_t, spill_dir)},
    {"STORE_PUT_TIMEOUT", "10s",
     "How long creating an object waits for room when the store is full and nothing can "
     "be evicted or spilled; 0 fails at once with 'object store full'.",
     BASE_CONFIG_TIME, offsetof(store_options_t, put_timeout)},
    {"STORE_SPILL", "yes",
     "Spill unreferenced primary copies to STORE_SPILL_DIR when the store is full (they "
     "are read back on access). With 'no', a full store only evicts cached copies and "
     "waits.",
     BASE_CONFIG_BOOL, offsetof(store_options_t, spill)},
    {NULL, NULL, NULL, BASE_CONFIG_STRING, 0},
};

base_config_table_t store_options_table = {
    .name   = "store",
    .fields = store_options_fields,
    .size   = sizeof(store_options_t),
};

BASE_CONFIG_REGISTER(store_options_table)
