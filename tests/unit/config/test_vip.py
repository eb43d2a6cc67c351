"""Cloud VIPs (vip.cloud): each provider's fields are checked and named in errors; the plans
themselves are in tests/fixtures/plans/vip-cloud-*.yaml and install-cloud-*.yaml."""

import pytest
import yaml

from fabfile import config
from fabfile.errors import ConfigError

from ..conftest import SECRETS


def load_with(tmp_path, name, change):
    from pathlib import Path
    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "fixtures" / "configs" / name)
                          .read_text())
    change(data["vip"])
    path = tmp_path / "cloud.yaml"
    path.write_text(yaml.safe_dump(data))
    return config.load(path, env=SECRETS)


@pytest.mark.parametrize("name, change, field, words", [
    ("vip-aws-route-debian12.yaml", lambda v: v["cloud"].update(provider="aws"),
     "vip.cloud.provider", "'aws' is not a cloud VIP provider (aws-route, aws-eip, gcp-alias, azure-lb)"),
    ("vip-aws-route-debian12.yaml", lambda v: v["cloud"].update(routing_table="rtb-xyz"),
     "vip.cloud.routing_table", "is not a route table id"),
    ("vip-aws-route-debian12.yaml", lambda v: v["cloud"].pop("routing_table"),
     "vip.cloud.routing_table", "is required"),
    ("vip-aws-route-debian12.yaml", lambda v: v["cloud"].update(region="Europe"),
     "vip.cloud.region", "is not an AWS region"),
    ("vip-aws-eip-debian12.yaml", lambda v: v["cloud"].update(allocation_id="alloc-1"),
     "vip.cloud.allocation_id", "is not an allocation id"),
    ("vip-aws-eip-debian12.yaml", lambda v: v["cloud"].update(routing_table="rtb-0a1b2c3d"),
     "vip.cloud.routing_table", "unknown field"),
    ("vip-azure-lb-debian12.yaml", lambda v: v["cloud"].update(probe_port=70000),
     "vip.cloud.probe_port", "is not a TCP/UDP port"),
    ("vip-gcp-alias-debian12.yaml", lambda v: v["cloud"].update(alias_range_name="a b"),
     "vip.cloud.alias_range_name", "is not a safe name"),
    ("vip-azure-lb-debian12.yaml", lambda v: v.update(resource_id="haproxy-x") or v["cloud"],
     None, None),
])
def test_each_cloud_field_is_checked_and_named(tmp_path, name, change, field, words):
    if field is None:
        load_with(tmp_path, name, change)  # a valid change loads
        return
    with pytest.raises(ConfigError) as caught:
        load_with(tmp_path, name, change)
    text = str(caught.value)
    assert f"{field}: " in text and words in text, text
    assert "Traceback" not in text


def test_a_routed_vip_may_lie_outside_the_nodes_subnet_an_arp_one_may_not(tmp_path):
    cluster = load_with(tmp_path, "vip-aws-route-debian12.yaml", lambda v: None)
    assert cluster.vip.ip == "192.168.200.10"
    with pytest.raises(ConfigError, match="is not in the subnet of node lb1"):
        load_with(tmp_path, "vip-azure-lb-debian12.yaml", lambda v: v.update(ip="192.168.200.10"))


def test_the_providers_resources_may_not_take_another_resources_id(tmp_path):
    with pytest.raises(ConfigError, match="must all differ"):
        load_with(tmp_path, "vip-azure-lb-debian12.yaml", lambda v: v.update(resource_id="haproxy")
                  or None)
    cluster = load_with(tmp_path, "vip-aws-eip-debian12.yaml", lambda v: None)
    assert cluster.vip.resource_ids == ("vip", "vip-private", "vip-eip")


AGENTS = "/usr/lib/ocf/resource.d/heartbeat"


def agent_parameters(agent):
    """The parameters an installed resource agent's own meta-data names."""
    import os
    import subprocess
    import xml.etree.ElementTree as ET
    path = f"{AGENTS}/{agent.rsplit(':', 1)[1]}"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed here (resource-agents)")
    out = subprocess.run([path, "meta-data"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "OCF_ROOT": "/usr/lib/ocf"}).stdout
    return {p.get("name") for p in ET.fromstring(out).iter("parameter")}


@pytest.mark.parametrize("name", ["vip-aws-route-debian12.yaml", "vip-aws-eip-debian12.yaml",
                                  "vip-gcp-alias-debian12.yaml", "vip-azure-lb-debian12.yaml"])
def test_every_option_is_a_parameter_of_the_agent_as_its_meta_data_says(tmp_path, name):
    from fabfile.plan.vip import vip_resources

    def everything(vip):
        vip["cloud"].update({"aws-route": {"profile": "halb"}, "aws-eip": {"profile": "halb"}}
                            .get(vip["cloud"]["provider"], {}))
    cluster = load_with(tmp_path, name, everything)
    for resource, agent, options in vip_resources(cluster):
        unknown = {k for k, _ in options} - agent_parameters(agent)
        assert not unknown, f"{resource} ({agent}) takes no {sorted(unknown)}"
