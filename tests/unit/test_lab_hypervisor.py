"""The lab hypervisor's virsh answers (fabfile/lab/hypervisor.py), read as fence_virsh reads them.
The lab test (tests/lab/test_5_runbook.py) runs the real agent against it over SSH."""

import re

import pytest

from fabfile.lab.hypervisor import Virsh


class Power:
    """A node's power switch as Virsh uses it."""

    def __init__(self, on):
        self.state, self.switched = on, []

    def is_on(self):
        return self.state

    def on(self):
        self.state = True
        self.switched.append("on")

    def off(self):
        self.state = False
        self.switched.append("off")


@pytest.fixture
def lab():
    powers = {"node1": Power(True), "node2": Power(False)}
    return Virsh(powers), powers


def agent_listing(text):
    """fence_virsh's get_outlets_status: rows after the Id/Name header, state on or off."""
    found, result = False, {}
    for line in text.splitlines():
        row = re.search(r"^\s*(\S+)\s+(\S+)\s+(\S+).*$", line)
        if row:
            if not found and row.group(1).lower() == "id" and row.group(2).lower() == "name":
                found = True
            elif found:
                result[row.group(2)] = row.group(3).lower() in ("running", "blocked", "idle")
    return result


def test_list_all_reads_as_the_agent_parses_it(lab):
    virsh, _ = lab
    assert agent_listing(virsh.run("virsh list --all")) == {"halb_node1": True, "halb_node2": False}
    assert agent_listing(virsh.run("virsh list")) == {"halb_node1": True}


def test_destroy_and_start_switch_the_power_once(lab):
    virsh, powers = lab
    assert virsh.run("virsh domstate halb_node1").strip() == "running"
    assert "destroyed" in virsh.run("virsh destroy halb_node1")
    assert virsh.run("virsh domstate halb_node1").strip() == "shut off"
    assert "domain is not running" in virsh.run("virsh destroy halb_node1")
    assert "started" in virsh.run("sudo virsh --connect qemu:///system start halb_node1")
    assert "already running" in virsh.run("virsh start halb_node1")
    assert powers["node1"].switched == ["off", "on"]


@pytest.mark.parametrize("line", [
    "virsh destroy halb_node1; virsh destroy halb_node2",
    "virsh destroy halb_node1 && reboot",
    "virsh destroy 'halb_node1\nhalb_node2'",
    "reboot",
    "virsh undefine halb_node1",
    "virsh destroy node1",
    "virsh destroy \"unterminated",
])
def test_anything_else_changes_nothing(lab, line):
    virsh, powers = lab
    answer = virsh.run(line)
    assert "error" in answer or "not found" in answer
    assert powers["node1"].switched == [] and powers["node2"].switched == []
