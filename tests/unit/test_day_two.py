"""Pure parts of the day-two tasks: preflight's readings, teardown's plan, CIB backup diffs,
the rolling update's outage windows. (The tasks themselves are proven in the lab.)"""

import xml.etree.ElementTree as ET

import pytest

from fabfile import backup, config, preflight
from fabfile.drill import Probe
from fabfile.errors import UserError
from fabfile.maintenance import failure_windows
from fabfile.plan import teardown

from .conftest import CONFIGS, SECRETS, load_example
from .planning import fresh_facts, lines, plan_step, raw_facts


# --- preflight ---------------------------------------------------------------------------------
def test_clock_skew_is_measured_against_the_midpoint_of_each_question():
    offsets = {"a": preflight.clock_offset(1000.5, 1000.0, 1001.0),  # 0.0: in time
               "b": preflight.clock_offset(1003.6, 1000.0, 1000.2),  # 3.5 ahead
               "c": preflight.clock_offset(999.0, 1000.0, 1000.0)}   # 1.0 behind
    skew, (early, late) = preflight.worst_skew(offsets)
    assert (early, late) == ("c", "b")
    assert skew == pytest.approx(4.5)
    assert skew > preflight.MAX_SKEW_SECONDS


def test_free_space_is_read_per_mount_point():
    df = ("Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
          "/dev/sda1          1000000  900000    102400      90% /\n"
          "/dev/sdb1          2000000  100000   1843200       6% /usr\n")
    assert preflight.free_megabytes(df) == {"/": 100, "/usr": 1800}


def test_getent_addresses_in_order_without_repeats():
    out = ("10.0.0.2        STREAM lb1.example.com\n10.0.0.2        DGRAM  \n"
           "10.0.0.2        RAW    \n10.0.0.9        STREAM \n")
    assert preflight.addresses(out) == ["10.0.0.2", "10.0.0.9"]
    assert preflight.addresses("") == []


@pytest.mark.parametrize("answers, expected", [
    ({"n1": "local\n", "n2": "192.168.56.10 dev host0 lladdr 0a:00:00:00:00:01 REACHABLE\n"},
     ("n1", None)),
    ({"n1": "192.168.56.10 dev host0 lladdr 02:68:61:6c:62:00 REACHABLE\n", "n2": ""},
     (None, "02:68:61:6c:62:00")),
    ({"n1": "192.168.56.10 dev host0 lladdr 02:68:61:6c:62:00 STALE\n"},
     (None, "02:68:61:6c:62:00")),
    ({"n1": "192.168.56.10 dev host0 FAILED\n", "n2": "192.168.56.10 dev host0 INCOMPLETE\n"},
     (None, None)),
    ({"n1": "", "n2": ""}, (None, None)),
])
def test_who_holds_the_vip(answers, expected):
    assert preflight.vip_holder(answers) == expected


# --- teardown ----------------------------------------------------------------------------------
def lab_cluster():
    return config.load(CONFIGS / "lab.yaml", env=SECRETS)


@pytest.mark.parametrize("source", ["debian12-converged", "trixie-converged",
                                    "bullseye-converged"])
def test_teardown_of_a_converged_cluster_destroys_it_once_and_removes_halbs_files(source):
    cluster = lab_cluster()
    plan = plan_step("teardown", cluster, raw_facts(cluster, source), teardown.plan)
    got = lines(plan)
    # Stopped first, on its own: a failed stop must not be followed by destroy's kill.
    assert got[:3] == ["node1: pcs resource disable halb --wait=120",
                       "node1: pcs cluster stop --all", "node1: pcs cluster destroy --all"]
    removal = ("remove-halb-files (what /var/lib/halb/manifest lists; without it: "
               "/usr/lib/ocf/resource.d/halb/haproxy /etc/halb/fence/node1.password "
               "/etc/halb/fence/node2.password)")
    assert got[3:] == [f"node1: {removal}", "node1: systemctl restart pcsd",
                       f"node2: {removal}", "node2: systemctl restart pcsd"]
    # What the plan says it removes is the manifest's list, never a configured path alone.
    reasons = [c.why for _, commands in plan.phases[1] for c in commands]
    assert reasons[0] == ("remove what halb created: /usr/lib/ocf/resource.d/halb/haproxy "
                          "/etc/halb/fence/node1.password /etc/halb/fence/node2.password; put "
                          "back what it replaced: /etc/haproxy/haproxy.cfg (from "
                          "/etc/haproxy/haproxy.cfg.halb-orig) /etc/default/pcsd (from "
                          "/etc/default/pcsd.halb-orig)")
    # The arbiter keeps qnetd: it may serve other clusters.
    assert ("arbiter", "qnetd stays set up: an arbiter may serve other clusters") in plan.reasons
    assert not any(word in line for line in got for word in ("apt-get", "yum", "dnf", "rm -r"))


def test_teardown_of_bare_nodes_has_nothing_to_do():
    cluster = load_example("example-debian12.yaml")
    plan = plan_step("teardown", cluster, fresh_facts(cluster), teardown.plan)
    assert plan.empty
    assert len(plan.reasons) == 3


def test_teardown_leaves_another_cluster_alone():
    cluster = lab_cluster()
    facts = raw_facts(cluster, "debian12-converged",
                      {n: {"corosync": [("cluster_name: halb-lab", "cluster_name: other")]}
                       for n in ("node1", "node2")})
    plan = plan_step("teardown", cluster, facts, teardown.plan)
    assert not any("destroy" in line for line in lines(plan))
    assert any("belongs to cluster 'other'" in reason for _, reason in plan.reasons)


# --- CIB backups -------------------------------------------------------------------------------
CIB = """<cib epoch="{epoch}"><configuration><crm_config><cluster_property_set id="opts">
<nvpair id="opts-name" name="cluster-name" value="{name}"/>
<nvpair id="opts-stonith" name="stonith-enabled" value="{stonith}"/></cluster_property_set>
</crm_config><resources>{resources}</resources><constraints/></configuration><status/></cib>"""


def cib(name="lb-debian", stonith="true", resources='<primitive id="vip" class="ocf"/>',
        epoch=5):
    return CIB.format(name=name, stonith=stonith, resources=resources, epoch=epoch)


def test_differences_name_what_a_restore_adds_removes_and_changes():
    now = ET.fromstring(cib()).find("configuration")
    then = ET.fromstring(cib(stonith="false", resources='<primitive id="old" class="ocf"/>'))\
        .find("configuration")
    assert backup.differences(now, then) == [
        "remove primitive vip",
        "add primitive old (class=ocf)",
        "change nvpair opts-stonith: value true -> false",
    ]
    assert backup.differences(now, now) == []


def test_a_backup_of_another_cluster_or_no_cib_is_refused(tmp_path):
    cluster = load_example("example-debian12.yaml")
    path = tmp_path / "b.xml"
    path.write_text(cib(name="elsewhere"))
    with pytest.raises(UserError, match="a CIB of cluster 'elsewhere', not 'lb-debian'"):
        backup.read(path, cluster)
    path.write_text("<html/>")
    with pytest.raises(UserError, match="not a CIB"):
        backup.read(path, cluster)
    path.write_text("not xml at all")
    with pytest.raises(UserError, match="not XML"):
        backup.read(path, cluster)
    with pytest.raises(UserError, match="cannot read it"):
        backup.read(tmp_path / "missing.xml", cluster)
    path.write_text(cib(epoch=1))
    assert backup.read(path, cluster).tag == "configuration"


# --- rolling update ----------------------------------------------------------------------------
def probes(pattern, step=0.1):
    """'..xx...x.' -> probes every `step` seconds, x failing, each taking 10 ms."""
    return [Probe(i * step, i * step + 0.01, c == ".") for i, c in enumerate(pattern)]


def test_outage_windows_run_from_the_last_answer_to_the_next():
    windows = failure_windows(probes("..xx...x."))
    assert [(round(w, 2), n) for w, n in windows] == [(0.3, 2), (0.2, 1)]
    assert failure_windows(probes(".....")) == []
    assert [n for _, n in failure_windows(probes("..xxx"))] == [3]


# --- the fence agent's own meta-data -----------------------------------------------------------
def test_an_option_the_installed_agent_does_not_take_is_refused_by_name(write_config):
    from fabfile.plan import fence
    path = write_config(lambda d: d["fencing"]["options"].update(lanplus_mode=1))
    cluster = config.load(path, env=SECRETS)
    facts = raw_facts(cluster, "debian12-converged")
    assert "lanplus" in facts["node1"].fence_parameters  # read from fence_ipmilan -o metadata
    with pytest.raises(UserError, match=r"fencing.options.lanplus_mode: fence_ipmilan on node1 "
                                        r"takes no such parameter \(its meta-data"):
        plan_step("fence", cluster, facts, fence.plan)
    # The lab's own options are all parameters of the agent.
    plan_step("fence", lab_cluster(), raw_facts(lab_cluster(), "debian12-converged"), fence.plan)


@pytest.mark.parametrize("phase, state", [
    ("standby", "node2: it is not in standby"),
    ("upgrade", "node2: it stays in standby, the service runs on node1; once fixed: inv unstandby node2"),
    ("reboot", "node2: it stays in standby, the service runs on node1; once fixed: inv unstandby node2"),
    ("unstandby", "node2: see inv status; inv unstandby node2 again once it is back"),
])
def test_a_rolling_update_that_stops_says_where_and_what_state_it_left(phase, state):
    from types import SimpleNamespace

    from fabfile.maintenance import RollingUpdate
    cluster = lab_cluster()
    update = RollingUpdate(cluster, SimpleNamespace(executor=None), say=lambda text: None)

    def fails():
        raise UserError("apt-get: exit 100\nmore detail")
    with pytest.raises(UserError) as caught:
        update.step(cluster.node("node2"), phase, fails)
    assert str(caught.value) == f"rolling-update stopped at node2, {phase}: apt-get: exit 100\n{state}"


# --- credentials another tool left in the CIB ---------------------------------------------------
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
