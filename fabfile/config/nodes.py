"""Sections nodes (each with its fence target) and quorum (the arbiter)."""

from __future__ import annotations

import re

from .model import (
    FENCE_AGENT_RE,
    QUORUM_ALGORITHMS,
    QUORUM_HEURISTICS,
    SECOND_FENCE_PASSWORD,
    Bmc,
    Node,
    QuorumDevice,
    fence_password_source,
    fence_password_variable,
    fence_profile,
)
from .reader import shown
from .validate import (
    canonical_address,
    check_address,
    check_name,
    check_node_name,
    check_port,
    check_ssh_port,
    one_of,
)


def declared_second_agent(data):
    """fencing.second_level.agent as written: None without a second level, "" when the fencing
    section will refuse the agent (the nodes' second_level blocks are then not read)."""
    fencing = data.get("fencing")
    second = fencing.get("second_level") if isinstance(fencing, dict) else None
    if second is None:
        return None
    agent = second.get("agent") if isinstance(second, dict) else None
    return agent if isinstance(agent, str) and FENCE_AGENT_RE.fullmatch(agent) else ""


def declared_agent(data):
    """fencing.agent as written (the fencing section checks it): the nodes' bmc blocks are read
    for that agent."""
    fencing = data.get("fencing")
    agent = fencing.get("agent") if isinstance(fencing, dict) else None
    return agent if isinstance(agent, str) and FENCE_AGENT_RE.fullmatch(agent) else "fence_ipmilan"


def read_bmc(r, raw, where, agent, block="bmc"):
    profile = fence_profile(agent)
    bmc = r.mapping(r.get(raw, block, where, dict), f"{where}.{block}",
                    ["address", "port", "username", "plug"])
    where = f"{where}.{block}"
    taken = {"address": profile.address, "port": profile.address, "username": profile.login,
             "plug": profile.plug is not None}
    for key, ok in taken.items():
        if not ok and bmc.get(key) is not None:
            r.fail(f"{where}.{key}", f"{agent} takes no {key}: it reaches {profile.reaches}; "
                   "remove it")
    plug_check = check_name
    if agent == "fence_aws":
        plug_check = lambda v: None if re.fullmatch(r"i-[0-9a-f]{8}([0-9a-f]{9})?", v) else \
            f"{shown(v)} is not an EC2 instance id (i-...)"  # noqa: E731
    return Bmc(
        address=canonical_address(r.get(bmc, "address", where, str, check=check_address))
        if profile.address else None,
        port=r.get(bmc, "port", where, int, default=profile.default_port, check=check_port)
        if profile.address else None,
        username=r.get(bmc, "username", where, str, check=check_name) if profile.login else None,
        plug=r.get(bmc, "plug", where, str, default=... if profile.plug_required else None,
                   check=plug_check) if profile.plug else None,
    )


MIN_NODES, MAX_NODES = 2, 16


def read_nodes(r, data, ssh_defaults, secret):
    node_list = r.get(data, "nodes", "", list)
    if not MIN_NODES <= len(node_list) <= MAX_NODES:
        r.fail("nodes", f"a cluster has {MIN_NODES} to {MAX_NODES} nodes, got {len(node_list)}")
    agent, second_agent = declared_agent(data), declared_second_agent(data)
    nodes = tuple(read_node(r, raw, f"nodes[{i}]", ssh_defaults, secret, agent, second_agent)
                  for i, raw in enumerate(node_list))
    for j, later in enumerate(nodes):
        for earlier in nodes[:j]:
            check_node_pair(r, (earlier, later), j, agent, second_agent)
    for i, node in enumerate(nodes):
        check_node_against_all(r, node, i, nodes)
    return nodes


def read_node(r, raw, where, ssh_defaults, secret, agent, second_agent):
    """One entry of nodes: its addresses, its SSH login, its fence target(s) and passwords."""
    _, default_user, default_port = ssh_defaults
    login = fence_profile(agent).login
    second_login = bool(second_agent) and fence_profile(second_agent).login
    r.mapping(raw, where, ["name", "address", "ssh_address", "ssh_user", "ssh_port", "bmc",
                           "second_level"])
    name = r.get(raw, "name", where, str, check=check_node_name)
    if second_agent is None and isinstance(raw, dict) and raw.get("second_level") is not None:
        r.fail(f"{where}.second_level", "is only used with fencing.second_level; remove it "
               "or add that")
    return Node(
        name=name,
        address=canonical_address(r.get(raw, "address", where, str, check=check_address)),
        ssh_address=canonical_address(r.get(raw, "ssh_address", where, str, default=None,
                                            check=check_address)),
        ssh_user=r.get(raw, "ssh_user", where, str, default=default_user, check=check_name),
        ssh_port=r.get(raw, "ssh_port", where, int, default=default_port, check=check_ssh_port),
        bmc=read_bmc(r, raw, where, agent),
        fence_password=secret(fence_password_source(secret.env, name), agent)
        if login else None,
        second_fence=read_bmc(r, raw, where, second_agent, "second_level")
        if second_agent else None,
        second_fence_password=secret(fence_password_source(
            secret.env, name, SECOND_FENCE_PASSWORD), second_agent) if second_login else None,
    )


def check_node_pair(r, pair, j, agent, second_agent):
    """What two nodes may not share: names, addresses, SSH endpoints, fence targets, and the
    variable a BMC password is read from. `j` is the later node's index, the one named."""
    login = fence_profile(agent).login
    second_login = bool(second_agent) and fence_profile(second_agent).login
    first, second = pair
    for attr in ("name", "address"):
        if getattr(first, attr).lower() == getattr(second, attr).lower():
            r.fail(f"nodes[{j}].{attr}", f"{shown(getattr(second, attr))} is also node "
                   f"{first.name}'s {attr}: each node needs its own")
    if (first.ssh_host.lower(), first.ssh_port) == (second.ssh_host.lower(), second.ssh_port):
        r.fail(f"nodes[{j}].ssh_address" if second.ssh_address else f"nodes[{j}].ssh_port",
               f"{first.name} and {second.name} are both reached over SSH at {second.ssh_host} "
               f"port {second.ssh_port}: every step would run twice on one host")
    if (login or second_login) and \
            fence_password_variable(first.name) == fence_password_variable(second.name):
        r.fail(f"nodes[{j}].name", f"{first.name!r} and {second.name!r} would both read their "
               f"BMC password from {fence_password_variable(first.name)}: rename one")
    for block, a, b in (("bmc", first.bmc, second.bmc),
                        ("second_level", first.second_fence, second.second_fence)):
        if a is not None and b is not None and (a.address, a.port, a.plug) == \
                (b.address, b.port, b.plug):
            field = "plug" if a.plug else "address"
            what = "BMC (fence target)" if block == "bmc" else "second-level fence target"
            r.fail(f"nodes[{j}].{block}.{field}", f"{first.name} and {second.name} name the "
                   f"same {what}: each node needs its own")


def check_node_against_all(r, node, i, nodes):
    """A node's SSH address is not another node's address; a fence target is no node's."""
    for other in nodes:
        if other is not node and node.ssh_address and \
                node.ssh_address.lower() == other.address.lower():
            r.fail(f"nodes[{i}].ssh_address", f"{node.ssh_address} is node {other.name}'s address")
    own = {a.lower() for n in nodes for a in (n.address, n.ssh_address) if a}
    for block, target in (("bmc", node.bmc), ("second_level", node.second_fence)):
        if target and target.address and target.address.lower() in own:
            r.fail(f"nodes[{i}].{block}.address", f"{target.address} is a cluster node's own "
                   "address: a fence target is the power of a node, reached elsewhere")


def read_quorum(r, data, nodes, ssh_defaults):
    _, ssh_user, ssh_port = ssh_defaults
    raw = r.mapping(r.get(data, "quorum", "", dict, default={}), "quorum",
                    ["no_quorum_policy_ignore", "device"])
    ignore = r.get(raw, "no_quorum_policy_ignore", "quorum", bool, default=False)
    if ignore and len(nodes) > 2:
        r.fail("quorum.no_quorum_policy_ignore", f"{len(nodes)} nodes keep quorum by majority; "
               "ignoring it would let a minority run the service beside the majority")
    device = raw.get("device")
    if device is None:
        return ignore, None
    if len(nodes) > 2 and len(nodes) % 2:
        r.fail("quorum.device", f"{len(nodes)} nodes have quorum of their own (a majority "
               "survives any one failure): an arbiter breaks ties only for an even count")
    where = "quorum.device"
    r.mapping(device, where, ["host", "address", "algorithm", "heuristics", "ssh_user", "ssh_port"])
    host = r.get(device, "host", where, str, check=check_name)
    address = canonical_address(r.get(device, "address", where, str, check=check_address))
    for node in nodes:
        if host.lower() == node.name.lower():
            r.fail(f"{where}.host", f"{host!r} is a cluster node: the arbiter must be a third host")
        if address.lower() in (node.address.lower(), (node.ssh_address or "").lower()):
            r.fail(f"{where}.address", f"{address} is the address of node {node.name}")
    arbiter = Node(name=host, address=address,
                   ssh_user=r.get(device, "ssh_user", where, str, default=ssh_user, check=check_name),
                   ssh_port=r.get(device, "ssh_port", where, int, default=ssh_port, check=check_port),
                   bmc=None, fence_password=None)
    # ffsplit gives the vote to exactly half of two nodes; lms to the larger (or last-man)
    # side of four or more.
    algorithm = r.get(device, "algorithm", where, str,
                      default="ffsplit" if len(nodes) <= 2 else "lms",
                      check=one_of(QUORUM_ALGORITHMS, "a qnetd algorithm"))
    # In an even split qnetd scores each side by its nodes' heuristics before its tie-breaker:
    # with "service" the side that runs the service passes and keeps it, unless its own link
    # is the lossy one (fabfile/agents/quorum_heuristic.py). lms scores
    # heuristics before the sizes of the sides, so a lone serving node would beat a majority.
    heuristics = r.get(device, "heuristics", where, str,
                       default="service" if algorithm == "ffsplit" else "none",
                       check=one_of(QUORUM_HEURISTICS, "a heuristics choice"))
    if heuristics == "service" and algorithm != "ffsplit":
        r.fail(f"{where}.heuristics", "'service' needs algorithm ffsplit (lms would let a lone "
               "serving node outvote a larger side)")
    return ignore, QuorumDevice(arbiter, algorithm, heuristics)
