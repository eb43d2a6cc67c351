"""Runbook step 2/8: set the hacluster password on every node, then authenticate pcsd."""

from . import Plan


def plan(cluster, dialect, facts):
    plan = Plan("auth")
    for node in cluster.hosts:
        # The node itself compared the password with its shadow entry (see facts); when it
        # could not tell, setting the password again is harmless.
        if facts[node.name].hacluster_password == "same":
            plan.unchanged(node.name, "hacluster password already set")
        else:
            plan.add(node.name, dialect.set_hacluster_password(cluster.hacluster_password), phase=0)
    primary = cluster.primary.name
    # The arbiter too: pcs on the nodes fetches qnetd's certificates through its pcsd.
    missing = [n.name for n in cluster.hosts if n.name not in facts[primary].authed_nodes]
    if missing:
        plan.add(primary, dialect.auth_nodes(cluster.hosts, cluster.hacluster_password), phase=1)
    else:
        plan.unchanged(primary, "pcsd already authenticated to " +
                       ", ".join(n.name for n in cluster.hosts))
    return plan
