"""Runbook step 5: the floating virtual IP (ocf:heartbeat:IPaddr2), first member of the group."""

from . import Plan, require_cib
from .resources import ensure_grouped_resource

AGENT = "ocf:heartbeat:IPaddr2"
# Pacemaker spreads resources over equal nodes: without stickiness the group moves back to a
# node that rejoins after a failover, and every move is an outage of its own.
STICKINESS = "100"


def vip_options(cluster):
    vip = cluster.vip
    options = [("ip", vip.ip), ("cidr_netmask", str(vip.cidr_netmask))]
    if vip.nic:
        options.append(("nic", vip.nic))
    return options


def plan(cluster, dialect, facts):
    plan = Plan("vip")
    cib = require_cib(cluster, facts, "vip")
    ensure_grouped_resource(plan, cluster, dialect, cib, cluster.vip.resource_id, AGENT,
                            vip_options(cluster), cluster.vip.monitor_interval, phase=0)
    meta = cib.group_meta.get(cluster.group, {}) if cib else {}
    if meta.get("resource-stickiness") == STICKINESS:
        plan.unchanged(cluster.primary.name, f"group {cluster.group} stays where it runs "
                       f"(resource-stickiness {STICKINESS})")
    else:
        plan.add(cluster.primary.name, dialect.set_meta(
            cluster.group, "resource-stickiness", STICKINESS,
            f"group {cluster.group} stays on the node it runs on when the other node comes back"),
            phase=1)
    return plan
