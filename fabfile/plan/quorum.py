"""Runbook step 4/10: an optional quorum arbiter (corosync-qnetd on a third host).

Two nodes alone cannot tell a dead peer from a cut link, so the source settles a split with a
fence race that one side is told to lose slowly (a static delay). With qnetd's vote the side
the arbiter sides with keeps quorum and fences; the other side loses quorum and fences nobody,
so a crash of either node is fenced at once. pcs drops corosync's two_node when it adds the
device, since the third vote replaces it.

qnetd's tie-breaker is a fixed node: a split caused by the node that does not serve (packet loss
on its link) could cost the serving node its quorum and get it fenced. With heuristics, each
side tells qnetd whether it runs the service, and an even split goes to the side that does;
the tie-breaker decides only when neither or both do.
"""

from ..facts import QNETD_DATABASE
from . import NotReady, Plan

MODEL = "net"


def tie_breaker(cluster):
    """qnetd's choice in an even split: the preferred node (node ids follow the config's order)."""
    first = cluster.nodes[0].name
    return "lowest" if cluster.fencing.preferred_node == first else "highest"


def plan(cluster, dialect, facts):
    plan = Plan("quorum")
    primary = cluster.primary.name
    conf = facts[primary].corosync
    if conf is None and not facts[primary].assumed:
        raise NotReady("step 'quorum': the cluster does not exist on "
                       f"{primary} (run the 'setup' step first)")
    current = conf.device if conf else None
    device = cluster.quorum_device
    if device is None:
        if current:
            plan.add(primary, dialect.remove_quorum_device(
                "the config names no quorum device: back to corosync two_node quorum"))
        else:
            plan.unchanged(primary, "no quorum device is configured (" + (
                "corosync two_node quorum)" if len(cluster.nodes) == 2 else "quorum by majority)"))
        return plan

    arbiter = device.arbiter.name
    qnetd = facts[arbiter]
    if qnetd.unit_enabled("corosync-qnetd") and qnetd.unit_active("corosync-qnetd"):
        plan.unchanged(arbiter, "qnetd is set up, enabled and running")
    elif QNETD_DATABASE in qnetd.files:
        plan.add(arbiter, dialect.enable_units(["corosync-qnetd"], start=True), phase=0)
    else:
        plan.add(arbiter, dialect.setup_qnetd(), phase=0)

    timeout = str(cluster.failover.qdevice_timeout_ms)
    heuristics = (dialect.service_heuristics(cluster.vip.resource_id)
                  if device.heuristics == "service" else None)
    wanted = {"model": MODEL, "timeout": timeout, "host": arbiter, "algorithm": device.algorithm,
              "tie_breaker": tie_breaker(cluster), "heuristics": heuristics}
    if current == wanted:
        plan.unchanged(primary, f"quorum device: qnetd on {arbiter}, {device.algorithm}, "
                       f"tie-breaker {wanted['tie_breaker']}, timeout {timeout} ms, heuristics "
                       f"{device.heuristics}")
        return plan
    if current and {**current, "timeout": timeout, "heuristics": heuristics} == wanted:
        if current["timeout"] != timeout:
            plan.add(primary, dialect.update_quorum_device_timeout(timeout), phase=1)
        if heuristics is None and current["heuristics"]:
            plan.add(primary, dialect.remove_quorum_device_heuristics(
                "the config wants no heuristics: qnetd's tie-breaker alone settles an even "
                "split"), phase=1)
        elif current["heuristics"] != heuristics:
            stale = set(current["heuristics"] or ()) - set(heuristics)
            plan.add(primary, dialect.update_quorum_device_heuristics(heuristics, sorted(stale)),
                     phase=1)
        return plan
    if current:
        plan.add(primary, dialect.remove_quorum_device(
            f"the quorum device differs from the config ({_describe(current)})"), phase=1)
    plan.add(primary, dialect.add_quorum_device(arbiter, device.algorithm, wanted["tie_breaker"],
                                                timeout, heuristics), phase=2)
    return plan


def _describe(device):
    return ", ".join(f"{k} {v}" for k, v in device.items() if v and k != "heuristics")
