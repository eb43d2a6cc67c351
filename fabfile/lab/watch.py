"""What the host sees of the lab's cluster while faults happen, without asking the cluster:
who answers ARP for each VIP on the bridge, and on which nodes an HAProxy runs.

Both are the soak's split-brain invariants: a VIP answered by two MAC addresses, or one HAProxy
config served on two nodes, is two nodes serving at once.
"""

from __future__ import annotations

import os
import re
import select
import socket
import struct
import time
from pathlib import Path

from . import settings as s

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
# An ARP packet for IPv4 over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4, op.
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_ETHER = struct.Struct("!6s6sH")
# Anchored: a lane's lab beside this one has its nodes under a cgroup of another name.
CGROUP_NODE = re.compile(rf"^0::/{re.escape(s.CGROUP)}/([^/\s]+)(?:/|$)", re.M)


def mac_bytes(text):
    return bytes(int(part, 16) for part in text.split(":"))


def mac_text(raw):
    return ":".join(f"{b:02x}" for b in raw)


def arp_request(own_mac, own_ip, target_ip):
    """An Ethernet frame asking who has `target_ip` (broadcast)."""
    sender = mac_bytes(own_mac)
    return (_ETHER.pack(BROADCAST, sender, ETH_P_ARP)
            + _ARP.pack(1, 0x0800, 6, 4, 1, sender, socket.inet_aton(own_ip), b"\0" * 6,
                        socket.inet_aton(target_ip)))


def arp_reply(frame):
    """(sender IP, sender MAC) of an ARP reply frame, else None."""
    if len(frame) < _ETHER.size + _ARP.size:
        return None
    _, _, kind = _ETHER.unpack_from(frame)
    if kind != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _, _ = _ARP.unpack_from(frame, _ETHER.size)
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, 2):
        return None
    return socket.inet_ntoa(spa), mac_text(sha)


class ArpProbe:
    """Asks on the bridge who has each address and collects every answer (a raw socket)."""

    def __init__(self, bridge, own_mac, own_ip):
        self.own_mac, self.own_ip = own_mac, own_ip
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        self.sock.bind((bridge, ETH_P_ARP))
        self.sock.setblocking(False)

    def close(self):
        self.sock.close()

    def who_has(self, addresses, listen_s=0.15):
        """{address: {MAC, ...}} of the answers within `listen_s` (an empty set: no answer)."""
        self._drain()
        for address in addresses:
            self.sock.send(arp_request(self.own_mac, self.own_ip, address))
        seen = {address: set() for address in addresses}
        deadline = time.monotonic() + listen_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                break
            try:
                reply = arp_reply(self.sock.recv(2048))
            except BlockingIOError:
                continue
            if reply and reply[0] in seen:
                seen[reply[0]].add(reply[1])
        return seen

    def _drain(self):
        while True:
            try:
                self.sock.recv(2048)
            except BlockingIOError:
                return


def haproxy_by_config(proc=Path("/proc")):
    """{HAProxy config file: {lab node, ...}}: every haproxy process the host can see (the nodes
    share its PID view), placed on a node by its cgroup. A frozen node's processes still count:
    they hold the VIP's sockets until the node is powered off."""
    found = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            if (Path(entry.path) / "comm").read_text().strip() != "haproxy":
                continue
            argv = (Path(entry.path) / "cmdline").read_bytes().split(b"\0")
            cgroup = (Path(entry.path) / "cgroup").read_text()
        except OSError:
            continue  # gone meanwhile
        node = CGROUP_NODE.search(cgroup)
        if node is None:
            continue  # not a lab node's (the host's own, if any)
        args = [a.decode(errors="replace") for a in argv if a]
        # Not serving: an exited process not yet reaped (no command line left), or a config
        # check (`haproxy -c`, as the agent's start and halb's plans run).
        if not args or "-c" in args:
            continue
        config = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "-f"), "?")
        found.setdefault(config, set()).add(node.group(1))
    return found
