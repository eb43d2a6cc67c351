"""`inv lab.soak`: random faults one after another under client load, invariants watched all
the time, in the manner of Pacemaker's Cluster Test Suite.

Each fault is picked (with its victim) from a seeded random generator, so a seed repeats a run.
While it happens, every VIP is probed (HTTP every 50 ms) and a watcher on the host checks, every
300 ms, that each VIP is answered on the bridge by at most one MAC address and that each HAProxy
config runs on at most one node. After it, the soak restores what a person would (powers a
fenced node on, heals the network), then waits for `inv status` to exit 0 within the fault's
bound, and checks that only the nodes the fault concerned were fenced and that no failed action
is left but the ones the fault itself causes.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..dialects import reboot_soon
from ..drill import Prober, outage
from ..errors import UserError
from . import bench, control, network
from . import settings as s
from .interrupt import inv_run
from .watch import ArpProbe, haproxy_by_config


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    bound_s: int  # from the fault to `inv status` exit 0
    fences: bool  # the cluster may fence the victim (and nobody else)
    victim: str = "any"  # "any" node, or the "serving" one
    # The failed actions the fault itself causes (cleared as `inv status` says): none, the
    # service's on the victim ("service"), or any on the victim ("victim": its cluster stack
    # died under its resources).
    leaves_failures: str = "none"


FAULTS = {f.name: f for f in (
    Fault("crash", "power loss of the node", 90, True),
    Fault("freeze", "every process of the node stops, its BMC still says on", 90, True),
    Fault("split", "the node's traffic to every other machine dropped (BMCs still reachable)",
          120, True),
    Fault("standby", "pcs node standby, then unstandby", 60, False),
    Fault("restart", "the node reboots itself, as in a rolling update (halb's own reboot: "
                     "pcsd stopped first)", 150, False),
    Fault("haproxy-kill", "HAProxy killed (SIGKILL) where it serves", 60, False, "serving",
          "service"),
    Fault("pcsd-stop", "pcsd stopped for 5 s", 60, False),
    Fault("corosync-kill", "corosync killed (SIGKILL) on the node", 120, True,
          leaves_failures="victim"),
    Fault("flap-short", "the node's link down for 0.2 s", 60, False),
    Fault("flap-long", "the node's link down for 2 s", 120, True),
    Fault("loss", "20% (or --loss) of the packets on the node's link lost for 10 s, both ways "
                  "(iptables' random statistic: this kernel has no netem); monitors that go over "
                  "that link may fail on it", 120, True, leaves_failures="victim"),
)}
# Faults the container lab cannot make: its nodes share the host's kernel and clock.
NOT_IN_CONTAINERS = {"clock-jump": "the nodes share the host's clock (the Vagrant lab's VMs "
                                   "have their own)"}
WATCH_EVERY_S = 0.3
LOSS_PERCENT = 20  # what the loss fault drops unless told otherwise
# The earliest a fault's recovery is checked: a fault the cluster has not noticed yet
# (a corosync just killed) must not pass for one it recovered from.
SETTLE_S = 3.0
# Faults after which the group leaves the victim when the victim served it; on a node that did
# not serve, none of them should move it. A killed HAProxy restarts where it was.
MOVES_THE_SERVICE = {"crash", "freeze", "split", "standby", "restart", "corosync-kill",
                     "flap-long", "loss"}


@dataclass
class Outcome:
    number: int
    fault: str
    victim: str
    serving_before: str | None
    at_s: float  # since the soak began
    serving_after: str | None = None
    requests: int = 0
    failed: int = 0
    outage_s: float = 0.0
    fenced: list = field(default_factory=list)
    # A fence or a move of the service that the fault did not call for (tuning too tight).
    false_failover: str | None = None
    recovered_s: float | None = None
    violations: list = field(default_factory=list)
    timeline: list = field(default_factory=list)  # (seconds since the fault, what)


class Watcher(threading.Thread):
    """The split-brain invariants, checked every WATCH_EVERY_S while the soak runs."""

    def __init__(self, vips, macs):
        super().__init__(daemon=True)
        self.vips, self.macs = vips, macs  # MAC -> node name, for the report
        self.probe = ArpProbe(s.BRIDGE, s.BRIDGE_MAC, s.HOST_ADDRESS)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.seen = []  # (monotonic, what)
        self.checks = 0

    def run(self):
        try:
            while not self.stopping.wait(WATCH_EVERY_S):
                self.check_once()
        finally:
            self.probe.close()

    def check_once(self):
        now = time.monotonic()
        found = []
        for vip, macs in self.probe.who_has(self.vips).items():
            if len(macs) > 1:
                owners = ", ".join(sorted(f"{self.macs.get(m, '?')} ({m})" for m in macs))
                found.append(f"VIP {vip} answered ARP from {len(macs)} MACs: {owners}")
        for config, nodes in haproxy_by_config().items():
            if len(nodes) > 1:
                found.append(f"HAProxy with {config} runs on {', '.join(sorted(nodes))}")
        with self.lock:
            self.checks += 1
            self.seen.extend((now, what) for what in found)

    def since(self, start):
        with self.lock:
            return [(t, what) for t, what in self.seen if t >= start]

    def stop(self):
        self.stopping.set()
        self.join()


class Soak:
    def __init__(self, faults, seed, config, only=None, stress=0, loss_percent=LOSS_PERCENT,
                 say=print):
        self.count, self.seed, self.config, self.say = faults, seed, config, say
        self.stress = stress  # busy loops on the host, competing with the nodes for its CPUs
        self.loss_percent = loss_percent
        self.cluster = s.lab_cluster(s.ROOT / config)
        self.kinds = sorted(only or FAULTS)
        self.pick = random.Random(seed)
        self.nodes = {n.name: n for n in s.lab_nodes(s.ROOT / config)}
        self.machines = {n.name: n for n in s.lab_machines(s.ROOT / config)}
        self.rules = []  # (node, iptables rule) the soak put in place, each removed once

    # --- the lab, from the host ---------------------------------------------------------------
    def on(self, name, *argv, timeout=60):
        return control.node_exec(self.machines[name], list(argv), timeout=timeout)

    def crm_mon(self, name):
        try:
            done = self.on(name, "crm_mon", "-1", "--output-as=xml", timeout=15)
        except Exception:
            return None
        try:
            return ET.fromstring(done.stdout)
        except ET.ParseError:
            return None

    def live_view(self):
        """crm_mon's XML from the first powered, unfrozen node that gives one."""
        for name, node in self.nodes.items():
            if control.power_state(node) == "on":
                root = self.crm_mon(name)
                if root is not None and root.find("nodes") is not None:
                    return name, root
        return None, None

    def serving(self):
        _, root = self.live_view()
        if root is None:
            return None
        for rsc in root.iter("resource"):
            if rsc.get("id") == self.cluster.vip.resource_id and rsc.get("active") == "true":
                nodes = [n.get("name") for n in rsc.findall("node")]
                return nodes[0] if len(nodes) == 1 else None
        return None

    def macs(self):
        found = {}
        for name in self.nodes:
            if control.power_state(self.nodes[name]) == "on":
                done = self.on(name, "cat", "/sys/class/net/host0/address", timeout=10)
                found[done.stdout.strip()] = name
        return found

    def fence_targets(self, since_wall):
        """The nodes the fencer reports fenced (successfully) since `since_wall`: a crashed
        node is fenced too, though its BMC has nothing left to power off."""
        name, _ = self.live_view()
        if name is None:
            return set()
        out = self.on(name, "stonith_admin", "--history", "*", "--output-as=xml", timeout=15)
        try:
            root = ET.fromstring(out.stdout)
        except ET.ParseError:
            return set()
        found = set()
        for event in root.iter("fence_event"):
            stamp = (event.get("completed") or "").replace("Z", "+00:00")
            try:
                when = datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                continue
            if event.get("status") == "success" and when >= since_wall - 1:
                found.add(event.get("target"))
        return found

    def power_offs(self, since_wall):
        return [(t, n) for t, n, what in control.power_events()
                if t >= since_wall and what in ("off", "watchdog")]

    # --- faults -------------------------------------------------------------------------------
    def inject(self, fault, victim):
        node = self.nodes[victim]
        if fault == "crash":
            control.crash(node)
        elif fault == "freeze":
            control.freeze(node)
        elif fault == "split":
            # Held until the cluster has fenced the victim (or for 20 s): see recover().
            for other in (m for m in self.machines.values() if m.name != victim):
                for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
                    self._rule(victim, chain, flag, other.address, "-j", "DROP")
                    self._rule(other.name, chain, flag, node.address, "-j", "DROP")
        elif fault == "standby":
            self.on(victim, "pcs", "node", "standby", victim)
            time.sleep(5)
            self.on(victim, "pcs", "node", "unstandby", victim)
        elif fault == "restart":
            self.on(victim, *reboot_soon().argv)
        elif fault == "haproxy-kill":
            self.on(victim, "pkill", "-KILL", "-x", "haproxy")
        elif fault == "pcsd-stop":
            self.on(victim, "systemctl", "stop", "pcsd")
            time.sleep(5)
            self.on(victim, "systemctl", "start", "pcsd")
        elif fault == "corosync-kill":
            self.on(victim, "pkill", "-KILL", "-x", "corosync")
        elif fault in ("flap-short", "flap-long"):
            control.set_link(node, up=False)
            time.sleep(0.2 if fault == "flap-short" else 2.0)
            control.set_link(node, up=True)
        elif fault == "loss":
            # On the node's link only, as netem on it would: its loopback (the agent's own
            # check of HAProxy) is not the network.
            for chain, side in (("INPUT", "-i"), ("OUTPUT", "-o")):
                self._rule(victim, chain, side, "host0", "-m", "statistic", "--mode", "random",
                           "--probability", f"{self.loss_percent / 100:.2f}", "-j", "DROP")
            time.sleep(10)
            self.heal()

    def _rule(self, name, chain, *rule):
        if control.power_state(self.machines[name]) == "off":
            return
        done = self.on(name, "iptables", "-I", chain, *rule)
        if done.returncode != 0:
            raise UserError(f"lab: iptables on {name}: {done.stderr.strip()}")
        self.rules.append((name, chain, rule))

    def heal(self):
        """Remove the soak's own rules where the node still has them (a power off cleared
        them on a node that was fenced)."""
        for name, chain, rule in self.rules:
            if control.power_state(self.machines[name]) == "on":
                self.on(name, "iptables", "-D", chain, *rule)
        self.rules.clear()

    # --- recovery -----------------------------------------------------------------------------
    def failures(self):
        """Failed actions in the CIB status: [(resource, operation, node)]."""
        _, root = self.live_view()
        if root is None:
            return []
        return [(f.get("op_key", "").rsplit("_", 2)[0], f.get("task"), f.get("node"))
                for f in root.iter("failure")]

    def recover(self, fault, victim, fault_at, since_wall, outcome, probers):
        """Restore what a person would, then wait for `inv status` to exit 0."""
        def mark(what):
            outcome.timeline.append((round(time.monotonic() - fault_at, 2), what))

        deadline = fault_at + FAULTS[fault].bound_s
        node = self.nodes[victim]
        powered = answering = False
        while time.monotonic() < deadline:
            if not answering and all(p.answering_since(fault_at, 2.0) for p in probers):
                answering = True
                mark("every VIP answers")
            state = control.power_state(node)
            _, root = self.live_view()
            for other in self.nodes.values():  # fenced though the fault was not its
                if other.name != victim and control.power_state(other) == "off" and \
                        self._fenced_in(root, other.name):
                    control.power_on(other)
                    mark(f"{other.name} powered on (fenced, not the victim)")
            if state == "off" and not powered and fault != "restart" and \
                    self._fenced_in(root, victim):
                # Powered off (fenced, or crashed) and the survivors are done with it: their
                # view says offline and clean. Earlier, a power on would race the fencer.
                # The fencer's history now: a node that reboots later takes its copy along.
                self.seen_fenced |= self.fence_targets(since_wall)
                if victim in self.seen_fenced or \
                        any(n == victim for _, n in self.power_offs(since_wall)):
                    mark(f"{victim} fenced")
                control.power_on(node)
                powered = True
                mark(f"{victim} powered on")
            if state == "on, frozen" and time.monotonic() - fault_at > 60:
                control.thaw(node)  # never fenced: a violation the fence check reports
                mark(f"{victim} thawed (never fenced)")
            if self.rules and (state == "off" or time.monotonic() - fault_at > 20):
                self.heal()
                mark("network healed")
            # Not before the cluster has had time to notice (a token timeout or several) and
            # the soak has undone its part.
            if time.monotonic() - fault_at >= SETTLE_S and not self.rules and \
                    self._happened(fault, victim, since_wall, outcome, mark) and \
                    self._whole(root) and self._status_ok(fault, victim, outcome, mark):
                outcome.recovered_s = round(time.monotonic() - fault_at, 1)
                outcome.serving_after = self.serving()
                mark(f"inv status exit 0 (served by {outcome.serving_after})")
                return
            time.sleep(1)
        self.heal()
        outcome.violations.append(f"not healthy within {FAULTS[fault].bound_s}s "
                                  f"(inv status did not exit 0)")

    def _happened(self, fault, victim, since_wall, outcome, mark):
        """A reboot asked for is not over before labd has seen the node boot again."""
        if fault != "restart":
            return True
        if any(f"{victim} rebooted" in what for _, what in outcome.timeline):
            return True
        if any(n == victim and what == "reboot" and t >= since_wall
               for t, n, what in control.power_events()):
            mark(f"{victim} rebooted")
            return True
        return False

    @staticmethod
    def _fenced_in(root, victim):
        if root is None:
            return False
        for node in root.find("nodes").iter("node"):
            if node.get("name") == victim:
                return node.get("online") != "true" and node.get("unclean") != "true"
        return False

    def _whole(self, root):
        """Every node powered, running, online and clean in the cluster's view: only then is
        `inv status` asked (a frozen node would hold its SSH connection for a minute)."""
        if root is None or any(control.power_state(n) != "on" for n in self.machines.values()):
            return False
        nodes = list(root.find("nodes").iter("node"))
        return all(n.get("online") == "true" and n.get("unclean") != "true"
                   and n.get("standby") != "true" for n in nodes) and \
            len(nodes) == len(self.nodes)

    def _status_ok(self, fault, victim, outcome, mark):
        rc, out, _ = inv_run("status", "--config", self.config, timeout=120)
        if rc == 0:
            return True
        failures = self.failures()
        if not failures:
            return False
        # A killed HAProxy leaves its failed monitor on the victim, a killed corosync its
        # fence device's: the cause, cleared as `inv status` says. Any other failed action is
        # one the fault should not have caused.
        unexpected = [f for f in failures if not expected_failure(FAULTS[fault], victim, f,
                                                                   self.cluster)]
        if unexpected:
            outcome.violations.append("failed action(s) left: " + "; ".join(
                f"{r} {op} on {n}" for r, op, n in unexpected))
        mark("pcs resource cleanup")
        self.on(self.live_view()[0], "pcs", "resource", "cleanup")
        return False

    # --- the run ------------------------------------------------------------------------------
    def choose(self, serving):
        fault = self.pick.choice(self.kinds)
        victim = serving if FAULTS[fault].victim == "serving" else \
            self.pick.choice(sorted(self.nodes))
        return fault, victim or sorted(self.nodes)[0]

    def one(self, number, began, watcher, probers):
        serving = self.serving()
        fault, victim = self.choose(serving)
        outcome = Outcome(number, fault, victim, serving, round(time.monotonic() - began, 1))
        self.current = outcome  # what a lab failure in the middle of it is reported against
        self.seen_fenced = set()
        self.say(f"fault {number}: {fault} of {victim} (serving: {serving})")
        since_wall = time.time()
        fault_at = time.monotonic()
        self.inject(fault, victim)
        outcome.timeline.append((round(time.monotonic() - fault_at, 2), f"{fault} done"))
        self.recover(fault, victim, fault_at, since_wall, outcome, probers)
        ended = time.monotonic()
        for prober in probers:
            seen = prober.between(fault_at, ended)
            lost, failed = outage(seen, fault_at)
            outcome.requests += len(seen)
            outcome.failed += failed
            outcome.outage_s = max(outcome.outage_s, round(lost, 2))
        fenced = sorted({n for _, n in self.power_offs(since_wall)} |
                        self.fence_targets(since_wall) | self.seen_fenced)
        outcome.fenced = fenced
        allowed = {victim} if FAULTS[fault].fences else set()
        if set(fenced) - allowed:
            outcome.violations.append(f"fenced {', '.join(sorted(set(fenced) - allowed))}, "
                                      f"which the {fault} did not concern")
        outcome.false_failover = false_failover(fault, victim, serving, outcome.serving_after,
                                                fenced)
        for t, what in watcher.since(fault_at):
            outcome.violations.append(f"at {t - fault_at:.1f}s: {what}")
        self.say(f"   {outcome.failed}/{outcome.requests} failed, outage {outcome.outage_s:.2f}s, "
                 f"fenced: {', '.join(fenced) or 'none'}, healthy after "
                 f"{outcome.recovered_s if outcome.recovered_s is not None else '-'}s"
                 + (f"; FALSE FAILOVER: {outcome.false_failover}" if outcome.false_failover else "")
                 + "".join(f"\n   VIOLATION: {v}" for v in outcome.violations))
        return outcome

    def report(self, outcomes, began, checks, unchanged=None):
        """The report so far; `unchanged` is None until the closing setup-cluster ran."""
        return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "seed": self.seed,
                "commit": bench.commit(), "machine": bench.machine(),
                "faults": self.count, "done": len(outcomes), "kinds": self.kinds,
                "config": self.config, "stress": self.stress, "loss_percent": self.loss_percent,
                "release": s.running_release(), "watch_checks": checks,
                "took_s": round(time.monotonic() - began, 1),
                "not_in_this_lab": NOT_IN_CONTAINERS,
                "setup_cluster_after_changes_nothing": unchanged,
                "violations": sum(len(o.violations) for o in outcomes) + (unchanged is False),
                "summary": summarise(outcomes), "outcomes": [asdict(o) for o in outcomes]}

    def run(self, progress=lambda report: None):
        """The faults, then setup-cluster once more (it must change nothing). `progress` gets
        the report so far after each fault: a soak cut short still leaves its figures."""
        network.require_up()
        deadline = time.monotonic() + 60  # a cluster still settling from what came before
        while (status := inv_run("status", "--config", self.config, timeout=120))[0] != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the lab's cluster is not healthy to begin with:\n"
                                   f"{status[1][-2000:]}")
            time.sleep(5)
        vips = self.cluster.vip_addresses
        probers = [Prober(view.vip.ip, view.service_port, "/", 0.05, 0.5).start()
                   for view in self.cluster.views()]
        watcher = Watcher(vips, self.macs())
        watcher.start()
        hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"])
                for _ in range(self.stress)]
        began = time.monotonic()
        outcomes = []
        try:
            for number in range(1, self.count + 1):
                try:
                    outcomes.append(self.one(number, began, watcher, probers))
                    progress(self.report(outcomes, began, watcher.checks))
                except (UserError, OSError, subprocess.SubprocessError) as exc:
                    # The lab itself failed the soak (not the cluster): report what was done.
                    self.current.violations.append(f"the soak could not go on: {exc}")
                    outcomes.append(self.current)
                    break
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
            watcher.stop()
            for prober in probers:
                prober.stop()
        rc, out, _ = inv_run("setup-cluster", "--config", self.config, timeout=600)
        unchanged = rc == 0 and "0 change(s) made" in out
        return self.report(outcomes, began, watcher.checks, unchanged)


def expected_failure(fault, victim, failure, cluster):
    """Whether a failed action (resource, operation, node) is one the fault itself causes."""
    resource, _, node = failure
    if node != victim:
        return False
    services = {view.service.resource_id for view in cluster.views()}
    return fault.leaves_failures == "victim" or \
        fault.leaves_failures == "service" and resource in services


def false_failover(fault, victim, serving_before, serving_after, fenced):
    """What the cluster did that the fault did not call for, else None: the service moved
    away from a node the fault left able to serve, or a node was fenced that it did not need."""
    expected_move = fault in MOVES_THE_SERVICE and victim == serving_before
    if serving_after not in (None, serving_before) and not expected_move:
        return f"the service moved {serving_before} -> {serving_after}"
    if fenced and not (FAULTS[fault].fences and set(fenced) <= {victim}):
        return f"{', '.join(fenced)} fenced"
    return None


def summarise(outcomes):
    """Per fault type: availability, outage and recovery median and worst, fences, violations."""
    rows = []
    for kind in sorted({o.fault for o in outcomes}):
        mine = [o for o in outcomes if o.fault == kind]
        requests = sum(o.requests for o in mine)
        outages = sorted(o.outage_s for o in mine)
        recovered = sorted(o.recovered_s for o in mine if o.recovered_s is not None)
        rows.append({
            "fault": kind, "count": len(mine),
            "availability": round(1 - sum(o.failed for o in mine) / requests, 4) if requests else None,
            "outage_median_s": round(statistics.median(outages), 2),
            "outage_worst_s": outages[-1],
            "recovered_median_s": round(statistics.median(recovered), 1) if recovered else None,
            "recovered_worst_s": recovered[-1] if recovered else None,
            "not_recovered": len(mine) - len(recovered),
            "fenced": sum(bool(o.fenced) for o in mine),
            "false_failovers": sum(bool(o.false_failover) for o in mine),
            "violations": sum(len(o.violations) for o in mine),
        })
    return rows


def table(report):
    stress = f", {report['stress']} CPU hog(s) on the host" if report["stress"] else ""
    if report.get("loss_percent", LOSS_PERCENT) != LOSS_PERCENT and "loss" in report["kinds"]:
        stress += f", loss faults drop {report['loss_percent']}%"
    done = "" if report["done"] == report["faults"] else f" (cut short after {report['done']})"
    lines = [f"soak: {report['faults']} faults{done}, seed {report['seed']}, {report['release']}, "
             f"{report['date']}, commit {report['commit']}, {report['machine']}; "
             f"{report['took_s']:.0f}s{stress}; {report['watch_checks']} invariant checks", "",
             "| fault | count | availability | outage median | outage worst | healthy median | "
             "healthy worst | fenced | false failovers | violations |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["summary"]:
        avail = f"{100 * r['availability']:.2f}%" if r["availability"] is not None else "-"
        lines.append(f"| {r['fault']} | {r['count']} | {avail} | {r['outage_median_s']:.2f}s | "
                     f"{r['outage_worst_s']:.2f}s | {r['recovered_median_s']}s | "
                     f"{r['recovered_worst_s']}s | {r['fenced']} | {r['false_failovers']} | "
                     f"{r['violations']} |")
    for o in report["outcomes"]:
        for v in o["violations"]:
            lines.append(f"VIOLATION in fault {o['number']} ({o['fault']} of {o['victim']}): {v}; "
                         "timeline: " + ", ".join(f"{t}s {what}" for t, what in o["timeline"]))
    if report["setup_cluster_after_changes_nothing"] is False:
        lines.append("VIOLATION: setup-cluster after the soak changed something (or failed)")
    for name, why in report["not_in_this_lab"].items():
        lines.append(f"not in this lab: {name} ({why})")
    return "\n".join(lines)


def write(report, path):
    """The JSON report, and its table beside it (same name, .md) for the docs to link."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(table(report) + "\n")
