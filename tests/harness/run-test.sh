#!/bin/bash
# run-test.sh PROGRAM [ARGS...] - run one test with a time limit (automake LOG_COMPILER).
#
# The test runs in a session of its own (setsid), so everything it starts - mpirun,
# the ranks, helper daemons - can be found and stopped together, even processes that
# changed their process group (Open MPI's launcher does).
#
# - PROGRAM ending in .sh is run with bash; anything else is executed directly.
# - RMPI_TEST_TIMEOUT: seconds before the test counts as hung (default 300; 0 = no limit).
# - On timeout: prints "TIMEOUT after Ns: PROGRAM", then the command line and a gdb
#   backtrace of every thread of every process of the test (gdb from $RMPI_GDB, else
#   from PATH; skipped when there is none), kills them all and exits 124 (a FAIL).
# - Otherwise exits with the test's status: 0 pass, 77 skip, 99 hard error, else fail.
# - Processes the test leaves behind are killed (and reported) in every case.
#
# Needs bash >= 5.1 (wait -n -p), ps from procps, setsid from util-linux.

# make may run us with /bin/sh (dash): switch to bash before using any bash syntax.
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -uo pipefail # not -e: the test's failures are data here, not errors

readonly ME=run-test.sh
readonly BT_TIMEOUT_S=30

die()
{
    echo "$ME: $*" >&2
    exit 99 # automake: hard error
}

if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    die "needs bash >= 5.1 (found $BASH_VERSION)"
fi
(($# >= 1)) || die "usage: $ME PROGRAM [ARGS...]"

readonly PROGRAM=$1
shift
readonly LIMIT_S=${RMPI_TEST_TIMEOUT:-300}
[[ $LIMIT_S =~ ^[0-9]+$ ]] || die "RMPI_TEST_TIMEOUT must be a number of seconds, got '$LIMIT_S'"

test_pid=  # the test's first process; also its session ID (see start_test)
sleep_pid= # the timer

# Print the processes belonging to the test, one PID per line: every live member of
# its session, plus descendants of the test that moved to a session of their own
# (an Open MPI singleton starts its orted with --set-sid). Zombies are left out: they
# are already dead and only wait for their parent.
test_processes()
{
    local pid ppid sid stat changed
    local -A parent=() member=()
    while read -r pid ppid sid stat; do
        [[ $stat == Z* ]] && continue
        parent[$pid]=$ppid
        # The test itself counts while it is our child: should setsid ever have forked,
        # its session is not test_pid, and the tree below test_pid still is the test.
        # (Checking the parent keeps a recycled PID from being taken for the test.)
        [[ $sid == "$test_pid" || ($pid == "$test_pid" && $ppid == "$$") ]] && member[$pid]=1
    done < <(ps -e -o pid=,ppid=,sid=,stat=)

    # Add children of members until nothing changes: one pass per generation.
    changed=1
    while ((changed)); do
        changed=0
        for pid in "${!parent[@]}"; do
            if [[ -z ${member[$pid]:-} && -n ${member[${parent[$pid]}]:-} ]]; then
                member[$pid]=1
                changed=1
            fi
        done
    done
    unset 'member[$$]' # never ourselves (cannot happen, but cheap to be sure)
    ((${#member[@]})) && printf '%s\n' "${!member[@]}" | sort -n
    return 0
}

# Show what each process of the hung test was doing.
report_processes()
{
    local pid gdb=${RMPI_GDB:-}
    [[ -n $gdb ]] || gdb=$(command -v gdb || true)
    for pid in "$@"; do
        echo "---- process $pid: $(ps -ww -o args= -p "$pid" 2>/dev/null || echo '(gone)')"
        if [[ -n $gdb ]]; then
            # </dev/null: gdb must never wait for a terminal. Bounded: a process stuck in
            # the kernel (D state) can hold gdb forever.
            timeout -k 5 "$BT_TIMEOUT_S" "$gdb" -p "$pid" -batch -nx \
                -ex 'thread apply all bt' </dev/null 2>&1 || echo "(gdb failed on $pid)"
        fi
    done
    [[ -n $gdb ]] || echo "(no gdb: install gdb for backtraces of hung tests)"
}

# SIGKILL everything of the test until nothing is left. Repeats because a process
# may fork between our ps and our kill; bounded in case something escapes us.
# stderr is closed around the loop: bash would report "Killed" for the test's job
# with a line number of this script, which reads like an error of the harness.
kill_test_processes()
{
    local pids
    for _ in {1..100}; do
        mapfile -t pids < <(test_processes)
        ((${#pids[@]})) || return 0
        kill -KILL "${pids[@]}"
    done 2>/dev/null
    echo "$ME: could not kill all processes of $PROGRAM: ${pids[*]}"
    return 1
}

stop_timer()
{
    if [[ -n $sleep_pid ]]; then
        kill "$sleep_pid" 2>/dev/null
        wait "$sleep_pid" 2>/dev/null
        sleep_pid=
    fi
}

# make was interrupted: the test is in another session, so it got no signal; stop it.
# shellcheck disable=SC2317 # called from the traps below
on_signal()
{
    local sig=$1 code=$2
    trap - INT TERM HUP
    stop_timer
    [[ -n $test_pid ]] && kill_test_processes
    echo "$ME: got SIG$sig, killed $PROGRAM" >&2
    exit "$code"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

start_test()
{
    local -a cmd=("$PROGRAM" "$@")
    [[ $PROGRAM == *.sh ]] && cmd=(bash "$PROGRAM" "$@")
    # Without job control a background job is not a process-group leader, so setsid
    # execs the test in place (no fork): the job's PID is the new session's ID.
    # -w only matters should it fork after all: then it waits for the test.
    set +m
    setsid -w "${cmd[@]}" &
    test_pid=$!
}

on_timeout()
{
    local -a pids
    echo "TIMEOUT after ${LIMIT_S}s: $PROGRAM${*:+ $*}"
    mapfile -t pids < <(test_processes)
    echo "processes of the test: ${pids[*]:-none}"
    report_processes "${pids[@]}"
    kill_test_processes
    wait "$test_pid" 2>/dev/null
    exit 124
}

# Wait for the test, or for the timer to fire first; sets `status`.
# 2>/dev/null on wait: bash's own "Segmentation fault" notice names a line of this
# script, which reads like a fault of the harness; report_signal says it instead.
wait_for_test()
{
    local finished=
    if ((LIMIT_S > 0)); then
        sleep "$LIMIT_S" &
        sleep_pid=$!
        wait -n -p finished "$test_pid" "$sleep_pid" 2>/dev/null
        status=$?
        if [[ $finished == "$sleep_pid" ]]; then
            sleep_pid=
            # A timer killed by a signal is no timeout: Ctrl-C reaches our whole
            # process group, and our trap for it runs in a moment.
            ((status == 0)) && on_timeout "$@"
        fi
        stop_timer
    fi
    if [[ $finished != "$test_pid" ]]; then
        wait "$test_pid" 2>/dev/null
        status=$?
    fi
    report_signal
}

# Status 128+N usually means "killed by signal N" (bash cannot tell it from exit(128+N)).
report_signal()
{
    local name
    ((status > 128)) || return 0
    name=$(kill -l $((status - 128)) 2>/dev/null) || return 0
    echo "$ME: $PROGRAM ended with status $status (SIG$name)" >&2
}

# The test has exited; anything it left running would outlive `make check`.
kill_leftovers()
{
    local -a pids
    mapfile -t pids < <(test_processes)
    ((${#pids[@]})) || return 0
    echo "$ME: $PROGRAM left ${#pids[@]} process(es) running; killing them:" >&2
    ps -ww -o pid=,args= -p "$(
        IFS=,
        echo "${pids[*]}"
    )" >&2
    kill_test_processes
}

status=0
start_test "$@"
wait_for_test "$@"
kill_leftovers
exit "$status"
