"""`inv standby NODE` / `inv unstandby NODE`: a planned move, finished before the task returns.

Standby moves the group off the node; the task waits until the group runs on the peer and the
service answers on the VIP. Unstandby lets the node take resources again (the group stays where
it is: stickiness) and waits until the node is back online and out of standby.
"""

from __future__ import annotations

import time

from . import facts as factlib
from .errors import UserError
from .health import get_via_vip
from .lab import network as lab_network

WAIT_SECONDS = 120


def switch(cluster, runner, node_name, on, say=print, port=None):
    names = [n.name for n in cluster.nodes]
    if node_name not in names:
        raise UserError(f"{node_name!r} is not a node of {cluster.name} ({', '.join(names)})")
    lab_network.guard([cluster.vip.ip])
    runner.resolve_nodes()
    peer = cluster.peer_of(node_name)
    dialect = runner.node_dialect(peer)
    # Ask the peer: with its own node going into standby a node still answers, but the peer is
    # the one that must run the service afterwards.
    started = time.monotonic()
    runner.executor.run(peer, dialect.standby(node_name, on=on), "standby" if on else "unstandby")
    verb = "standby" if on else "unstandby"
    say(f"{verb} {node_name}: asked through {peer.name}; waiting for the cluster")
    port = port or cluster.service_port
    group = (cluster.vip.resource_id, cluster.service.resource_id)

    def done():
        status = factlib.parse_crm_mon(runner.executor.run(
            peer, dialect.cluster_status_xml(), verb).stdout)
        if status is None:
            return None
        if on:
            moved = all(status.resources.get(r, ()) == (peer.name,) for r in group)
            settled = node_name in status.standby and moved
        else:
            settled = node_name in status.online and node_name not in status.standby
        return status if settled and get_via_vip(cluster, port, timeout=2)[0] else None

    deadline = time.monotonic() + WAIT_SECONDS
    while (status := done()) is None:
        if time.monotonic() > deadline:
            raise UserError(f"{verb} {node_name}: not finished after {WAIT_SECONDS}s; see "
                            "pcs status")
        time.sleep(0.5)
    where = status.resources.get(cluster.vip.resource_id, ())
    say(f"{verb} {node_name}: done in {time.monotonic() - started:.1f}s; the service runs on "
        f"{', '.join(where)} and answers on {cluster.vip.ip}:{port}")

