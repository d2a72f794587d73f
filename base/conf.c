/*
 * base/conf.c - the config table registry, value parsers and printers, and
 * the config file reader.
 *
 * base_config_parse_value() is silent: it has no idea where a value came
 * from, so base_config_parse() logs each error with its source (file:line,
 * environment variable or parameter).
 */
#include "base/conf.h"

#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_ENV_PREFIX "RAYMPI_"
#define CONF_FILE_ENV "RAYMPI_CONFIG_FILE"
#define CONF_NUMBER_MAX 64 /* longest numeric value we accept, in characters */
#define CONF_ENV_NAME_MAX 128

/* Sorted by name, so every listing is in the same order on every rank. */
static base_config_table_t *config_tables;

/* Where a setting came from, for error messages. */
typedef struct conf_source {
    const char *what; /**< a file name, an environment variable or "parameter" */
    const char *sep;  /**< between what and line: ":" after a file, " " after "parameter" */
    size_t      line; /**< line in the file or 1-based index of the parameter; 0: none */
} conf_source_t;

void base_config_register(base_config_table_t *table)
{
    base_config_table_t **link = &config_tables;

    for (base_config_table_t *it = config_tables; it != NULL; it = it->next) {
        if (it == table) {
            return;
        }
    }
    while (*link != NULL && strcmp((*link)->name, table->name) < 0) {
        link = &(*link)->next;
    }
    table->next = *link;
    *link       = table;
}

base_config_table_t *base_config_tables(void)
{
    return config_tables;
}

/* ---- value parsers ------------------------------------------------------ */

/* Copy @a value without surrounding whitespace into @a buf; false if it does not fit. */
static bool conf_trim_copy(const char *value, char *buf, size_t len)
{
    const char *end;

    while (isspace((unsigned char)*value)) {
        ++value;
    }
    end = value + strlen(value);
    while (end > value && isspace((unsigned char)end[-1])) {
        --end;
    }
    if ((size_t)(end - value) >= len) {
        return false;
    }
    memcpy(buf, value, (size_t)(end - value));
    buf[end - value] = '\0';
    return true;
}

/*
 * An unsigned number at the start of @a str: decimal, or hex after "0x".
 * No sign and no leading blanks: strtoull would wrap "-1" to ULLONG_MAX.
 */
static bool conf_parse_u64(const char *str, unsigned long long *value_p, char **end_p)
{
    int                base = 10;
    unsigned long long value;

    if (!isdigit((unsigned char)str[0])) {
        return false;
    }
    if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
        if (!isxdigit((unsigned char)str[2])) {
            return false;
        }
        base = 16;
    }
    errno = 0;
    value = strtoull(str, end_p, base);
    if (errno == ERANGE) {
        return false;
    }
    *value_p = value;
    return true;
}

static rmpi_status_t conf_parse_int(const char *str, int *dst)
{
    char *end;
    long  value;

    if (str[0] == '\0' || isspace((unsigned char)str[0])) {
        return RMPI_ERR_CONFIG;
    }
    errno = 0;
    value = strtol(str, &end, 10);
    if (*end != '\0' || errno == ERANGE || value < INT_MIN || value > INT_MAX) {
        return RMPI_ERR_CONFIG;
    }
    *dst = (int)value;
    return RMPI_OK;
}

static rmpi_status_t conf_parse_uint(const char *str, unsigned *dst)
{
    unsigned long long value;
    char              *end;

    if (!conf_parse_u64(str, &value, &end) || *end != '\0' || value > UINT_MAX) {
        return RMPI_ERR_CONFIG;
    }
    *dst = (unsigned)value;
    return RMPI_OK;
}

static int conf_size_shift(char suffix)
{
    switch (suffix) {
    case 'k':
    case 'K':
        return 10;
    case 'm':
    case 'M':
        return 20;
    case 'g':
    case 'G':
        return 30;
    case 't':
    case 'T':
        return 40;
    default:
        return -1;
    }
}

static rmpi_status_t conf_parse_size(const char *str, size_t *dst)
{
    unsigned long long value;
    char              *end;
    int                shift = 0;

    if (!conf_parse_u64(str, &value, &end)) {
        return RMPI_ERR_CONFIG;
    }
    if (*end != '\0') {
        shift = conf_size_shift(*end);
        if (shift < 0 || end[1] != '\0') {
            return RMPI_ERR_CONFIG;
        }
    }
    if (value > (SIZE_MAX >> shift)) {
        return RMPI_ERR_CONFIG;
    }
    *dst = (size_t)value << shift;
    return RMPI_OK;
}

/* A finite number in decimal notation; no sign, NaN or infinity unless @a allow_sign. */
static bool conf_parse_number(const char *str, bool allow_sign, double *value_p, char **end_p)
{
    const char *digits = str;
    double      value;

    if (allow_sign && (*digits == '-' || *digits == '+')) {
        ++digits;
    }
    /* strtod also takes "nan", "inf" and hex floats; only decimal is a config value */
    if (!isdigit((unsigned char)digits[0]) && digits[0] != '.') {
        return false;
    }
    if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        return false;
    }
    errno = 0;
    value = strtod(str, end_p);
    if (*end_p == str || errno == ERANGE || !isfinite(value)) {
        return false;
    }
    *value_p = value;
    return true;
}

static rmpi_status_t conf_parse_double(const char *str, double *dst)
{
    double value;
    char  *end;

    if (strcasecmp(str, "inf") == 0 || strcasecmp(str, "-inf") == 0) {
        *dst = (str[0] == '-') ? -INFINITY : INFINITY;
        return RMPI_OK;
    }
    if (!conf_parse_number(str, true, &value, &end) || *end != '\0') {
        return RMPI_ERR_CONFIG;
    }
    *dst = value;
    return RMPI_OK;
}

typedef struct conf_time_unit {
    const char *suffix;
    double      scale; /**< seconds = number * scale, or number / divisor */
    double      divisor;
} conf_time_unit_t;

/* The order is the tie-break when formatting: "1s" rather than "1000ms". */
static const conf_time_unit_t conf_time_units[] = {
    {"s", 1, 1}, {"ms", 1, 1e3}, {"us", 1, 1e6}, {"ns", 1, 1e9}, {"m", 60, 1}, {"h", 3600, 1},
};

#define CONF_NUM_TIME_UNITS (sizeof(conf_time_units) / sizeof(conf_time_units[0]))

static double conf_time_from_unit(double number, const conf_time_unit_t *unit)
{
    /* dividing (not multiplying by 1e-3) keeps "250ms" exactly 0.25 */
    return number * unit->scale / unit->divisor;
}

static rmpi_status_t conf_parse_time(const char *str, double *dst)
{
    double number, seconds;
    char  *end;

    if (strcasecmp(str, "inf") == 0 || strcasecmp(str, "infinity") == 0) {
        *dst = INFINITY;
        return RMPI_OK;
    }
    if (!conf_parse_number(str, false, &number, &end)) {
        return RMPI_ERR_CONFIG;
    }
    if (*end == '\0') {
        *dst = number;
        return RMPI_OK;
    }
    for (size_t i = 0; i < CONF_NUM_TIME_UNITS; ++i) {
        if (strcmp(end, conf_time_units[i].suffix) == 0) {
            seconds = conf_time_from_unit(number, &conf_time_units[i]);
            if (!isfinite(seconds)) {
                return RMPI_ERR_CONFIG;
            }
            *dst = seconds;
            return RMPI_OK;
        }
    }
    return RMPI_ERR_CONFIG;
}

static rmpi_status_t conf_parse_bool(const char *str, bool *dst)
{
    static const char *const yes[] = {"y", "yes", "on", "true", "1"};
    static const char *const no[]  = {"n", "no", "off", "false", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); ++i) {
        if (strcasecmp(str, yes[i]) == 0) {
            *dst = true;
            return RMPI_OK;
        }
        if (strcasecmp(str, no[i]) == 0) {
            *dst = false;
            return RMPI_OK;
        }
    }
    return RMPI_ERR_CONFIG;
}

static rmpi_status_t conf_parse_string(const char *value, char **dst)
{
    char *copy = strdup(value);

    if (copy == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    *dst = copy;
    return RMPI_OK;
}

/*
 * For STRING, @a dst is a char ** that receives a new string the caller owns;
 * its old value is not freed (base_config_parse does that).
 */
rmpi_status_t base_config_parse_value(base_config_type_t type, const char *value, void *dst)
{
    char number[CONF_NUMBER_MAX];

    if (value == NULL || dst == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (type == BASE_CONFIG_STRING) {
        return conf_parse_string(value, dst);
    }
    /* Numbers and bools may carry blanks around them (e.g. from a shell variable). */
    if (!conf_trim_copy(value, number, sizeof(number))) {
        return RMPI_ERR_CONFIG;
    }
    switch (type) {
    case BASE_CONFIG_INT:
        return conf_parse_int(number, dst);
    case BASE_CONFIG_UINT:
        return conf_parse_uint(number, dst);
    case BASE_CONFIG_SIZE:
        return conf_parse_size(number, dst);
    case BASE_CONFIG_DOUBLE:
        return conf_parse_double(number, dst);
    case BASE_CONFIG_BOOL:
        return conf_parse_bool(number, dst);
    case BASE_CONFIG_TIME:
        return conf_parse_time(number, dst);
    case BASE_CONFIG_STRING:
        break;
    }
    return RMPI_ERR_INVALID_ARG;
}

static const char *conf_type_hint(base_config_type_t type)
{
    switch (type) {
    case BASE_CONFIG_INT:
        return "an integer";
    case BASE_CONFIG_UINT:
        return "a non-negative integer (decimal or 0x hex)";
    case BASE_CONFIG_SIZE:
        return "a size such as 4096, 64k, 16M, 2G or 1T";
    case BASE_CONFIG_DOUBLE:
        return "a number";
    case BASE_CONFIG_BOOL:
        return "y/yes/on/true/1 or n/no/off/false/0";
    case BASE_CONFIG_STRING:
        return "a string";
    case BASE_CONFIG_TIME:
        return "a time such as 1.5, 250ms, 10us, 2s, 1m, 1h or inf";
    }
    return "a value";
}

/* ---- value formatters --------------------------------------------------- */

/* The shortest "%g" form of @a value that reads back as exactly @a value. */
static void conf_format_number(double value, char *buf, size_t len)
{
    for (int precision = 6; precision <= 17; ++precision) {
        snprintf(buf, len, "%.*g", precision, value);
        if (strtod(buf, NULL) == value) {
            return;
        }
    }
}

/* How hard a time is to read: its length, and one more for a fraction or exponent. */
static size_t conf_time_text_cost(const char *text)
{
    return strlen(text) + (strpbrk(text, ".e") != NULL);
}

static void conf_format_time(double seconds, char *buf, size_t len)
{
    char   candidate[CONF_NUMBER_MAX];
    double parsed;

    if (isinf(seconds)) {
        snprintf(buf, len, "%s", seconds > 0 ? "inf" : "-inf");
        return;
    }
    /* Try every unit; keep the easiest text to read that reads back exactly. */
    buf[0] = '\0';
    for (size_t i = 0; i < CONF_NUM_TIME_UNITS; ++i) {
        const conf_time_unit_t *unit = &conf_time_units[i];
        size_t                  n;

        conf_format_number(seconds * unit->divisor / unit->scale, candidate, sizeof(candidate));
        n = strlen(candidate);
        snprintf(candidate + n, sizeof(candidate) - n, "%s", unit->suffix);
        if (conf_parse_time(candidate, &parsed) != RMPI_OK || parsed != seconds) {
            continue;
        }
        if (buf[0] == '\0' || conf_time_text_cost(candidate) < conf_time_text_cost(buf)) {
            snprintf(buf, len, "%s", candidate);
        }
    }
    if (buf[0] == '\0') {
        conf_format_number(seconds, buf, len); /* negative: not parseable, but shown */
    }
}

static void conf_format_size(size_t size, char *buf, size_t len)
{
    static const char suffixes[] = "TGMk";

    for (int i = 0; size != 0 && suffixes[i] != '\0'; ++i) {
        int shift = conf_size_shift(suffixes[i]);

        if ((size & (((size_t)1 << shift) - 1)) == 0) {
            snprintf(buf, len, "%zu%c", size >> shift, suffixes[i]);
            return;
        }
    }
    snprintf(buf, len, "%zu", size);
}

rmpi_status_t base_config_format(const base_config_field_t *field, const void *opts, char *buf,
                                 size_t len)
{
    const void *src;
    char        number[CONF_NUMBER_MAX];
    const char *text = number;

    if (field == NULL || opts == NULL || buf == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    src = (const char *)opts + field->offset;
    switch (field->type) {
    case BASE_CONFIG_INT:
        snprintf(number, sizeof(number), "%d", *(const int *)src);
        break;
    case BASE_CONFIG_UINT:
        snprintf(number, sizeof(number), "%u", *(const unsigned *)src);
        break;
    case BASE_CONFIG_SIZE:
        conf_format_size(*(const size_t *)src, number, sizeof(number));
        break;
    case BASE_CONFIG_DOUBLE:
        if (isinf(*(const double *)src)) {
            snprintf(number, sizeof(number), "%s", *(const double *)src > 0 ? "inf" : "-inf");
        } else {
            conf_format_number(*(const double *)src, number, sizeof(number));
        }
        break;
    case BASE_CONFIG_BOOL:
        text = *(const bool *)src ? "y" : "n";
        break;
    case BASE_CONFIG_STRING:
        text = *(char *const *)src != NULL ? *(char *const *)src : "";
        break;
    case BASE_CONFIG_TIME:
        conf_format_time(*(const double *)src, number, sizeof(number));
        break;
    default:
        return RMPI_ERR_INVALID_ARG;
    }
    if (strlen(text) >= len) {
        return RMPI_ERR_TRUNCATED;
    }
    strcpy(buf, text);
    return RMPI_OK;
}

/* ---- parsing a table ---------------------------------------------------- */

/* "RAYMPI_FOO", "raympi_foo" and "foo" all name key FOO. */
static const char *conf_strip_prefix(const char *key)
{
    size_t prefix_len = strlen(CONF_ENV_PREFIX);

    if (strncasecmp(key, CONF_ENV_PREFIX, prefix_len) == 0 && key[prefix_len] != '\0') {
        return key + prefix_len;
    }
    return key;
}

static const base_config_field_t *conf_find_field(const base_config_table_t *table, const char *key)
{
    for (const base_config_field_t *field = table->fields; field->key != NULL; ++field) {
        if (strcasecmp(field->key, key) == 0) {
            return field;
        }
    }
    return NULL;
}

static bool conf_key_is_registered(const char *key)
{
    for (const base_config_table_t *table = config_tables; table != NULL; table = table->next) {
        if (conf_find_field(table, key) != NULL) {
            return true;
        }
    }
    return false;
}

/* "file:line", "parameter N" or the environment variable's name, for error messages. */
static const char *conf_source_name(const conf_source_t *source, char *buf, size_t len)
{
    if (source->line == 0) {
        return source->what;
    }
    snprintf(buf, len, "%s%s%zu", source->what, source->sep, source->line);
    return buf;
}

/* Store @a value into @a field of @a opts, replacing (and freeing) an old string. */
static rmpi_status_t conf_set(const base_config_field_t *field, void *opts, const char *value,
                              const conf_source_t *source)
{
    void         *dst = (char *)opts + field->offset;
    char         *copy;
    rmpi_status_t status;

    if (field->type == BASE_CONFIG_STRING) {
        status = base_config_parse_value(field->type, value, &copy);
        if (status == RMPI_OK) {
            free(*(char **)dst);
            *(char **)dst = copy;
        }
    } else {
        status = base_config_parse_value(field->type, value, dst);
    }
    if (status == RMPI_ERR_CONFIG) {
        char where[PATH_MAX + 32];

        base_error("%s: invalid value '%s' for %s: expected %s",
                   conf_source_name(source, where, sizeof(where)), value, field->key,
                   conf_type_hint(field->type));
    }
    return status;
}

/* Apply "KEY = value" to @a opts if KEY is @a table's; other tables' keys are skipped. */
static rmpi_status_t conf_apply(const base_config_table_t *table, void *opts, const char *key,
                                const char *value, const conf_source_t *source)
{
    const base_config_field_t *field;
    char                       where[PATH_MAX + 32];

    key   = conf_strip_prefix(key);
    field = conf_find_field(table, key);
    if (field != NULL) {
        return conf_set(field, opts, value, source);
    }
    if (conf_key_is_registered(key)) {
        return RMPI_OK;
    }
    base_error("%s: unknown config key '%s'", conf_source_name(source, where, sizeof(where)), key);
    return RMPI_ERR_CONFIG;
}

static char *conf_trim(char *str)
{
    char *end;

    while (isspace((unsigned char)*str)) {
        ++str;
    }
    end = str + strlen(str);
    while (end > str && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    return str;
}

static bool conf_key_is_valid(const char *key)
{
    if (*key == '\0') {
        return false;
    }
    for (; *key != '\0'; ++key) {
        if (!isalnum((unsigned char)*key) && *key != '_') {
            return false;
        }
    }
    return true;
}

/* Drop a '#' comment: one at the start of @a text or after a blank. */
static void conf_strip_comment(char *text)
{
    for (char *p = text; *p != '\0'; ++p) {
        if (*p == '#' && (p == text || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            return;
        }
    }
}

/*
 * The value after '=': quoted ('...' or "...", taken literally, as a shell
 * would without escapes) or bare (up to a comment, trimmed). NULL when a quote
 * is not closed or text other than a comment follows it.
 */
static char *conf_parse_rhs(char *rhs)
{
    char *close;

    rhs = conf_trim(rhs);
    if (*rhs != '"' && *rhs != '\'') {
        conf_strip_comment(rhs);
        return conf_trim(rhs);
    }
    close = strchr(rhs + 1, *rhs);
    if (close == NULL) {
        return NULL;
    }
    *close = '\0';
    if (*conf_trim(close + 1) != '\0' && *conf_trim(close + 1) != '#') {
        return NULL;
    }
    return rhs + 1;
}

/*
 * Split "KEY = value" in place. Returns false for a malformed line; a line
 * that is blank or only a comment gives *key_p == NULL.
 */
static bool conf_split_line(char *line, char **key_p, char **value_p)
{
    char *equals;

    line = conf_trim(line);
    if (*line == '\0' || *line == '#') {
        *key_p = NULL;
        return true;
    }
    equals = strchr(line, '=');
    if (equals == NULL) {
        return false;
    }
    *equals  = '\0';
    *key_p   = conf_trim(line);
    *value_p = conf_parse_rhs(equals + 1);
    return *value_p != NULL && conf_key_is_valid(*key_p);
}

static rmpi_status_t conf_apply_file(const base_config_table_t *table, void *opts, const char *path)
{
    conf_source_t source = {.what = path, .sep = ":", .line = 0};
    rmpi_status_t status = RMPI_OK;
    char         *line   = NULL;
    size_t        cap    = 0;
    char         *key, *value;
    FILE         *file;

    file = fopen(path, "re");
    if (file == NULL) {
        base_error("cannot open config file '%s': %m", path);
        return RMPI_ERR_IO;
    }
    while (status == RMPI_OK && getline(&line, &cap, file) >= 0) {
        ++source.line;
        if (!conf_split_line(line, &key, &value)) {
            base_error("%s:%zu: malformed line, expected 'KEY = value'", path, source.line);
            status = RMPI_ERR_CONFIG;
        } else if (key != NULL) {
            status = conf_apply(table, opts, key, value, &source);
        }
    }
    if (status == RMPI_OK && ferror(file)) {
        base_error("cannot read config file '%s'", path);
        status = RMPI_ERR_IO;
    }
    free(line);
    fclose(file);
    return status;
}

static rmpi_status_t conf_apply_env(const base_config_table_t *table, void *opts)
{
    conf_source_t source = {.what = NULL, .sep = "", .line = 0};
    char          name[CONF_ENV_NAME_MAX];
    const char   *value;
    rmpi_status_t status;

    for (const base_config_field_t *field = table->fields; field->key != NULL; ++field) {
        snprintf(name, sizeof(name), CONF_ENV_PREFIX "%s", field->key);
        value = getenv(name);
        if (value == NULL) {
            continue;
        }
        source.what = name;
        status      = conf_set(field, opts, value, &source);
        if (status != RMPI_OK) {
            return status;
        }
    }
    return RMPI_OK;
}

static rmpi_status_t conf_apply_params(const base_config_table_t *table, void *opts,
                                       const char *const *params, size_t num_params)
{
    conf_source_t source = {.what = "parameter", .sep = " ", .line = 0};
    rmpi_status_t status = RMPI_OK;
    char         *copy, *key, *value;

    for (size_t i = 0; status == RMPI_OK && i < num_params; ++i) {
        source.line = i + 1;
        copy        = (params[i] != NULL) ? strdup(params[i]) : NULL;
        if (copy == NULL) {
            return (params[i] == NULL) ? RMPI_ERR_INVALID_ARG : RMPI_ERR_NO_MEMORY;
        }
        if (!conf_split_line(copy, &key, &value) || key == NULL) {
            base_error("parameter %zu '%s': expected KEY=value", i + 1, params[i]);
            status = RMPI_ERR_CONFIG;
        } else {
            status = conf_apply(table, opts, key, value, &source);
        }
        free(copy);
    }
    return status;
}

static rmpi_status_t conf_apply_defaults(const base_config_table_t *table, void *opts)
{
    conf_source_t source = {.what = "default", .sep = "", .line = 0};
    rmpi_status_t status;

    for (const base_config_field_t *field = table->fields; field->key != NULL; ++field) {
        status = conf_set(field, opts, field->default_value, &source);
        if (status != RMPI_OK) {
            base_error("config table '%s' has a bad default for %s", table->name, field->key);
            return status;
        }
    }
    return RMPI_OK;
}

rmpi_status_t base_config_parse(const base_config_table_t *table, void *opts, const char *file,
                                const char *const *params, size_t num_params)
{
    rmpi_status_t status;

    if (table == NULL || opts == NULL || (params == NULL && num_params > 0)) {
        return RMPI_ERR_INVALID_ARG;
    }
    memset(opts, 0, table->size);
    if (file == NULL) {
        file = getenv(CONF_FILE_ENV);
    }
    status = conf_apply_defaults(table, opts);
    if (status == RMPI_OK && file != NULL && file[0] != '\0') {
        status = conf_apply_file(table, opts, file);
    }
    if (status == RMPI_OK) {
        status = conf_apply_env(table, opts);
    }
    if (status == RMPI_OK) {
        status = conf_apply_params(table, opts, params, num_params);
    }
    if (status != RMPI_OK) {
        base_config_release(table, opts);
    }
    return status;
}

void base_config_release(const base_config_table_t *table, void *opts)
{
    if (table == NULL || opts == NULL) {
        return;
    }
    for (const base_config_field_t *field = table->fields; field->key != NULL; ++field) {
        if (field->type == BASE_CONFIG_STRING) {
            char **str = (char **)((char *)opts + field->offset);

            free(*str);
            *str = NULL;
        }
    }
}

/* ---- printing every table ----------------------------------------------- */

/* Format @a field into a new string, however long. */
static rmpi_status_t conf_format_alloc(const base_config_field_t *field, const void *opts,
                                       char **str_p)
{
    rmpi_status_t status;
    size_t        len = CONF_NUMBER_MAX;
    char         *buf;

    for (;;) {
        buf = malloc(len);
        if (buf == NULL) {
            return RMPI_ERR_NO_MEMORY;
        }
        status = base_config_format(field, opts, buf, len);
        if (status == RMPI_OK) {
            *str_p = buf;
            return RMPI_OK;
        }
        free(buf);
        if (status != RMPI_ERR_TRUNCATED) {
            return status;
        }
        len *= 4;
    }
}

/*
 * The quote that lets @a value follow "KEY=" both in a shell script and in a
 * config file (which strips one pair of quotes and knows no escapes): none,
 * ' or ". A value holding ' and one of "$`\ cannot be both; it gets '.
 */
static const char *conf_shell_quote(const char *value)
{
    if (value[strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "0123456789._-+/:,@%")] == '\0') {
        return "";
    }
    if (strchr(value, '\'') == NULL || strpbrk(value, "\"$`\\") != NULL) {
        return "'";
    }
    return "\"";
}

/* The help text as "# [table] ..." comment lines, one per line of text. */
static void conf_print_help(FILE *stream, const char *table_name, const char *help)
{
    const char *line = (help != NULL) ? help : "";
    size_t      len;

    do {
        len = strcspn(line, "\n");
        fprintf(stream, "# [%s] %.*s\n", table_name, (int)len, line);
        line += len;
        line += (*line == '\n');
    } while (*line != '\0');
}

static rmpi_status_t conf_print_table(FILE *stream, const base_config_table_t *table,
                                      uint64_t flags)
{
    void         *opts = calloc(1, table->size ? table->size : 1);
    rmpi_status_t status;
    const char   *quote;
    char         *value;

    if (opts == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    status = base_config_parse(table, opts, NULL, NULL, 0);
    for (const base_config_field_t *field = table->fields; status == RMPI_OK && field->key != NULL;
         ++field) {
        status = conf_format_alloc(field, opts, &value);
        if (status != RMPI_OK) {
            break;
        }
        if (flags & RMPI_CONFIG_PRINT_HELP) {
            conf_print_help(stream, table->name, field->help);
        }
        quote = conf_shell_quote(value);
        fprintf(stream, CONF_ENV_PREFIX "%s=%s%s%s\n", field->key, quote, value, quote);
        free(value);
    }
    base_config_release(table, opts);
    free(opts);
    return status;
}

RMPI_API rmpi_status_t rmpi_config_print(FILE *stream, uint64_t flags)
{
    rmpi_status_t status;

    if (stream == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    for (const base_config_table_t *table = config_tables; table != NULL; table = table->next) {
        status = conf_print_table(stream, table, flags);
        if (status != RMPI_OK) {
            return status;
        }
    }
    if (fflush(stream) != 0 || ferror(stream)) {
        base_error("cannot print the configuration: %m");
        return RMPI_ERR_IO;
    }
    return RMPI_OK;
}
