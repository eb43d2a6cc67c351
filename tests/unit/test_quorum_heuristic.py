"""halb's quorum heuristic (fabfile/agents/quorum_heuristic.py): its rule, and its pings against
real addresses in a network namespace of the test's own (loopback answers, a blackholed address
stays silent, a lossy one is dropped at random by iptables)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fabfile.agents import quorum_heuristic as qh

SCRIPT = Path(qh.__file__)
ALL, SOME, NONE = qh.PINGS, qh.PINGS // 2, 0


@pytest.mark.parametrize("serving, arbiter, vip, verdict", [
    (True, ALL, ALL, True),      # a cut link, or a membership change without a split
    (True, NONE, ALL, True),     # the arbiter filters ICMP: the service alone decides
    (True, SOME, SOME, False),   # the serving node's own link is lossy
    (False, ALL, SOME, True),    # the serving node answers this one only now and then
    (False, ALL, ALL, False),    # the serving node is reachable and healthy: it keeps the service
    (False, ALL, NONE, False),   # the serving node is gone or cut off: the service side wins
    (False, SOME, SOME, False),  # this node's own link is lossy
    (False, NONE, SOME, True),   # arbiter silent, the VIP lossy from here
])
def test_the_rule(serving, arbiter, vip, verdict):
    assert qh.passes(serving, arbiter, vip) is verdict


def test_a_few_losses_are_a_healthy_link_and_more_are_lossy():
    assert not qh.lossy(qh.PINGS - qh.LOSSY_AT + 1)
    assert qh.lossy(qh.PINGS - qh.LOSSY_AT)
    assert qh.lossy(1) and not qh.lossy(0)


DRIVER = """
import json, subprocess, sys
sys.path.insert(0, sys.argv[1])
import quorum_heuristic as qh
def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)
sh("ip", "link", "set", "lo", "up")
sh("ip", "route", "add", "blackhole", "10.99.1.0/24")
targets = {"answers": "127.0.0.1", "silent": "10.99.1.1"}
if sys.argv[2] == "lossy":
    sh("iptables", "-A", "OUTPUT", "-d", "127.0.0.3", "-p", "icmp", "-m", "statistic",
       "--mode", "random", "--probability", "0.5", "-j", "DROP")
    targets["lossy"] = "127.0.0.3"
found = {name: qh.Target(address, 4321) for name, address in targets.items()}
qh.ping(list(found.values()))
print(json.dumps({name: len(t.answered) for name, t in found.items()}))
"""


def pings_in_a_namespace(with_loss):
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip (a network namespace of the test's own)")
    done = subprocess.run(["unshare", "--net", sys.executable, "-c", DRIVER, str(SCRIPT.parent),
                           "lossy" if with_loss else "plain"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_pings_tell_an_answering_address_from_a_silent_one():
    answered = pings_in_a_namespace(with_loss=False)
    assert answered == {"answers": qh.PINGS, "silent": 0}
    assert not qh.lossy(answered["answers"]) and not qh.lossy(answered["silent"])


def test_pings_find_a_lossy_path():
    if not shutil.which("iptables"):
        pytest.skip("needs iptables to drop packets at random")
    answered = pings_in_a_namespace(with_loss=True)
    # Half the requests dropped: fewer than 3 of 30 lost (or all) is a chance of 1 in 2 million.
    assert qh.lossy(answered["lossy"]), answered
    assert answered["answers"] == qh.PINGS and answered["silent"] == 0


def test_without_crm_resource_the_node_counts_as_not_serving(monkeypatch, capsys):
    if os.geteuid() != 0:
        pytest.skip("raw ICMP sockets need root")
    monkeypatch.setattr(qh, "CRM_RESOURCE", "/nonexistent/crm_resource")
    monkeypatch.setattr(qh, "ping", lambda targets: None)
    assert qh.main(["quorum_heuristic", "vip", "127.0.0.1", "127.0.0.1"]) == 1
    out = capsys.readouterr()
    assert "does not run vip" in out.out and "/nonexistent/crm_resource" in out.err


def test_usage():
    assert qh.main(["quorum_heuristic", "vip"]) == 2
