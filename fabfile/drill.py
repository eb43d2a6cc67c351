"""`inv drill`: break the node that serves, measure what a client of the VIP saw, restore, repeat.

Every round probes the service through the VIP (an HTTP GET every `interval`, each with a short
timeout, several in flight) while it injects one fault on the victim, waits until the service
answers again, reads what the fencer did, restores the victim and waits until the cluster is
whole before the next round. Nothing here decides anything for the cluster: it only watches.

The outage of a round runs from the last answer before the first failed request to the first
answer after the last failed one; a round without a failed request had none.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from . import parsers
from .commands import run
from .config import URL_PATH_RE, shown
from .errors import StepFailed, UserError
from .fencing import agent_action
from .session import Session

# fault -> what it does; the lab-only ones need the embedded lab's host-side control.
FAULTS = {
    "standby": "planned switchover: pcs puts the victim in standby, then takes it out again",
    "move": "planned switchover: pcs moves the resource group to the peer",
    "fence": "pcs stonith fence from the peer: its fence device powers the victim off",
    "crash": "power loss (container lab) or a kernel crash through /proc/sysrq-trigger (VMs, "
             "real cluster)",
    "freeze": "a hung node: all its processes stop (a container frozen, a VM paused), its "
              "power still says on (labs only)",
}
LAB_ONLY = {"freeze"}
POWER_FAULTS = {"fence", "crash", "freeze"}  # the victim ends powered off, fenced
CRASH_KERNEL = "sleep 0.2; echo c > /proc/sysrq-trigger"


@dataclass
class Probe:
    start: float
    end: float
    ok: bool
    answer: str = ""


@dataclass
class Round:
    number: int
    fault: str
    victim: str
    vip_before: str | None
    vip_after: str | None = None
    outage_s: float = 0.0
    requests: int = 0
    failed: int = 0
    fenced: list = field(default_factory=list)  # "node2 -> node1 off: success"
    fence_first_attempt: bool | None = None  # None: no fencing in this round
    recovered_s: float | None = None
    error: str | None = None
    # The other service groups' VIPs, probed too: VIP -> {outage_s, failed, requests}.
    other_vips: dict = field(default_factory=dict)
    # Seconds after the fault: first failed request, fenced, VIP started, answered again.
    moments: dict = field(default_factory=dict)
    # [seconds after the fault, answered] of every request from 1 s before it: for --plot only.
    samples: list = field(default_factory=list, repr=False)


class Prober:
    """HTTP GETs to one URL on a fixed schedule, each in its own thread (bounded)."""

    def __init__(self, host, port, path, interval, timeout):
        self.host, self.port, self.path = host, port, path
        self.interval, self.timeout = interval, timeout
        self.records: list[Probe] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=max(4, int(timeout / interval) + 4))
        self.thread = threading.Thread(target=self._schedule, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.pool.shutdown(wait=True)

    def _schedule(self):
        next_at = time.monotonic()
        while not self.stopping.is_set():
            self.pool.submit(self._one)
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def _one(self):
        started = time.monotonic()
        ok, answer = False, ""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers={"Connection": "close"})
            reply = conn.getresponse()
            answer = reply.read(200).decode(errors="replace").strip()
            ok = 200 <= reply.status < 400
        except (OSError, http.client.HTTPException) as exc:
            answer = type(exc).__name__
        finally:
            conn.close()
        with self.lock:
            self.records.append(Probe(started, time.monotonic(), ok, answer))

    def between(self, start, end):
        with self.lock:
            return sorted((p for p in self.records if start <= p.start <= end),
                          key=lambda p: p.start)

    def answering_since(self, since, seconds):
        """True when every request of the last `seconds` (and at least three) was answered."""
        now = time.monotonic()
        recent = self.between(max(since, now - seconds), now)
        return len(recent) >= 3 and all(p.ok for p in recent if p.end <= now)


def outage(probes, fault_at):
    """(outage seconds, failed requests) of the probes sent since the fault."""
    failed = [p for p in probes if not p.ok]
    if not failed:
        return 0.0, 0
    first_fail, last_fail = failed[0], failed[-1]
    before = [p.end for p in probes if p.ok and p.end <= first_fail.start]
    after = [p.end for p in probes if p.ok and p.start >= last_fail.start]
    begin = max(before) if before else fault_at
    end = min(after) if after else probes[-1].end
    return max(0.0, end - begin), len(failed)


def fenced_at_first_attempt(events):
    """True when the victim was fenced and no device attempt or request failed on the way."""
    return any(e.device is None and e.rc == 0 for e in events) and all(e.rc == 0 for e in events)


def summarise(rounds):
    """Median, p95 and max of the outage per fault and victim."""
    groups = {}
    for r in rounds:
        groups.setdefault((r.fault, r.victim), []).append(r)
    rows = []
    for (fault, victim), rs in sorted(groups.items()):
        values = sorted(r.outage_s for r in rs if r.error is None)
        if not values:
            continue
        p95 = values[min(len(values) - 1, max(0, round(0.95 * len(values) + 0.5) - 1))]
        rows.append({"fault": fault, "victim": victim, "rounds": len(values),
                     "median_s": round(statistics.median(values), 2), "p95_s": round(p95, 2),
                     "max_s": round(values[-1], 2),
                     "failed_requests": sum(r.failed for r in rs),
                     "fence_first_attempt": all(r.fence_first_attempt is not False for r in rs)})
    return rows


# How long a drill waits for Pacemaker to finish what a rejoined node set off.
SETTLE_LIMIT_S = 120


class Drill:
    def __init__(self, cluster, fault, rounds, victim, port, path, interval, timeout,
                 lab=None, say=print, log_dir="logs", round_limit=180.0):
        if fault not in FAULTS:
            raise UserError(f"--fault {fault!r}: not a fault ({', '.join(FAULTS)})")
        if fault in LAB_ONLY and lab is None:
            raise UserError(f"--fault {fault}: only a lab can freeze a node (the embedded lab, or "
                            "the Vagrant lab's VMs)")
        names = [n.name for n in cluster.nodes]
        if victim != "active" and victim not in names:
            raise UserError(f"--victim {victim!r}: 'active' or one of the nodes ({', '.join(names)})")
        if rounds < 1:
            raise UserError("--rounds must be at least 1")
        if not URL_PATH_RE.fullmatch(path):
            raise UserError(f"--path {shown(path)}: not a URL path (/ then letters, digits and "
                            "._~/?=&%-)")
        self.cluster, self.fault, self.rounds, self.victim = cluster, fault, rounds, victim
        self.port, self.path, self.interval, self.timeout = port, path, interval, timeout
        self.lab, self.say, self.round_limit = lab, say, round_limit
        self.session = Session(cluster, log_dir=log_dir, out=lambda text: None, name="drill")
        self.log, self.executor = self.session.log, self.session.executor
        self.dialect = None
        self.others = []  # probers of the other service groups' VIPs, set by run()

    # --- talking to the nodes ---------------------------------------------------------------
    def _on(self, name, command):
        node = self.cluster.node(name)
        try:
            return self.executor.run(node, command, "drill")
        except StepFailed:
            raise  # the node answered: its connection is fine
        except UserError:
            self._forget(name)
            raise

    def _forget(self, name):
        self.executor.forget(name)

    def status(self, name):
        out = self._on(name, self.dialect.cluster_status_xml()).stdout
        return parsers.parse_crm_mon(out)

    def vip_holder(self, status):
        nodes = status.resources.get(self.cluster.vip.resource_id, ()) if status else ()
        return nodes[0] if len(nodes) == 1 else None

    def healthy(self, name):
        """Every node online and clean, the group running on exactly one of them."""
        try:
            status = self.status(name)
        except UserError:
            return None
        if status is None or status.online != {n.name for n in self.cluster.nodes}:
            return None
        if status.unclean or status.standby:
            return None
        group = [self.cluster.vip.resource_id, self.cluster.service.resource_id]
        return status if status.runs_on(group) else None

    def wait(self, predicate, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.5)
        raise UserError(f"drill: gave up after {seconds:.0f}s waiting for {what}")

    def wait_healthy(self, prober, seconds=300):
        def whole():
            for node in self.cluster.nodes:
                if self.lab and self.lab.power_state(node.name) != "on":
                    continue
                status = self.healthy(node.name)
                if status:
                    return node.name, status
            return None
        name, status = self.wait(whole, seconds, "every node online with the service running")
        if status.failures:
            self._on(name, self.dialect.cleanup_resources())
        self.wait(lambda: prober.answering_since(0, 2.0), 60, "the service to answer via the VIP")
        # A node that just rejoined is still being probed; the next fault should hit a cluster
        # in its steady state, as a real one would be: Pacemaker says when it is.
        self._on(name, self.dialect.wait_settled(SETTLE_LIMIT_S))
        return self.wait(whole, seconds, "every node online with the service running")[1]

    # --- faults -------------------------------------------------------------------------------
    def inject(self, victim, peer):
        d = self.dialect
        if self.fault == "standby":
            self._on(peer, d.standby(victim))
        elif self.fault == "move":
            self._on(peer, d.move_group(self.cluster.group, peer))
        elif self.fault == "fence":
            threading.Thread(target=self._quiet, args=(peer, d.fence_node(victim)),
                             daemon=True).start()
        elif self.fault == "crash" and self.lab and not self.lab.real_kernels:
            self.lab.crash(victim)
        elif self.fault == "crash":
            self._crash_real(victim)
        elif self.fault == "freeze":
            self.lab.freeze(victim)

    def _quiet(self, name, command):
        try:
            self._on(name, command)
        except UserError as exc:
            self.log.write(f"drill: {exc}")

    def _crash_real(self, victim):
        """echo c > /proc/sysrq-trigger: the kernel panics at once, as in a real crash."""
        conn = self.executor.connection(self.cluster.node(victim))
        # In the background, so that the session ends before the kernel does.
        line = self.executor.remote_line(run("sh", "-c", CRASH_KERNEL)) + " >/dev/null 2>&1 &"
        try:
            conn.run(line, hide=True, warn=True, timeout=5)
        except Exception as exc:  # the session dies with the kernel: expected
            self.log.write(f"drill: crash of {victim}: {exc!r}")
        self._forget(victim)

    def restore(self, victim, peer):
        d = self.dialect
        if self.fault == "standby":
            self._on(peer, d.standby(victim, on=False))
        elif self.fault == "move":
            self._on(peer, d.clear_group(self.cluster.group))
        if self.fault in POWER_FAULTS:
            self._forget(victim)
            if self.lab and self.lab.is_frozen(victim):
                self.lab.thaw(victim)  # never fenced: let it run again
            self._on(peer, self.power_on(victim))

    def power_on(self, name):
        """The victim's own fence device, run by hand on the peer with action=on."""
        return agent_action(self.cluster, self.dialect, self.cluster.node(name), "on",
                            f"power {name} on through its fence device")

    # --- rounds -------------------------------------------------------------------------------
    def fence_events(self, name, victim, since):
        """What the peer's fencer did to the victim since `since` (the peer's clock)."""
        out = self._on(name, self.dialect.fencer_log(since)).stdout
        return [e for e in parsers.parse_fencer_log(out) if e.target == victim]

    def one_round(self, number, prober):
        status = self.wait_healthy(prober)
        before = self.vip_holder(status)
        victim = before if self.victim == "active" else self.victim
        if victim is None:
            raise UserError("drill: cannot tell which node holds the VIP")
        peer = self.cluster.peer_of(victim).name
        since = int(self._on(peer, self.dialect.node_clock()).stdout.strip() or 0)
        result = Round(number, self.fault, victim, before)
        self.say(f"round {number}: {self.fault} of {victim} (VIP on {before})")
        fault_at, fault_clock = time.monotonic(), time.time()
        self.inject(victim, peer)

        def served_by_peer():
            if not prober.answering_since(fault_at, 2.0):
                return None
            try:
                status = self.status(peer)
            except UserError:
                return None
            if status is None:
                return None
            holder = self.vip_holder(status)
            if self.fault in POWER_FAULTS and (victim in status.online or not any(
                    e.device is None for e in self.fence_events(peer, victim, since))):
                return None  # not before the fencer is done with it: restoring earlier races it
            # A move names its target; a standby lets Pacemaker choose among the others.
            if self.fault == "move" and holder != peer or \
                    self.fault == "standby" and holder in (None, victim):
                return None
            return holder or None

        result.vip_after = self.wait(served_by_peer, self.round_limit,
                                     f"the service to answer again after the {self.fault}")
        # From a second before the fault, for the drawing; the outage counts from the fault.
        window = prober.between(fault_at - 1.0, time.monotonic())
        probes = [p for p in window if p.start >= fault_at]
        result.samples = [[round(p.start - fault_at, 3), p.ok] for p in window]
        result.outage_s, result.failed = outage(probes, fault_at)
        result.outage_s = round(result.outage_s, 2)
        result.requests = len(probes)
        result.other_vips = self.other_outages(fault_at)
        result.moments = {**client_moments(probes, fault_at),
                          **self.vip_started(result.vip_after, since, fault_clock)}
        if self.fault in POWER_FAULTS:
            events = self.fence_events(peer, victim, since)
            outcomes = [e for e in events if e.device is None]
            result.fenced = [f"{e.by} -> {e.target} {e.action}: {'OK' if e.rc == 0 else 'failed'}"
                             for e in outcomes]
            result.fence_first_attempt = fenced_at_first_attempt(events)
            done = [e.at for e in outcomes if e.rc == 0 and e.at is not None]
            if done:
                result.moments["fenced"] = round(done[0] - fault_clock, 3)
        restored_at = time.monotonic()
        self.restore(victim, peer)
        self.wait_healthy(prober)
        result.recovered_s = round(time.monotonic() - restored_at, 1)
        self.say(self.round_line(result))
        return result

    def vip_started(self, holder, since, fault_clock):
        """{"VIP started": seconds from the fault to the VIP's start on `holder`}, by the
        controller's journal there (node clocks agree with this host's: preflight checks them);
        empty when unknown."""
        try:
            command = self.dialect.controller_log(since)
            if command is None:
                return {}
            text = self._on(holder, command).stdout
        except UserError:
            return {}
        starts = [at for at, node in parsers.parse_starts(text, self.cluster.vip.resource_id)
                  if node == holder and at >= fault_clock - 1.0]
        return {"VIP started": round(starts[0] - fault_clock, 3)} if starts else {}

    def other_outages(self, fault_at):
        """Each other group's VIP: its outage since the fault, once it answers again (its group
        may still be moving when the first group is served again)."""
        outages = {}
        for other in self.others:
            self.wait(lambda other=other: other.answering_since(fault_at, 2.0), self.round_limit,
                      f"{other.host} to answer again after the {self.fault}")
            seen = other.between(fault_at, time.monotonic())
            lost, failed = outage(seen, fault_at)
            outages[other.host] = {"outage_s": round(lost, 2), "failed": failed,
                                   "requests": len(seen)}
        return outages

    def round_line(self, result):
        fencing = (f", fencing: {'; '.join(result.fenced) or 'none seen'}"
                   if self.fault in POWER_FAULTS else "")
        others = "".join(f"; {vip}: outage {o['outage_s']:.2f}s, {o['failed']}/{o['requests']} "
                         "failed" for vip, o in result.other_vips.items())
        return (f"   outage {result.outage_s:.2f}s, {result.failed}/{result.requests} requests "
                f"failed, VIP {result.vip_before} -> {result.vip_after}{fencing}; whole again "
                f"{result.recovered_s:.0f}s after restore{others}")

    def run(self):
        self.session.hold_cluster(f"drill --fault {self.fault}")
        self.dialect = self.session.any_dialect("drill")
        self.say(f"drill: {self.rounds} round(s) of '{self.fault}' ({FAULTS[self.fault]}), victim "
                 f"{self.victim}; probing http://{self.cluster.vip.ip}:{self.port}{self.path} every "
                 f"{self.interval * 1000:.0f} ms (timeout {self.timeout * 1000:.0f} ms); "
                 f"log {self.log.path}")
        prober = Prober(self.cluster.vip.ip, self.port, self.path, self.interval, self.timeout).start()
        # Every other service group's VIP, on its own first frontend's port.
        self.others = [Prober(view.vip.ip, view.service_port, "/", self.interval,
                              self.timeout).start() for view in self.cluster.views()[1:]]
        rounds = []
        try:
            for number in range(1, self.rounds + 1):
                rounds.append(self.one_round(number, prober))
        finally:
            for probe in (prober, *self.others):
                probe.stop()
            self.session.close()
        return rounds


def table(rounds, summary):
    lines = [f"{'round':>5}  {'fault':<8} {'victim':<8} {'VIP':<15} {'outage':>7}  {'failed':>9}  "
             "fenced at first attempt"]
    for r in rounds:
        first = {None: "-", True: "yes", False: "NO"}[r.fence_first_attempt]
        lines.append(f"{r.number:>5}  {r.fault:<8} {r.victim:<8} "
                     f"{(r.vip_before or '?') + '->' + (r.vip_after or '?'):<15} "
                     f"{r.outage_s:>6.2f}s  {r.failed:>4}/{r.requests:<4}  {first}")
    for row in summary:
        lines.append(f"{row['fault']} of {row['victim']}: {row['rounds']} round(s), outage median "
                     f"{row['median_s']:.2f}s, p95 {row['p95_s']:.2f}s, max {row['max_s']:.2f}s; "
                     f"{row['failed_requests']} failed request(s); every fence at the first "
                     f"attempt: {'yes' if row['fence_first_attempt'] else 'NO'}")
    return "\n".join(lines)


def as_json(rounds, summary, meta):
    rows = [{k: v for k, v in asdict(r).items() if k != "samples"} for r in rounds]
    return json.dumps({**meta, "rounds": rows, "summary": summary}, indent=2)


def client_moments(probes, fault_at):
    """What a client saw, in seconds after the fault: its first failed request and the first
    answer after its last failed one."""
    failed = [p for p in probes if not p.ok]
    if not failed:
        return {}
    after = [p for p in probes if p.ok and p.start > failed[-1].start]
    moments = {"first failed request": round(failed[0].start - fault_at, 3)}
    if after:
        moments["answered again"] = round(after[0].end - fault_at, 3)
    return moments
