"""inv haproxy-config under steady HTTP load: zero lost requests; a bad config changes nothing."""

import threading
import time
import urllib.request

import pytest

from fabfile.facts import haproxy_node_config
from fabfile.lab import settings as s
from fabfile.plan.haproxy import config_checksum

from .conftest import TIMINGS, crm_mon, http_via_vip, inv, run_in, vip_holders


def config_with(tmp_path, change, name):
    return s.config_variant(change, tmp_path / name)


def add_frontend(data):
    data["haproxy"]["frontends"].append({"name": "alt", "port": 8081, "backend": "lab_backends"})


def unresolvable_server(data):
    add_frontend(data)
    data["haproxy"]["backends"][0]["servers"][0]["address"] = "no-such-host.invalid"


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


def config_digests():
    return {name: run_in(name, "sha256sum", "/etc/haproxy/haproxy.cfg").stdout.split()[0]
            for name in ("node1", "node2")}


def alt_answers():
    try:
        with urllib.request.urlopen(f"http://{s.vip()}:8081/", timeout=3) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def restore_original(converged):
    yield
    rc, out, _ = inv("haproxy-config", "--config", str(s.LAB_CONFIG))
    assert rc == 0, out


def test_rollout_under_load_loses_no_request(converged, restore_original, tmp_path):
    active = vip_holders()[0]
    pid_before = run_in(active, "cat", "/run/resource-agents/haproxy-haproxy.pid").stdout.strip()
    changed = config_with(tmp_path, add_frontend, "lab-alt.yaml")
    assert not alt_answers()
    with Load() as load:
        load.answers()
        rc, out, took = inv("haproxy-config", "--config", str(changed))
        load.answers()
    assert rc == 0, out
    TIMINGS["rollout under load"] = (f"{load.ok} requests answered, {len(load.failed)} lost; "
                                     f"inv haproxy-config took {took:.1f}s")
    assert load.failed == [], load.failed[:5]
    assert load.ok > 50
    # Standby first, active last: the order the plan printed.
    standby = "node2" if active == "node1" else "node1"
    assert out.index(f"[{standby}] write-file /etc/haproxy") < out.index(f"[{active}] write-file /etc/haproxy")
    # The new config is live on the same node, served by a new process: a reload, not a move.
    assert alt_answers()
    assert vip_holders() == [active]
    pid_after = run_in(active, "cat", "/run/resource-agents/haproxy-haproxy.pid").stdout.strip()
    assert pid_after != pid_before
    digests = config_digests()
    assert len(set(digests.values())) == 1, "both nodes hold the same file"
    # The resource's checksum is that of the shared file and each node's own part as they are
    # on the nodes: the reload that just happened is for these files.
    node_part = haproxy_node_config(s.lab_cluster().haproxy)
    wanted = config_checksum(run_in(active, "cat", "/etc/haproxy/haproxy.cfg").stdout,
                             {name: run_in(name, "cat", node_part).stdout for name in digests})
    cib = run_in(active, "cibadmin", "--query").stdout
    assert f'name="config_checksum" value="{wanted}"' in cib
    assert crm_mon(active)["failures"] == []


def test_a_refused_config_changes_nothing_and_haproxy_keeps_serving(converged, restore_original,
                                                                    tmp_path):
    before = config_digests()
    bad = config_with(tmp_path, unresolvable_server, "lab-bad.yaml")
    rc, out, _ = inv("haproxy-config", "--config", str(bad))
    assert rc != 0
    # This machine checks the syntax only; the first node's haproxy -c refuses the name, with
    # haproxy's own reason, before its file is replaced.
    assert "haproxy -c" in out and "no-such-host" in out
    assert "Traceback" not in out
    assert config_digests() == before
    assert http_via_vip()[0] == 200
