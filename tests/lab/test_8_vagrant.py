"""The Vagrant lab, for real: two VMs with their own kernels under this host's libvirtd (TCG where
KVM cannot run a guest), booted by the project's Vagrantfile from halb's own box. setup-cluster
converges them from bare VMs, a re-run changes nothing, HAProxy on a VM answers through the VIP,
a kernel crash (sysrq) is fenced by fence_virsh through the real libvirtd at the first attempt,
nothing a VM sends leaves the host, and vagrant-down leaves nothing behind.

The container lab is taken down first: both labs use 192.168.56.0/24.
"""

import json
import os
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from fabfile.lab import box as boxlib
from fabfile.lab import vagrantlab

from .conftest import ROOT, TIMINGS, inv

CONFIG = ".vagrant/halb.yaml"
VIP = "192.168.56.10"


@pytest.fixture(scope="module")
def vms():
    if os.geteuid() != 0:
        pytest.skip("the Vagrant lab needs root (libvirt's system instance, networks, an sshd)")
    rc, out, _ = inv("lab.vagrant-up", timeout=120)
    if "the container lab is up" not in out:  # the module runs alone: bring the lab up to see
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
    node = next(n for n in yaml.safe_load((ROOT / CONFIG).read_text())["nodes"]
                if n["name"] == name)
    return node["ssh_address"], node["ssh_port"]


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


@pytest.fixture(scope="module")
def cluster(vms):
    rc, out, took = inv("setup-cluster", "--config", CONFIG, timeout=3600)
    assert rc == 0, out
    TIMINGS["vagrant: setup-cluster from bare VMs (packages from the lab's mirror)"] = f"{took:.1f}s"
    return out


def test_the_vms_run_their_own_kernels(vms):
    host = os.uname().release
    for name in ("node1", "node2"):
        kernel = vm(name, "uname", "-r").stdout.strip()
        assert kernel.endswith("-amd64") and kernel != host
        assert vm(name, "systemd-detect-virt").stdout.strip() in ("qemu", "kvm")
        assert vm(name, "cat", "/proc/1/comm").stdout.strip() == "systemd"


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
    boot_before = vm(name, "cat", "/proc/sys/kernel/random/boot_id").stdout.strip()
    qemu_before = qemu_pid(name)
    started = time.monotonic()
    # Open the device (that arms it) and hang: nothing feeds it again.
    vm(name, "sh", "-c", "nohup sh -c 'exec 3>/dev/watchdog0; sleep 100000' >/dev/null 2>&1 &")

    def new_boot():
        try:
            now = vm(name, "cat", "/proc/sys/kernel/random/boot_id", check=False, timeout=40)
        except subprocess.TimeoutExpired:
            return None
        return now.returncode == 0 and now.stdout.strip() not in ("", boot_before)

    deadline = time.monotonic() + 600
    while not new_boot():
        assert time.monotonic() < deadline, f"{name} was not reset by its watchdog within 600s"
        time.sleep(5)
    assert qemu_pid(name) == qemu_before  # reset, not powered off and on
    TIMINGS["vagrant: watchdog (i6300esb) reset of a VM that stopped feeding it, to SSH again"] = \
        f"{time.monotonic() - started:.0f}s"


def test_the_container_lab_refuses_while_the_vms_hold_the_network(vms):
    rc, out, _ = inv("lab.up", timeout=120)
    assert rc == 1 and "the Vagrant lab is up" in out, out
    assert len(out.strip().splitlines()) <= 3, out


def test_setup_cluster_converges_the_bare_vms_and_haproxy_on_a_vm_answers(cluster):
    holders = [n for n in ("node1", "node2")
               if f" {VIP}/" in vm(n, "ip", "-o", "-4", "addr", "show", "dev", "eth1").stdout]
    assert len(holders) == 1, holders
    assert vm(holders[0], "pgrep", "-x", "haproxy", check=False).returncode == 0
    with urllib.request.urlopen(f"http://{VIP}/", timeout=5) as reply:
        assert reply.status == 200
        assert reply.read().decode().strip() in ("backend1", "backend2")
    status = vm(holders[0], "crm_mon", "-1", "--output-as=xml").stdout
    assert 'agent="stonith:fence_virsh"' in status or "fence_virsh" in status


def test_a_second_run_changes_nothing(cluster):
    rc, out, took = inv("setup-cluster", "--config", CONFIG, timeout=1800)
    assert rc == 0, out
    assert "0 change(s) made" in out
    TIMINGS["vagrant: setup-cluster again (0 changes)"] = f"{took:.1f}s"


def test_a_kernel_crash_is_fenced_by_fence_virsh_at_the_first_attempt(cluster):
    holder = next(n for n in ("node1", "node2")
                  if f" {VIP}/" in vm(n, "ip", "-o", "-4", "addr", "show", "dev", "eth1").stdout)
    boot_before = vm(holder, "cat", "/proc/sys/kernel/random/boot_id").stdout.strip()
    rc, out, took = inv("drill", "--config", CONFIG, "--fault", "crash", "--rounds", "1", "--json",
                        timeout=1800)
    assert rc == 0, out
    report = json.loads(out[out.index("{"):])
    (round_,) = report["rounds"]
    assert round_["victim"] == holder and round_["vip_after"] != holder
    assert round_["fence_first_attempt"] is True, round_
    assert any("OK" in f for f in round_["fenced"]), round_
    # The victim really rebooted: its kernel's boot id is new, and it is back in the cluster.
    assert vm(holder, "cat", "/proc/sys/kernel/random/boot_id").stdout.strip() != boot_before
    peer = "node2" if holder == "node1" else "node1"
    history = vm(peer, "pcs", "stonith", "history", "show", holder).stdout
    assert "successful" in history, history
    with urllib.request.urlopen(f"http://{VIP}/", timeout=5) as reply:
        assert reply.status == 200
    TIMINGS["vagrant: kernel crash of the VIP's VM (sysrq c), fence_virsh"] = (
        f"outage {round_['outage_s']:.2f}s, {round_['failed']}/{round_['requests']} requests "
        f"failed, whole again {round_['recovered_s']:.0f}s after power on; drill {took:.0f}s")


def test_nothing_a_vm_sends_leaves_the_host(cluster):
    # Everything above (boot, packages, cluster, the crash) happened with the guard counting.
    assert vagrantlab.egress_dropped() == 0
    for name in ("node1", "node2"):
        routes = vm(name, "ip", "-4", "route").stdout
        assert "default" not in routes, routes
    listening = subprocess.run(["ss", "-H", "-lnu", "sport", "=", ":53"], capture_output=True,
                               text=True).stdout
    assert "192.168.121.1" not in listening and "192.168.56.1" not in listening


def test_vagrant_down_leaves_nothing(cluster):
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
