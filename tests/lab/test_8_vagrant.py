"""The Vagrant lab, for real: two VMs with their own kernels under this host's libvirtd (TCG where
KVM cannot run a guest), booted by the project's Vagrantfile from halb's own box. The VMs' watchdog
resets a machine that stops feeding it, the real fence_virsh logs in to the lab's hypervisor
account and powers a VM off and on through the real libvirtd, a VM pauses and resumes, nothing a
VM sends leaves the host, and vagrant-down leaves nothing behind.

A whole cluster on the VMs (make vagrant-demo) does not fit here: under software emulation
`pcs cluster setup` outwaits its own 60 s limit for each node's pcsd (see docs/labs.md).
The container lab is taken down first: both labs use 192.168.56.0/24.
"""

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fabfile.config import read_secrets
from fabfile.lab import box as boxlib
from fabfile.lab import settings as s
from fabfile.lab import vagrantlab

from .conftest import ROOT, TIMINGS, inv

CONFIG = ".vagrant/halb.yaml"


@pytest.fixture(scope="module")
def vms():
    if os.geteuid() != 0:
        pytest.skip("the Vagrant lab needs root (libvirt's system instance, networks, an sshd)")
    if not vagrantlab.container_lab_up():  # the module runs alone: the lab is needed to see
        assert inv("lab.up", timeout=1800)[0] == 0
    rc, out, _ = inv("lab.vagrant-up", timeout=120)
    # Refused in one line, before anything is started.
    assert rc == 1 and "the container lab is up" in out, out
    assert not vagrantlab.is_up()
    assert inv("lab.down")[0] == 0
    rc, out, took = inv("lab.vagrant-up", timeout=3600)
    assert rc == 0, out
    TIMINGS["vagrant: lab.vagrant-up (box cached or built, libvirt, two VMs booted under "
            f"{vagrantlab.RUN.joinpath('driver').read_text().strip()})"] = f"{took:.1f}s"
    yield
    if vagrantlab.is_up():  # the last test takes it down and checks; this is for a failure
        inv("lab.vagrant-down", timeout=900)


def ssh_of(name):
    node = s.lab_cluster(ROOT / CONFIG).node(name)
    return node.ssh_address, node.ssh_port


def vm(name, *argv, check=True, timeout=120):
    """A command as root on a VM, over SSH to its management address with the box's key."""
    address, port = ssh_of(name)
    command = "sudo " + " ".join(shlex.quote(a) for a in argv)
    result = subprocess.run(["ssh", "-i", str(boxlib.BOX_KEY), "-p", str(port), "-o", "BatchMode=yes",
                             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                             "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30", f"vagrant@{address}",
                             command], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{name}: {' '.join(argv)} -> {result.returncode}\n"
                             f"{result.stdout}{result.stderr}")
    return result


def test_the_vms_run_their_own_kernels(vms):
    host = os.uname().release
    for name in ("node1", "node2"):
        kernel = vm(name, "uname", "-r").stdout.strip()
        assert kernel.endswith("-amd64") and kernel != host
        assert vm(name, "systemd-detect-virt").stdout.strip() in ("qemu", "kvm")
        assert vm(name, "cat", "/proc/1/comm").stdout.strip() == "systemd"


def boot_id(name):
    return vm(name, "cat", "/proc/sys/kernel/random/boot_id").stdout.strip()


def wait_for_new_boot(name, before, seconds=600):
    deadline = time.monotonic() + seconds
    while True:
        try:
            now = vm(name, "cat", "/proc/sys/kernel/random/boot_id", check=False, timeout=40)
            if now.returncode == 0 and now.stdout.strip() not in ("", before):
                return
        except subprocess.TimeoutExpired:
            pass
        assert time.monotonic() < deadline, f"{name} did not come back within {seconds}s"
        time.sleep(5)


def qemu_pid(name):
    pid = Path(f"/run/libvirt/qemu/halb_{name}.pid")
    return int(pid.read_text().split()[0]) if pid.exists() else None


def test_a_vm_that_stops_feeding_its_watchdog_is_reset(vms):
    """The VMs' i6300esb: once opened, a machine that stops writing to it is reset by the
    emulated hardware (the same QEMU process, a new boot), as systemd relies on during a reboot
    (RebootWatchdogSec). On a bare VM, so that no fencing mixes in."""
    name = "node2"
    assert vm(name, "sh", "-c", "command -v wdctl >/dev/null && wdctl -d /dev/watchdog0 || "
              "ls /dev/watchdog0").returncode == 0
    before = boot_id(name)
    qemu_before = qemu_pid(name)
    started = time.monotonic()
    # Open the device (that arms it) and hang: nothing feeds it again.
    vm(name, "sh", "-c", "nohup sh -c 'exec 3>/dev/watchdog0; sleep 100000' >/dev/null 2>&1 &")
    wait_for_new_boot(name, before)
    assert qemu_pid(name) == qemu_before  # reset, not powered off and on
    TIMINGS["vagrant: watchdog (i6300esb) reset of a VM that stopped feeding it, to SSH again"] = \
        f"{time.monotonic() - started:.0f}s"


def test_the_container_lab_refuses_while_the_vms_hold_the_network(vms):
    rc, out, _ = inv("lab.up", timeout=120)
    assert rc == 1 and "the Vagrant lab is up" in out, out
    assert len(out.strip().splitlines()) <= 3, out


def fence_virsh(tmp_path, action, plug):
    """The real agent, as a VM's fencer runs it: SSH to the lab's hypervisor address as
    `fencer`, virsh through the real libvirtd. Options on stdin (the password too); its ssh
    knows the lab sshd's host key from a file of its own (the agent answers no prompt)."""
    known = tmp_path / "known_hosts"
    key = (vagrantlab.SSHD_KEY.parent / f"{vagrantlab.SSHD_KEY.name}.pub").read_text().split()
    known.write_text(f"192.168.56.1 {key[0]} {key[1]}\n")
    wrapper = tmp_path / "ssh"
    wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/ssh -o UserKnownHostsFile={known} "
                       "-o StrictHostKeyChecking=yes \"$@\"\n")
    wrapper.chmod(0o755)
    password = read_secrets(ROOT / ".env")["FENCE_PASSWORD"]
    options = (f"action={action}\nip=192.168.56.1\nipport=22\nusername={vagrantlab.FENCER}\n"
               f"password={password}\nplug={plug}\nssh_path={wrapper}\n")
    done = subprocess.run(["fence_virsh"], input=options, capture_output=True, text=True,
                          timeout=300)
    assert password not in done.stdout + done.stderr
    return done


@pytest.mark.skipif(not shutil.which("fence_virsh"), reason="fence-agents is not installed "
                    "(make test installs it)")
def test_fence_virsh_powers_a_vm_off_and_on_through_the_real_libvirtd(vms, tmp_path):
    name, domain = "node1", "halb_node1"
    before = boot_id(name)
    status = fence_virsh(tmp_path, "status", domain)
    assert status.returncode == 0 and "ON" in status.stdout, status.stdout + status.stderr
    started = time.monotonic()
    off = fence_virsh(tmp_path, "off", domain)
    assert off.returncode == 0, off.stdout + off.stderr
    assert vagrantlab.virsh("domstate", domain).stdout.strip() == "shut off"
    took_off = time.monotonic() - started
    on = fence_virsh(tmp_path, "on", domain)
    assert on.returncode == 0, on.stdout + on.stderr
    wait_for_new_boot(name, before)
    TIMINGS["vagrant: fence_virsh off (real libvirtd), then on, to SSH on the VM again"] = (
        f"off {took_off:.1f}s, back {time.monotonic() - started:.0f}s")
    # Through the lab's sshd, with the fencer's password.
    log = (vagrantlab.RUN / "sshd.log").read_text()
    assert "Accepted password for fencer" in log


def test_the_drills_freeze_pauses_and_resumes_a_vm(vms):
    faults = vagrantlab.Faults()
    faults.freeze("node2")
    try:
        assert faults.is_frozen("node2") and faults.power_state("node2") == "on"
    finally:
        faults.thaw("node2")
    assert not faults.is_frozen("node2")
    assert vm("node2", "true").returncode == 0


def test_nothing_a_vm_sends_leaves_the_host(vms):
    # Everything above (boots, a watchdog reset, fencing) happened with the guard counting.
    assert vagrantlab.egress_dropped() == 0
    for name in ("node1", "node2"):
        routes = vm(name, "ip", "-4", "route").stdout
        assert "default" not in routes, routes
    listening = subprocess.run(["ss", "-H", "-lnu", "sport", "=", ":53"], capture_output=True,
                               text=True).stdout
    assert "192.168.121.1" not in listening and "192.168.56.1" not in listening


def test_vagrant_down_leaves_nothing(vms):
    rc, out, took = inv("lab.vagrant-down", timeout=900)
    assert rc == 0, out
    TIMINGS["vagrant: lab.vagrant-down"] = f"{took:.1f}s"
    assert not vagrantlab.domains() and not vagrantlab.is_up()
    for daemon in ("libvirtd", "virtlogd", "dnsmasq"):
        assert subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 1, daemon
    assert subprocess.run(["id", vagrantlab.FENCER], capture_output=True).returncode != 0
    assert not Path("/sys/class/net/halbvm0").exists() and not Path("/sys/class/net/halbvm1").exists()
    assert vagrantlab.egress_dropped() is None
    assert not list(Path("/var/lib/libvirt/images").glob("halb*"))
