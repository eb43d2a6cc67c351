"""Day two on the freshly converged lab (before the tests that crash, fence and restart it): `inv status` tells a whole cluster from a degraded or drifted
one; `inv standby` / `inv unstandby` finish the move before they return, losing no request."""

import json
import os
import re
import signal
import subprocess
import time

import pytest
import yaml

from fabfile.lab import control
from fabfile.lab import settings as s

from .conftest import (
    INV,
    ROOT,
    TIMINGS,
    Load,
    crm_mon,
    inv,
    node_report,
    power_events_since,
    run_in,
    vip_holders,
    wait_for,
)

CONFIG = ("--config", "configs/lab.yaml")
NODES = ("node1", "node2")


def status():
    rc, out, took = inv("status", "--json", *CONFIG)
    report = json.loads(out[out.index("{"):])
    return rc, {c["name"]: c for c in report["checks"]}, report, took


def failing(checks):
    return sorted(name for name, c in checks.items() if not c["ok"])


def test_a_whole_cluster_is_healthy(converged):
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 240, "both nodes online")
    rc, checks, report, took = status()
    assert rc == 0 and report["healthy"], failing(checks)
    assert "Qdevice" in checks["quorum"]["detail"]
    assert "2 server(s) UP" in checks["backends healthy"]["detail"]
    assert checks["matches the config"]["detail"] == "setup-cluster would change nothing"
    rc, out, _ = inv("status", *CONFIG)
    assert rc == 0 and out.rstrip().endswith("healthy")
    TIMINGS["inv status on a healthy cluster"] = f"{took:.1f}s"


def test_standby_moves_the_service_before_returning_and_status_sees_it(converged):
    active = wait_for(lambda: (vip_holders() or [None])[0], 60, "a VIP holder")
    peer = "node2" if active == "node1" else "node1"
    with Load() as load:
        load.answers()
        rc, out, took = inv("standby", active, *CONFIG)
        assert rc == 0, out
        # Returned only once the move was over: the peer holds the VIP right now.
        assert vip_holders() == [peer]
        load.answers()
    TIMINGS["inv standby of the active node under load"] = (
        f"{took:.1f}s; {load.ok} requests answered, {len(load.failed)} failed within "
        f"{load.outage():.2f}s")
    # A planned move may cost up to a second: the VIP goes down before it comes up on the peer.
    assert load.outage() <= 1.5, (load.outage(), load.failed[:3])
    try:
        rc, checks, _, _ = status()
        # The node in standby runs nothing, so neither the device that fences its peer.
        assert rc == 1 and failing(checks) == sorted(["no node in standby",
                                                      f"fence device {peer}-fence"])
        assert active in checks["no node in standby"]["detail"]
    finally:
        rc, out, took = inv("unstandby", active, *CONFIG)
        assert rc == 0, out
    assert active in crm_mon(peer)["online"]
    rc, checks, _, _ = status()
    assert rc == 0, failing(checks)
    assert vip_holders() == [peer]  # stickiness: the service stays where it moved


def lock_holder(node="node1"):
    return run_in(node, "sh", "-c", "cat /run/lock/halb.lock 2>/dev/null; true").stdout.strip()


def background_inv(*args):
    return subprocess.Popen([*INV, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_one_changing_run_at_a_time_and_a_killed_one_is_taken_over(converged):
    """A changing run holds the cluster; a second one refuses at once naming the holder, while
    a read-only task goes on; a run killed with SIGKILL leaves a lock the next run takes over."""
    drill = background_inv("drill", "--fault", "standby", *CONFIG)
    try:
        wait_for(lambda: "drill --fault standby" in lock_holder(), 60, "the drill's lock")
        rc, out, took = inv("setup-cluster", *CONFIG)
        assert rc == 1 and "another halb run is changing this cluster: task drill --fault " \
            "standby by root@" in out and f"(pid {drill.pid})" in out, out
        assert "change(s) made" not in out
        rc, out, _ = inv("status", *CONFIG)  # read-only: never waits, never refused
        assert "another halb run" not in out, out
        TIMINGS["second changing run refused while a drill runs"] = f"{took:.1f}s"
        assert drill.wait(300) == 0, drill.stdout.read()
    finally:
        if drill.poll() is None:
            drill.kill()
    assert lock_holder() == ""  # released at the end of the drill
    victim = vip_holders()[0]
    standby = background_inv("standby", victim, *CONFIG)
    try:
        wait_for(lambda: f"standby {victim}" in lock_holder(), 60, "the standby's lock")
    finally:
        os.kill(standby.pid, signal.SIGKILL)
        standby.wait(30)
    rc, out, _ = inv("unstandby", victim, *CONFIG)
    assert rc == 0, out
    assert f"run lock taken over from task standby {victim} by root@" in out, out
    assert lock_holder() == ""
    wait_for(lambda: len(crm_mon("node1")["online"]) == 2, 60, "both nodes online")
    rc, out, _ = inv("setup-cluster", *CONFIG)
    assert rc == 0 and "0 change(s) made" in out, out
    rc, checks, _, _ = status()
    assert rc == 0, failing(checks)


def test_drift_from_the_config_is_found_and_named(converged):
    standby = next(n for n in ("node1", "node2") if n not in vip_holders())
    run_in(standby, "sh", "-c", "echo '# edited by hand' >> /etc/haproxy/haproxy.cfg")
    try:
        rc, checks, _, _ = status()
        assert rc == 1 and failing(checks) == ["matches the config"]
        detail = checks["matches the config"]["detail"]
        assert "haproxy on " + standby in detail, detail
    finally:
        rc, out, _ = inv("haproxy-config", *CONFIG)
        assert rc == 0, out
    rc, checks, _, _ = status()
    assert rc == 0, failing(checks)


def test_standby_of_an_unknown_node_is_refused_before_anything(converged):
    rc, out, _ = inv("standby", "node9", *CONFIG)
    assert rc == 1 and "'node9' is not a node of halb-lab" in out and "Traceback" not in out


# --- preflight ----------------------------------------------------------------------------
def preflight(config_path=None):
    rc, out, took = inv("preflight", "--json", "--config", config_path or CONFIG[1])
    report = json.loads(out[out.index("{"):])
    return rc, {c["name"]: c for c in report["checks"]}, took


def cib_epoch(node="node1"):
    """The configuration's version: every configuration change raises epoch (or admin_epoch).
    num_updates is left out: Pacemaker raises it for its own status writes at any time."""
    out = run_in(node, "cibadmin", "--query").stdout
    tag = out[:out.index(">")]
    return tuple(re.search(rf'\b{name}="(\d+)"', tag).group(1) for name in ("admin_epoch", "epoch"))


def lab_config_with(tmp_path, change):
    data = yaml.safe_load(s.LAB_CONFIG.read_text())  # raw: a broken config is the point
    change(data)
    path = tmp_path / "lab-broken.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_preflight_passes_on_the_lab_and_reads_only(converged):
    before = cib_epoch()
    rc, checks, took = preflight()
    assert rc == 0, failing(checks)
    assert checks["bmc of node1"]["detail"].endswith("Status: ON")
    assert "from node2" in checks["bmc of node1"]["detail"]  # the node that would fence it
    assert "held by" in checks["vip"]["detail"]
    assert checks["node1 -> node2:2224"]["detail"] == "pcsd answers"
    assert checks["node1 -> arbiter:5403"]["detail"] == "qnetd answers"
    assert cib_epoch() == before
    TIMINGS["inv preflight on the converged lab"] = f"{took:.1f}s"


@pytest.mark.parametrize("broken, change, failed, words", [
    ("BMC unreachable", lambda d: d["nodes"][1]["bmc"].update(address="192.168.56.199"),
     ["bmc of node2"], ["192.168.56.199", "from node1", "check the fence target's settings, user and FENCE_PASSWORD"]),
    # The host answers ARP for a backend's address on the bridge: the address is taken.
    ("VIP taken", lambda d: d["vip"].update(ip="192.168.56.21"),
     ["vip"], ["192.168.56.21 is in use", "answers ARP", "choose a free address"]),
    ("node down", lambda d: d["nodes"][1].update(address="192.168.56.14"),
     ["ssh node2"], ["cannot connect", "fix SSH to root@192.168.56.14"]),
])
def test_preflight_names_the_broken_precondition_and_changes_nothing(converged, tmp_path, broken,
                                                                     change, failed, words):
    before = cib_epoch()
    rc, checks, _ = preflight(lab_config_with(tmp_path, change))
    assert rc == 1
    assert set(failed) <= set(failing(checks)), failing(checks)
    detail = checks[failed[0]]["detail"]
    for word in words:
        assert word in detail, detail
    assert cib_epoch() == before


def test_preflight_and_enable_stonith_never_change_a_node_power_state(converged, tmp_path):
    """Device options halb accepts are used as given; options that would turn its status checks
    into power actions are refused before any host is asked. The BMCs see no power change."""
    since = time.time()
    boots = {n: run_in(n, "cat", "/proc/sys/kernel/random/boot_id").stdout for n in ("node1", "node2")}
    for name, value in (("action", "off"), ("Action", "reboot"), ("pcmk_off_action", "on"),
                        ("pcmk_host_check", "none"), ("version", "1"), ("pcmk_delay_max", "1h")):
        path = lab_config_with(tmp_path, lambda d, n=name, v=value: d["fencing"]["options"].update({n: v}))
        for task in ("preflight", "enable-stonith"):
            rc, out, _ = inv(task, "--config", path)
            assert rc == 1 and f"fencing.options.{name}:" in out and "Traceback" not in out, out
    accepted = lab_config_with(tmp_path, lambda d: d["fencing"]["options"].update(
        method="onoff", pcmk_delay_max="1s", power_timeout="20"))
    rc, checks, _ = preflight(accepted)
    assert rc == 0, failing(checks)
    assert checks["bmc of node2"]["detail"].endswith("Status: ON")
    rc, out, _ = inv("enable-stonith", "--config", accepted)
    assert rc == 0, out
    assert power_events_since(since) == []
    assert {n: run_in(n, "cat", "/proc/sys/kernel/random/boot_id").stdout
            for n in ("node1", "node2")} == boots


def test_pcsd_listens_on_the_cluster_address_and_loopback_only(converged):
    for machine in s.lab_machines():  # the arbiter's pcsd too
        out = control.node_exec(machine, ["ss", "-ltnH", "sport = :2224"], timeout=20).stdout
        listening = sorted(line.split()[3].rsplit(":", 1)[0] for line in out.splitlines()
                           if line.strip())
        assert listening == sorted([machine.address, "127.0.0.1"]), (machine.name, out)


def test_frontends_on_the_stack_ports_are_refused_before_any_host(converged, tmp_path):
    before = cib_epoch()
    for port, owner in ((2224, "pcsd"), (22, "sshd"), (5405, "corosync")):
        path = lab_config_with(tmp_path, lambda d, p=port: d["haproxy"]["frontends"][0].update(port=p))
        rc, out, took = inv("setup-cluster", "--config", path)
        assert rc == 1 and f"haproxy.frontends[0].port: {port} is {owner}'s port" in out, out
        assert "Traceback" not in out and took < 30
    assert cib_epoch() == before


def test_preflight_names_a_node_whose_clock_is_ahead(converged):
    # The lab's containers share this machine's kernel clock, so node2's is made to read 30 s
    # ahead where preflight reads it: `date` on root's PATH over SSH, ahead of /usr/bin.
    ahead = "#!/bin/sh\nexec /usr/bin/date -d @$(( $(/usr/bin/date +%s) + 30 )) \"$@\"\n"
    run_in("node2", "sh", "-c", f"printf '%s' '{ahead}' > /usr/local/bin/date && "
                                "chmod 755 /usr/local/bin/date")
    try:
        before = cib_epoch()
        rc, checks, _ = preflight()
    finally:
        run_in("node2", "rm", "-f", "/usr/local/bin/date")
    assert rc == 1 and failing(checks) == ["clocks"], failing(checks)
    detail = checks["clocks"]["detail"]
    assert "node2 is 30." in detail or "node2 is 29." in detail, detail
    assert "synchronise the clocks" in detail
    assert cib_epoch() == before
    rc, checks, _ = preflight()
    assert rc == 0 and checks["clocks"]["ok"], failing(checks)


def test_setup_cluster_stops_before_any_change_when_a_node_is_down(converged, tmp_path):
    before = cib_epoch()
    config = lab_config_with(tmp_path, lambda d: d["nodes"][1].update(address="192.168.56.14"))
    rc, out, took = inv("setup-cluster", "--config", config)
    assert rc == 1 and "preflight: nothing was changed" in out and "ssh node2" in out, out
    assert "Traceback" not in out and "== install" not in out
    assert cib_epoch() == before


# --- CIB backup and restore ---------------------------------------------------------------
def test_a_cib_change_is_backed_up_and_restore_config_goes_back(converged):
    run_in("node1", "pcs", "resource", "meta", "halb", "resource-stickiness=0")
    rc, out, _ = inv("vip", *CONFIG)
    assert rc == 0, out
    backup = re.search(r"CIB saved to (\S+\.xml)", out).group(1)
    assert 'name="resource-stickiness" value="0"' in (ROOT / backup).read_text()
    assert oct((ROOT / backup).stat().st_mode & 0o777) == "0o600"
    stickiness = "//nvpair[@name='resource-stickiness']"

    def current():
        return run_in("node1", "cibadmin", "--query", "--xpath", stickiness).stdout
    assert 'value="100"' in current()
    before = cib_epoch()
    rc, out, _ = inv("restore-config", "--backup", backup, "--dry-run", *CONFIG)
    assert rc == 0, out
    assert "resource-stickiness: value 100 -> 0" in out and "dry run: nothing changed" in out
    assert cib_epoch() == before
    rc, out, _ = inv("restore-config", "--backup", backup, *CONFIG)
    assert rc == 0, out
    assert 'value="0"' in current()
    # The restore kept what it replaced, and the runbook converges again from there.
    assert re.search(r"the CIB as it was is saved in (\S+\.xml)", out)
    rc, out, _ = inv("setup-cluster", *CONFIG)
    assert rc == 0 and "1 change(s) made" in out, out
    assert 'value="100"' in current()


def test_restore_config_refuses_a_file_that_is_not_a_cib_before_connecting(converged, tmp_path):
    bogus = tmp_path / "bogus.xml"
    bogus.write_text("<cib><status/></cib>")
    rc, out, _ = inv("restore-config", "--backup", str(bogus), *CONFIG)
    assert rc == 1 and "not a CIB" in out and "Traceback" not in out


# --- rolling update -----------------------------------------------------------------------
def test_rolling_update_reboots_each_node_without_losing_the_service(converged):
    since = time.time()
    boot_ids = {n: run_in(n, "cat", "/proc/sys/kernel/random/boot_id").stdout for n in NODES}
    rc, out, took = inv("rolling-update", "--probe", *CONFIG, timeout=1200)
    assert rc == 0, out + "\n".join(node_report(n) for n in NODES)
    assert out.rstrip().endswith("healthy")
    # Each node really rebooted, one after the other, and nobody was fenced.
    assert all(run_in(n, "cat", "/proc/sys/kernel/random/boot_id").stdout != boot_ids[n]
               for n in NODES)
    assert power_events_since(since) == []
    probe = re.search(r"probe: (\d+) requests to \S+, (\d+) failed(?:, longest outage "
                      r"([\d.]+)s)?", out)
    requests, failed = int(probe.group(1)), int(probe.group(2))
    longest = float(probe.group(3) or 0)
    # A reboot that hung and was reset by labd's watchdog (as a machine's firmware would) is
    # no failure of halb's, but it is reported.
    resets = [n for stamp, n, what in control.power_events() if stamp >= since and what == "watchdog"]
    TIMINGS["inv rolling-update (2 reboots) under the drill probe"] = (
        f"{took:.1f}s; {requests} requests, {failed} failed, longest outage {longest:.2f}s"
        + (f"; lab watchdog reset {', '.join(resets)} (its reboot hung)" if resets else ""))
    assert requests > 100
    # A planned move may cost about a second (the VIP goes down before it comes up).
    assert longest <= 1.5, out
