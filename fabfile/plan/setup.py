"""Runbook step 3/8: create the cluster (2 to 16 nodes), start it and enable it at boot.

Two-node quorum comes from corosync's two_node, which pcs writes for a two-node cluster; the
source's `no-quorum-policy=ignore` is only set when the config asks for it. STONITH stays off
until the enable-stonith step has seen every fence device answer.
"""

import re

from ..dialects import PACKAGED_CLUSTER_NAME
from ..errors import UserError
from ..parsers import section_span
from . import Plan

# The cluster names packages put in their default single-node corosync.conf.
DISTRIBUTION_DEFAULT_CLUSTERS = set(PACKAGED_CLUSTER_NAME.values())


def plan(cluster, dialect, facts):
    plan = Plan("setup")
    primary = cluster.primary.name
    wanted = [n.name for n in cluster.nodes]
    created = False
    _remove_packaged_clusters(plan, cluster, dialect, facts)
    ours = [n.name for n in cluster.nodes
            if facts[n.name].corosync and facts[n.name].corosync.cluster_name == cluster.name]
    if len(ours) < len(wanted):
        plan.add(primary, dialect.setup_cluster(cluster.name, cluster.nodes, cluster.failover),
                 phase=1)
        created = True
    else:
        conf = facts[primary].corosync
        if list(conf.nodes) != wanted and sorted(conf.nodes) != sorted(wanted):
            raise UserError(f"step 'setup': cluster {cluster.name!r} on {primary} has nodes "
                            f"{', '.join(conf.nodes)}, the config names {', '.join(wanted)}; "
                            "changing membership is not supported")
        plan.unchanged(primary, f"cluster {cluster.name} exists with nodes {', '.join(wanted)}"
                       + (" (corosync two_node quorum)" if conf.two_node else ""))
        cib = facts[primary].cib
        offline = [n for n in wanted if cib is None or n not in cib.online_nodes]
        if offline:
            plan.add(primary, dialect.start_cluster(), phase=1)
        else:
            plan.unchanged(primary, "every node is online")
        not_enabled = [n.name for n in cluster.nodes
                       if not (facts[n.name].unit_enabled("corosync")
                               and facts[n.name].unit_enabled("pacemaker"))]
        if not_enabled:
            plan.add(primary, dialect.enable_cluster(), phase=1)
        else:
            plan.unchanged(primary, "corosync and pacemaker start at boot on every node")

    props = {} if created or facts[primary].cib is None else facts[primary].cib.properties
    if not created:
        _totem(plan, cluster, dialect, facts[primary], props)
    if created:
        plan.add(primary, dialect.set_property(
            "stonith-enabled", "false",
            "keep STONITH off until enable-stonith has checked every fence device"), phase=2)
    want_ignore = cluster.no_quorum_policy_ignore
    if want_ignore and props.get("no-quorum-policy") != "ignore":
        plan.add(primary, dialect.set_property(
            "no-quorum-policy", "ignore", "asked for by quorum.no_quorum_policy_ignore"), phase=2)
    elif not want_ignore and props.get("no-quorum-policy") == "ignore":
        plan.add(primary, dialect.unset_property(
            "no-quorum-policy", "quorum comes from corosync two_node, not from ignoring it"), phase=2)
    elif not created:
        plan.unchanged(primary, "no-quorum-policy as configured")
    return plan


def _remove_packaged_clusters(plan, cluster, dialect, facts):
    """The one-node cluster a package set up on its own goes; any other cluster is refused.
    One that runs nothing is killed before it is destroyed: stopping a Pacemaker that has just
    started waits until its controller has elected itself (dc-deadtime, 20 s)."""
    for node in cluster.nodes:
        conf = facts[node.name].corosync
        if conf is None or conf.cluster_name == cluster.name:
            continue
        if conf.cluster_name not in DISTRIBUTION_DEFAULT_CLUSTERS:
            raise UserError(f"step 'setup': {node.name} already belongs to cluster "
                            f"{conf.cluster_name!r}, not {cluster.name!r}; refusing to destroy it "
                            f"(run 'pcs cluster destroy' on {node.name} yourself if it must go)")
        why = f"remove the package's default single-node cluster ({conf.cluster_name!r})"
        cib = facts[node.name].cib
        if cib is None or not (cib.primitives or cib.groups):
            plan.add(node.name, dialect.discard_empty_cluster(f"{why}, which runs nothing"),
                     phase=0)
        else:
            plan.add(node.name, dialect.destroy_cluster(why), phase=0)


def _totem(plan, cluster, dialect, primary_facts, props):
    want = cluster.failover
    conf = primary_facts.corosync
    have = (conf.token_ms, conf.consensus_ms)
    if have == (want.token_ms, want.consensus_ms):
        plan.unchanged(cluster.primary.name, f"corosync token {want.token_ms} ms and consensus "
                       f"{want.consensus_ms} ms ({want.profile} profile)")
        return
    new_conf = with_totem(conf.text, want.token_ms, want.consensus_ms) if dialect.legacy else None
    plan.add(cluster.primary.name, dialect.change_totem(want, props, len(cluster.nodes),
                                                         totem_settle_seconds(want), new_conf),
             phase=2)


def with_totem(text, token_ms, consensus_ms):
    """corosync.conf with the top-level token and consensus of its totem section set."""
    span = section_span(text, "totem")
    if span is None:
        raise UserError("step 'setup': corosync.conf has no totem section")
    start, end = span
    indent = re.match(r"\s*", text[text.rfind("\n", 0, start) + 1:]).group(0) + "    "
    lines = [line for line in text[start:end].split("\n")
             if not re.match(r"^\s*(token|consensus)\s*:", line)]
    return (text[:start] + f"\n{indent}token: {token_ms}\n{indent}consensus: {consensus_ms}"
            + "\n".join(lines) + text[end:])


def totem_settle_seconds(failover):
    """How long the membership must hold after a totem change before resources and fencing
    come back: three times the time corosync takes to notice a lost node, at least 3 s."""
    detect_s = (failover.token_ms + failover.consensus_ms) / 1000
    return max(3, round(3 * detect_s))
