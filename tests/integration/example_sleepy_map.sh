#!/bin/bash
# example_sleepy_map.sh - examples/sleepy_map: sleeping tasks run side by side when the
# job has the CPU slots (RAYMPI_RT_NUM_CPUS), and no more of them at once than it has.
# Bounds are generous: CI machines have 2 cores and are noisy.
# shellcheck source=tests/integration/example_common.sh
. "$(dirname "$0")/example_common.sh"

# in_parallel RANKS CPUS_PER_RANK: 10 tasks of 200 ms finish well before 10 x 200 ms.
in_parallel()
{
    example_run "$1" "RAYMPI_RT_NUM_CPUS=$2" sleepy_map 10 200
    result_ok && [[ $(field tasks) == 10 ]] &&
        awk_true "$(field wall_s) >= 0.19 && $(field wall_s) < 1.0"
}

# slots_respected: with one slot per rank, at most $(field cpus) tasks sleep at a
# time, so 6 tasks of 100 ms take at least ceil(6 / cpus) rounds.
slots_respected()
{
    example_run 2 RAYMPI_RT_NUM_CPUS=1 sleepy_map 6 100
    local cpus
    cpus=$(field cpus) || return 1
    result_ok && awk_true "$cpus >= 1 && $cpus <= 2" &&
        awk_true "$(field wall_s) >= 0.09 * int((6 + $cpus - 1) / $cpus)"
}

example_check "10 x 200 ms on 2 ranks of 10 slots in under 1 s" in_parallel 2 10
example_check "10 x 200 ms on 4 ranks of 4 slots in under 1 s" in_parallel 4 4
example_check "1 slot per rank: tasks queue for the slots" slots_respected
example_finish
