"""With the lab down, nothing may send a packet to the lab network: without the bridge the host
routes 192.168.56.0/24 out of its default route, to whatever answers there.

Each task runs under a Python audit hook that records every connect/sendto to a lab address
(SSH, HTTP and IPMI all go through Python sockets here), so the test sees an attempt even if
nothing answers it.
"""

import json
import subprocess
import sys

import pytest

from fabfile.errors import UserError
from fabfile.lab import network

from .conftest import ROOT, inv

AUDITED = r"""
import ipaddress, json, sys
LAB = ipaddress.ip_network("192.168.56.0/24")
seen = []
def hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1] if event != "socket.sendmsg" else args[1]
        host = address[0] if isinstance(address, tuple) and address else None
        try:
            if host and ipaddress.ip_address(host) in LAB:
                seen.append(f"{event} {host}")
        except ValueError:
            pass
sys.addaudithook(hook)
import atexit
record = sys.argv[1]
atexit.register(lambda: open(record, "w").write(json.dumps(seen)))
sys.argv = ["inv"] + sys.argv[2:]
from invoke.main import program
program.run()
"""

TASKS = [
    ["lab.status"],
    ["lab.ssh", "node1"],
    ["setup-cluster", "--config", "configs/lab.yaml"],
    ["setup-cluster", "--config", "configs/lab.yaml", "--dry-run"],
    ["drill", "--fault", "standby"],
]


@pytest.fixture(scope="module")
def lab_down():
    rc, out, _ = inv("lab.down")
    assert rc == 0, out
    assert not network.bridge_is_up()


@pytest.mark.parametrize("args", TASKS, ids=[" ".join(a) for a in TASKS])
def test_a_task_stops_before_any_packet_leaves(lab_down, args, tmp_path):
    record = tmp_path / "attempts.json"
    proc = subprocess.run([sys.executable, "-c", AUDITED, str(record), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "the lab is down: run inv lab.up" in out
    assert "Traceback" not in out
    assert json.loads(record.read_text()) == [], "packets for the lab network were sent"


def test_the_guard_refuses_lab_addresses_only(lab_down):
    network.guard(["10.0.0.2", "lb1.example.com"])  # not the lab's: nothing to check
    for address in ("192.168.56.11", "192.168.56.13", "192.168.56.10"):
        with pytest.raises(UserError, match="the lab is down: run inv lab.up"):
            network.guard(["10.0.0.2", address])


HOST_ONLY = r"""
import subprocess, sys
from fabfile.errors import UserError
from fabfile.lab import network
def guarded():
    try:
        network.guard(["192.168.56.11"])
        return "allowed"
    except UserError:
        return "refused"
print(guarded())  # a fresh network namespace: no route to 192.168.56.0/24 at all
for argv in (["link", "add", "vboxnet0", "type", "bridge"],
             ["addr", "add", "192.168.56.1/24", "dev", "vboxnet0"],
             ["link", "set", "vboxnet0", "up"]):
    subprocess.run(["ip", *argv], check=True)
print(guarded())  # a hypervisor's host-only network on this host, as Vagrant makes one
"""


def test_the_guard_lets_vagrant_vms_on_a_host_only_network_through(lab_down):
    """On a machine with VMs on 192.168.56.0/24 (Vagrant), the addresses are on a link of the
    host, not routed out: the configs/vagrant*.yaml runs need no lab bridge."""
    done = subprocess.run(["unshare", "--net", sys.executable, "-c", HOST_ONLY], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused", "allowed"]
