"""Runbook step 3/10: create the cluster (2 to 16 nodes), start it and enable it at boot.

Two-node quorum comes from corosync's two_node, which pcs writes for a two-node cluster; the
source's `no-quorum-policy=ignore` is only set when the config asks for it. STONITH stays off
until the enable-stonith step has seen every fence device answer.
"""

import dataclasses
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
    anchor, replaced = membership(cluster, facts)
    if creates_cluster(cluster, facts):
        _create(plan, cluster, dialect)
        created = True
    else:
        conf = facts[anchor].corosync
        if sorted(conf.nodes) != sorted(wanted) or replaced:
            _change_membership(plan, cluster, dialect, facts, anchor, replaced)
        else:
            plan.unchanged(anchor, f"cluster {cluster.name} exists with nodes {', '.join(wanted)}"
                           + (" (corosync two_node quorum)" if conf.two_node else ""))
        primary = anchor
        cib = facts[primary].cib
        # A node joining (or joining again) starts as it joins.
        members = [n for n in wanted if n in conf.nodes and n not in replaced]
        offline = [n for n in members if cib is None or n not in cib.online_nodes]
        if offline:
            plan.add(primary, dialect.start_cluster(), phase=1)
        else:
            plan.unchanged(primary, "every node is online")
        not_enabled = [n for n in members
                       if not (facts[n].unit_enabled("corosync")
                               and facts[n].unit_enabled("pacemaker"))]
        if not_enabled:
            plan.add(primary, dialect.enable_cluster(), phase=1)
        else:
            plan.unchanged(primary, "corosync and pacemaker start at boot on every node")

    props = {} if created or facts[primary].cib is None else facts[primary].cib.properties
    # The properties go in once the cluster runs: after the start of a new one.
    after_start = 4 if created else 2
    if not created:
        _totem(plan, cluster, dialect, facts[primary], props)
    want_ignore = cluster.no_quorum_policy_ignore
    if want_ignore and props.get("no-quorum-policy") != "ignore":
        plan.add(primary, dialect.set_property(
            "no-quorum-policy", "ignore", "asked for by quorum.no_quorum_policy_ignore"),
            phase=after_start)
    elif not want_ignore and props.get("no-quorum-policy") == "ignore":
        plan.add(primary, dialect.unset_property(
            "no-quorum-policy", "quorum comes from corosync two_node, not from ignoring it"),
            phase=after_start)
    elif not created:
        plan.unchanged(primary, "no-quorum-policy as configured")
    return plan


def creates_cluster(cluster, facts):
    """Whether this step creates the cluster: no member holds it yet, or a first setup was
    interrupted before every node had its config."""
    wanted = sorted(n.name for n in cluster.nodes)
    anchor, replaced = membership(cluster, facts)
    return anchor is None or (len(members_by_own_config(cluster, facts)) < len(wanted)
                              and not replaced and sorted(facts[anchor].corosync.nodes) == wanted)


def expected_after(cluster, facts):
    """The hosts as this step leaves them, for planning the later steps before it has run (a
    runbook, a dry run): a step that creates the cluster leaves no CIB the hosts hold now (a
    package's one-node cluster's, whose stonith-enabled is true by default), and the new
    cluster's is not known until it runs."""
    if not creates_cluster(cluster, facts):
        return facts
    return {name: dataclasses.replace(host_facts, cib=None) for name, host_facts in facts.items()}


def members_by_own_config(cluster, facts):
    """The configured nodes that hold this cluster's corosync.conf."""
    return [n.name for n in cluster.nodes
            if facts[n.name].corosync and facts[n.name].corosync.cluster_name == cluster.name]


def membership(cluster, facts):
    """(the member that membership changes go through or None, the nodes whose machine is new:
    see _replaced)."""
    ours = members_by_own_config(cluster, facts)
    anchor = _anchor(cluster, facts, ours)
    return anchor, _replaced(cluster, facts, anchor, ours)


def _anchor(cluster, facts, ours):
    """The first configured node that is a member of the existing cluster by its own
    corosync.conf, or None when there is no cluster yet."""
    return next((name for name in ours if name in facts[name].corosync.nodes), None)


def _replaced(cluster, facts, anchor, ours):
    """Members by the running cluster's corosync.conf whose machine holds no config of this
    cluster: a dead node replaced by a new machine of the same name. A cluster that is not
    running (no CIB answers on `anchor`) is an interrupted first setup instead."""
    if anchor is None or facts[anchor].cib is None:
        return []
    members = facts[anchor].corosync.nodes
    return [n.name for n in cluster.nodes if n.name in members and n.name not in ours]


def _change_membership(plan, cluster, dialect, facts, anchor, replaced=()):
    """Nodes leave and join the running cluster through `anchor`; a replaced node leaves and
    joins again, which gives the new machine the cluster's keys and config and drops the dead
    one's state. For any other change a quorum device goes first (the quorum step adds it
    back when the config names one): pcs sets two_node when a change leaves two nodes, and
    corosync refuses two_node beside a device."""
    conf = facts[anchor].corosync
    wanted = [n.name for n in cluster.nodes]
    removed = [name for name in conf.nodes if name not in wanted] + list(replaced)
    added = [n for n in cluster.nodes if n.name not in conf.nodes or n.name in replaced]
    for node in added:
        own = facts[node.name].corosync
        if own is not None and own.cluster_name == cluster.name:
            raise UserError(
                f"step 'setup': {node.name} already holds cluster {cluster.name!r}'s config "
                f"but is not one of its members ({', '.join(conf.nodes)}): renaming a node is "
                "not supported; remove the old name first (take it out of nodes and run "
                "setup-cluster), then add the machine under its new name")
    # A replaced node alone keeps the device: the node count ends where it began, and the
    # device's vote is what keeps a lone survivor of two quorate until the new machine joins.
    if conf.device and (set(removed) | {n.name for n in added}) - set(replaced):
        plan.add(anchor, dialect.remove_quorum_device(
            "the quorum device goes while the membership changes; the quorum step adds it "
            "back if the config names one"), phase=1)
    for name in removed:
        plan.add(anchor, dialect.remove_node(
            name, f"{name} is a new machine: the dead one's membership goes, the new one joins"
            if name in replaced else None), phase=1)
    for node in added:
        plan.add(anchor, dialect.add_node(
            node, f"{node.name} joins again on its new machine (and starts at boot)"
            if node.name in replaced else None), phase=1)


def _create(plan, cluster, dialect):
    """pcs writes corosync.conf on every node; each node gets its first CIB; then it starts."""
    primary = cluster.primary.name
    plan.add(primary, dialect.setup_cluster(cluster.name, cluster.nodes, cluster.failover),
             phase=1)
    seed = dialect.seed_cib(election_wait_seconds(cluster.failover))
    for node in cluster.nodes:
        plan.add(node.name, seed, phase=2)
    plan.add(primary, dialect.start_cluster(), phase=3)
    plan.add(primary, dialect.set_property(
        "stonith-enabled", "false",
        "keep STONITH off until enable-stonith has checked every fence device"), phase=4)
    # The short wait served the first start only: a node that reboots into a running cluster
    # with it calls an election before the DC's join offer, and the cluster re-integrates
    # while it comes back (a fence device started late after a rolling update, in the lab).
    plan.add(primary, dialect.unset_property(
        "dc-deadtime", "back to Pacemaker's default once the cluster has its DC"), phase=4)


def election_wait_seconds(failover):
    """dc-deadtime for a new cluster: how long a starting controller waits to hear of a DC
    before it calls an election. Three times corosync's detection time, at least 5 s: the
    membership forms well within it, and 20 s (Pacemaker's default) is what the conservative
    profile gives anyway."""
    return max(5, round(3 * failover.detection_s))


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
    return max(3, round(3 * failover.detection_s))
