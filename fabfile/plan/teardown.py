"""`inv teardown`: the runbook backwards, short of the packages.

The cluster is stopped on every node (its resources with it) and then destroyed there
(corosync.conf, the CIB), then what halb
put on the nodes goes: the OCF agent, the HAProxy config it rendered, the BMC password files.
Packages, the hacluster password and pcsd's authentication stay, so `setup-cluster` builds the
cluster again from there. A quorum arbiter keeps qnetd as it is: it may serve other clusters.
"""

from ..facts import FENCE_SECRET_DIR, OCF_AGENT_PATH
from . import Plan

# The BMC password files live under it; nothing else of halb does.
HALB_DIR = FENCE_SECRET_DIR.rsplit("/", 1)[0]


def halb_paths(cluster):
    return [OCF_AGENT_PATH, HALB_DIR] + ([cluster.haproxy.config_path] if cluster.haproxy else [])


def plan(cluster, dialect, facts):
    plan = Plan("teardown")
    ours = [n.name for n in cluster.nodes
            if facts[n.name].corosync and facts[n.name].corosync.cluster_name == cluster.name]
    foreign = [(n.name, facts[n.name].corosync.cluster_name) for n in cluster.nodes
               if facts[n.name].corosync and n.name not in ours]
    for name, other in foreign:
        plan.unchanged(name, f"it belongs to cluster {other!r}, not {cluster.name!r}: left as it is")
    if ours:
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
    paths = halb_paths(cluster)
    for node in cluster.nodes:
        found = sorted(p for p in facts[node.name].files if p in paths)
        found += [FENCE_SECRET_DIR] if facts[node.name].secret_files else []
        if found:
            plan.add(node.name, dialect.remove_paths(
                paths, "remove what halb installed: the OCF agent, the HAProxy config, the BMC "
                "password files"), phase=1)
        else:
            plan.unchanged(node.name, "none of halb's files is there")
    if cluster.quorum_device:
        plan.unchanged(cluster.quorum_device.arbiter.name,
                       "qnetd stays set up: an arbiter may serve other clusters")
    return plan
