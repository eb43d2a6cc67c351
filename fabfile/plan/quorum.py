"""Runbook step 4/10: an optional quorum arbiter (corosync-qnetd on a third host).

Two nodes alone cannot tell a dead peer from a cut link, so the source settles a split with a
fence race that one side is told to lose slowly (a static delay). With qnetd's vote the side
the arbiter sides with keeps quorum and fences; the other side loses quorum and fences nobody,
so a crash of either node is fenced at once. pcs drops corosync's two_node when it adds the
device, since the third vote replaces it.

qnetd's tie-breaker is a fixed node: a split caused by packet loss on one node's link could go
to the lossy side and get the healthy node fenced. With heuristics, each node runs halb's script
(fabfile/agents/quorum_heuristic.py) at every membership change and tells qnetd whether its side
should win: the side that runs the service, unless the serving node's own link is the lossy one
(its pings to the arbiter go unanswered now and then, while the other node's do not and the VIP
answers that node only now and then). The tie-breaker decides only when neither or both pass.
"""

from ..commands import remove_created_files
from ..facts import QNETD_DATABASE, QUORUM_HEURISTIC, uses_quorum_heuristic
from ..render import quorum_heuristic_text
from . import NotReady, Plan

MODEL = "net"


def tie_breaker(cluster):
    """qnetd's choice in an even split: the preferred node (node ids follow the config's order)."""
    first = cluster.nodes[0].name
    return "lowest" if cluster.fencing.preferred_node == first else "highest"


def plan(cluster, dialect, facts):
    plan = _plan_device(cluster, dialect, facts)
    if not uses_quorum_heuristic(cluster):
        _remove_heuristic(plan, cluster, facts)
    return plan


def _plan_device(cluster, dialect, facts):
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
    heuristics = None
    if uses_quorum_heuristic(cluster):
        _install_heuristic(plan, cluster, facts)
        heuristics = dialect.service_heuristics(QUORUM_HEURISTIC, cluster.vip.resource_id,
                                                device.arbiter.address, cluster.vip.ip)
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


def _install_heuristic(plan, cluster, facts):
    """halb's heuristic on every cluster node (phase 0), before qdevice is told to run it."""
    text = quorum_heuristic_text()
    for node in cluster.nodes:
        plan.ship(node.name, facts[node.name], QUORUM_HEURISTIC, text,
                  "install halb's quorum heuristic", "fabfile/agents/quorum_heuristic.py", 0)


def _remove_heuristic(plan, cluster, facts):
    """Once qdevice no longer runs it (the last phase), halb's heuristic leaves the nodes."""
    last = len(plan.phases)
    for node in cluster.nodes:
        if ("created", QUORUM_HEURISTIC) in facts[node.name].manifest:
            plan.add(node.name, remove_created_files(
                [QUORUM_HEURISTIC], "no quorum heuristic is configured"), phase=last)


def _describe(device):
    return ", ".join(f"{k} {v}" for k, v in device.items() if v and k != "heuristics")
