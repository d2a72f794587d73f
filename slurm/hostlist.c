/*
 * slurm/hostlist.c - expanding Slurm host lists with libslurm's hostlist
 * functions, behind a strict syntax check.
 *
 * slurm_hostlist_create() and friends need no slurm.conf and no daemon
 * (unlike slurm_init()), but they accept some malformed lists: "node[1-"
 * becomes one host "node]". So the syntax is checked here first:
 *
 *   list  := item ("," item)*
 *   item  := (chars | "[" range ("," range)* "]")+
 *   range := digits ("-" digits)?     (low <= high, at most 9 digits)
 *   chars := [A-Za-z0-9._-]+
 *
 * and at most SLM_HOSTLIST_MAX names in all. Zero padding is then libslurm's job.
 */
#include "slurm/slm.h"

#include "base/log.h"

#include <slurm/slurm.h>
#include <stdlib.h>
#include <string.h>

static bool slm_is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static bool slm_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A run of at most 9 digits at list[*pos] (so it fits): its value; advance past it. */
static bool slm_parse_index(const char *list, size_t *pos, unsigned long *value_p)
{
    unsigned long v = 0;
    size_t        i = *pos;

    while (slm_is_digit(list[i])) {
        if (i - *pos == 9) {
            return false;
        }
        v = v * 10 + (unsigned long)(list[i] - '0');
        i++;
    }
    if (i == *pos) {
        return false;
    }
    *pos     = i;
    *value_p = v;
    return true;
}

/*
 * Check one bracket "[...]" starting at *pos (which points at '['); advance
 * past it and return how many names it stands for in *count_p.
 */
static bool slm_bracket_valid(const char *list, size_t *pos, unsigned long *count_p)
{
    unsigned long count = 0;
    unsigned long lo;
    unsigned long hi;
    size_t        i = *pos + 1;

    for (;;) {
        if (!slm_parse_index(list, &i, &lo)) {
            return false;
        }
        hi = lo;
        if (list[i] == '-') {
            i++;
            /* a reversed range is an error here, as in libslurm */
            if (!slm_parse_index(list, &i, &hi) || hi < lo) {
                return false;
            }
        }
        count += hi - lo + 1;
        if (count > SLM_HOSTLIST_MAX) {
            return false;
        }
        if (list[i] == ']') {
            *pos     = i + 1;
            *count_p = count;
            return true;
        }
        if (list[i] != ',') {
            return false;
        }
        i++;
    }
}

/*
 * The whole grammar, and at most SLM_HOSTLIST_MAX names in all, so that
 * libslurm only ever sees lists it expands without complaint (its error paths
 * print to stderr and leak).
 */
static bool slm_hostlist_valid(const char *list)
{
    unsigned long total     = 0;
    unsigned long item      = 1; /* names the current item stands for */
    size_t        i         = 0;
    size_t        item_size = 0;
    unsigned long count;

    while (list[i] != '\0') {
        if (list[i] == ',') {
            if (item_size == 0) {
                return false;
            }
            total += item;
            item      = 1;
            item_size = 0;
            i++;
        } else if (list[i] == '[') {
            if (!slm_bracket_valid(list, &i, &count)) {
                return false;
            }
            item *= count;
            item_size++;
        } else if (slm_is_name_char(list[i])) {
            item_size++;
            i++;
        } else {
            return false;
        }
        if (item > SLM_HOSTLIST_MAX || total + item > SLM_HOSTLIST_MAX) {
            return false;
        }
    }
    return item_size > 0;
}

void slm_hosts_free(char **hosts)
{
    if (hosts == NULL) {
        return;
    }
    for (char **h = hosts; *h != NULL; h++) {
        free(*h);
    }
    free(hosts);
}

rmpi_status_t slm_hostlist_expand(const char *list, const char *what, char ***hosts_p,
                                  uint32_t *count_p)
{
    hostlist_t hl;
    char     **hosts;
    char      *host;
    int        count;
    uint32_t   n = 0;

    if (list == NULL || hosts_p == NULL || count_p == NULL) {
        return RMPI_ERR_INVALID_ARG;
    }
    if (!slm_hostlist_valid(list)) {
        base_error("%s='%s' is not a valid host list of at most %d hosts", what, list,
                   SLM_HOSTLIST_MAX);
        return RMPI_ERR_CONFIG;
    }
    hl = slurm_hostlist_create(list);
    if (hl == NULL) {
        base_error("%s='%s' is a host list libslurm refuses", what, list);
        return RMPI_ERR_CONFIG;
    }
    count = slurm_hostlist_count(hl);
    if (count <= 0 || count > SLM_HOSTLIST_MAX) {
        base_error("%s='%s' names %d hosts; at most %d are allowed", what, list, count,
                   SLM_HOSTLIST_MAX);
        slurm_hostlist_destroy(hl);
        return RMPI_ERR_CONFIG;
    }
    hosts = calloc((size_t)count + 1, sizeof(*hosts));
    if (hosts == NULL) {
        slurm_hostlist_destroy(hl);
        return RMPI_ERR_NO_MEMORY;
    }
    /* hostlist_shift returns malloc()ed names: the array takes them over */
    while (n < (uint32_t)count && (host = slurm_hostlist_shift(hl)) != NULL) {
        hosts[n++] = host;
    }
    slurm_hostlist_destroy(hl);
    if (n != (uint32_t)count) {
        slm_hosts_free(hosts);
        return RMPI_ERR_NO_MEMORY;
    }
    *hosts_p = hosts;
    *count_p = n;
    return RMPI_OK;
}
