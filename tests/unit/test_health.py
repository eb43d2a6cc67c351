"""Status checks' pure parts: credentials another tool left in the CIB, nodes still joining."""

from pathlib import Path


def test_status_names_plain_text_credentials_in_the_cib():
    from fabfile.health import plain_text_credentials
    from fabfile.parsers import parse_cib
    cib = parse_cib("""<cib><configuration><crm_config/><resources>
      <primitive id="old-fence" class="stonith" type="fence_ipmilan"><instance_attributes id="a">
        <nvpair id="a1" name="ipaddr" value="10.0.0.9"/><nvpair id="a2" name="passwd" value="x"/>
        <nvpair id="a3" name="passwd_script" value="cat /etc/x"/></instance_attributes></primitive>
      <primitive id="snmp" class="stonith" type="fence_apc_snmp"><instance_attributes id="b">
        <nvpair id="b1" name="community" value="private"/></instance_attributes></primitive>
      <primitive id="node1-fence" class="stonith" type="fence_ipmilan"><instance_attributes id="c">
        <nvpair id="c1" name="password_script" value="cat /etc/halb/fence/node1.password"/>
      </instance_attributes></primitive>
    </resources><constraints/></configuration><status/></cib>""")
    assert plain_text_credentials(cib) == ["old-fence.passwd", "snmp.community"]
    assert plain_text_credentials(None) == []


def test_each_service_group_has_its_own_vip_check_named_after_it():
    from types import SimpleNamespace

    from fabfile import config
    from fabfile.health import vip_on_one_node
    from fabfile.parsers import ClusterStatus

    from .conftest import CONFIGS, SECRETS
    cluster = config.load(CONFIGS / "lab-2vips.yaml", env=SECRETS)
    status = ClusterStatus(frozenset({"node1", "node2"}), frozenset(), frozenset(),
                           {"vip": ("node1",), "haproxy": ("node1",),
                            "web-b-vip": ("node2",), "web-b-haproxy": ()}, 0)
    live = SimpleNamespace(cluster=cluster, status=status)
    first, second = vip_on_one_node(live)
    assert (first.name, first.ok) == ("VIP on exactly one node (halb)", True)
    assert (second.name, second.ok) == ("VIP on exactly one node (web-b)", False)
    assert second.detail == "192.168.56.30 on node2; web-b-haproxy on no node"
    single = config.load(CONFIGS / "lab.yaml", env=SECRETS)
    (only,) = vip_on_one_node(SimpleNamespace(cluster=single, status=status))
    assert only.name == "VIP on exactly one node" and only.ok


def test_status_names_what_is_not_halbs_and_nothing_of_its_own():
    from types import SimpleNamespace

    from fabfile import config
    from fabfile.health import not_halbs
    from fabfile.parsers import parse_cib

    from .conftest import CONFIGS, SECRETS
    cluster = config.load(CONFIGS / "lab-2vips.yaml", env=SECRETS)
    primitive = '<primitive id="{}" class="ocf" provider="heartbeat" type="Dummy"/>'
    agent = '<primitive id="{}" class="ocf" provider="halb" type="haproxy"/>'
    ours = ["vip", "haproxy", "web-b-vip", "web-b-haproxy"]
    cib = parse_cib(
        "<cib><configuration><crm_config/><resources>"
        + "".join(primitive.format(r) for r in ("node1-fence", "node2-fence", "old-fence"))
        + '<group id="halb">' + "".join(primitive.format(r) for r in ours[:2]) + "</group>"
        + '<group id="web-b">' + primitive.format(ours[2]) + agent.format(ours[3]) + "</group>"
        + '<group id="site">' + primitive.format("site-ip") + "</group>"
        + "</resources><constraints/></configuration><status/></cib>")
    check = not_halbs(SimpleNamespace(cluster=cluster, cib=cib))
    assert check.ok and check.detail == "old-fence, site, site-ip"
    single = config.load(CONFIGS / "lab.yaml", env=SECRETS)
    # With one group in the config, web-b (halb's agent) is a group the vip step deletes.
    assert not_halbs(SimpleNamespace(cluster=single, cib=cib)).detail == "old-fence, site, site-ip"
    assert not_halbs(SimpleNamespace(cluster=single, cib=None)) is None


def test_the_checks_as_prometheus_text_pass_promtool_and_carry_the_drift(tmp_path):
    import shutil
    import subprocess

    import pytest

    from fabfile.errors import UserError
    from fabfile.health import Check, as_prometheus, check_metrics_file
    from fabfile.runbook import write_new_file
    checks = [Check("nodes online", True, "node1, node2"),
              Check("matches the config", False, "setup-cluster would change: metrics on node2"),
              Check('a "quoted"\\ name', True, "")]
    text = as_prometheus(checks, "halb-lab", 1764950000.4)
    assert 'halb_status_check{cluster="halb-lab",check="matches the config"} 0\n' in text
    assert 'halb_status_check{cluster="halb-lab",check="nodes online"} 1\n' in text
    assert 'check="a \\"quoted\\"\\\\ name"} 1\n' in text
    assert 'halb_status_timestamp_seconds{cluster="halb-lab"} 1764950000\n' in text
    path = tmp_path / "halb.prom"
    write_new_file(str(path), text, 0o644, option="--metrics-file")
    assert path.read_text() == text and oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["halb.prom"]  # no temporary left
    if shutil.which("promtool"):
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                              text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    with pytest.raises(UserError, match="must end in .prom"):
        check_metrics_file(str(tmp_path / "halb.txt"))
    with pytest.raises(UserError, match="does not exist"):
        check_metrics_file(str(tmp_path / "nowhere" / "halb.prom"))


def test_a_node_still_joining_is_not_online_anywhere_halb_looks():
    """crm_mon and the CIB both show a node whose controller has not finished its join as in the
    membership; Pacemaker runs nothing there until it has. halb counts it as not online, and the
    health check says which state it is in."""
    from types import SimpleNamespace

    from fabfile import config
    from fabfile.health import no_standby, nodes_online
    from fabfile.parsers import parse_cib, parse_crm_mon

    from .conftest import CONFIGS, SECRETS
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "facts"
    # Recorded in the lab: node1 stayed pending (and DC) for minutes after a corosync reload.
    status = parse_crm_mon((fixtures / "crm_mon" / "debian12-pending.txt").read_text())
    assert (status.online, status.pending, status.standby) == ({"node2"}, {"node1"}, set())
    live = SimpleNamespace(cluster=config.load(CONFIGS / "lab.yaml", env=SECRETS), status=status)
    check = nodes_online(live)
    assert status.dc == "node1"
    assert not check.ok and check.detail == \
        "node1 JOINING (pending, the DC the others wait for), node2 online"
    assert no_standby(live).ok  # crm_mon's standby="true" of a joining node is not a standby

    cib = (fixtures / "cib" / "bullseye-converged-node1.txt").read_text()
    assert parse_cib(cib).online_nodes == {"node1", "node2"}
    joining = cib.replace('uname="node1" in_ccm="true" crmd="online" '
                          'crm-debug-origin="do_state_transition" join="member"',
                          'uname="node1" in_ccm="true" crmd="online" '
                          'crm-debug-origin="do_state_transition" join="pending"')
    assert joining != cib
    assert parse_cib(joining).online_nodes == {"node2"}
