"""The lab's own failure modes: up twice, up after a killed lab, down leaves nothing."""

import os
import signal
import subprocess

from fabfile.lab import control
from fabfile.lab import settings as s

from .conftest import inv, nodes, wait_for


def test_lab_up_twice_reuses_the_running_lab(lab):
    before = {name: control.node_init_pid(node) for name, node in nodes().items()}
    rc, out, _ = inv("lab.up")
    assert rc == 0, out
    assert "already up" in out
    assert {name: control.node_init_pid(node) for name, node in nodes().items()} == before


def test_lab_up_after_a_killed_lab(lab):
    # A crash: labd and every machine die at once, leaving mounts, bridge and addresses behind.
    os.kill(control.labd_pid(), signal.SIGKILL)
    for node in s.lab_machines():
        pid = control.node_init_pid(node)
        if pid:
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not control._stray_nspawn_pids(), 30, "node processes to exit")
    assert subprocess.run(["ip", "link", "show", s.BRIDGE], capture_output=True).returncode == 0

    rc, out, _ = inv("lab.up")
    assert rc == 0, out
    assert "cleaning up" in out
    assert control.is_up()
    assert all(control.power_state(n) == "on" for n in s.lab_machines())


def test_lab_down_leaves_nothing_behind(lab):
    rc, out, _ = inv("lab.down")
    assert rc == 0, out
    assert control.labd_pid() is None
    assert control._stray_nspawn_pids() == []
    assert subprocess.run(["ip", "link", "show", s.BRIDGE], capture_output=True).returncode != 0
    mounts = open("/proc/self/mounts").read()
    assert str(s.NODES) not in mounts
    assert not s.RUN.exists()
    # Down twice is harmless.
    rc, out, _ = inv("lab.down")
    assert rc == 0, out
