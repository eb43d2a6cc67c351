"""Fencing topology and device naming, and running a fence agent by hand: what the fence step,
enable-stonith, preflight, status, the drill and the exported runbook share.

A node's device is <node>-fence (level 1) and <node>-fence<level> above; it fences that node
only (pcmk_host_list) and its options reach the agent on stdin, halb's action last.
"""

import re

from .commands import key_value_lines, run
from .config import duration_ms, fence_profile
from .errors import UserError
from .facts import fence_password_file


def device_id(node_name, level=1):
    return f"{node_name}-fence" if level == 1 else f"{node_name}-fence{level}"


def topology(cluster, node):
    """The node's fencing levels as the CIB holds them, (node, level, device) triples; none with
    one level, which needs no topology."""
    levels = cluster.fencing.levels
    return {(node.name, level, device_id(node.name, level)) for level in levels} \
        if len(levels) > 1 else set()


def password_kind(cluster, level):
    """How messages name a fence password: a BMC's for IPMI, else the agent's login."""
    agent = cluster.fencing.agent_of(level)
    kind = "BMC password" if agent == "fence_ipmilan" else f"{agent} login password"
    return kind if level == 1 else f"level-{level} {kind}"


def device_options(cluster, dialect, node, level=1):
    """The fence device's instance attributes for `node` at `level`, spelled for the dialect:
    what the agent's profile takes of the node's target block, then the level's options."""
    opt = dialect.fence_option
    profile = fence_profile(cluster.fencing.agent_of(level))
    target, password = node.fence_target(level)
    options = []
    if profile.address:
        options.append((opt("ip"), target.address))
        if target.port != profile.default_port:
            options.append(("ipport", str(target.port)))
    if profile.login and password is not None:
        options += [(opt("username"), target.username),
                    (opt("password_script"), f"cat {fence_password_file(node.name, level)}")]
    options += [
        *([(opt("plug"), target.plug)] if target.plug else []),
        *cluster.fencing.options_of(level),
        ("pcmk_host_list", node.name),
    ]
    # The race delay stays with the preferred node at every level: a broken first level must
    # not turn a split into a race the wrong node can win.
    delay = cluster.fencing.race_delay
    if node.name == cluster.fencing.preferred_node and duration_ms(delay, bare="s"):
        options.append(("pcmk_delay_base", delay))
    return options


def agent_stdin(options, action):
    """The agent's stdin: the device's options (Pacemaker's own pcmk_* aside), then halb's
    action last. An agent keeps the last action= it reads: whatever the options say, this one
    is the action taken."""
    pairs = [(k, v) for k, v in options if not k.startswith("pcmk_") and k != "action"]
    return key_value_lines([*pairs, ("action", action)])


def agent_action(cluster, dialect, node, action, why, options=None, level=1):
    """Run the node's fence agent by hand (as Pacemaker runs it: options on stdin), e.g. to
    ask for the power status or to power the node on. `options` default to the config's."""
    options = device_options(cluster, dialect, node, level) if options is None else options
    return run(cluster.fencing.agent_of(level), why=why, stdin=agent_stdin(options, action),
               stdin_label=f"options of {device_id(node.name, level)}, action={action}")


# What a value of each meta-data content type may be: the agent reads it so, or fails at fence time.
VALUE_FORMS = {
    "boolean": (r"0|1|true|false|yes|no|on|off", "0 or 1"),
    "integer": (r"-?[0-9]{1,9}", "an integer"),
    "second": (r"[0-9]{1,6}(\.[0-9]{1,3})?", "a number of seconds"),
}


def check_parameters(cluster, dialect, facts):
    """Every option the devices get must be a parameter of the agent installed on the node that
    runs pcs, as its own meta-data lists them (Pacemaker's pcmk_* aside), at each level, with a
    value of the parameter's type; no option may carry a secret, which the CIB would hold in
    plain text (halb sends the login's password only, through password_script). Before the
    agent is installed (a dry run on bare nodes) there is nothing to check against."""
    primary = cluster.primary.name
    for level in cluster.fencing.levels:
        known = facts[primary].fence_parameters_of(level)
        if not known:
            continue
        agent = cluster.fencing.agent_of(level)
        where = f"{cluster.fencing.field_of(level)}.options"
        given = dict(cluster.fencing.options_of(level))
        unknown = sorted({k for node in cluster.nodes
                          for k, _ in device_options(cluster, dialect, node, level)
                          if not k.startswith("pcmk_") and k not in known})
        if unknown:
            fields = ", ".join(f"{where}.{k}" if k in given else f"{k} (set by halb)"
                               for k in unknown)
            raise UserError(f"{cluster.path}: {fields}: {agent} on {primary} takes no such "
                            f"parameter (its meta-data, {agent} -o metadata, lists {len(known)}); "
                            "nothing was changed")
        for name, value in given.items():
            problem = parameter_problem(known.get(name), value, name) if name in known else None
            if problem:
                raise UserError(f"{cluster.path}: {where}.{name}: {problem} ({agent} -o metadata "
                                f"on {primary}); nothing was changed")


# The agent's own wait before it acts: every fence and every status check halb runs waits as
# long. Bounded like the race delay.
MAX_AGENT_DELAY_S = 60


def parameter_problem(parameter, value, name=""):
    """Why `value` is not a value the agent's parameter takes, or None."""
    if name == "delay" and re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) and \
            float(value) > MAX_AGENT_DELAY_S:
        return (f"{value} s is above {MAX_AGENT_DELAY_S} s: the agent waits that long before "
                "every fence and every status check")
    if parameter.secret:
        return ("carries a secret by the agent's meta-data: the CIB would hold it in plain text, "
                "and halb sends a login's password only, through password_script")
    if parameter.kind == "select" and parameter.choices and value not in parameter.choices:
        return f"{value!r} is not one of {', '.join(parameter.choices)}"
    form = VALUE_FORMS.get(parameter.kind)
    if form and not re.fullmatch(form[0], value, re.IGNORECASE):
        return f"{value!r} is not {form[1]}"
    return None
