"""Dry-run plans of the shipped example configs, offline (platform pinned, nodes assumed fresh)."""

import re

import pytest
import yaml

from fabfile import config
from fabfile.errors import UserError
from fabfile.runner import STEP_NAMES, STEPS, Runner, select_steps

from .conftest import CONFIGS, SECRETS, load_example


def dry_run(cluster, tmp_path, steps=STEP_NAMES):
    lines = []
    runner = Runner(cluster, dry_run=True, log_dir=tmp_path / "logs", out=lines.append)
    assert runner.offline and runner.executor is None  # nothing can connect
    runner.run(list(steps))
    return "\n".join(lines), runner.log.path.read_text()


def planned(output):
    """The planned commands: '[host] command' without numbering or comments."""
    return [m.group(1) for m in re.finditer(r"^\s+\d+\. (\[.*)$", output, re.M)]


@pytest.fixture
def centos7(tmp_path):
    output, _ = dry_run(load_example("example-centos7.yaml"), tmp_path)
    return output, planned(output)


def test_centos7_plan_is_the_source_runbook_corrected(centos7):
    output, cmds = centos7
    source_packages = ("pacemaker corosync fence-agents-all fence-agents-virsh fence-virt "
                       "pacemaker-remote pcs fence-virtd resource-agents fence-virtd-libvirt "
                       "fence-virtd-multicast haproxy").split()
    installs = [c for c in cmds if "yum -y install" in c]
    assert len(installs) == 2  # one per host, and the second line of the source has its command
    for line in installs:
        assert set(source_packages) <= set(line.split())
    assert "[HOST-1] systemctl enable --now pcsd" in cmds  # not "systemclt"
    assert "[HOST-1] pcs cluster auth HOST-1 HOST-2 -u hacluster --force  <stdin: <secret HACLUSTER_PASSWORD>>" in cmds
    assert "[HOST-1] pcs cluster setup --enable --name name_cluster HOST-1 HOST-2 --token 3000 --consensus 3600 --encryption 1" in cmds
    # Each node's first CIB holds dc-deadtime before the first start (20 s with these timings).
    for host in ("HOST-1", "HOST-2"):
        assert (f"[{host}] write /var/lib/pacemaker/cib/cib.xml if absent: an empty CIB with "
                "dc-deadtime=20s (cibadmin --empty, crm_attribute on it)") in cmds
    assert "[HOST-1] pcs cluster start --all --wait=120" in cmds
    assert ("[HOST-1] pcs stonith create HOST-1-fence fence_ipmilan ipaddr=HOST-1-ipmi login=clusterFence "
            "'passwd_script=cat /etc/halb/fence/HOST-1.password' lanplus=1 pcmk_host_list=HOST-1 "
            "pcmk_delay_base=10s op monitor interval=10s") in cmds
    assert ("[HOST-1] pcs stonith create HOST-2-fence fence_ipmilan ipaddr=HOST-2-ipmi login=clusterFence "
            "'passwd_script=cat /etc/halb/fence/HOST-2.password' lanplus=1 pcmk_host_list=HOST-2 "
            "op monitor interval=10s") in cmds
    assert "[HOST-1] pcs constraint location HOST-1-fence avoids HOST-1" in cmds
    assert "[HOST-1] pcs constraint location HOST-2-fence avoids HOST-2" in cmds
    assert ("[HOST-1] pcs resource create VIP ocf:heartbeat:IPaddr2 ip=10.0.0.4 cidr_netmask=25 "
            "op monitor interval=1s --group HAproxyGroup") in cmds
    assert any(c.startswith("[HOST-1] pcs resource create haproxy ocf:halb:haproxy conffile=/etc/haproxy/haproxy.cfg")
               and c.endswith("op monitor interval=10s --group HAproxyGroup") for c in cmds)
    assert "[HOST-1] pcs property set stonith-enabled=true" in cmds
    # The source's mistakes are gone.
    for wrong in ("stonith-enable=", "HOST-1,HOST-2", "prefers", "constraint order",
                  "no-quorum-policy", "resource.d/heartbeat", "passwd=", " -p ", "systemclt"):
        assert wrong not in output, wrong
    # STONITH goes on last, after a status check of each device from its peer.
    assert cmds[-1] == "[HOST-1] pcs property set stonith-enabled=true"
    assert "[HOST-2] check: fence_ipmilan  <stdin: options of HOST-1-fence, action=status>" in output


def test_el9_plan_speaks_pcs_011(tmp_path):
    output, _ = dry_run(load_example("example-el9.yaml"), tmp_path)
    cmds = planned(output)
    assert any(c.startswith("[lb1] dnf -y --enablerepo=highavailability install pacemaker") for c in cmds)
    assert "[lb1] pcs host auth lb1 addr=10.0.0.2 lb2 addr=10.0.0.3 -u hacluster  <stdin: <secret HACLUSTER_PASSWORD>>" in cmds
    assert "[lb1] pcs cluster setup lb-el9 lb1 addr=10.0.0.2 lb2 addr=10.0.0.3 totem token=3000 consensus=3600 --enable" in cmds
    assert "[lb1] pcs cluster start --all --wait=120" in cmds
    assert any("ip=10.0.1.2 username=clusterFence 'password_script=cat /etc/halb/fence/lb1.password'" in c
               for c in cmds)


def test_el8_plan_speaks_pcs_010(tmp_path, write_config):
    def el8(data):
        data["platform"] = "el8"
        data["install"] = {}
    cluster = config.load(write_config(el8, base="example-el9.yaml"), env=SECRETS)
    output, _ = dry_run(cluster, tmp_path)
    assert "(el8, pcs 0.10)" in output
    assert "dnf -y --enablerepo=ha install" in output
    assert "pcs host auth lb1 addr=10.0.0.2" in output


def test_debian12_plan_uses_apt_and_sudo(tmp_path):
    output, _ = dry_run(load_example("example-debian12.yaml"), tmp_path)
    assert "apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends pacemaker pacemaker-cli-utils" in output
    assert "through sudo -n" in output
    assert "bind 10.0.0.4:8443" not in output  # file contents stay out of the plan
    assert "(debian12, pcs 0.11)" in output


def test_lab_config_dry_run_with_platform_pinned(tmp_path, write_config):
    cluster = config.load(write_config(lambda d: d.update(platform="debian12")), env=SECRETS)
    output, _ = dry_run(cluster, tmp_path)
    assert "pcs host auth node1 addr=192.168.56.11 node2 addr=192.168.56.12" in output
    assert "pcs stonith create node1-fence fence_ipmilan ip=192.168.56.101" in output


@pytest.mark.parametrize("name", ["example-centos7.yaml", "example-el9.yaml",
                                  "example-debian12.yaml"])
def test_secrets_are_masked_in_plan_and_log(name, tmp_path):
    env = {"HACLUSTER_PASSWORD": "Very$ecret'1", "FENCE_PASSWORD": "bmc pass; reboot"}
    cluster = config.load(CONFIGS / name, env=env)
    output, log = dry_run(cluster, tmp_path)
    for value in env.values():
        assert value not in output and value not in log
    assert "<secret HACLUSTER_PASSWORD>" in output and "<secret FENCE_PASSWORD>" in output


def test_dry_run_without_secrets_says_what_a_real_run_needs(tmp_path):
    cluster = config.load(CONFIGS / "example-centos7.yaml", env={}, require_secrets=False)
    output, _ = dry_run(cluster, tmp_path, ["auth"])
    note = next(line for line in output.splitlines() if "a real run will refuse" in line)
    assert "HACLUSTER_PASSWORD" in note and "FENCE_PASSWORD" in note


def test_from_and_to_select_a_slice_of_the_runbook():
    assert select_steps("fence", "vip") == ["fence", "vip"]
    assert select_steps(None, "auth") == ["install", "auth"]
    assert select_steps("enable-stonith") == ["enable-stonith"]
    with pytest.raises(UserError, match="not a step"):
        select_steps("fencing")
    with pytest.raises(UserError, match="comes after"):
        select_steps("vip", "auth")


def test_examples_name_the_source_cluster():
    data = yaml.safe_load((CONFIGS / "example-centos7.yaml").read_text())
    assert [(n["name"], n["address"], n["bmc"]["address"]) for n in data["nodes"]] == [
        ("HOST-1", "10.0.0.2", "HOST-1-ipmi"), ("HOST-2", "10.0.0.3", "HOST-2-ipmi")]
    assert (data["vip"]["ip"], data["vip"]["cidr_netmask"]) == ("10.0.0.4", 25)


def test_unresolvable_node_address_stops_before_connecting(write_config, tmp_path):
    def unresolvable(data):
        data["nodes"][1]["address"] = "no-such-node.invalid"
    cluster = config.load(write_config(unresolvable), env=SECRETS)
    runner = Runner(cluster, log_dir=tmp_path / "logs", out=lambda _: None)
    with pytest.raises(config.ConfigError) as info:
        runner.run(["install"])
    assert info.value.field == "nodes[1].address" and "does not resolve" in str(info.value)
    assert runner.executor.connections == {}


def test_a_dry_run_plans_the_steps_after_a_new_cluster_for_it(tmp_path, write_config):
    """Live facts of nodes whose packages run Debian's one-node cluster (its CIB has no
    stonith-enabled, true by default): after the setup step that makes the cluster anew, the
    dry run shows STONITH turned on at the end, as the real run will do."""
    from .planning import raw_facts

    cluster = config.load(write_config(lambda d: d.update(platform="debian12")), env=SECRETS)
    lines = []
    runner = Runner(cluster, dry_run=True, log_dir=tmp_path / "logs", out=lines.append)
    runner.offline = False  # the recorded facts stand for the nodes' answers
    runner.facts = raw_facts(cluster, "debian12-packaged", stale=("files", "secret_files", "hacluster"))
    for step in ("setup", "enable-stonith"):
        runner.run_step(step, STEPS[step])
    output = "\n".join(lines)
    assert "pcs cluster destroy" in output
    assert "stonith-enabled is already true" not in output
    assert "cannot plan yet" in output.split("== enable-stonith")[1], output
