"""Runbook step 6/10: the floating virtual IP (ocf:heartbeat:IPaddr2), first member of the group.

Clouds ignore gratuitous ARP: there the cloud's API moves the address (vip.cloud), through the
resource agent made for it, grouped with the service exactly like IPaddr2:
  aws-route  aws-vpc-move-ip (route tables) is the VIP itself;
  aws-eip    awsvip (the secondary private address), IPaddr2, then awseip (the Elastic IP);
  gcp-alias  gcp-vpc-move-vip (the alias IP range), then IPaddr2;
  azure-lb   IPaddr2, then azure-lb (answers the load balancer's health probe).
"""

from ..config import AZURE_PROBE_PORT, SPREAD_SCORE
from . import Plan, require_cib
from .resources import ensure_grouped_resource

HALB_HAPROXY = "ocf:halb:haproxy"

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


def _aws_account(cloud, keys=("region", "profile")):
    """The AWS CLI profile (and region, for aws-vpc-move-ip: awsvip and awseip take none)."""
    return [(k, cloud.get(k)) for k in keys if cloud.get(k)]


def vip_resources(cluster):
    """The group's address resources in start order: (resource id, agent, options)."""
    vip, cloud = cluster.vip, cluster.vip.cloud
    ipaddr2 = (vip.resource_id, AGENT, vip_options(cluster))
    if cloud is None:
        return [ipaddr2]
    if cloud.provider == "aws-route":
        options = [("ip", vip.ip), ("routing_table", cloud.get("routing_table"))]
        options += [("interface", vip.nic)] if vip.nic else []
        return [(vip.resource_id, "ocf:heartbeat:aws-vpc-move-ip", options + _aws_account(cloud))]
    if cloud.provider == "aws-eip":
        return [(vip.extra_id("private"), "ocf:heartbeat:awsvip",
                 [("secondary_private_ip", vip.ip)] + _aws_account(cloud, ("profile",))),
                ipaddr2,
                (vip.extra_id("eip"), "ocf:heartbeat:awseip",
                 [("elastic_ip", cloud.get("elastic_ip")),
                  ("allocation_id", cloud.get("allocation_id")),
                  ("private_ip_address", vip.ip)] + _aws_account(cloud, ("profile",)))]
    if cloud.provider == "gcp-alias":
        alias = [("alias_ip", f"{vip.ip}/32")]
        alias += [("alias_range_name", cloud.get("alias_range_name"))] \
            if cloud.get("alias_range_name") else []
        return [(vip.extra_id("alias"), "ocf:heartbeat:gcp-vpc-move-vip", alias), ipaddr2]
    # azure-lb
    return [ipaddr2, (vip.extra_id("lb"), "ocf:heartbeat:azure-lb",
                      [("port", cloud.get("probe_port", str(AZURE_PROBE_PORT)))])]


def plan(cluster, dialect, facts):
    plan = Plan("vip")
    cib = require_cib(cluster, facts, "vip")
    views = cluster.views()
    _remove_former_groups(plan, cluster, dialect, cib)
    for view in views:
        for resource, agent, options in vip_resources(view):
            ensure_grouped_resource(plan, view, dialect, cib, resource, agent, options,
                                    view.vip.monitor_interval, phase=0)
    for view in views:
        meta = cib.group_meta.get(view.group, {}) if cib else {}
        if meta.get("resource-stickiness") == STICKINESS:
            plan.unchanged(cluster.primary.name, f"group {view.group} stays where it runs "
                           f"(resource-stickiness {STICKINESS})")
        else:
            plan.add(cluster.primary.name, dialect.set_meta(
                view.group, "resource-stickiness", STICKINESS,
                f"group {view.group} stays on the node it runs on when the other node comes "
                "back"), phase=1)
    _spread(plan, cluster, dialect, cib)
    return plan


def halb_groups(cib):
    """{group: members} of the CIB's groups that run halb's HAProxy agent: halb's own, whether
    the config still names them or not."""
    return {group: members for group, members in cib.groups.items()
            if any(cib.primitives[m].agent == HALB_HAPROXY for m in members
                   if m in cib.primitives)}


def _remove_former_groups(plan, cluster, dialect, cib):
    """A service group taken out of the config goes, before any group is created (a new one
    may take its address). halb's own are those running its HAProxy agent; any other group is
    not halb's to delete. Its rendered config file stays on the nodes until teardown."""
    if cib is None:
        return
    views = cluster.views()
    wanted = {view.group for view in views}
    # A group renamed in the config keeps its resources: they move to the new group instead.
    kept = {r for view in views for r in (*(res for res, _, _ in vip_resources(view)),
                                          view.service.resource_id)}
    for group, members in sorted(halb_groups(cib).items()):
        if group not in wanted and not kept & set(members):
            plan.add(cluster.primary.name, dialect.delete_group(
                group, f"service group {group} ({', '.join(members)}) is no longer in the config: "
                "its service and VIP stop"), phase=0)


def _spread(plan, cluster, dialect, cib):
    """Each group after the first keeps off the nodes of the groups before it (SPREAD_SCORE):
    while there are nodes enough, every group runs on a node of its own."""
    names = [g.name for g in cluster.groups]
    have = {(a, b): score for a, b, score in (cib.colocations if cib else ())}
    for i, group in enumerate(names):
        for other in names[:i]:
            if have.get((group, other)) == str(SPREAD_SCORE):
                plan.unchanged(cluster.primary.name, f"group {group} keeps off {other}'s node")
            else:
                plan.add(cluster.primary.name, dialect.keep_apart(
                    group, other, SPREAD_SCORE,
                    f"group {group} runs on another node than {other} when one is up"), phase=1)
