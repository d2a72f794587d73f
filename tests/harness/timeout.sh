#!/bin/bash
# Test of run-test.sh's time limit: a hung test - here a process that started two
# more, one of them in a session of its own, the way mpirun and a singleton's orted
# do - must be reported with a backtrace of each process, all of them killed, and
# the wrapper must exit 124.
#
# Environment (from tests/Makefile.am): top_srcdir, top_builddir (absolute).
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
run_test=$top_srcdir/tests/harness/run-test.sh
hang=$top_builddir/tests/harness/hang
gdb=${RMPI_GDB:-$(command -v gdb || true)}
readonly NPROCS=3

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

[[ -x $hang ]] || {
    echo "ERROR: $hang is not built" >&2
    exit 99
}

tmp=$(mktemp -d)
token="rmpi-timeout-test-$$-$RANDOM" # marks our hang processes in ps
cleanup()
{
    # Only if the wrapper failed to: never leave our hangs behind us.
    local -a pids
    mapfile -t pids < <(pgrep -f -- "$token")
    ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# The "test": one hang in the background, one in a new session, one in the
# foreground. It execs the last only after the other two said they are blocking
# (their first line, read through a FIFO), so all NPROCS exist when the limit hits.
mkfifo "$tmp/ready"
cat >"$tmp/hung-test.sh" <<SCRIPT
"$hang" "$token" >"$tmp/ready" &
setsid "$hang" "$token" >"$tmp/ready" &
exec 3<"$tmp/ready"
read -r -u 3 line && echo "\$line"
read -r -u 3 line && echo "\$line"
exec 3<&-
exec "$hang" "$token"
SCRIPT

rc=0
RMPI_TEST_TIMEOUT=2 bash "$run_test" "$tmp/hung-test.sh" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"

[[ $rc -eq 124 ]] || fail "run-test.sh exited $rc, want 124"
grep -q "^TIMEOUT after 2s: $tmp/hung-test.sh" "$tmp/out" || fail "no TIMEOUT line"
started=$(grep -c "^hang: pid [0-9]* blocking forever" "$tmp/out" || true)
listed=$(grep -c "^---- process [0-9]*: $hang $token" "$tmp/out" || true)
[[ $started -eq $NPROCS ]] || fail "$started of $NPROCS hang processes started"
[[ $listed -eq $NPROCS ]] || fail "$listed of $NPROCS hang processes listed"
if [[ -n $gdb ]]; then
    traces=$(grep -c "in hang_in_recognisable_function" "$tmp/out" || true)
    [[ $traces -eq $listed ]] || fail "$listed hang processes listed, $traces backtraces"
else
    echo "no gdb: backtraces not checked"
fi

# No hang survives; killed ones may still be zombies waiting for PID 1 (ps shows
# those without arguments, so the token matches only live processes).
if survivors=$(pgrep -a -f -- "$token"); then
    fail "processes survived the timeout: $survivors"
fi
echo "PASS: all $NPROCS hang processes reported and killed"
