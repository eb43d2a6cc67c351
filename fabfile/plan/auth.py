"""Runbook step 2: set the hacluster password on every node, then authenticate pcsd."""

import warnings

from . import Plan

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # the system's crypt(3): checks a shadow hash without revealing the password


def password_matches(shadow_hash, password):
    if not shadow_hash or not password:
        return False
    try:
        return crypt.crypt(password, shadow_hash) == shadow_hash
    except (OSError, ValueError):
        return False  # hash scheme unknown here: setting the password again is harmless


def plan(cluster, dialect, facts):
    plan = Plan("auth")
    for node in cluster.hosts:
        if password_matches(facts[node.name].hacluster_hash, cluster.hacluster_password.value):
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
