"""Sections failover (timings) and fencing (agents, options, a second level)."""

from __future__ import annotations

import re

from .model import (
    FAILOVER_PROFILES,
    FENCE_AGENT_RE,
    MIN_TOKEN_MS,
    Failover,
    Fencing,
    SecondLevel,
    fence_profile,
)
from .reader import shown
from .validate import (
    check_duration,
    check_monitor_interval,
    check_race_delay,
    duration_ms,
    one_of,
    option_key,
    pacemaker_seconds,
    read_options,
    within,
)


def read_failover(r, data):
    raw = r.mapping(r.get(data, "failover", "", dict, default={}), "failover",
                    ["profile", "token", "consensus"])
    profile = r.get(raw, "profile", "failover", str, default="conservative",
                    check=one_of(tuple(FAILOVER_PROFILES), "a profile"))
    token_default, consensus_default, _, qdevice_timeout = FAILOVER_PROFILES[profile]

    def milliseconds(key, default):
        value = raw.get(key)
        if value is None:
            return default
        ms = duration_ms(value)
        if ms is None:
            r.fail(f"failover.{key}", f"{shown(value)} is not a duration such as 1000ms or 1.5s "
                   "(a bare number means milliseconds)")
        if ms > 60000:
            r.fail(f"failover.{key}", f"{ms} ms is above 60 s")
        return ms

    token = milliseconds("token", token_default)
    if token < MIN_TOKEN_MS:
        r.fail("failover.token", f"{token} ms is below {MIN_TOKEN_MS} ms: nodes would drop out of "
               "the membership (and be fenced) on scheduling stalls and reloads")
    consensus = milliseconds("consensus", round(token * 1.2) if "token" in raw else consensus_default)
    if consensus < round(token * 1.2):
        r.fail("failover.consensus", f"{consensus} ms is below 1.2 x token "
               f"({round(token * 1.2)} ms), the least corosync accepts")
    return Failover(profile, token, consensus, qdevice_timeout)


# Set by halb from the nodes' bmc and the secrets; a second spelling would fight them.
FENCE_RESERVED = {option_key(k) for k in (
    "ip", "ipaddr", "ipport", "username", "login", "password", "passwd", "password_script",
    "passwd_script", "pcmk_host_list", "pcmk_delay_base", "plug", "port")}
# Agent parameters that would change what halb itself asks of the agent. halb runs the agent for a
# status check before STONITH is enabled, in preflight and for the drill's power-on: with these
# set, a status check could power a node off, or every action "succeed" without acting.
FENCE_REFUSED = {
    "action": "halb gives the action itself (status, on, off, reboot); the agent keeps the last "
              "action= it reads, so a status check could become a power-off",
    "version": "makes the agent print its version and exit 0 without acting: Pacemaker would "
               "take every fence for done",
    "help": "makes the agent print its usage and exit without acting",
    "debug": "makes the agent write a file of its choosing as root",
    "debug_file": "makes the agent write a file of its choosing as root",
}
def pcmk_timeout(value):
    return check_duration(1, 3600, "")(value)


# Pacemaker's own device options that halb accepts, as pacemaker-fenced documents them for every
# device, with what each may be. Every other pcmk_* (pcmk_host_check, pcmk_host_map,
# pcmk_off_action, ...) decides which node a device fences or what "off" means: halb sets or
# depends on those.
PCMK_DEVICE_OPTIONS = {
    "pcmk_reboot_action": one_of(("reboot", "off"), "an action a fence may take"),
    "pcmk_delay_max": check_duration(0, 60, ""),
    "pcmk_action_limit": lambda v: None if re.fullmatch(r"-1|[1-9]|1[0-6]", v) else
    f"{shown(v)} is not -1 (no limit) or 1-16",
    **{f"pcmk_{action}_timeout": pcmk_timeout
       for action in ("reboot", "off", "on", "monitor", "status", "list")},
    **{f"pcmk_{action}_retries": lambda v: None if re.fullmatch(r"[0-9]|10", v) else
       f"{shown(v)} is not a number of retries (0-10)"
       for action in ("reboot", "off", "on", "monitor", "status", "list")},
}


def read_fencing(r, data, nodes, arbiter, failover):
    raw = r.mapping(r.get(data, "fencing", "", dict), "fencing",
                    ["agent", "options", "preferred_node", "race_delay", "monitor_interval",
                     "status_timeout", "second_level"])
    names = tuple(n.name for n in nodes)
    # With an arbiter, or three nodes or more, a split is settled by quorum, not by a race.
    by_quorum = arbiter is not None or len(nodes) > 2
    race_default = "0s" if by_quorum else (FAILOVER_PROFILES[failover.profile][2]
                                           if failover else "2s")
    agent, options = read_agent_and_options(r, raw, Fencing.field_of(1), "bmc",
                                        default="fence_ipmilan")
    second = None
    if raw.get("second_level") is not None:
        where = Fencing.field_of(2)
        r.mapping(raw["second_level"], where, ["agent", "options"])
        second = SecondLevel(*read_agent_and_options(r, raw["second_level"], where, "second_level"))
    return Fencing(
        second_level=second,
        agent=agent,
        options=options,
        preferred_node=r.get(raw, "preferred_node", "fencing", str, default=names[0],
                             check=one_of(names, "one of the nodes")),
        race_delay=r.get(raw, "race_delay", "fencing", str, default=race_default,
                         check=lambda v: check_race_delay(v) or (
                             f"{len(nodes)} nodes settle a split by quorum: the side without it "
                             "stops and fences no one, so there is no race to delay (remove it)"
                             if len(nodes) > 2 and pacemaker_seconds(v) else None)),
        monitor_interval=r.get(raw, "monitor_interval", "fencing", str, default="60s",
                               check=check_monitor_interval),
        status_timeout=r.get(raw, "status_timeout", "fencing", int, default=30,
                             check=within(1, 600, "s")),
    )


def read_agent_and_options(r, raw, where, block, default=...):
    """A fencing level's agent and its options (`block` is the nodes' block they go with)."""
    agent = r.get(raw, "agent", where, str, default=default,
                  check=lambda v: None if FENCE_AGENT_RE.fullmatch(v) else
                  f"{shown(v)} is not a fence agent name (fence_...)")
    options = read_options(r, raw.get("options"), f"{where}.options", FENCE_RESERVED,
                           f"is set from the node's {block} block and secrets; remove it here")
    for name, value in options:
        dotted, key = f"{where}.options.{name}", option_key(name)
        if key in FENCE_REFUSED:
            r.fail(dotted, f"is not accepted: {FENCE_REFUSED[key]}")
        if key.startswith("pcmk_"):
            check = PCMK_DEVICE_OPTIONS.get(key)
            if check is None:
                r.fail(dotted, "is not a Pacemaker device option halb accepts: it decides which "
                       "node the device fences or what its actions do, which halb sets (accepted: "
                       f"{', '.join(sorted(PCMK_DEVICE_OPTIONS))})")
            if problem := check(value):
                r.fail(dotted, problem)
    given = {k for k, _ in options}
    for key in fence_profile(agent).required_options:
        if key not in given:
            r.note(f"{where}.options.{key}", f"is required by {agent}")
    return agent, options


# Set by halb on the HAProxy resource from the haproxy section.
