"""Clusters of 2 to 16 nodes: what every pair of nodes may not share, and how quorum is kept
(two_node or an arbiter for two, a majority for three or more, an arbiter only for an even count)."""

import pytest

from fabfile import config
from fabfile.config import ConfigError
from fabfile.dialects import Dialect

from ..conftest import CONFIGS, SECRETS


def add_nodes(count, start=3):
    """Nodes node<start>..node<count>, each with its own address and BMC."""
    def change(data):
        for i in range(start, count + 1):
            data["nodes"].append({"name": f"node{i}", "address": f"192.168.56.{11 + i}",
                                  "bmc": {"address": f"192.168.56.{100 + i}", "port": 622 + i,
                                          "username": "admin"}})
    return change


def without_arbiter(change):
    def both(data):
        change(data)
        data.pop("quorum", None)
    return both


def refused(write_config, change, field, words, base="lab.yaml"):
    with pytest.raises(ConfigError) as info:
        config.load(write_config(change, base=base), env=SECRETS)
    assert info.value.field == field, str(info.value)
    assert words in str(info.value), str(info.value)


def test_three_nodes_keep_quorum_by_majority_with_no_race_delay():
    cluster = config.load(CONFIGS / "lab-3nodes.yaml", env=SECRETS)
    assert [n.name for n in cluster.nodes] == ["node1", "node2", "node3"]
    assert cluster.quorum_device is None and cluster.fencing.race_delay == "0s"
    assert cluster.hosts == cluster.nodes


def test_sixteen_nodes_are_accepted_and_the_setup_names_every_one(write_config):
    def sixteen(data):
        data.pop("quorum")
        add_nodes(16)(data)
        for i, node in enumerate(data["nodes"]):
            node["address"] = f"10.1.0.{i + 1}"
            node["bmc"] = {"address": f"10.2.0.{i + 1}", "username": "admin"}
        data["haproxy"]["backends"][0]["servers"] = [
            {"name": "backend1", "address": "10.3.0.1", "port": 8080}]
        data["vip"] = {"ip": "10.1.0.100", "cidr_netmask": 24, "nic": "eth0"}
    cluster = config.load(write_config(sixteen), env=SECRETS)
    assert len(cluster.nodes) == 16
    command = Dialect.for_platform("debian12").setup_cluster(cluster.name, cluster.nodes,
                                                            cluster.failover)
    for i in range(16):
        assert f"node{i + 1} addr=10.1.0.{i + 1}" in command.display()


@pytest.mark.parametrize("count", [1, 17])
def test_fewer_than_two_or_more_than_sixteen_nodes_are_refused(write_config, count):
    def change(data):
        data.pop("quorum")
        add_nodes(17)(data)
        data["nodes"] = data["nodes"][:count]
    refused(write_config, change, "nodes", f"a cluster has 2 to 16 nodes, got {count}")


def test_a_third_node_with_the_first_nodes_address_is_named(write_config):
    def change(data):
        without_arbiter(add_nodes(3))(data)
        data["nodes"][2]["address"] = "192.168.56.11"
    refused(write_config, change, "nodes[2].address", "is also node node1's address")


def test_a_third_node_with_the_second_nodes_bmc_is_named(write_config):
    def change(data):
        without_arbiter(add_nodes(3))(data)
        data["nodes"][2]["bmc"] = dict(data["nodes"][1]["bmc"])
    refused(write_config, change, "nodes[2].bmc.address", "node2 and node3 name the same BMC")


def test_a_third_nodes_bmc_on_another_nodes_address_is_refused(write_config):
    def change(data):
        without_arbiter(add_nodes(3))(data)
        data["nodes"][2]["bmc"]["address"] = "192.168.56.12"
    refused(write_config, change, "nodes[2].bmc.address", "is a cluster node's own address")


def test_an_arbiter_for_an_odd_count_is_refused(write_config):
    refused(write_config, add_nodes(3), "quorum.device", "3 nodes have quorum of their own")


def test_an_arbiter_for_four_nodes_decides_by_lms_unless_told():
    cluster = config.load(CONFIGS / "lab-4nodes.yaml", env=SECRETS)
    assert len(cluster.nodes) == 4 and cluster.quorum_device.algorithm == "lms"
    assert cluster.fencing.race_delay == "0s"


def test_four_nodes_with_an_arbiter_and_no_algorithm_get_lms(write_config):
    def change(data):
        add_nodes(4)(data)
        data["quorum"]["device"].pop("algorithm")
    cluster = config.load(write_config(change), env=SECRETS)
    assert cluster.quorum_device.algorithm == "lms"


def test_a_race_delay_for_three_nodes_is_refused_and_zero_is_accepted(write_config):
    def delayed(value):
        def change(data):
            without_arbiter(add_nodes(3))(data)
            data["fencing"]["race_delay"] = value
        return change
    refused(write_config, delayed("5s"), "fencing.race_delay", "no race to delay")
    cluster = config.load(write_config(delayed("0s")), env=SECRETS)
    assert cluster.fencing.race_delay == "0s"


def test_ignoring_quorum_on_three_nodes_is_refused(write_config):
    def change(data):
        without_arbiter(add_nodes(3))(data)
        data["quorum"] = {"no_quorum_policy_ignore": True}
    refused(write_config, change, "quorum.no_quorum_policy_ignore", "a minority")


@pytest.mark.parametrize("name", ["lab-3nodes.yaml", "lab-4nodes.yaml", "lab-5nodes.yaml"])
def test_the_labs_of_more_nodes_are_the_lab_config_with_nodes_added(name):
    """configs/lab-<N>nodes.yaml differ from configs/lab.yaml in their nodes and quorum only."""
    two = config.load(CONFIGS / "lab.yaml", env=SECRETS)
    more = config.load(CONFIGS / name, env=SECRETS)
    assert more.nodes[:2] == two.nodes
    assert (more.vip, more.haproxy, more.failover, more.name) == \
        (two.vip, two.haproxy, two.failover, two.name)
    ports = [(n.bmc.address, n.bmc.port) for n in more.nodes]
    assert len({p for _, p in ports}) == len(ports), "one labd: every BMC on its own port"
