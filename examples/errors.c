/*
 * examples/errors.c - a failed task's error travels to the tasks that depend on it.
 *
 *     ray-mpi -n 2 ./errors
 *
 * load_config fails on purpose: it sets a message with rmpi_task_error() and
 * returns RMPI_ERR_TASK_FAILED. train_model takes load_config's ref as its
 * argument, so it never runs; its return fails instead, with a message that says
 * why and names the original failure after "caused by". The driver shows the
 * error of each, then runs train_model on a config it stored with rmpi_put to
 * show the job goes on after a failure. The last line:
 *
 *     RESULT status=task_failed chained=1 root_message=1 recovered=1 ok
 */
#include <raympi.h>
#include <stdio.h>
#include <string.h>

#define ERRORS_MISSING_FILE "/no/such/model.conf"

/* load_config(char[] path) -> the file's contents; here always a failure */
RMPI_REMOTE(load_config)
{
    rmpi_task_error(ctx, "cannot open config file '%.*s'", (int)(nargs ? args[0].size : 0),
                    nargs ? (const char *)args[0].data : "");
    return RMPI_ERR_TASK_FAILED;
}

/* train_model(char[] config) -> uint64 the length of the config it trained with */
RMPI_REMOTE(train_model)
{
    uint64_t length;

    if (nargs != 1) {
        rmpi_task_error(ctx, "train_model expects one argument, got %zu", nargs);
        return RMPI_ERR_INVALID_ARG;
    }
    length = args[0].size;
    return rmpi_return(ctx, 0, &length, sizeof(length));
}

static int errors_fail(const char *what, rmpi_status_t status)
{
    fprintf(stderr, "errors: %s: %s\n", what, rmpi_status_str(status));
    return 1;
}

/* Submit @a fn with the one argument @a arg. */
static rmpi_status_t errors_submit(const char *fn, rmpi_task_arg_t arg, rmpi_ref_t *ref_p)
{
    return rmpi_submit(fn, &arg, 1, NULL, ref_p);
}

/*
 * Get @a ref, print its status and message, and copy the message to @a msg.
 * *status_p is the status of the get.
 */
static void errors_show(const char *label, rmpi_ref_t ref, rmpi_status_t *status_p, char *msg,
                        size_t msg_size)
{
    rmpi_object_t obj;
    rmpi_status_t status = rmpi_get(&ref, 1, -1.0, &obj);

    *status_p = status;
    msg[0]    = '\0';
    if (status == RMPI_OK || RMPI_IS_TASK_ERROR(status)) { /* the view is written */
        snprintf(msg, msg_size, "%s", obj.error ? obj.error : "");
        rmpi_object_release(&obj);
    }
    printf("%-12s -> %s\n", label, rmpi_status_str(status));
    if (msg[0] != '\0') {
        printf("%12s    %s\n", "", msg);
    }
}

/* Train on a config stored with rmpi_put: the job works on after a failed task. */
static int errors_recover(void)
{
    static const char config[] = "layers = 4\n";
    rmpi_ref_t        config_ref, model_ref;
    rmpi_object_t     obj;
    uint64_t          length = 0;
    rmpi_status_t     status;

    if (rmpi_put(config, sizeof(config), NULL, &config_ref) != RMPI_OK) {
        return 0;
    }
    status = errors_submit("train_model", rmpi_arg_ref(config_ref), &model_ref);
    rmpi_ref_free(config_ref); /* the task holds the config until it has run */
    if (status != RMPI_OK) {
        return 0;
    }
    status = rmpi_get(&model_ref, 1, -1.0, &obj);
    rmpi_ref_free(model_ref);
    if (status != RMPI_OK) {
        return 0;
    }
    if (obj.size == sizeof(length)) {
        memcpy(&length, obj.data, sizeof(length));
    }
    rmpi_object_release(&obj);
    printf("train_model on a stored config -> %s (trained on %llu bytes)\n",
           rmpi_status_str(status), (unsigned long long)length);
    return length == sizeof(config);
}

static int errors_run(void)
{
    static const char path[] = ERRORS_MISSING_FILE;
    rmpi_ref_t        config_ref, model_ref;
    rmpi_status_t     status, config_status, model_status;
    char              config_msg[2048], model_msg[4096];
    int               chained, root_message, recovered, ok;

    status = errors_submit("load_config", rmpi_arg_value(path, strlen(path)), &config_ref);
    if (status != RMPI_OK) {
        return errors_fail("submit load_config", status);
    }
    status = errors_submit("train_model", rmpi_arg_ref(config_ref), &model_ref);
    if (status != RMPI_OK) {
        rmpi_ref_free(config_ref);
        return errors_fail("submit train_model", status);
    }
    /* get the dependent first: its error must not need anyone to look at the cause */
    errors_show("train_model", model_ref, &model_status, model_msg, sizeof(model_msg));
    errors_show("load_config", config_ref, &config_status, config_msg, sizeof(config_msg));
    rmpi_ref_free(model_ref);
    rmpi_ref_free(config_ref);
    recovered = errors_recover();

    chained      = strstr(model_msg, "caused by") != NULL;
    root_message = strstr(model_msg, path) != NULL && strstr(config_msg, path) != NULL;
    ok = model_status == RMPI_ERR_TASK_FAILED && config_status == RMPI_ERR_TASK_FAILED && chained &&
         root_message && recovered;
    if (model_status == RMPI_ERR_TASK_FAILED) {
        printf("RESULT status=task_failed");
    } else {
        printf("RESULT status=%d", (int)model_status); /* a word for scripts, no spaces */
    }
    printf(" chained=%d root_message=%d recovered=%d %s\n", chained, root_message, recovered,
           ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    rmpi_status_t status;
    int           rc;

    if (argc > 1) {
        fprintf(stderr, "usage: %s\n", argv[0]);
        return 2;
    }
    status = rmpi_init(&argc, &argv, NULL); /* worker ranks serve tasks in here */
    if (status != RMPI_OK) {
        return errors_fail("init", status);
    }
    rc     = errors_run();
    status = rmpi_shutdown();
    if (status != RMPI_OK) {
        rc = errors_fail("shutdown", status);
    }
    return rc;
}
