"""Runbook step 5: the floating virtual IP (ocf:heartbeat:IPaddr2), first member of the group."""

from . import Plan, require_cib
from .resources import ensure_grouped_resource

AGENT = "ocf:heartbeat:IPaddr2"


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
    return plan
