"""Several service groups: each its own VIP, HAProxy instance and resources; the first keeps
the single form's names, so a cluster grows into groups in place; what two groups would share
is refused with the group and field named."""

import pytest

from fabfile import config
from fabfile.config import ConfigError

from ..conftest import CONFIGS, SECRETS


def refused(write_config, change, field, words):
    with pytest.raises(ConfigError) as info:
        config.load(write_config(change, base="lab-2vips.yaml"), env=SECRETS)
    assert info.value.field == field, str(info.value)
    assert words in str(info.value), str(info.value)


def test_two_groups_each_with_its_own_resources_files_and_socket():
    cluster = config.load(CONFIGS / "lab-2vips.yaml", env=SECRETS)
    first, second = cluster.views()
    assert (first.group, first.vip.resource_id, first.service.resource_id) == \
        ("halb", "vip", "haproxy")
    assert (first.haproxy.config_path, first.haproxy.stats_socket) == \
        ("/etc/haproxy/haproxy.cfg", "/run/haproxy/admin.sock")
    assert (second.group, second.vip.resource_id, second.service.resource_id) == \
        ("web-b", "web-b-vip", "web-b-haproxy")
    assert (second.haproxy.config_path, second.haproxy.stats_socket) == \
        ("/etc/haproxy/web-b.cfg", "/run/haproxy/web-b.sock")
    assert second.vip.ip == "192.168.56.30" and second.nodes == cluster.nodes
    # The cluster itself is the first group, as the single form makes it.
    assert (cluster.group, cluster.vip, cluster.haproxy) == (first.group, first.vip, first.haproxy)


def test_the_single_form_is_one_group_and_its_own_view():
    cluster = config.load(CONFIGS / "lab.yaml", env=SECRETS)
    assert len(cluster.groups) == 1 and cluster.views() == (cluster,)
    assert cluster.groups[0].name == "halb" and cluster.groups[0].vip == cluster.vip


@pytest.mark.parametrize("change, field, words", [
    (lambda d: d["groups"][1]["vip"].update(ip="192.168.56.10"), "groups[1].vip.ip",
     "is also groups[0]'s"),
    (lambda d: d["groups"][1].update(name="halb"), "groups[1].name", "is also groups[0]'s"),
    (lambda d: d["groups"][1]["haproxy"].update(health_port=8404), "groups[1].haproxy.health_port",
     "is also groups[0]'s"),
    (lambda d: d["groups"][1]["haproxy"].update(config_path="/etc/haproxy/haproxy.cfg"),
     "groups[1].haproxy.config_path", "is also groups[0]'s"),
    (lambda d: d["groups"][1].pop("vip"), "groups[1].vip", "is required"),
    (lambda d: d["groups"][1]["vip"].update(ip="10.9.9.9"), "groups[1].vip.ip",
     "is not in the subnet of node node1"),
    (lambda d: d["groups"][1].update(colour="blue"), "groups[1].colour", "unknown field"),
    (lambda d: d["groups"][1].update(service={"agent": "systemd:nginx"}),
     "groups[1].service.agent", "runs halb's HAProxy"),
    (lambda d: d.update(vip={"ip": "192.168.56.10", "cidr_netmask": 24}), "vip",
     "goes inside each item of groups"),
    (lambda d: d.update(groups=[]), "groups", "1 to 8 are supported"),
    (lambda d: d["groups"][1]["vip"].update(resource_id="haproxy"), "groups",
     "must all differ"),
])
def test_what_two_groups_would_share_is_refused_with_the_group_named(write_config, change,
                                                                       field, words):
    refused(write_config, change, field, words)
