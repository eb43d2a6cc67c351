"""Runbook step 4: one fence device per node, each aimed at its own node only.

The source listed both nodes in every device's pcmk_host_list and made each device prefer the
node it fences; here a device fences exactly one node and avoids running there. The fence race
of a split is settled by a static delay on the device that fences the preferred node.
The BMC password stays out of the CIB: pcs stores a password_script that reads a root-only file.
"""

import hashlib

from ..commands import key_value_lines, run, write_secret_file
from ..config import duration_ms, fence_profile
from ..errors import UserError
from ..facts import fence_password_file
from . import Plan, option_changes, require_cib


def device_id(node_name):
    return f"{node_name}-fence"


def device_options(cluster, dialect, node):
    """The fence device's instance attributes for `node`, spelled for the dialect: what the
    agent's profile takes of the node's bmc block, then fencing.options."""
    opt = dialect.fence_option
    profile = fence_profile(cluster.fencing.agent)
    bmc = node.bmc
    options = []
    if profile.address:
        options.append((opt("ip"), bmc.address))
        if bmc.port != profile.default_port:
            options.append(("ipport", str(bmc.port)))
    if profile.login:
        options += [(opt("username"), bmc.username),
                    (opt("password_script"), f"cat {fence_password_file(node.name)}")]
    options += [
        *([(opt("plug"), bmc.plug)] if bmc.plug else []),
        *cluster.fencing.options,
        ("pcmk_host_list", node.name),
    ]
    delay = cluster.fencing.race_delay
    if node.name == cluster.fencing.preferred_node and duration_ms(delay, bare="s"):
        options.append(("pcmk_delay_base", delay))
    return options


# Set by this step on one device only, so removed wherever the config no longer wants it
# (a zero race delay with a quorum arbiter; another preferred node).
OPTIONAL_OPTIONS = ("pcmk_delay_base",)


def agent_action(cluster, dialect, node, action, why, options=None):
    """Run the node's fence agent by hand (as Pacemaker runs it: options on stdin), e.g. to
    ask for the power status or to power the node on. `options` default to the config's."""
    options = device_options(cluster, dialect, node) if options is None else options
    pairs = [("action", action)] + [(k, v) for k, v in options if not k.startswith("pcmk_")]
    return run(cluster.fencing.agent, why=why, stdin=key_value_lines(pairs),
               stdin_label=f"options of {device_id(node.name)}, action={action}")


def check_parameters(cluster, dialect, facts):
    """Every option the devices get must be a parameter of the agent installed on the node that
    runs pcs, as its own meta-data lists them (Pacemaker's pcmk_* aside). Before the agent is
    installed (a dry run on bare nodes) there is nothing to check against."""
    primary = cluster.primary.name
    known = facts[primary].fence_parameters
    if not known:
        return
    agent = cluster.fencing.agent
    given = {k for k, _ in cluster.fencing.options}
    unknown = sorted({k for node in cluster.nodes for k, _ in device_options(cluster, dialect, node)
                      if not k.startswith("pcmk_") and k not in known})
    if not unknown:
        return
    fields = ", ".join(f"fencing.options.{k}" if k in given else f"{k} (set by halb)"
                       for k in unknown)
    raise UserError(f"{cluster.path}: {fields}: {agent} on {primary} takes no such parameter "
                    f"(its meta-data, {agent} -o metadata, lists {len(known)}); nothing was changed")


def secret_content_digest(secret):
    return hashlib.sha256((secret.value + "\n").encode()).hexdigest()


def plan(cluster, dialect, facts):
    plan = Plan("fence")
    # Every node holds every BMC password: a fence action may run from either node.
    for host in cluster.nodes:
        for node in (n for n in cluster.nodes if n.fence_password is not None):
            path = fence_password_file(node.name)
            if facts[host.name].secret_files.get(path) == secret_content_digest(node.fence_password):
                plan.unchanged(host.name, f"{path} holds the current BMC password of {node.name}")
            else:
                plan.add(host.name, write_secret_file(
                    path, node.fence_password, why=f"BMC password of {node.name}, root-only"),
                    phase=0)
    cib = require_cib(cluster, facts, "fence")
    check_parameters(cluster, dialect, facts)
    primitives = cib.primitives if cib else {}
    avoids = cib.avoids if cib else frozenset()
    primary = cluster.primary.name
    for node in cluster.nodes:
        device = device_id(node.name)
        desired = device_options(cluster, dialect, node)
        current = primitives.get(device)
        replaced = current is not None and current.agent != f"stonith:{cluster.fencing.agent}"
        if replaced:
            # pcs cannot change a device's agent: the device goes, with its constraints, and
            # comes back with the new one. Until then Pacemaker cannot fence this node.
            plan.add(primary, dialect.delete_stonith(
                device, f"{device} runs {current.agent.partition(':')[2]}; the config wants "
                        f"{cluster.fencing.agent}"), phase=1)
            current = None
        if current is None:
            plan.add(primary, dialect.create_stonith(device, cluster.fencing.agent, desired,
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
    return plan
