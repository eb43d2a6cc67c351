"""Runbook step 5/10: one fence device per node, each aimed at its own node only.

The source listed both nodes in every device's pcmk_host_list and made each device prefer the
node it fences; here a device fences exactly one node and avoids running there. The fence race
of a split is settled by a static delay on the device that fences the preferred node.
The BMC password stays out of the CIB: pcs stores a password_script that reads a root-only file.
With fencing.second_level each node gets a second device (<node>-fence2) and a fencing topology:
level 1 is tried first, level 2 only when it fails.
"""

from ..commands import write_secret_file
from ..facts import fence_password_file
from ..fencing import check_parameters, device_id, device_options, password_kind, topology
from ..secret import secret_content_digest
from . import Plan, option_changes, require_cib

# Set by this step on one device only, so removed wherever the config no longer wants it
# (a zero race delay with a quorum arbiter; another preferred node).
OPTIONAL_OPTIONS = ("pcmk_delay_base",)


def plan(cluster, dialect, facts):
    plan = Plan("fence")
    # Every node holds every fence password: a fence action may run from either node.
    for host in cluster.nodes:
        for node in cluster.nodes:
            for level, secret in node.fence_passwords:
                path = fence_password_file(node.name, level)
                what = f"{password_kind(cluster, level)} of {node.name}"
                if facts[host.name].secret_files.get(path) == secret_content_digest(secret):
                    plan.unchanged(host.name, f"{path} holds the current {what}")
                else:
                    plan.add(host.name, write_secret_file(path, secret, why=f"{what}, root-only"),
                             phase=0)
    cib = require_cib(cluster, facts, "fence")
    check_parameters(cluster, dialect, facts)
    primitives = cib.primitives if cib else {}
    avoids = cib.avoids if cib else frozenset()
    in_cib = cib.levels if cib else frozenset()
    primary = cluster.primary.name
    _remove_former_nodes_devices(plan, cluster, dialect, primitives)
    for node in cluster.nodes:
        current_levels = {lv for lv in in_cib if lv[0] == node.name}
        wanted_levels = topology(cluster, node)
        replaced = {level for level in cluster.fencing.levels
                    if _replaced(primitives.get(device_id(node.name, level)),
                                 cluster.fencing.agent_of(level))}
        redo_levels = bool(wanted_levels) and (current_levels != wanted_levels or replaced)
        if current_levels and (redo_levels or not wanted_levels):
            plan.add(primary, dialect.clear_fence_levels(
                node.name, f"the fencing levels of {node.name} differ from the config"), phase=1)
        for level in cluster.fencing.levels:
            _ensure_device(plan, cluster, dialect, primitives, avoids, node, level)
        if not wanted_levels and device_id(node.name, 2) in primitives:
            plan.add(primary, dialect.delete_stonith(
                device_id(node.name, 2), "the config has no second fencing level"), phase=1)
        if redo_levels:
            for _, level, device in sorted(wanted_levels):
                plan.add(primary, dialect.add_fence_level(level, node.name, device), phase=1)
        elif wanted_levels:
            plan.unchanged(primary, f"{node.name} is fenced by {device_id(node.name)}, then "
                           f"{device_id(node.name, 2)}")
    return plan


def _remove_former_nodes_devices(plan, cluster, dialect, primitives):
    """A node that left the cluster leaves its devices behind (halb's names, aimed at it
    alone): they go. Any other device is not halb's to remove."""
    names = {n.name for n in cluster.nodes}
    for device, primitive in sorted(primitives.items()):
        target = primitive.attributes.get("pcmk_host_list")
        if primitive.agent.startswith("stonith:") and target and target not in names and \
                device in (device_id(target, 1), device_id(target, 2)):
            plan.add(cluster.primary.name, dialect.delete_stonith(
                device, f"{target} is no longer a node of the cluster"), phase=1)


def _replaced(current, agent):
    return current is not None and current.agent != f"stonith:{agent}"


def _ensure_device(plan, cluster, dialect, primitives, avoids, node, level):
    primary = cluster.primary.name
    device, agent = device_id(node.name, level), cluster.fencing.agent_of(level)
    desired = device_options(cluster, dialect, node, level)
    current = primitives.get(device)
    replaced = _replaced(current, agent)
    if replaced:
        # pcs cannot change a device's agent: the device goes, with its constraints, and
        # comes back with the new one. Until then Pacemaker cannot fence this node this way.
        plan.add(primary, dialect.delete_stonith(
            device, f"{device} runs {current.agent.partition(':')[2]}; the config wants {agent}"),
            phase=1)
        current = None
    if current is None:
        plan.add(primary, dialect.create_stonith(device, agent, desired,
                                                 cluster.fencing.monitor_interval), phase=1)
    else:
        changes = option_changes(desired, current.attributes)
        wanted = {k for k, _ in desired}
        # pcs removes an instance attribute given an empty value.
        changes += [(k, "") for k in OPTIONAL_OPTIONS
                    if k in current.attributes and k not in wanted]
        if changes:
            plan.add(primary, dialect.update_stonith(
                device, changes, f"bring {device} in line with the config"), phase=1)
        else:
            plan.unchanged(primary, f"fence device {device} is configured for {node.name}")
    if (device, node.name) in avoids and not replaced:
        plan.unchanged(primary, f"{device} avoids {node.name}")
    else:
        plan.add(primary, dialect.avoid_node(device, node.name), phase=1)
