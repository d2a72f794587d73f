#!/bin/bash
# rt_status.sh - `ray-mpi status` asks a live job's head (rank 0) through the
# socket in the job's run directory: ranks, resources and the running task
# appear, as text and as JSON; bad requests and vanishing clients do not hurt
# the job; after the job ends, status says no runtime answered (exit 3).
#
# The job (rt_status.c) runs one task on rank 1 that signals through a fifo
# that it runs and then waits on a second fifo: no sleeps.
set -uo pipefail
: "${top_builddir:=.}"
prog=$top_builddir/tests/integration/rt_status
ray_mpi=$top_builddir/cli/ray-mpi
[[ -x $prog && -x $ray_mpi ]] || { echo "ERROR: $prog or $ray_mpi is not built"; exit 99; }
command -v "${RMPI_MPIRUN:-mpirun}" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
unset RAYMPI_CONFIG_FILE RAYMPI_RT_RESOURCES RAYMPI_XPORT_NODE_SPLIT RAYMPI_TIMELINE RAYMPI_RT_NUM_GPUS
while read -r var; do unset "$var"; done < <(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/\1/p')
export RAYMPI_RT_NUM_CPUS=2

tmp=$(mktemp -d /tmp/raympi-status-test.XXXXXX) || exit 99
export RAYMPI_RUN_DIR_BASE=$tmp/run RAYMPI_JOB_ID=status-test-$$
job=$RAYMPI_JOB_ID
sock=$RAYMPI_RUN_DIR_BASE/$job/status.sock
failures=0
job_pid=""
cleanup()
{
    exec 3>&- 4>&- 2>/dev/null
    [[ -n $job_pid ]] && kill "$job_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

check()
{
    local description=$1
    shift
    rc=0
    if "$@"; then
        echo "ok: $description"
    else
        echo "FAIL: $description (exit status $rc)"
        echo "--- stdout:" && cat "$tmp/out" && echo "--- stderr:" && cat "$tmp/err"
        failures=$((failures + 1))
    fi
}

status_cmd()
{
    rc=0
    "$ray_mpi" status "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# Send RAW bytes to the socket (maybe none), optionally read the answer; print it.
raw_request()
{
    /usr/bin/python3 - "$sock" "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
if sys.argv[2]:
    s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
if sys.argv[3] == "read":
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    sys.stdout.write(data.decode(errors="replace"))
s.close()
PY
}

text_view()
{
    status_cmd
    ((rc == 0)) &&
        grep -q "^job        $job\$" "$tmp/out" &&
        grep -q "^runtime    job $job: 2 rank(s) on 1 node(s), head pid [0-9]*\$" "$tmp/out" &&
        grep -q '^resources  cpus 3/4 free, gpus 0/0 free' "$tmp/out" &&
        grep -q '^tasks      0 queued, 1 running, ' "$tmp/out" &&
        grep -q "^rank 0     node 0 $(hostname) pid [0-9]*: cpus 2/2 free, gpus 0/0 free; tasks 0 queued, 0 running" "$tmp/out" &&
        grep -q "^rank 1     node 0 $(hostname) pid [0-9]*: cpus 1/2 free, .*; running hold_in_status x1\$" "$tmp/out"
}

json_view()
{
    status_cmd --json
    ((rc == 0)) && /usr/bin/python3 - "$tmp/out" "$job" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
rt, = doc["runtimes"]
r1 = rt["rank_views"][1]
assert doc["job"] == sys.argv[2] and doc["slurm"] is None, doc
assert rt["ranks"] == 2 and rt["cpus"] == 4 and rt["cpus_free"] == 3, rt
assert r1["rank"] == 1 and r1["state"] == "up" and r1["tasks_running"] == 1, r1
assert r1["running"] == {"hold_in_status": 1}, r1
PY
}

job_id_argument()
{
    rc=0
    env -u RAYMPI_JOB_ID "$ray_mpi" status "$job" >"$tmp/out" 2>"$tmp/err" || rc=$?
    ((rc == 0)) && grep -q "running hold_in_status x1" "$tmp/out"
}

bad_clients()
{
    local answer
    answer=$(raw_request 'bogus\n' read) && [[ $answer == "error: unknown request"* ]] || return 1
    answer=$(raw_request "$(printf 'x%.0s' {1..200})" read) && [[ $answer == error:* ]] || return 1
    raw_request 'status\n' close || return 1 # asks, then vanishes before the report
    raw_request '' close || return 1         # connects and says nothing
    text_view                                # the job and its server are fine
}

mkfifo "$tmp/ready" "$tmp/release" || exit 99
exec 3<>"$tmp/ready" # opened read-write, so neither side blocks in open
"$ray_mpi" -n 2 "$prog" "$tmp" >"$tmp/job.out" 2>"$tmp/job.err" &
job_pid=$!
if ! read -r -t 120 -u 3 line || [[ $line != ready ]]; then
    echo "FAIL: the task did not start (job output follows)"
    cat "$tmp/job.out" "$tmp/job.err"
    exit 1
fi
exec 3>&-

check "text view: ranks, resources and the running task" text_view
check "--json view: the same, parsed" json_view
check "a JOBID argument finds the job" job_id_argument
check "bad requests get an error, vanishing clients do not hurt" bad_clients

exec 4<>"$tmp/release"
echo go >&4
exec 4>&-
rc=0
wait "$job_pid" || rc=$?
job_pid=""
ended()
{
    ((rc == 0)) && grep -q '^RESULT rank=1 ok' "$tmp/job.out" || {
        cat "$tmp/job.out" "$tmp/job.err" >"$tmp/out"
        return 1
    }
    status_cmd
    ((rc == 3)) && grep -q "^runtime    none: no live ray-mpi runtime of job $job answered" "$tmp/out" &&
        [[ ! -e $sock ]]
}
check "the job finishes; then status says no runtime (exit 3), socket removed" ended
echo "rt_status.sh: $failures failure(s)"
exit $((failures > 0))
