"""The embedded lab, driven through the same commands a user types (inv lab.up, inv setup-cluster).

Checks look at the nodes from the host (nsenter into their namespaces), at the BMCs over IPMI
and at the VIP over HTTP: nothing here is mocked.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fabfile.config import fence_password_source, read_secrets
from fabfile.lab import bench, control
from fabfile.lab import settings as s

ROOT = Path(__file__).resolve().parents[2]
INV = [sys.executable, "-m", "invoke"]
# A site's golden image, for lab machines whose subject is not the install step: the packages
# of a cluster without an arbiter (configs/lab-3nodes.yaml's install step), so that a two-node
# cluster's install step still has the quorum device's package to add.
GOLDEN_IMAGE = "configs/lab-3nodes.yaml"
TIMINGS = {}  # figures printed at the end of the run: what -> text
FILE_SECONDS = {}  # test file -> seconds of setup, call and teardown: the suite's time budget

pytestmark = pytest.mark.lab


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


def inv(*args, timeout=1200, env=None):
    """Run an Invoke task as a user would; returns (exit code, combined output, seconds)."""
    started = time.monotonic()
    proc = subprocess.run([*INV, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env} if env else None)
    took = time.monotonic() - started
    output = proc.stdout + proc.stderr
    print(f"\n$ inv {' '.join(args)}  ({took:.1f}s, exit {proc.returncode})\n{output[-4000:]}")
    return proc.returncode, output, took


def drill(*args):
    """`inv drill --json ...`: the report and the seconds it took."""
    rc, out, took = inv("drill", "--json", *args, timeout=900)
    assert rc == 0, out
    # The JSON is stdout; what the task wrote to stderr comes after it in `out`.
    return json.JSONDecoder().raw_decode(out[out.index("{"):])[0], took


def nodes():
    return {n.name: n for n in s.lab_nodes()}


def run_in(node_name, *argv, check=True, timeout=60):
    result = control.node_exec(nodes()[node_name], list(argv), timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{node_name}: {' '.join(argv)} -> {result.returncode}\n"
                             f"{result.stdout}{result.stderr}")
    return result


def node_report(node_name):
    """What a node is doing, from the host: for a failure message when a node went quiet."""
    parts = []
    for argv in (("systemctl", "list-jobs", "--no-pager"),
                 ("journalctl", "-b", "--no-pager", "-n", "40", "-o", "short-precise")):
        try:
            result = run_in(node_name, *argv, check=False, timeout=20)
            parts.append(f"--- {node_name}: {' '.join(argv)}\n{result.stdout}{result.stderr}")
        except Exception as exc:  # powered off, or nsenter hung: that is the answer
            parts.append(f"--- {node_name}: {' '.join(argv)}: {exc}")
    events = [f"{stamp:.1f} {node} {what}" for stamp, node, what in control.power_events()[-10:]]
    return "\n".join(parts + ["--- power events", *events])


def cluster_actions(names, since):
    """What Pacemaker did on each node since `since` (seconds since the epoch): its resource
    actions and recovery decisions, for a failure message when clients saw an outage."""
    pattern = "Initiating|Result of|active on|multiple|Recover|Restart|Move|Stop |Start "
    parts = []
    for name in sorted(names):
        try:
            journal = run_in(name, "journalctl", "-u", "pacemaker", "--no-pager", "-o",
                             "short-precise", "--since", f"@{int(since)}", check=False, timeout=20)
            lines = [line for line in journal.stdout.splitlines()
                     if any(word in line for word in pattern.split("|"))]
            parts.append(f"--- {name}\n" + "\n".join(lines[-60:]))
        except Exception as exc:  # powered off: that is the answer
            parts.append(f"--- {name}: {exc}")
    return "\n".join(parts)


def crm_mon(node_name):
    """Cluster status as Pacemaker reports it, parsed from crm_mon's XML."""
    out = run_in(node_name, "crm_mon", "-1", "--output-as=xml").stdout
    root = ET.fromstring(out)
    # A node still joining (pending) is shown online but runs nothing yet: it is not online here.
    online = {n.get("name") for n in root.iter("node")
              if n.get("online") == "true" and n.get("pending") != "true"}
    resources = {}
    for rsc in root.iter("resource"):
        resources[rsc.get("id")] = {
            "agent": rsc.get("resource_agent"),
            "active": rsc.get("active") == "true",
            "nodes": [n.get("name") for n in rsc.findall("node")],
        }
    failures = [f.attrib for f in root.iter("failure")]
    return {"online": online, "resources": resources, "failures": failures, "xml": out}


def vip_holders(vip=None):
    vip = vip or s.vip()
    held = []
    for name, node in nodes().items():
        if control.power_state(node) == "off":  # a frozen node still holds its addresses
            continue
        out = run_in(name, "ip", "-o", "-4", "addr", "show", "dev", "host0").stdout
        if f" {vip}/" in out:
            held.append(name)
    return held


def left_running(node_name):
    """What of the cluster's service still runs on a node: the VIP on an interface, an HAProxy
    or nginx process. After a teardown, nothing may be."""
    vip = s.vip()
    out = run_in(node_name, "ip", "-o", "-4", "addr", "show").stdout
    left = [f"VIP {vip}"] if f" {vip}/" in out else []
    for program in ("haproxy", "nginx"):
        if run_in(node_name, "pgrep", "-x", program, check=False).returncode == 0:
            left.append(f"{program} process")
    return left


def has_dc(node_name):
    """The node's Pacemaker knows a DC (itself or another): its decisions are being made."""
    out = run_in(node_name, "crm_mon", "-1", "--output-as=xml", check=False).stdout
    return 'current_dc present="true"' in out


def settled(node_name, seconds=120):
    """Wait until Pacemaker, as this node sees it, has a DC and no action pending: what it
    decides after an event has been decided and done. An event to wait for, not a time."""
    wait_for(lambda: has_dc(node_name), seconds, f"a DC as {node_name} sees it")
    run_in(node_name, "crm_resource", "--wait", f"--timeout={seconds}s", timeout=seconds + 10)


def quorum_of(node_name):
    """corosync-quorumtool -s as the node sees it."""
    return run_in(node_name, "corosync-quorumtool", "-s", check=False).stdout


def power_events_since(since, names=("node1", "node2")):
    """Power losses of the nodes since `since`: (node, "off" or "crash")."""
    return [(node, what) for stamp, node, what in control.power_events()
            if stamp >= since and node in names and what in ("off", "crash")]


def alerts_received(since):
    """What labd's webhook receiver was sent since `since`: one dict per POST (received,
    authorized, event)."""
    if not s.ALERTS_RECEIVED.exists():
        return []
    posts = [json.loads(line) for line in s.ALERTS_RECEIVED.read_text().splitlines() if line]
    return [post for post in posts if post["received"] >= since]


def fencing_alert(target, since):
    """The webhook's report that `target` was fenced (successfully) since `since`, or None."""
    return next((post for post in alerts_received(since)
                 if post["path"] == "/pacemaker" and isinstance(post["event"], dict)
                 and post["event"].get("kind") == "fencing"
                 and post["event"].get("node") == target and post["event"].get("rc") == "0"),
                None)


def http_via_vip(timeout=3, port=80, vip=None):
    with urllib.request.urlopen(f"http://{vip or s.vip()}:{port}/", timeout=timeout) as reply:
        return reply.status, reply.read().decode().strip()


def wait_for(predicate, seconds, what, interval=1.0):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # the cluster is moving: keep asking until the deadline
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds}s waiting for {what} (last: {last!r})")


def fenced(victim, seen_from):
    """Pacemaker on `seen_from` knows `victim` is down: offline, and no longer unclean."""
    root = ET.fromstring(crm_mon(seen_from)["xml"])
    node = next(n for n in root.iter("node") if n.get("name") == victim)
    return node.get("online") == "false" and node.get("unclean") == "false"


def crash_and_replace(victim, survivor, config, golden_image=None):
    """`victim` dies and is fenced; a new machine takes its name and address (a bare disk, or
    one from the golden image holding `golden_image`'s packages; a new SSH host key). halb
    refuses the new key and changes nothing; the operator removes the old key, as they would
    once the new one is checked."""
    control.crash(nodes()[victim])
    wait_for(lambda: fenced(victim, survivor), 60, f"{victim} fenced")
    control.replace_machine(nodes()[victim], golden_image=golden_image)
    rc, out, _ = inv("setup-cluster", *config)
    assert rc != 0, out
    assert "host key is not the one recorded" in out and "ssh-keygen -R" in out, out[-2000:]
    assert fenced(victim, survivor), "a refused run changes nothing"
    forget = subprocess.run(["ssh-keygen", "-R", nodes()[victim].address, "-f",
                             str(s.ACCEPTED_KEYS)], capture_output=True, text=True)
    assert forget.returncode == 0, forget.stderr


def secrets():
    return read_secrets(ROOT / ".env")


def ipmi(node_name, *command):
    node = nodes()[node_name]
    password = secrets()[fence_password_source(secrets(), node_name)]
    env = {**os.environ, "IPMI_PASSWORD": password}
    return subprocess.run(["ipmitool", "-I", "lanplus", "-H", node.bmc_address,
                           "-p", str(node.bmc_port), "-U",
                           node.bmc_user, "-E", *command], capture_output=True, text=True,
                          env=env, timeout=30)


# Config variants and clients under load: for the modules that change the config or watch the
# service while it changes.
def config_with(tmp_path, change, name):
    return s.config_variant(change, tmp_path / name)


def add_frontend(data):
    data["haproxy"]["frontends"].append({"name": "alt", "port": 8081, "backend": "lab_backends"})


class Load:
    """Clients sending requests through the VIP, a new connection each, until stopped."""

    def __init__(self, clients=4, pace=0.0, vip=None):
        self.vip = vip or s.vip()
        self.pace = pace  # seconds a client waits between requests: 0 sends them back to back
        self.ok = 0
        self.failed = []
        self.failed_at = []  # time.monotonic() of each failure
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def client(self):
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(f"http://{self.vip}/", timeout=5) as reply:
                    reply.read()
                    good = reply.status == 200
            except Exception as exc:  # every failure is counted, whatever its kind
                good, error = False, exc
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failed.append(repr(error))
                    self.failed_at.append(time.monotonic())
            if self.pace:
                self.stop.wait(self.pace)

    def answers(self, count=20, seconds=30):
        """Wait until `count` more requests have been answered: the load is running here, not
        a fixed time."""
        start = self.ok
        deadline = time.monotonic() + seconds
        while self.ok < start + count:
            assert time.monotonic() < deadline, f"{self.ok - start} of {count} answers in {seconds}s"
            time.sleep(0.05)

    def outage(self):
        """Seconds from the first failure to the last (0 when none failed)."""
        return max(self.failed_at) - min(self.failed_at) if self.failed_at else 0.0

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()


# What the session did to the lab, so that a module finds the state it asks for whatever ran
# before it: booted fresh once, then (release, labd pid) of the lab that setup-cluster converged.
SESSION = {"booted": False, "converged_on": None, "converge_output": ""}


def lab_identity():
    """The running lab as (release, config, labd pid), None when it is down: a new pid is a
    new lab."""
    pid = control.labd_pid()
    return (s.running_release(), str(s.lab_config()), pid) if pid and control.is_up() else None


def ensure_lab():
    """The two-node lab up on the suite's release: booted fresh once per session, and again
    when a module before left it down, on another release or with another number of nodes."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (systemd-nspawn, bridge, mounts)")
    identity = lab_identity()
    if SESSION["booted"] and identity and identity[:2] == (s.DEFAULT_RELEASE, str(s.LAB_CONFIG)):
        return
    rc, out, took = inv("lab.up", "--fresh", "--release", s.DEFAULT_RELEASE)
    assert rc == 0, out
    TIMINGS.setdefault(f"{s.DEFAULT_RELEASE}: lab.up --fresh (image build included when not "
                       "cached)", f"{took:.1f}s")
    SESSION["booted"], SESSION["converged_on"] = True, None


@pytest.fixture(scope="module")
def lab():
    ensure_lab()


@pytest.fixture(scope="session")
def bare_nodes():
    """What the nodes had before the session's first converge: no cluster packages at all."""
    ensure_lab()
    if SESSION["converged_on"] is not None:  # converged already: look at fresh nodes
        SESSION["booted"] = False
        ensure_lab()
    return {name: run_in(name, "sh", "-c", "command -v pcs pacemakerd corosync haproxy",
                         check=False).stdout.split() for name in nodes()}


@pytest.fixture(scope="module")
def converged(bare_nodes):
    """The lab's cluster converged from configs/lab.yaml, shared by the modules that ask for it:
    converged once, and again only when a module before changed the lab under it (took it
    down, booted it fresh, switched its release). A module that changes the cluster's config
    puts it back itself (test_2_rollout, test_3_failover)."""
    ensure_lab()
    if SESSION["converged_on"] == lab_identity():
        return SESSION["converge_output"]
    rc, out, took = inv("setup-cluster", "--config", "configs/lab.yaml")
    assert rc == 0, out
    TIMINGS.setdefault("setup-cluster from bare nodes", f"{took:.1f}s")
    SESSION["converged_on"], SESSION["converge_output"] = lab_identity(), out
    return out


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    FILE_SECONDS[path] = FILE_SECONDS.get(path, 0.0) + report.duration


def budget_lines():
    """Seconds per test file, slowest first, and the suite's total without the VM stage."""
    total = sum(FILE_SECONDS.values())
    vm = sum(took for path, took in FILE_SECONDS.items() if "vagrant" in path)
    return [f"  {Path(path).name}: {took:.0f}s" for path, took in
            sorted(FILE_SECONDS.items(), key=lambda item: -item[1])] + \
        [f"  in all: {total:.0f}s; without the VM stage: {total - vm:.0f}s"]


def pytest_terminal_summary(terminalreporter):
    """The figures, per release: '<release>: what' entries under their release, the others
    under the release the whole suite runs on."""
    if not TIMINGS:
        return
    terminalreporter.section("lab timings")
    by_release = {}
    for what, took in TIMINGS.items():
        release, _, rest = what.partition(": ")
        if release not in s.RELEASES:
            release, rest = s.DEFAULT_RELEASE, what
        by_release.setdefault(release, []).append(f"  {rest}: {took}")
    lines = []
    for release in s.RELEASES:
        if release in by_release:
            lines += [f"{release} ({s.RELEASES[release]}):", *by_release[release]]
    lines += ["time per test file:", *budget_lines()]
    for line in lines:
        terminalreporter.write_line(line)
    # The same figures as a file that says when, at which commit and where they were measured:
    # the docs quote such a file, not numbers copied by hand.
    started = datetime.now(UTC)
    lane = f"-lane-{s.LANE}" if s.LANE else ""
    out = ROOT / "benchmarks" / "results" / f"lab-timings-{started:%Y%m%d-%H%M}{lane}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    where = f"lane {s.LANE} of `make test`" if s.LANE else "`make test`"
    out.write_text(f"Lab timings, {started:%Y-%m-%d %H:%M} UTC, commit {bench.commit()}, "
                   f"{bench.machine()}; {where} (tests/lab).\n\n```\n"
                   + "\n".join(lines) + "\n```\n")
    terminalreporter.write_line(f"(written to {out.relative_to(ROOT)})")
