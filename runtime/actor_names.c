/*
 * runtime/actor_names.c - the named-actor directory: a head service on rank
 * 0, never on the call path (a caller asks once, then talks to the owner).
 *
 * Entries map (namespace, name) to an actor ID and class. Registration is
 * get-or-create: the first ID to register a name holds it; later ones are
 * told the holder. The owner releases the name when its actor dies, and the
 * head drops the names of a dead owner rank.
 */
#include "runtime/actor.h"

#include "base/hash.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RT_NAME_TIMEOUT 60.0
#define RT_NAME_KEY_MAX (2 * (RMPI_ACTOR_NAME_MAX + 1))

typedef struct rt_name_entry {
    base_hash_node_t hnode;
    size_t           key_len;
    char             key[RT_NAME_KEY_MAX]; /**< namespace NUL name */
    store_oid_t      id;
    uint32_t         cls;
} rt_name_entry_t;

typedef struct rt_name_key {
    size_t      len;
    const char *bytes;
} rt_name_key_t;

/* A request waiting for the head's reply. */
typedef struct rt_name_wait {
    base_list_t    link;
    uint64_t       cookie;
    bool           done;
    rmpi_status_t  status;
    store_oid_t    id;
    uint32_t       cls;
    pthread_cond_t cond;
} rt_name_wait_t;

static uint64_t rt_name_hash(const void *key)
{
    const rt_name_key_t *k = key;

    return base_hash_bytes(k->bytes, k->len);
}

static bool rt_name_equal(const void *key, const base_hash_node_t *node)
{
    const rt_name_key_t   *k     = key;
    const rt_name_entry_t *entry = base_container_of(node, rt_name_entry_t, hnode);

    return k->len == entry->key_len && memcmp(k->bytes, entry->key, k->len) == 0;
}

static const base_hash_ops_t rt_names_ops = {rt_name_hash, rt_name_equal};

const base_hash_ops_t *rt_actor_names_ops(void)
{
    return &rt_names_ops;
}

/* "namespace NUL name" into @a buf; 0 if a part is too long or the name empty. */
static size_t rt_name_key(const char *ns, const char *name, char *buf)
{
    size_t ns_len = ns != NULL ? strlen(ns) : 0, name_len = name != NULL ? strlen(name) : 0;

    if (ns_len > RMPI_ACTOR_NAME_MAX || name_len == 0 || name_len > RMPI_ACTOR_NAME_MAX) {
        return 0;
    }
    memcpy(buf, ns != NULL ? ns : "", ns_len);
    buf[ns_len] = '\0';
    memcpy(buf + ns_len + 1, name, name_len);
    return ns_len + 1 + name_len;
}

static bool rt_key_valid(const char *bytes, size_t len)
{
    const char *nul = len > 0 ? memchr(bytes, '\0', len) : NULL;
    size_t      ns_len, name_len;

    if (nul == NULL) {
        return false;
    }
    ns_len   = (size_t)(nul - bytes);
    name_len = len - ns_len - 1;
    return ns_len <= RMPI_ACTOR_NAME_MAX && name_len >= 1 && name_len <= RMPI_ACTOR_NAME_MAX &&
           memchr(nul + 1, '\0', name_len) == NULL;
}

/* The head's operation (rank 0, lock held). */
static rmpi_status_t rt_names_apply(uint32_t op, const rt_name_key_t *key, const store_oid_t *id,
                                    uint32_t cls, store_oid_t *id_p, uint32_t *cls_p)
{
    base_hash_node_t *node  = base_hash_find(&rt.actor_names, key);
    rt_name_entry_t  *entry = node != NULL ? base_container_of(node, rt_name_entry_t, hnode) : NULL;

    if (op == RT_NAME_REMOVE) {
        if (entry != NULL && store_oid_equal(&entry->id, id)) {
            base_hash_remove(&rt.actor_names, &entry->hnode);
            free(entry);
        }
        return RMPI_OK;
    }
    if (entry != NULL) {
        *id_p  = entry->id;
        *cls_p = entry->cls;
        return op == RT_NAME_REGISTER ? RMPI_ERR_EXISTS : RMPI_OK;
    }
    if (op == RT_NAME_LOOKUP) {
        return RMPI_ERR_NOT_FOUND;
    }
    entry = calloc(1, sizeof(*entry));
    if (entry == NULL) {
        return RMPI_ERR_NO_MEMORY;
    }
    entry->key_len = key->len;
    memcpy(entry->key, key->bytes, key->len);
    entry->id  = *id;
    entry->cls = cls;
    if (base_hash_insert(&rt.actor_names, &entry->hnode,
                         &(rt_name_key_t){entry->key_len, entry->key}) != RMPI_OK) {
        free(entry);
        return RMPI_ERR_NO_MEMORY;
    }
    *id_p  = *id;
    *cls_p = cls;
    return RMPI_OK;
}

static bool rt_name_wait_done(const void *arg)
{
    return ((const rt_name_wait_t *)arg)->done;
}

/* Send @a op to the head and wait for its reply (lock held). */
static rmpi_status_t rt_name_remote(uint32_t op, const char *key, size_t key_len,
                                    const store_oid_t *id, uint32_t cls, store_oid_t *id_p,
                                    uint32_t *cls_p)
{
    rt_name_wait_t wait = {.cookie = ++rt.next_cookie};
    rt_actor_msg_t ask  = {.id       = *id,
                           .cookie   = wait.cookie,
                           .cls      = cls,
                           .flags    = op,
                           .text     = key,
                           .text_len = key_len};
    rmpi_status_t  status;

    rt_cond_init(&wait.cond);
    base_list_add_tail(&rt.name_waits, &wait.link);
    status = rt_actor_send(0, RT_MSG_ACTOR_NAME, &ask);
    if (status == RMPI_OK) {
        status =
            rt_actor_wait_locked(&wait.cond, rt_name_wait_done, &wait, rt_now() + RT_NAME_TIMEOUT)
                ? wait.status
                : RMPI_ERR_TIMEOUT;
    }
    base_list_del(&wait.link);
    pthread_cond_destroy(&wait.cond);
    if (status == RMPI_OK || status == RMPI_ERR_EXISTS) {
        *id_p  = wait.id;
        *cls_p = wait.cls;
    }
    return status;
}

static rmpi_status_t rt_name_request(uint32_t op, const char *ns, const char *name,
                                     const store_oid_t *id, uint32_t cls, store_oid_t *id_p,
                                     uint32_t *cls_p)
{
    char          key[RT_NAME_KEY_MAX];
    size_t        key_len = rt_name_key(ns, name, key);
    rmpi_status_t status;

    if (key_len == 0) {
        base_error("actor names and namespaces are 1 to %d bytes (namespaces may be empty)",
                   RMPI_ACTOR_NAME_MAX);
        return RMPI_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rt.lock);
    if (rt.rank == 0) {
        status = rt_names_apply(op, &(rt_name_key_t){key_len, key}, id, cls, id_p, cls_p);
    } else {
        status = rt_name_remote(op, key, key_len, id, cls, id_p, cls_p);
    }
    pthread_mutex_unlock(&rt.lock);
    return status;
}

rmpi_status_t rt_actor_name_register(const char *ns, const char *name, const store_oid_t *id,
                                     uint32_t cls, store_oid_t *holder_p, uint32_t *cls_p)
{
    return rt_name_request(RT_NAME_REGISTER, ns, name, id, cls, holder_p, cls_p);
}

rmpi_status_t rt_actor_name_lookup(const char *ns, const char *name, store_oid_t *id_p,
                                   uint32_t *cls_p)
{
    store_oid_t none = {{0}};

    return rt_name_request(RT_NAME_LOOKUP, ns, name, &none, 0, id_p, cls_p);
}

void rt_actor_name_remove(const char *ns, const char *name, const store_oid_t *id)
{
    char           key[RT_NAME_KEY_MAX];
    size_t         key_len = rt_name_key(ns, name, key);
    rt_actor_msg_t drop    = {.id = *id, .flags = RT_NAME_REMOVE, .text = key, .text_len = key_len};
    store_oid_t    unused_id;
    uint32_t       unused_cls;

    if (key_len == 0) {
        return;
    }
    if (rt.rank == 0) {
        (void)rt_names_apply(RT_NAME_REMOVE, &(rt_name_key_t){key_len, key}, id, 0, &unused_id,
                             &unused_cls);
        return;
    }
    (void)rt_actor_send(0, RT_MSG_ACTOR_NAME, &drop);
}

/* --- messages ------------------------------------------------------------------------------ */

void rt_on_actor_name(int src, const void *data, size_t len)
{
    rt_actor_msg_t msg, reply = {0};
    rmpi_status_t  status;

    if (rt_actor_msg_decode(RT_MSG_ACTOR_NAME, data, len, &msg) != RMPI_OK || rt.rank != 0 ||
        msg.flags < RT_NAME_REGISTER || msg.flags > RT_NAME_REMOVE ||
        !rt_key_valid(msg.text, msg.text_len)) {
        rt_count_bad(src, RT_MSG_ACTOR_NAME, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    status = rt_names_apply(msg.flags, &(rt_name_key_t){msg.text_len, msg.text}, &msg.id, msg.cls,
                            &reply.id, &reply.cls);
    if (msg.flags != RT_NAME_REMOVE) {
        reply.cookie = msg.cookie;
        reply.status = status;
        (void)rt_actor_send(src, RT_MSG_ACTOR_NAME_REPLY, &reply);
    }
    pthread_mutex_unlock(&rt.lock);
}

static rt_name_wait_t *rt_name_wait_find(uint64_t cookie)
{
    base_list_t *it;

    base_list_for_each (it, &rt.name_waits) {
        rt_name_wait_t *wait = base_container_of(it, rt_name_wait_t, link);

        if (wait->cookie == cookie) {
            return wait;
        }
    }
    return NULL;
}

static void rt_name_wait_finish(rt_name_wait_t *wait, rmpi_status_t status, const store_oid_t *id,
                                uint32_t cls)
{
    wait->done   = true;
    wait->status = status;
    wait->id     = *id;
    wait->cls    = cls;
    pthread_cond_signal(&wait->cond);
}

void rt_on_actor_name_reply(int src, const void *data, size_t len)
{
    rt_actor_msg_t  msg;
    rt_name_wait_t *wait;

    if (rt_actor_msg_decode(RT_MSG_ACTOR_NAME_REPLY, data, len, &msg) != RMPI_OK || src != 0) {
        rt_count_bad(src, RT_MSG_ACTOR_NAME_REPLY, RMPI_ERR_MESSAGE);
        return;
    }
    pthread_mutex_lock(&rt.lock);
    wait = rt_name_wait_find(msg.cookie);
    if (wait != NULL && !wait->done) {
        rt_name_wait_finish(wait, (rmpi_status_t)msg.status, &msg.id, msg.cls);
    }
    pthread_mutex_unlock(&rt.lock);
}

typedef struct rt_name_scan {
    int               rank;
    rt_name_entry_t **found;
    size_t            count;
} rt_name_scan_t;

static bool rt_name_scan(base_hash_node_t *node, void *arg)
{
    rt_name_scan_t  *scan  = arg;
    rt_name_entry_t *entry = base_container_of(node, rt_name_entry_t, hnode);

    if (rt_oid_owner(&entry->id) == scan->rank) {
        scan->found[scan->count++] = entry;
    }
    return true;
}

/* The head forgets the names of actors a dead rank owned: they died with it. */
static void rt_names_drop_owner(int rank)
{
    rt_name_scan_t scan = {.rank = rank};

    scan.found = malloc((base_hash_count(&rt.actor_names) + 1) * sizeof(*scan.found));
    if (scan.found == NULL) {
        return;
    }
    base_hash_foreach(&rt.actor_names, rt_name_scan, &scan);
    for (size_t i = 0; i < scan.count; ++i) {
        base_hash_remove(&rt.actor_names, &scan.found[i]->hnode);
        free(scan.found[i]);
    }
    free(scan.found);
}

void rt_actor_names_rank_died(int rank)
{
    store_oid_t  none = {{0}};
    base_list_t *it;

    if (rt.rank == 0) {
        rt_names_drop_owner(rank);
    }
    if (rank == 0) {
        base_list_for_each (it, &rt.name_waits) {
            rt_name_wait_finish(base_container_of(it, rt_name_wait_t, link), RMPI_ERR_PEER_DIED,
                                &none, 0);
        }
    }
}

static bool rt_free_name(base_hash_node_t *node, void *arg)
{
    (void)arg;
    free(base_container_of(node, rt_name_entry_t, hnode));
    return true;
}

void rt_actor_names_drain(void)
{
    if (rt.actor_names.buckets != NULL) {
        base_hash_foreach(&rt.actor_names, rt_free_name, NULL);
    }
}
