#!/bin/bash
# rt_api_nodepull.sh - node-level pull dedup (see rt_api.c: nodepull): every slot of a
# remote logical node reads one large object at once and later, exactly one transfer
# crosses to that node, and the node copy goes with the object (leak check), on 4
# ranks in 2 logical nodes under sm and tcp, and on 6 ranks in 2 nodes of 3. Then
# `ray-mpi bench --quick node_fanout_pull` on 4 ranks in 2 nodes must report exactly one
# transfer per object (node_fanout_pull_transfers).
. "$(dirname "$0")/rt_api_common.sh"
scenarios=(baseline nodepull noleak)
rt_api_run 4 sm,self 2 "${scenarios[@]}"
rt_api_run 4 tcp,self 2 "${scenarios[@]}"
rt_api_run 6 sm,self 3 "${scenarios[@]}"

bench_out=$rt_api_tmp/bench
if UCX_TLS=sm,self RAYMPI_XPORT_NODE_SPLIT=2 RAYMPI_RUN_DIR_BASE=$rt_api_tmp/runs \
    "$RAY_MPI" -n 4 "$RAY_MPI" bench --quick --json node_fanout_pull >"$bench_out" 2>&1 &&
    python3 - "$bench_out" <<'EOF2'; then
import json, sys
figures = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        rec = json.loads(line)
        figures[rec["name"]] = rec
assert figures["node_fanout_pull_transfers"]["value"] == 1, figures
assert figures["node_fanout_pull_4MiB"]["value"] > 0, figures
EOF2
    echo "ok: bench node_fanout_pull: one transfer per object"
else
    echo "FAIL: bench node_fanout_pull"
    cat "$bench_out"
    rt_api_failed=1
fi
exit $rt_api_failed
