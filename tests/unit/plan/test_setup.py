"""Failover settings that reach the nodes: the corosync.conf pcs 0.9 gets, the lab variants."""

import pytest
import yaml

from fabfile import parsers
from fabfile.lab import bench
from fabfile.plan.setup import with_totem

from ..conftest import SECRETS
from ..planning import plan_step, raw_facts
from .test_plans import load_cluster


def test_pcs_09_gets_its_corosync_conf_with_the_new_timings_and_nothing_else_changed():
    cluster = load_cluster("example-centos7.yaml")
    node_facts = raw_facts(cluster, "centos7-converged",
                           {"HOST-1": {"corosync": [("    token: 3000\n    consensus: 3600\n", "")]}})
    (command,) = plan_step("setup", cluster, node_facts).commands_for("HOST-1")
    written = parsers.parse_corosync(command.stdin)
    old = node_facts["HOST-1"].corosync
    assert (written.token_ms, written.consensus_ms) == (3000, 3600)
    assert (written.cluster_name, written.nodes, written.two_node) == (
        old.cluster_name, old.nodes, old.two_node)
    # the values travel as positional parameters of a constant script, never inside it
    assert "3000" not in command.argv[2] and command.argv[3:7] == ("sh", "true", "false", "2")


def test_with_totem_replaces_existing_values_in_place():
    text = "totem {\n    version: 2\n    token: 1000\n    interface {\n        token: 9\n    }\n}\n"
    rewritten = with_totem(text, 500, 600)
    assert parsers.parse_corosync(rewritten).token_ms == 500
    assert rewritten.count("token:") == 1  # the interface subsection's stray key went too
    assert with_totem(rewritten, 500, 600) == rewritten


def test_bench_variants_are_the_lab_config_with_one_thing_changed(tmp_path):
    from fabfile import config
    for name, spec in bench.VARIANTS.items():
        nodes = spec.get("nodes", 2)
        lab = yaml.safe_load(bench.s.config_for(nodes).read_text())
        path = bench.variant_config(name, tmp_path)
        data = yaml.safe_load(path.read_text())
        assert data["nodes"] == lab["nodes"] and data["vip"] == lab["vip"]
        cluster = config.load(path, env=SECRETS)
        assert len(cluster.nodes) == nodes
        assert cluster.failover.profile == spec["profile"]
        assert (cluster.quorum_device is not None) == spec["arbiter"]
        assert cluster.fencing.race_delay == ("0s" if spec["arbiter"] or nodes > 2 else
                                              {"fast": "2s", "conservative": "10s"}[spec["profile"]])


def test_a_bare_race_delay_counts_in_seconds_as_pacemaker_reads_it(write_config):
    from fabfile import config
    from fabfile.dialects import Dialect
    from fabfile.fencing import device_options

    def change(data):
        del data["quorum"]["device"]
        data["fencing"]["race_delay"] = "5"
    cluster = config.load(write_config(change), env=SECRETS)
    dialect = Dialect.for_platform("debian12")
    assert ("pcmk_delay_base", "5") in device_options(cluster, dialect, cluster.node("node1"))
    assert config.duration_ms("5", bare="s") == 5000 and config.duration_ms("500") == 500


def test_a_renamed_node_is_refused_with_the_reason(write_config):
    """node3's machine, renamed node9 in the config: it still holds the cluster's config under
    its old name, which pcs cannot rename."""
    from fabfile import config
    from fabfile.errors import UserError

    three = load_cluster("lab-3nodes.yaml")
    facts = raw_facts(three, "debian12-3nodes")

    def renamed(data):
        data["nodes"][2]["name"] = "node9"
    cluster = config.load(write_config(renamed, base="lab-3nodes.yaml"), env=SECRETS)
    facts = {"node1": facts["node1"], "node2": facts["node2"], "node9": facts["node3"]}
    with pytest.raises(UserError, match="node9 already holds cluster 'halb-lab'.s config but is "
                                        "not one of its members .node1, node2, node3.: renaming"):
        plan_step("setup", cluster, facts)
