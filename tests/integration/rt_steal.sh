#!/bin/bash
# rt_steal.sh - idle ranks take queued tasks from a busy rank (rt_steal.c), and do
# not when RAYMPI_RT_STEAL=no (so it is stealing that spreads them).
set -uo pipefail
: "${top_builddir:=.}"
prog=$top_builddir/tests/integration/rt_steal
[[ -x $prog ]] || { echo "ERROR: $prog is not built"; exit 99; }
command -v "${RMPI_MPIRUN:-mpirun}" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
unset RAYMPI_CONFIG_FILE RAYMPI_RT_RESOURCES RAYMPI_XPORT_NODE_SPLIT RAYMPI_TIMELINE
export RAYMPI_RT_NUM_CPUS=1
failures=0

run()
{
    local out
    out=$("$top_builddir/cli/ray-mpi" -n 4 "$prog" 2>&1) || { echo "$out"; return 1; }
    result=$(grep '^RESULT' <<<"$out" | tail -1)
    echo "$* -> $result"
    [[ $result == *" ok" ]] || { echo "$out"; return 1; }
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$result"; }

# At least one thief must take work. How many ranks share it depends on when each
# went idle (ASan runs see 2 of 4): spreading to all is a goal, not checked here.
if run "stealing on"; then
    (( $(field ranks) >= 2 && $(field stolen) >= 2 )) || { echo "FAIL: tasks did not spread"; failures=$((failures + 1)); }
else
    failures=$((failures + 1))
fi
if RAYMPI_RT_STEAL=no run "stealing off"; then
    (( $(field ranks) == 1 && $(field stolen) == 0 )) || { echo "FAIL: tasks moved without stealing"; failures=$((failures + 1)); }
else
    failures=$((failures + 1))
fi
exit $(( failures > 0 ))
