#!/bin/bash
# xport_kill.sh - the last rank is killed with SIGKILL while the others have
# operations pending on it; the survivors must fail them with PEER_DIED, shut
# down cleanly and print PASS. mpirun must not kill the survivors first:
# see docs/transport.md for the launch mode.
. "$(dirname "$0")/xport_common.sh"
for tls in sm,self tcp,self; do
    for n in 2 4 8; do
        xport_run kill $n $tls $((n - 1)) "" --enable-recovery
    done
done
# UCX's own peer error handling (PEER endpoints, error callback, forced close),
# which other hosts get by default, tested on this host over tcp.
RAYMPI_XPORT_ERR_MODE=peer xport_run kill 4 tcp,self 3 "" --enable-recovery -x RAYMPI_XPORT_ERR_MODE
exit $xport_failed
