"""Runbook step 2/10: set the hacluster password on every node, then authenticate pcsd."""

from . import Plan
from .setup import membership


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
    # A dead node replaced by a new machine of the same name: the tokens the members hold for
    # it are the old machine's. The member the setup step works through authenticates again
    # (pcs passes the tokens on to the other members).
    anchor, replaced = membership(cluster, facts)
    if replaced:
        plan.add(anchor, dialect.auth_replaced_nodes(cluster.hosts, cluster.hacluster_password,
                                                     replaced), phase=1)
    # The arbiter too: pcs on the nodes fetches qnetd's certificates through its pcsd.
    missing = [n.name for n in cluster.hosts if n.name not in facts[primary].authed_nodes]
    if missing and not (replaced and primary == anchor):
        plan.add(primary, dialect.auth_nodes(cluster.hosts, cluster.hacluster_password), phase=1)
    elif not missing and not replaced:
        plan.unchanged(primary, "pcsd already authenticated to " +
                       ", ".join(n.name for n in cluster.hosts))
    return plan
