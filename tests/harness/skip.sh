#!/bin/bash
# Test of run-test.sh's pass-through: the wrapper must exit with its test's status
# (77 = skipped and 99 = hard error keep their automake meaning, any other failure
# stays a failure), hand over all arguments unchanged, run *.sh programs with bash,
# and kill what a test leaves running when it exits.
#
# Environment (from tests/Makefile.am): top_srcdir (absolute).
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
run_test=$top_srcdir/tests/harness/run-test.sh
failures=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect_status WANT PROGRAM [ARGS...]: run PROGRAM under the wrapper.
expect_status()
{
    local want=$1 rc=0
    shift
    bash "$run_test" "$@" >"$tmp/out" 2>&1 || rc=$?
    if [[ $rc -eq $want ]]; then
        echo "ok: status $rc from: $*"
    else
        echo "FAIL: status $rc, want $want, from: $*"
        cat "$tmp/out"
        failures=$((failures + 1))
    fi
}

expect_status 0 bash -c 'exit 0'
expect_status 77 bash -c 'exit 77'
expect_status 3 bash -c 'exit 3'
expect_status 99 bash -c 'exit 99'
# A crash is a failure, not a pass or skip: bash reports 128 + SIGSEGV.
expect_status 139 bash -c 'kill -SEGV $$'
# Arguments arrive unchanged: count them, and check one with a space.
# shellcheck disable=SC2016 # the child's $1 and $#, not ours
expect_status 4 bash -c '[[ $1 == "a b" ]] && exit $#' child 'a b' c '' d

# A .sh program runs with bash even when it is not executable.
printf 'exit 77\n' >"$tmp/not-executable.sh"
chmod a-x "$tmp/not-executable.sh"
expect_status 77 "$tmp/not-executable.sh"

# A test that exits leaving a process behind: the wrapper keeps the test's status
# and kills the leftover. The child is `sleep` under a name unique to this run.
token="rmpi-skip-test-$$-$RANDOM"
expect_status 3 bash -c "exec -a '$token' sleep 600 & exit 3"
mapfile -t survivors < <(pgrep -f -- "$token")
if ((${#survivors[@]})); then
    echo "FAIL: left running after its test exited: ${survivors[*]}"
    kill -KILL "${survivors[@]}" 2>/dev/null || true
    failures=$((failures + 1))
fi
grep -q "left 1 process(es) running" "$tmp/out" || {
    echo "FAIL: the leftover process was not reported"
    failures=$((failures + 1))
}

((failures == 0)) || exit 1
echo "PASS"
