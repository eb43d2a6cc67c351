"""Runbook step 10/10: turn STONITH on, but only once every fence device has answered.

Each device is asked for its node's power status from the peer node, the node that would fence
it, with the options stored in the CIB passed on stdin as Pacemaker itself passes them.
"""

from ..fencing import agent_action, device_id
from . import NotReady, Plan, require_cib

TRUE = {"true", "yes", "on", "1", "y"}


def status_check(cluster, dialect, cib, node, level=1):
    device = device_id(node.name, level)
    stored = cib.primitives.get(device) if cib else None
    if cib is not None and stored is None:
        raise NotReady(f"step 'enable-stonith': fence device {device} does not exist "
                       "(run the 'fence' step first)")
    return agent_action(cluster, dialect, node, "status",
                        f"{device} reports the power status of {node.name}",
                        list(stored.attributes.items()) if stored else None, level)


def plan(cluster, dialect, facts):
    plan = Plan("enable-stonith")
    primary = cluster.primary.name
    cib = require_cib(cluster, facts, "enable-stonith")
    current = (cib.properties.get("stonith-enabled") if cib else "false") or "true"
    if current.lower() in TRUE:
        plan.unchanged(primary, "stonith-enabled is already true")
        return plan
    for node in cluster.nodes:
        for level in cluster.fencing.levels:
            plan.checks.append((cluster.peer_of(node.name).name,
                                status_check(cluster, dialect, cib, node, level)))
    plan.add(primary, dialect.set_property("stonith-enabled", "true",
                                           "every fence device answered: turn STONITH on"))
    return plan
