"""`inv teardown`: the runbook backwards, short of the packages.

The cluster is stopped on every node (its resources with it) and then destroyed there
(corosync.conf, the CIB), then what halb
put on the nodes goes, as each node's manifest lists it (/var/lib/halb/manifest): files halb
created are removed, files it replaced (a package's haproxy.cfg) are put back. Nothing else is
removed, and nothing recursively.
Packages, the hacluster password and pcsd's authentication stay, so `setup-cluster` builds the
cluster again from there. A quorum arbiter keeps qnetd as it is: it may serve other clusters.
"""

from ..commands import ORIGINAL_SUFFIX, remove_halb_files
from ..facts import OCF_AGENT_PATH, fence_password_file
from . import Plan


def legacy_paths(cluster):
    """halb's own fixed paths, removed on a node that has no manifest (set up by a halb before
    it kept one): never a path the config names, which may be another's file."""
    return [OCF_AGENT_PATH] + [fence_password_file(n.name, level)
                               for n in cluster.nodes for level in cluster.fencing.levels]


def plan(cluster, dialect, facts):
    plan = Plan("teardown")
    ours = [n.name for n in cluster.nodes
            if facts[n.name].corosync and facts[n.name].corosync.cluster_name == cluster.name]
    foreign = [(n.name, facts[n.name].corosync.cluster_name) for n in cluster.nodes
               if facts[n.name].corosync and n.name not in ours]
    for name, other in foreign:
        plan.unchanged(name, f"it belongs to cluster {other!r}, not {cluster.name!r}: left as it is")
    if ours:
        cib = facts[ours[0]].cib
        for view in cluster.views():
            if cib is None or view.group not in cib.groups:
                continue
            # The service and the VIP are stopped by the running cluster first, and waited
            # for: a cluster shutting down on every node at once may leave a node's resources
            # behind (its controller gone before it stopped them).
            plan.add(ours[0], dialect.stop_resource(
                view.group, f"stop {view.group} ({view.vip.resource_id} and "
                f"{view.service.resource_id}) through the cluster and wait until it is "
                "stopped on every node"), phase=0)
        # Any node that still has the cluster can stop and destroy it everywhere. The stop is
        # its own command so that a node that cannot stop its resources stops the teardown.
        plan.add(ours[0],
                 dialect.stop_whole_cluster(
                     f"stop cluster {cluster.name} on every node: Pacemaker stops "
                     f"{cluster.service.resource_id} and removes {cluster.vip.resource_id}"),
                 dialect.destroy_whole_cluster(
                     f"remove cluster {cluster.name}'s configuration on every node"), phase=0)
    else:
        plan.unchanged(cluster.primary.name, f"no node has cluster {cluster.name}")
    for node in cluster.nodes:
        host = facts[node.name]
        created = [p for kind, p in host.manifest if kind == "created"]
        replaced = [p for kind, p in host.manifest if kind == "replaced"]
        legacy = [] if host.manifest else sorted(
            p for p in legacy_paths(cluster) if p in host.files or p in host.secret_files)
        if created or replaced or legacy:
            what = "; ".join(part for part in (
                created and "remove what halb created: " + " ".join(created),
                replaced and "put back what it replaced: " + " ".join(
                    f"{p} (from {p}{ORIGINAL_SUFFIX})" for p in replaced),
                legacy and "no manifest: remove halb's own files only: " + " ".join(legacy))
                if part)
            plan.add(node.name, remove_halb_files(legacy_paths(cluster), what), phase=1)
            if dialect.pcsd_settings_file in replaced:
                # pcsd listens where its settings file, now the package's again, says.
                plan.add(node.name, dialect.restart_pcsd(), phase=1)
        else:
            plan.unchanged(node.name, "none of halb's files is there")
    if cluster.quorum_device:
        plan.unchanged(cluster.quorum_device.arbiter.name,
                       "qnetd stays set up: an arbiter may serve other clusters")
    return plan
