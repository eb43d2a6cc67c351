"""The lab hypervisor's virsh and VBoxManage answers (fabfile/lab/hypervisor.py), read as
fence_virsh and fence_vbox read them. The lab tests (tests/lab/test_5_runbook.py) run the real
agents against it over SSH."""

import re

import pytest

from fabfile.lab.hypervisor import Host


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
    return Host(powers), powers


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
    "VBoxManage controlvm halb_node1 poweroff; reboot",
    "VBoxManage unregistervm halb_node1",
    "VBoxManage startvm halb_node2 --type gui",
])
def test_anything_else_changes_nothing(lab, line):
    virsh, powers = lab
    answer = virsh.run(line)
    assert "error" in answer or "not found" in answer
    assert powers["node1"].switched == [] and powers["node2"].switched == []


def vbox_listing(text):
    """fence_vbox's get_outlets_status: '"<vm>" {<uuid>}' lines."""
    return dict(re.findall(r'^"(.*)" \{(.*)\}$', text, re.M))


def test_vboxmanage_lists_and_switches_as_fence_vbox_reads_it(lab):
    host, powers = lab
    every = vbox_listing(host.run("VBoxManage list vms"))
    assert sorted(every) == ["halb_node1", "halb_node2"]
    assert list(vbox_listing(host.run("VBoxManage list runningvms"))) == ["halb_node1"]
    assert "100%" in host.run('VBoxManage controlvm "halb_node1" poweroff')
    assert "not currently running" in host.run('VBoxManage controlvm "halb_node1" poweroff')
    # fence_vbox may name a VM by its UUID, as `list vms` shows it.
    started = host.run(f'VBoxManage startvm "{every["halb_node2"]}" --type headless')
    assert "successfully started" in started
    assert vbox_listing(host.run("VBoxManage list runningvms")) == {
        "halb_node2": every["halb_node2"]}
    assert powers["node1"].switched == ["off"] and powers["node2"].switched == ["on"]
