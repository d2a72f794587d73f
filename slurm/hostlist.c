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
 *   range := digits ("-" digits)?
 *   chars := [A-Za-z0-9._-]+
 *
 * Range order, zero padding and the size of a range are then libslurm's job.
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

/* Check one bracket "[...]" starting at *pos (which points at '['); advance past it. */
static bool slm_bracket_valid(const char *list, size_t *pos)
{
    size_t i = *pos + 1;

    for (;;) {
        if (!slm_is_digit(list[i])) {
            return false;
        }
        while (slm_is_digit(list[i])) {
            i++;
        }
        if (list[i] == '-') {
            i++;
            if (!slm_is_digit(list[i])) {
                return false;
            }
            while (slm_is_digit(list[i])) {
                i++;
            }
        }
        if (list[i] == ']') {
            *pos = i + 1;
            return true;
        }
        if (list[i] != ',') {
            return false;
        }
        i++;
    }
}

static bool slm_hostlist_valid(const char *list)
{
    size_t i         = 0;
    size_t item_size = 0;

    if (list[0] == '\0') {
        return false;
    }
    while (list[i] != '\0') {
        if (list[i] == ',') {
            if (item_size == 0) {
                return false;
            }
            item_size = 0;
            i++;
        } else if (list[i] == '[') {
            if (!slm_bracket_valid(list, &i)) {
                return false;
            }
            item_size++;
        } else if (slm_is_name_char(list[i])) {
            item_size++;
            i++;
        } else {
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
        base_error("%s='%s' is not a valid host list", what, list);
        return RMPI_ERR_CONFIG;
    }
    /* NULL for a bad range ("n[3-1]") or one that is too large; libslurm logs why */
    hl = slurm_hostlist_create(list);
    if (hl == NULL) {
        base_error("%s='%s' is not a valid host list (reversed or too large range)", what, list);
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
