#!/usr/bin/env bash
# The README's second command: install dependencies, build, and run the whole
# test suite: `make check` (unit tests, multi-rank tests, layering check),
# `make distcheck` (the tarball builds and passes its tests), and the suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any
# failure.
#   scripts/readme-test.sh [--quick]   (--quick: only the plain `make check`)
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
quick=no
[ "${1:-}" = "--quick" ] && quick=yes

passed=0 failed=0 skipped=0 broken=0

# Add the counts of one automake test-suite.log to the totals and show the
# logs of failed tests.
tally() {
    local dir=$1 log=$1/test-suite.log
    if [ ! -f "$log" ]; then
        echo "readme-test: no $log (the build failed?)" >&2
        broken=$((broken + 1))
        return
    fi
    local p f s x e
    p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
    f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
    s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
    x=$(sed -n 's/^# XPASS: *//p' "$log" | head -1)
    e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
    if [ "${f:-0}${e:-0}${x:-0}" != 000 ]; then
        cat "$log"
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${x:-0} + ${e:-0}))
    skipped=$((skipped + ${s:-0}))
}

run_suite() {
    local name=$1 builddir=$2
    shift 2
    echo "=== $name: build in $builddir"
    if ! "$srcdir/scripts/build.sh" "$builddir" "$@"; then
        echo "=== $name: build FAILED" >&2
        broken=$((broken + 1))
        return
    fi
    echo "=== $name: make check"
    make -C "$builddir" check || true
    tally "$builddir/tests"
    if [ "$name" = plain ] && command -v valgrind >/dev/null; then
        echo "=== $name: unit tests under valgrind"
        make -C "$builddir/tests" check-valgrind || true
        tally "$builddir/tests"
    fi
}

run_suite "plain" "$srcdir/build"
if [ "$quick" = no ]; then
    echo "=== distcheck"
    if ! make -C "$srcdir/build" distcheck; then
        echo "=== distcheck FAILED" >&2
        broken=$((broken + 1))
    fi
    run_suite "asan+ubsan" "$srcdir/build-asan" --enable-debug \
        --enable-sanitizers=address,undefined
fi

echo
[ "$broken" -gt 0 ] && echo "readme-test: $broken build step(s) failed" >&2
failed=$((failed + broken))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
