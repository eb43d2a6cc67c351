"""`inv standby NODE` / `inv unstandby NODE`: a planned move, finished before the task returns.

Standby moves the group off the node; the task waits until the group runs on another node and
the service answers on the VIP. Unstandby lets the node take resources again (the group stays where
it is: stickiness) and waits until the node is back online and out of standby. Both return once
the cluster has no action pending.
"""

from __future__ import annotations

import time

from . import hooks, parsers
from .errors import StepFailed, UserError
from .health import get_via_vip, probe_port

WAIT_SECONDS = 120


def switch(cluster, session, node_name, on, say=print, port=None):
    names = [n.name for n in cluster.nodes]
    if node_name not in names:
        raise UserError(f"{node_name!r} is not a node of {cluster.name} ({', '.join(names)})")
    views = cluster.views()
    hooks.check_reach(cluster.vip_addresses)
    session.resolve_nodes()
    peer = cluster.peer_of(node_name)
    dialect = session.dialect(peer)
    # Ask another node: with its own node going into standby a node still answers, but another
    # one must run the service afterwards.
    started = time.monotonic()
    session.executor.run(peer, dialect.standby(node_name, on=on), "standby" if on else "unstandby")
    verb = "standby" if on else "unstandby"
    say(f"{verb} {node_name}: asked through {peer.name}; waiting for the cluster")
    groups = [(view.vip.resource_id, view.service.resource_id) for view in views]

    def answer():
        return all(get_via_vip(view, probe_port(cluster, view, port), timeout=2)[0]
                   for view in views)

    def done():
        status = parsers.parse_crm_mon(session.executor.run(
            peer, dialect.cluster_status_xml(), verb).stdout)
        if status is None:
            return None
        if on:  # every group runs, on another node
            settled = node_name in status.standby and all(
                status.runs_on(group) not in (None, node_name) for group in groups)
        else:
            settled = node_name in status.online and node_name not in status.standby
        return status if settled and answer() else None

    deadline = time.monotonic() + WAIT_SECONDS
    while (status := done()) is None:
        if time.monotonic() > deadline:
            raise UserError(f"{verb} {node_name}: not finished after {WAIT_SECONDS}s; see "
                            "pcs status")
        time.sleep(0.5)
    # The group may be in place while other actions are still pending (a fence device starting
    # on the node just taken out of standby): the move is finished when the cluster is idle.
    session.executor.run(peer, dialect.wait_settled(max(5, int(deadline - time.monotonic()))),
                         verb)
    where = status.resources.get(cluster.vip.resource_id, ())
    say(f"{verb} {node_name}: done in {time.monotonic() - started:.1f}s; the service runs on "
        f"{', '.join(where)} and answers on {cluster.vip.ip}:{probe_port(cluster, views[0], port)}")



# --- rolling update --------------------------------------------------------------------------
BOOT_SECONDS = 300


def failure_windows(probes):
    """The outages in a run of probes: [(seconds, failed requests)], each from the last answered
    request before a run of failures to the first answered one after it."""
    windows, run_start, failed = [], None, 0
    last_ok_end = probes[0].start if probes else 0.0
    for probe in sorted(probes, key=lambda p: p.start):
        if probe.ok:
            if failed:
                windows.append((probe.end - run_start, failed))
                failed = 0
            last_ok_end = probe.end
        else:
            if not failed:
                run_start = last_ok_end
            failed += 1
    if failed:
        windows.append((probes[-1].end - run_start, failed))
    return windows


class RollingUpdate:
    """One node at a time, the standby node first: standby, upgrade, reboot, back in the
    cluster, unstandby. Stops at the first problem and says where, leaving that node in
    standby (the service keeps running on the other)."""

    def __init__(self, cluster, session, reboot=True, say=print):
        self.cluster, self.session, self.reboot, self.say = cluster, session, reboot, say
        self.executor = session.executor

    def dialect(self, node):
        return self.session.dialect(node)  # read once per session: status is polled every second

    def status(self, via):
        return parsers.parse_crm_mon(self.executor.run(
            via, self.dialect(via).cluster_status_xml(), "rolling-update").stdout)

    def order(self):
        status = self.status(self.cluster.primary)
        names = {n.name for n in self.cluster.nodes}
        if status is None or status.online != names or status.standby or status.unclean:
            raise UserError("rolling-update: the cluster is not whole (every node online, none "
                            "in standby); nothing was changed: see inv status")
        return self.cluster.busiest_last(status.resources)

    def run(self):
        self.session.resolve_nodes()
        order = self.order()
        self.say("rolling-update: " + ", then ".join(n.name for n in order)
                 + " (the node serving goes last)")
        for number, node in enumerate(order, 1):
            self.say(f"\n== {node.name} ({number}/{len(order)})")
            started = time.monotonic()
            self.step(node, "standby", lambda n=node: switch(self.cluster, self.session, n.name,
                                                               True, self.say))
            self.step(node, "upgrade", lambda n=node: self.upgrade(n))
            if self.reboot:
                self.step(node, "reboot", lambda n=node: self.reboot_and_wait(n))
            self.step(node, "unstandby", lambda n=node: switch(self.cluster, self.session, n.name,
                                                                 False, self.say))
            self.say(f"{node.name}: updated in {time.monotonic() - started:.0f}s")

    def step(self, node, what, action):
        try:
            action()
        except (UserError, StepFailed) as exc:
            state = ("it is not in standby" if what == "standby" else
                     f"it stays in standby, the service runs on "
                     f"{self.cluster.elsewhere(node.name)}; "
                     "once fixed: inv unstandby "
                     f"{node.name}" if what != "unstandby" else
                     f"see inv status; inv unstandby {node.name} again once it is back")
            raise UserError(f"rolling-update stopped at {node.name}, {what}: "
                            f"{str(exc).splitlines()[0]}\n{node.name}: {state}") from None

    def upgrade(self, node):
        for command in self.dialect(node).upgrade_packages():
            self.say(f"   [{node.name}] {command.why}")
            self.executor.run(node, command, "rolling-update")
        self.session.forget_base(node)  # pcs may have a new version now

    def reboot_and_wait(self, node):
        dialect = self.dialect(node)
        before = self.executor.run(node, dialect.boot_id(), "rolling-update").stdout.strip()
        self.say(f"   [{node.name}] reboot")
        self.executor.run(node, dialect.reboot_soon(), "rolling-update")
        self.executor.forget(node.name)
        started = time.monotonic()
        deadline = started + BOOT_SECONDS
        with self.executor.single_attempt():
            while True:
                if time.monotonic() > deadline:
                    raise UserError(f"{node.name} did not come back within {BOOT_SECONDS}s")
                time.sleep(2)
                try:
                    now = self.executor.run(node, dialect.boot_id(), "rolling-update").stdout.strip()
                except UserError:  # down or still booting
                    self.executor.forget(node.name)
                    continue
                if now and now != before:
                    break
                self.executor.forget(node.name)  # not gone down yet
        self.say(f"   [{node.name}] booted again after {time.monotonic() - started:.0f}s; "
                 "waiting for it to rejoin the cluster")
        peer = self.cluster.peer_of(node.name)
        while True:
            status = self.status(peer)
            if status and node.name in status.online:
                break
            if time.monotonic() > deadline:
                raise UserError(f"{node.name} did not rejoin the cluster within {BOOT_SECONDS}s")
            time.sleep(1)
        self.say(f"   [{node.name}] back in the cluster (in standby)")


def probe_summary(probes, cluster):
    windows = failure_windows(probes)
    failed = sum(n for _, n in windows)
    return (f"\nprobe: {len(probes)} requests to {cluster.vip.ip}:{cluster.service_port}, "
            f"{failed} failed" + (f", longest outage {max(w for w, _ in windows):.2f}s in "
                                  f"{len(windows)} window(s)" if windows else ""))
