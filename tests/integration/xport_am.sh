#!/bin/bash
# xport_am.sh - see xport_test.c (am, layout, idle) - under sm and tcp, on 2, 4 and 8 ranks;
# also the MPI bootstrap and XPORT_NODE_SPLIT.
. "$(dirname "$0")/xport_common.sh"
for tls in sm,self tcp,self; do
    for n in 2 4 8; do
        xport_run am $n $tls
    done
done
# The MPI bootstrap (PMIx is used by default under mpirun).
RAYMPI_XPORT_BOOTSTRAP=mpi xport_run am 4 sm,self 4 "" -x RAYMPI_XPORT_BOOTSTRAP
# Logical nodes: one host split into nodes of 2 and of 3 ranks.
RAYMPI_XPORT_NODE_SPLIT=2 xport_run layout 4 sm,self 4 2 -x RAYMPI_XPORT_NODE_SPLIT
RAYMPI_XPORT_NODE_SPLIT=3 xport_run layout 8 tcp,self 8 3 -x RAYMPI_XPORT_NODE_SPLIT
# An idle rank sleeps: no busy polling once the traffic has stopped.
xport_run idle 2 sm,self
xport_run idle 2 tcp,self
exit $xport_failed
