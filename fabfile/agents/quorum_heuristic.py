#!/usr/bin/python3
"""halb's quorum heuristic: whether this node's side should win an even split.

corosync-qdevice runs it as root on every node at each membership change (heuristics mode sync)
and tells qnetd whether it passed (exit 0); in an even split qnetd gives its vote to the side
whose nodes passed, and its tie-breaker decides only when both or neither did.

    quorum_heuristic RESOURCE ARBITER VIP

A split is usually a cut link, and then the side that runs the service should win: nothing
moves. But a split can also come from packet loss on one node's link, and when that node is the
serving one, keeping it means keeping a service behind a lossy link and fencing the healthy
node. So every node sends PINGS echo requests to the arbiter and to the service's VIP while
crm_resource checks whether RESOURCE runs here, and it passes:
  - running RESOURCE: unless its own path to the arbiter is lossy;
  - not running it: only if its path to the arbiter is not lossy and the VIP is lossy from here
    (the serving node answers, but not every time): the serving node's link is the sick one.
A path is lossy when some echo requests were answered and LOSSY_AT or more were not. One that
answers nothing tells nothing (ICMP filtered, the node gone, a cut link): it is not lossy, so
that a filtered arbiter or VIP leaves the rule "the side that serves wins".
Python's standard library only: every node has python3 (pcs needs it).
"""

import os
import select
import socket
import struct
import subprocess
import sys
import syslog
import time

CRM_RESOURCE = "/usr/sbin/crm_resource"
PINGS = 30
INTERVAL_S = 0.004
LOSSY_AT = 3  # unanswered of PINGS: 10%, well above a healthy link's, well below 20% loss
# After the last request: how long to wait for a target that has not answered at all (its
# first request went out PINGS * INTERVAL_S before: an arbiter beyond 0.14 s counts as
# silent), and how long at most.
SILENT_AFTER_S = 0.02
WAIT_AT_MOST_S = 0.3


def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class Target:
    def __init__(self, host, ident):
        family, _, _, _, address = socket.getaddrinfo(host, None, type=socket.SOCK_RAW)[0]
        self.address, self.v6 = address, family == socket.AF_INET6
        self.sock = socket.socket(family, socket.SOCK_RAW,
                                  socket.IPPROTO_ICMPV6 if self.v6 else socket.IPPROTO_ICMP)
        self.ident, self.answered, self.first_reply_s = ident, set(), None

    def send(self, seq):
        kind = 128 if self.v6 else 8  # echo request; the kernel sums ICMPv6 itself
        header = struct.pack("!BBHHH", kind, 0, 0, self.ident, seq)
        payload = struct.pack("!d", time.monotonic())
        if not self.v6:
            header = struct.pack("!BBHHH", kind, 0, checksum(header + payload), self.ident, seq)
        try:
            self.sock.sendto(header + payload, self.address)
        except OSError:
            pass  # no route: an unanswered request

    def receive(self, started):
        packet, source = self.sock.recvfrom(2048)
        if source[0] != self.address[0]:
            return
        icmp = packet if self.v6 else packet[(packet[0] & 0x0F) * 4:]
        if len(icmp) >= 8:
            kind, _, _, ident, seq = struct.unpack("!BBHHH", icmp[:8])
            if kind == (129 if self.v6 else 0) and ident == self.ident and seq < PINGS:
                self.answered.add(seq)
                if self.first_reply_s is None:
                    self.first_reply_s = time.monotonic() - started


def lossy(answered):
    """Some echo requests answered and LOSSY_AT or more not; none answered tells nothing."""
    return 0 < answered <= PINGS - LOSSY_AT


def passes(serving, arbiter_answered, vip_answered):
    """The rule: the serving side wins unless its link is the lossy one, seen from both sides."""
    return not lossy(arbiter_answered) and (serving or lossy(vip_answered))


def ping(targets):
    """Send PINGS echo requests to each target, INTERVAL_S apart, and collect the answers."""
    started = time.monotonic()
    by_sock = {t.sock: t for t in targets}
    for seq in range(PINGS):
        for target in targets:
            target.send(seq)
        _receive_until(by_sock, started, time.monotonic() + INTERVAL_S)
    last_sent = time.monotonic()
    _receive_until(by_sock, started, last_sent + WAIT_AT_MOST_S, last_sent)


def _receive_until(by_sock, started, until, last_sent=None):
    while True:
        now = time.monotonic()
        if last_sent is not None and all(_done(t, now - last_sent) for t in by_sock.values()):
            return
        if now >= until:
            return
        readable, _, _ = select.select(list(by_sock), [], [], min(until - now, 0.01))
        for sock in readable:
            by_sock[sock].receive(started)


def _done(target, since_last_sent):
    if len(target.answered) == PINGS:
        return True
    if target.first_reply_s is None:
        return since_last_sent >= SILENT_AFTER_S
    # Answers come in as they were sent: wait twice the first round trip for the stragglers.
    return since_last_sent >= 2 * target.first_reply_s + 0.02


def main(argv):
    if len(argv) != 4:
        print("usage: quorum_heuristic RESOURCE ARBITER VIP", file=sys.stderr)
        return 2
    resource, arbiter_host, vip_host = argv[1:]
    # 0: running here, 7: not; anything else (no CIB, no such resource) counts as not.
    try:
        check = subprocess.Popen([CRM_RESOURCE, "--force-check", "--resource", resource],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as exc:
        print(f"quorum_heuristic: {CRM_RESOURCE}: {exc.strerror}", file=sys.stderr)
        check = None
    ident = os.getpid() & 0xFFFF
    try:
        arbiter = Target(arbiter_host, ident)
        vip = Target(vip_host, ident)
    except OSError as exc:  # a name that does not resolve: the service alone decides
        print(f"quorum_heuristic: {exc}", file=sys.stderr)
        return 0 if check and check.wait() == 0 else 1
    ping([arbiter, vip])
    serving = check is not None and check.wait() == 0
    verdict = passes(serving, len(arbiter.answered), len(vip.answered))
    said = (f"{'pass' if verdict else 'fail'}: {'runs' if serving else 'does not run'} "
            f"{resource}; arbiter {arbiter_host} answered {len(arbiter.answered)}/{PINGS}, "
            f"VIP {vip_host} {len(vip.answered)}/{PINGS}")
    print(f"quorum_heuristic: {said}")
    # In the journal: why this side won or lost a split, for whoever reads it afterwards.
    syslog.openlog("halb-quorum-heuristic", 0, syslog.LOG_DAEMON)
    syslog.syslog(syslog.LOG_NOTICE, said)
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
