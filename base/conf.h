/*
 * base/conf.h - self-documenting configuration tables.
 *
 * Each layer declares one table of {key, default, help, type, offset} over its
 * own options struct and registers it with BASE_CONFIG_REGISTER. A key FOO of
 * any table is set, lowest precedence first, by:
 *   1. the table's default string;
 *   2. a config file ("FOO = value" lines, '#' comments; keys case-insensitive,
 *      an optional RAYMPI_ prefix allowed) named by RAYMPI_CONFIG_FILE or given
 *      to base_config_load();
 *   3. the environment variable RAYMPI_FOO;
 *   4. API parameters (an array of "FOO=value" strings).
 * Keys are unique across all tables (upper case, letters, digits and '_').
 *
 * Thread safety: registration happens in constructors before main; parsing
 * writes only the caller's options struct and is reentrant.
 */
#ifndef BASE_CONF_H_
#define BASE_CONF_H_

#include <raympi.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum base_config_type {
    BASE_CONFIG_INT,    /**< int: decimal, may be negative */
    BASE_CONFIG_UINT,   /**< unsigned: decimal or 0x hex */
    BASE_CONFIG_SIZE,   /**< size_t: "64", "4k", "16M", "2G", "1T" (powers of 1024) */
    BASE_CONFIG_DOUBLE, /**< double */
    BASE_CONFIG_BOOL,   /**< bool: y/yes/on/true/1 and n/no/off/false/0 */
    BASE_CONFIG_STRING, /**< char *: owned by the options struct (base_config_release) */
    BASE_CONFIG_TIME,   /**< double seconds: "1.5", "250ms", "10us", "2s", "1m", "inf" */
} base_config_type_t;

typedef struct base_config_field {
    const char         *key;           /**< e.g. "LOG_LEVEL" -> RAYMPI_LOG_LEVEL */
    const char         *default_value; /**< parsed like any other value */
    const char         *help;          /**< one or more sentences */
    base_config_type_t  type;
    size_t              offset;        /**< of the field in the options struct */
} base_config_field_t;

typedef struct base_config_table {
    const char                *name;   /**< layer name, e.g. "base", "transport" */
    const base_config_field_t *fields; /**< terminated by a field with key NULL */
    size_t                     size;   /**< sizeof the options struct */
    struct base_config_table  *next;   /**< registry link, set by registration */
} base_config_table_t;

/** Add @a table to the global registry (called by BASE_CONFIG_REGISTER). */
void base_config_register(base_config_table_t *table);

#define BASE_CONFIG_REGISTER(_table)                                     \
    static void __attribute__((constructor)) base_config_register_##_table(void) \
    {                                                                    \
        base_config_register(&(_table));                                 \
    }

/** First registered table (iterate with ->next), or NULL. */
base_config_table_t *base_config_tables(void);

/**
 * Fill @a opts from @a table: defaults, then @a file (NULL: RAYMPI_CONFIG_FILE
 * if set, else none), then the environment, then @a params (@a num_params
 * strings "KEY=value"). A key in the file or params that no registered table
 * knows, or a value that does not parse, returns RMPI_ERR_CONFIG with a log
 * line naming the file, line, key and value; @a opts is then left released.
 */
rmpi_status_t base_config_parse(const base_config_table_t *table, void *opts,
                                const char *file, const char *const *params,
                                size_t num_params);

/** Free the strings a parse stored in @a opts. */
void base_config_release(const base_config_table_t *table, void *opts);

/**
 * Format the field's current value in @a opts into @a buf (e.g. sizes as
 * "16M" when exact). Returns RMPI_ERR_TRUNCATED when @a len is too small.
 */
rmpi_status_t base_config_format(const base_config_field_t *field, const void *opts,
                                 char *buf, size_t len);

/** Parse one value of @a type into @a dst (used by base_config_parse, and tests). */
rmpi_status_t base_config_parse_value(base_config_type_t type, const char *value, void *dst);

#endif /* BASE_CONF_H_ */
