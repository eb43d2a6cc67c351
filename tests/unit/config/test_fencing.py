"""Fencing profiles: each agent takes its own fields of a node's bmc block and its own required
options; errors name the field. The plans are in tests/fixtures/plans/fence-profile-*.yaml."""

from pathlib import Path

import pytest
import yaml

from fabfile import config
from fabfile.dialects import Dialect
from fabfile.errors import ConfigError

from ..conftest import SECRETS

FIXTURE_CONFIGS = Path(__file__).resolve().parents[2] / "fixtures" / "configs"


def load_with(tmp_path, name, change, env=SECRETS):
    data = yaml.safe_load((FIXTURE_CONFIGS / name).read_text())
    change(data)
    path = tmp_path / "fence.yaml"
    path.write_text(yaml.safe_dump(data))
    return config.load(path, env=env)


@pytest.mark.parametrize("name, change, field, words", [
    ("fence-aws-debian12.yaml", lambda d: d["nodes"][0]["bmc"].update(address="10.0.9.1"),
     "nodes[0].bmc.address", "fence_aws takes no address: it reaches the EC2 API"),
    ("fence-aws-debian12.yaml", lambda d: d["nodes"][1]["bmc"].update(plug="lb-2"),
     "nodes[1].bmc.plug", "'lb-2' is not an EC2 instance id"),
    ("fence-aws-debian12.yaml", lambda d: d["fencing"].pop("options"),
     "fencing.options.region", "is required by fence_aws"),
    ("fence-gce-debian12.yaml", lambda d: d["fencing"]["options"].pop("zone"),
     "fencing.options.zone", "is required by fence_gce"),
    ("fence-azure_arm-debian12.yaml", lambda d: d["fencing"]["options"].pop("tenantId"),
     "fencing.options.tenantId", "is required by fence_azure_arm"),
    ("fence-xvm-debian12.yaml", lambda d: d["nodes"][0]["bmc"].update(username="root"),
     "nodes[0].bmc.username", "fence_xvm takes no username"),
    ("fence-virsh-debian12.yaml", lambda d: d["nodes"][0]["bmc"].pop("plug"),
     "nodes[0].bmc.plug", "is required"),
    ("fence-virsh-debian12.yaml", lambda d: d["nodes"][1]["bmc"].update(plug="vm-lb1"),
     "nodes[1].bmc.plug", "lb1 and lb2 name the same BMC"),
    # A secret never goes into the CIB: the AWS keys are refused as options.
    ("fence-aws-debian12.yaml", lambda d: d["fencing"]["options"].update(secret_key="x"),
     "fencing.options.secret_key", ""),
])
def test_each_profile_checks_its_own_fields(tmp_path, name, change, field, words):
    with pytest.raises(ConfigError) as caught:
        load_with(tmp_path, name, change)
    text = str(caught.value)
    assert f"{field}: {words}" in text, text


@pytest.mark.parametrize("name", ["fence-aws-debian12.yaml", "fence-gce-debian12.yaml",
                                  "fence-xvm-debian12.yaml"])
def test_agents_that_log_in_nowhere_need_no_password(tmp_path, name):
    cluster = load_with(tmp_path, name, lambda d: None,
                        env={"HACLUSTER_PASSWORD": SECRETS["HACLUSTER_PASSWORD"]})
    assert all(n.fence_password is None for n in cluster.nodes)
    assert cluster.missing_secrets == ()


def test_agents_that_log_in_need_their_password(tmp_path):
    with pytest.raises(ConfigError, match="FENCE_PASSWORD: secret is not set"):
        load_with(tmp_path, "fence-virsh-debian12.yaml", lambda d: None,
                  env={"HACLUSTER_PASSWORD": SECRETS["HACLUSTER_PASSWORD"]})


@pytest.mark.parametrize("platform, agent, expected", [
    ("debian12", "fence_ipmilan", ("fence-agents", "ipmitool")),
    ("debian12", "fence_aws", ("fence-agents", "python3-boto3")),
    ("debian12", "fence_virsh", ("fence-agents",)),
    ("debian13", "fence_ipmilan", ("fence-agents-ipmilan", "ipmitool")),
    ("debian13", "fence_azure_arm", ("fence-agents-azure-arm",)),
    ("el9", "fence_gce", ("fence-agents-gce",)),
    ("centos7", "fence_ipmilan", ("fence-agents-ipmilan",)),
    ("el9", "fence_xvm", ("fence-virt",)),
    ("debian12", "fence_xvm", ("fence-virt",)),
])
def test_each_agent_comes_with_its_own_packages(platform, agent, expected):
    assert Dialect.for_platform(platform).fence_packages(agent) == expected


# --- a second fencing level (fencing.second_level, each node's second_level block) ----------
@pytest.mark.parametrize("change, field, words", [
    (lambda d: d["nodes"][1].pop("second_level"), "nodes[1].second_level", "is required"),
    (lambda d: d["fencing"].pop("second_level"), "nodes[0].second_level",
     "is only used with fencing.second_level"),
    (lambda d: d["nodes"][1]["second_level"].update(plug="3"), "nodes[1].second_level.plug",
     "lb1 and lb2 name the same second-level fence target"),
    (lambda d: d["nodes"][0]["second_level"].update(community="private"),
     "nodes[0].second_level.community", ""),
    (lambda d: d["fencing"]["second_level"].update(agent="apc"), "fencing.second_level.agent",
     "'apc' is not a fence agent name"),
    (lambda d: d["fencing"]["second_level"]["options"].update(passwd="x"),
     "fencing.second_level.options.passwd", "is set from the node's second_level block"),
    (lambda d: d["fencing"]["second_level"].update(agent="fence_aws", options={}),
     "nodes[0].second_level.address", "fence_aws takes no address"),
])
def test_a_second_level_checks_its_own_fields(tmp_path, change, field, words):
    with pytest.raises(ConfigError) as caught:
        load_with(tmp_path, "fence-levels-debian12.yaml", change)
    assert f"{field}: {words}" in str(caught.value), str(caught.value)


def test_a_second_level_has_its_own_password_and_packages(tmp_path):
    without = {k: v for k, v in SECRETS.items() if k != "SECOND_FENCE_PASSWORD"}
    with pytest.raises(ConfigError, match="SECOND_FENCE_PASSWORD: secret is not set"):
        load_with(tmp_path, "fence-levels-debian12.yaml", lambda d: None, env=without)
    cluster = load_with(tmp_path, "fence-levels-debian12.yaml", lambda d: None,
                        env={**SECRETS, "SECOND_FENCE_PASSWORD_LB2": "pdu-Other-99"})
    assert [n.second_fence_password.name for n in cluster.nodes] == [
        "SECOND_FENCE_PASSWORD", "SECOND_FENCE_PASSWORD_LB2"]
    # Both passwords are masked wherever halb prints.
    assert {"pdu-Secret-23", "pdu-Other-99"} <= {s.value for s in cluster.secrets}
    centos = load_with(tmp_path, "fence-levels-centos7.yaml",
                       lambda d: d["fencing"]["second_level"].update(agent="fence_virsh"))
    packages = Dialect.for_platform("centos7").node_packages(centos)
    assert {"fence-agents-ipmilan", "fence-agents-virsh"} <= set(packages), packages


def test_each_level_is_checked_against_its_own_agents_meta_data(tmp_path):
    """The second level's options against fence_virsh's own parameters (its meta-data, as the
    Debian 12 package's agent prints it: tests/fixtures/facts/second_fence_metadata)."""
    import dataclasses

    from fabfile.errors import UserError
    from fabfile.fencing import check_parameters
    from fabfile.parsers import parse_fence_metadata

    from ..planning import raw_facts

    virsh = parse_fence_metadata((FIXTURE_CONFIGS.parent / "facts" / "second_fence_metadata" /
                                  "debian12-fence_virsh.txt").read_text())
    data = yaml.safe_load((FIXTURE_CONFIGS.parents[2] / "configs" / "lab-topology.yaml").read_text())
    for options, refused in (({"pcmk_reboot_action": "off", "ssh_path": "/usr/bin/ssh"}, None),
                             ({"lanplus": 1}, "fencing.second_level.options.lanplus")):
        data["fencing"]["second_level"]["options"] = options
        path = tmp_path / "levels.yaml"
        path.write_text(yaml.safe_dump(data))
        cluster = config.load(path, env=SECRETS)
        facts = raw_facts(cluster, "debian12-converged")
        facts["node1"] = dataclasses.replace(facts["node1"], second_fence_parameters=virsh)
        dialect = Dialect.for_platform("debian12", (0, 11, 5))
        if refused is None:
            check_parameters(cluster, dialect, facts)
        else:
            with pytest.raises(UserError, match=f"{refused}: fence_virsh on node1 takes no such"):
                check_parameters(cluster, dialect, facts)
