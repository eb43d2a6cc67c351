"""The lab's network must be up before anything sends a packet to it.

Without the bridge, the host routes the lab's addresses (192.168.56.0/24) out of its default
route to whatever answers there. Every lab probe, SSH connection and HTTP request asks first.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

from ..errors import UserError
from . import settings as s

LAB_DOWN = "the lab is down: run inv lab.up"


def bridge_is_up():
    """The lab bridge exists, is up and holds the host's lab address."""
    try:
        out = subprocess.run(["ip", "-j", "addr", "show", "dev", s.BRIDGE], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    if out.returncode != 0:
        return False
    try:
        links = json.loads(out.stdout or "[]")
    except json.JSONDecodeError:
        return False
    return any("UP" in link.get("flags", ()) and any(
        a.get("local") == s.HOST_ADDRESS for a in link.get("addr_info", ())) for link in links)


def in_lab(address):
    try:
        return ipaddress.ip_address(address) in s.network()
    except ValueError:
        return False


def require_up():
    if not bridge_is_up():
        raise UserError(LAB_DOWN)


def on_a_link_of_this_host(address):
    """The kernel would send to `address` straight over one of this host's links, not through
    a gateway: the lab's bridge, or a hypervisor's host-only network (Vagrant's VMs on the same
    addresses). `ip route get` only looks the route up; nothing is sent."""
    try:
        out = subprocess.run(["ip", "-j", "route", "get", address], capture_output=True,
                             text=True, timeout=10)
        routes = json.loads(out.stdout or "[]") if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return False
    return bool(routes) and all("gateway" not in r and r.get("dev") for r in routes)


def guard(addresses):
    """Refuse to send anything to lab addresses that would leave through a gateway: with the
    lab's bridge down (and no host-only network of VMs on them) they are routed out of the host."""
    outside = [a for a in addresses if in_lab(a)]
    if outside and not bridge_is_up() and not all(on_a_link_of_this_host(a) for a in outside):
        raise UserError(f"{LAB_DOWN} ({', '.join(outside)} would leave this host through its "
                        "gateway; VMs on these addresses need their host-only network up)")
