"""The runbook as a document is true, teardown undoes the runbook, and the service can be any
service: on a fresh lab the shell form of `inv runbook` (run as an operator would, from this
machine over SSH) converges the nodes into the cluster setup-cluster would build, so that
setup-cluster then changes nothing; `inv teardown` removes it and setup-cluster builds it again
from there; a second fencing level (fence_virsh through the lab's libvirt host) is added to the
running cluster, takes over when IPMI fails, and is taken away again; then the lab is torn down
once more and converged with nginx (systemd:nginx) in place of HAProxy, which serves through
the VIP and survives a crash of its node.

The nodes boot from a golden image (`lab.up --provisioned`) that has the cluster's packages but
not the quorum device's nor nginx: the script's install step and nginx's install it on these
nodes; the whole install step on bare nodes is test_1_converge's and test_9_releases'."""

import os
import subprocess
import time

import pytest

from fabfile.lab import control
from fabfile.lab import settings as s

from .conftest import (
    GOLDEN_IMAGE,
    ROOT,
    TIMINGS,
    crm_mon,
    drill,
    http_via_vip,
    inv,
    left_running,
    nodes,
    power_events_since,
    run_in,
    secrets,
    vip_holders,
    wait_for,
)

CONFIG = ("--config", "configs/lab.yaml")
HALB_FILES = ("/usr/lib/ocf/resource.d/halb/haproxy", "/etc/halb", "/var/lib/halb",
              "/etc/haproxy/haproxy.cfg.halb-orig", "/etc/corosync/corosync.conf")
# Files halb did not create, beside its own: teardown must leave every one.
FOREIGN_FILES = ("/etc/haproxy/errors-site.http", "/etc/halb/fence/operator-notes.txt",
                 "/usr/lib/ocf/resource.d/halb/site-agent")


def package_config_is_back(node, package="haproxy", path="/etc/haproxy/haproxy.cfg"):
    """A package's config file is its own again: its md5 is the one dpkg recorded."""
    conffiles = run_in(node, "dpkg-query", "-W", "-f", "${Conffiles}", package).stdout
    recorded = dict(line.split()[:2] for line in conffiles.splitlines() if line.strip())
    current = run_in(node, "md5sum", path).stdout.split()[0]
    return recorded.get(path) == current


@pytest.fixture(scope="module")
def provisioned_lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (systemd-nspawn, bridge, mounts)")
    rc, out, took = inv("lab.up", "--fresh", "--release", s.DEFAULT_RELEASE,
                        "--provisioned", GOLDEN_IMAGE)
    assert rc == 0, out
    for node in ("node1", "node2"):
        assert installed(node, "pcs", "haproxy") == ["installed"] * 2, node
        assert installed(node, "corosync-qdevice", "nginx") == [], node


def installed(node, *packages):
    """The packages' dpkg states on `node`, of those dpkg knows."""
    return run_in(node, "dpkg-query", "-W", "-f", "${db:Status-Status}\\n", *packages,
                  check=False).stdout.split()


def present(node):
    out = run_in(node, "sh", "-c", 'for p in "$@"; do [ -e "$p" ] && echo "$p"; done; true',
                 "sh", *HALB_FILES).stdout
    return out.split()


def test_the_runbook_script_converges_the_nodes(provisioned_lab, tmp_path):
    script = tmp_path / "runbook.sh"
    rc, out, _ = inv("runbook", "--format", "sh", "--output", str(script), *CONFIG)
    assert rc == 0, out
    text = script.read_text()
    passwords = {k: v for k, v in secrets().items()
                 if k.startswith(("HACLUSTER_PASSWORD", "FENCE_PASSWORD"))}
    assert passwords
    for value in passwords.values():
        assert value not in text
    env = {**os.environ, **secrets()}
    started = time.monotonic()
    done = subprocess.run(["sh", str(script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "runbook done: cluster halb-lab" in done.stdout
    TIMINGS["runbook script (sh) from provisioned nodes"] = f"{time.monotonic() - started:.1f}s"
    # Its install step installed what the golden image lacks.
    for node in ("node1", "node2"):
        assert installed(node, "corosync-qdevice") == ["installed"], node
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 120, "both nodes online")
    assert wait_for(lambda: http_via_vip()[0] == 200, 60, "the service on the VIP")
    rc, out, took = inv("setup-cluster", *CONFIG)
    assert rc == 0 and "0 change(s) made" in out, out
    rc, out, _ = inv("status", *CONFIG)
    assert rc == 0, out


def test_two_fencing_levels_fall_back_to_fence_virsh_when_ipmi_fails(provisioned_lab):
    """IPMI first, then the real fence_virsh over SSH to the lab's libvirt host (labd): the
    second level added to the running cluster, proven, and taken away again."""
    levels = ("--config", "configs/lab-topology.yaml")
    env = {"SECOND_FENCE_PASSWORD": secrets()["FENCE_PASSWORD"]}  # the lab hypervisor's login
    rc, out, took = inv("setup-cluster", *levels, env=env)
    assert rc == 0, out
    TIMINGS["second fencing level (fence_virsh) added to the running cluster"] = f"{took:.1f}s"
    # Two devices and the levels join the running cluster; STONITH stays on throughout.
    for node in ("node1", "node2"):
        assert f"create fence device {node}-fence2" in out, out
        assert f"fencing level 2 of {node}: {node}-fence2" in out, out
    assert "stonith-enabled is already true" in out, out
    rc, out, _ = inv("status", *levels, env=env)
    assert rc == 0, out
    assert "fence device node1-fence2   ok" in out and "fencing levels" in out, out
    rc, out, _ = inv("setup-cluster", *levels, env=env)
    assert rc == 0 and "0 change(s) made" in out, out

    active = vip_holders()[0]
    peer = "node2" if active == "node1" else "node1"
    # Level 1 cannot work: its BMC password is wrong wherever the fencer may read it.
    for node in ("node1", "node2"):
        run_in(node, "sh", "-c", f"echo wrong-password > /etc/halb/fence/{active}.password")
    since = time.time()
    run_in(peer, "pcs", "stonith", "fence", active, timeout=180)
    assert (active, "off") in power_events_since(since)
    assert control.power_state(nodes()[active]) == "off"
    log = run_in(peer, "journalctl", "-u", "pacemaker", "--since", f"@{int(since) - 1}",
                 "--no-pager", "-o", "cat").stdout
    assert f"{active}-fence2" in log, log[-3000:]
    wait_for(lambda: vip_holders() == [peer], 90, f"the VIP on {peer}")
    assert wait_for(lambda: http_via_vip()[0] == 200, 60, "HTTP through the VIP")
    TIMINGS["level 1 (IPMI) refused, level 2 (fence_virsh) fenced: to VIP answering"] = \
        f"{time.time() - since:.1f}s"

    # The agent's own "on" (virsh start) through the hypervisor brings the node back.
    on = run_in(peer, "fence_virsh", "--ip", s.HOST_ADDRESS, "--ipport", str(s.HYPERVISOR_PORT),
                "--username", s.HYPERVISOR_USER, "--ssh",
                "--password-script", f"cat /etc/halb/fence/{active}.level2.password",
                "--plug", f"halb_{active}", "--action", "on", check=False, timeout=120)
    assert on.returncode == 0, on.stdout + on.stderr
    wait_for(lambda: crm_mon(peer)["online"] == {"node1", "node2"}, 240, f"{active} back online")
    # The fence step writes the right password again; then nothing is left to change.
    rc, out, _ = inv("setup-cluster", *levels, env=env)
    assert rc == 0 and f"BMC password of {active}, root-only" in out, out
    rc, out, _ = inv("setup-cluster", *levels, env=env)
    assert rc == 0 and "0 change(s) made" in out, out
    # Back to one level: the second devices and the levels go, nothing else changes.
    rc, out, _ = inv("setup-cluster", *CONFIG)
    assert rc == 0, out
    assert "node1-fence2" in out and "node2-fence2" in out, out
    rc, out, _ = inv("setup-cluster", *CONFIG)
    assert rc == 0 and "0 change(s) made" in out, out
    status = crm_mon("node1")["resources"]
    assert "node1-fence2" not in status and "node2-fence2" not in status


def test_teardown_removes_the_cluster_and_leaves_the_packages(provisioned_lab):
    rc, out, _ = inv("teardown", *CONFIG)  # not a terminal, no --yes: refused
    assert rc == 1 and "pass --yes" in out
    assert crm_mon("node1")["online"] == {"node1", "node2"}
    for node in ("node1", "node2"):
        assert not package_config_is_back(node)  # halb's rendered config serves
        run_in(node, "sh", "-c", 'for p in "$@"; do echo site > "$p"; done', "sh", *FOREIGN_FILES)
    rc, out, took = inv("teardown", "--yes", *CONFIG)
    assert rc == 0, out
    assert "/etc/haproxy/haproxy.cfg (from /etc/haproxy/haproxy.cfg.halb-orig)" in out
    TIMINGS["inv teardown"] = f"{took:.1f}s"
    for node in ("node1", "node2"):
        assert present(node) == ["/etc/halb"]  # it holds a file halb did not create
        assert package_config_is_back(node)
        assert package_config_is_back(node, "pcs", "/etc/default/pcsd")
        # pcsd restarted with the package's settings: it listens on every address again.
        listening = run_in(node, "ss", "-ltnH", "sport = :2224").stdout.split()
        assert any(word.startswith(("*:", "[::]:", "0.0.0.0:")) for word in listening), listening
        kept = run_in(node, "cat", *FOREIGN_FILES).stdout.split()
        assert kept == ["site"] * len(FOREIGN_FILES), node
        run_in(node, "rm", "-f", *FOREIGN_FILES)
        run_in(node, "rmdir", "/etc/halb/fence", "/etc/halb")
        assert left_running(node) == [], node
        state = run_in(node, "systemctl", "is-active", "corosync", "pacemaker", check=False).stdout
        assert state.split() == ["inactive", "inactive"]
        # The packages stay.
        assert installed(node, "pcs", "pacemaker", "corosync", "haproxy") == ["installed"] * 4
    rc, out, _ = inv("teardown", "--yes", *CONFIG)  # again: nothing left to do
    assert rc == 0 and "0 change(s) made" in out, out
    # setup-cluster builds on these nodes again: the next test, with nginx as the service.


def test_any_service_nginx_through_systemd_serves_and_fails_over(provisioned_lab):
    """setup-cluster on nodes a teardown left (packages in, their configs their own again),
    with nginx in place of HAProxy."""
    rc, out, _ = inv("teardown", "--yes", *CONFIG)  # when the test before did not run
    assert rc == 0, out
    nginx = ("--config", "configs/lab-nginx.yaml")
    assert [left_running(node) for node in ("node1", "node2")] == [[], []]
    try:
        nginx_serves_and_fails_over(nginx)
    finally:  # the next test builds its own cluster on these nodes
        rc, out, _ = inv("teardown", "--yes", *nginx)
    assert rc == 0, out
    assert [left_running(node) for node in ("node1", "node2")] == [[], []]


def nginx_serves_and_fails_over(nginx):
    rc, out, took = inv("setup-cluster", *nginx)
    assert rc == 0, out[-4000:]  # the error is at the end of a long plan
    TIMINGS["setup-cluster with nginx (systemd:nginx) after teardown"] = f"{took:.1f}s"
    # Debian's package started nginx on both nodes; the cluster alone runs it now.
    assert "the cluster alone starts nginx" in out
    wait_for(lambda: http_via_vip()[0] == 200, 60, "nginx on the VIP")
    status = http_via_vip()
    assert status[0] == 200 and "nginx" in status[1].lower(), status
    holders = [n for n in ("node1", "node2")
               if run_in(n, "systemctl", "is-active", "nginx", check=False).stdout.strip() == "active"]
    assert len(holders) == 1
    assert crm_mon("node1")["resources"]["web"]["nodes"] == holders
    rc, out, _ = inv("setup-cluster", *nginx)
    assert rc == 0 and "0 change(s) made" in out, out
    report, took = drill("--fault", "crash", *nginx)
    round_ = report["rounds"][0]
    assert round_["error"] is None, round_
    assert round_["vip_before"] == holders[0] and round_["vip_after"] != holders[0]
    TIMINGS["nginx: crash of the active node"] = (f"outage {round_['outage_s']:.2f}s, "
                                                  f"{round_['failed']} failed requests")
    rc, out, _ = inv("status", *nginx)
    assert rc == 0, out


@pytest.mark.parametrize("agent", ["fence_virsh", "fence_vbox"])
def test_the_hypervisor_agents_switch_a_node_through_the_lab_host(provisioned_lab, agent):
    """The real agents, run as Pacemaker runs them (options on stdin), from node1 against
    node2's VM on the lab's hypervisor host: status, off, status, on."""
    def agent_run(action):
        options = {"action": action, "ip": s.HOST_ADDRESS, "ipport": s.HYPERVISOR_PORT,
                   "username": s.HYPERVISOR_USER, "password": secrets()["FENCE_PASSWORD"],
                   "plug": "halb_node2"}
        return control.node_exec(nodes()["node1"], [agent], timeout=120,
                                 input="".join(f"{k}={v}\n" for k, v in options.items()))

    status = agent_run("status")
    assert status.returncode == 0 and "Status: ON" in status.stdout, status
    since = time.time()
    off = agent_run("off")
    assert off.returncode == 0, off
    assert ("node2", "off") in power_events_since(since)
    assert control.power_state(nodes()["node2"]) == "off"
    status = agent_run("status")
    assert status.returncode == 2 and "Status: OFF" in status.stdout, status
    on = agent_run("on")
    assert on.returncode == 0, on
    assert control.power_state(nodes()["node2"]) == "on"
    control.wait_for_ssh(nodes()["node2"])
    TIMINGS[f"{agent}: off, then on, through the lab's hypervisor host"] = \
        f"{time.time() - since:.1f}s to SSH answering again"
