"""The plan layer, pyinfra-style: tests/fixtures/plans/*.yaml hold facts in and commands out."""

from pathlib import Path

import pytest
import yaml

from fabfile import config
from fabfile.commands import content_digest
from fabfile.errors import UserError
from fabfile.plan.haproxy import rollout as haproxy_rollout
from fabfile.render import render_haproxy_config
from fabfile.runner import STEPS

from ..conftest import CONFIGS, SECRETS
from ..planning import current_checksum, fresh_facts, lines, plan_step, raw_facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CASES = sorted((FIXTURES / "plans").glob("*.yaml"))
PLANNERS = {**STEPS, "haproxy-config": haproxy_rollout}


def load_cluster(name):
    path = FIXTURES / "configs" / name
    return config.load(path if path.exists() else CONFIGS / name, env=SECRETS)


def facts_for(cluster, case):
    if case["facts"] == "fresh":
        return fresh_facts(cluster)
    return raw_facts(cluster, case["facts"], case.get("edits"), case.get("stale", ()))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_case(path):
    case = yaml.safe_load(path.read_text())
    cluster = load_cluster(case["config"])
    facts = facts_for(cluster, case)
    planner = PLANNERS[case["step"]]
    if "error" in case:
        with pytest.raises(UserError, match=case["error"]):
            plan_step(case["step"], cluster, facts, planner)
        return
    plan = plan_step(case["step"], cluster, facts, planner)
    checksum = current_checksum(cluster)
    # {group[NAME]}: group NAME's config_checksum; {group12[NAME]}, {checksum12}: the start of
    # the sha256 of its rendered shared file (several groups).
    groups = {view.group: current_checksum(view) for view in cluster.views()}
    files = {view.group: content_digest(render_haproxy_config(view))[:12]
             for view in cluster.views() if view.haproxy}
    expected = [e.format(checksum=checksum, checksum12=files.get(cluster.group, ""),
                         group=groups, group12=files)
                for e in case["expect"]]
    assert lines(plan) == expected
    checks = [f"{host}: {cmd.display()}" for host, cmd in plan.checks]
    assert checks == case.get("checks", [])


CONVERGED = [("lab.yaml", "debian12-converged"), ("example-centos7.yaml", "centos7-converged"),
             ("lab.yaml", "trixie-converged"), ("lab.yaml", "bullseye-converged"),
             ("lab-3nodes.yaml", "debian12-3nodes")]


@pytest.mark.parametrize("step", list(PLANNERS))
@pytest.mark.parametrize("config_name,raw", CONVERGED,
                         ids=["debian12", "centos7", "trixie", "bullseye", "debian12-3nodes"])
def test_converged_cluster_plans_nothing(config_name, raw, step):
    cluster = load_cluster(config_name)
    plan = plan_step(step, cluster, raw_facts(cluster, raw), PLANNERS[step])
    assert plan.empty, lines(plan)
    assert plan.checks == []
    assert plan.reasons, "a step with nothing to do says why"
    assert all(reason for _, reason in plan.reasons)


def test_steps_need_a_running_cluster():
    cluster = load_cluster("lab.yaml")
    facts = raw_facts(cluster, "debian12-converged", {"node1": {"cib": [("<cib ", "not xml <cib ")]}})
    with pytest.raises(UserError, match="run the 'setup' step first"):
        plan_step("fence", cluster, facts)


def test_rollout_refused_without_the_resource():
    cluster = load_cluster("lab.yaml")
    facts = raw_facts(cluster, "debian12-converged",
                      {"node1": {"cib": [('<primitive id="haproxy"', '<primitive id="web"')]}})
    with pytest.raises(UserError, match="run the 'haproxy' step first"):
        plan_step("haproxy-config", cluster, facts, haproxy_rollout)


@pytest.mark.parametrize("serving, idle", [("node2", "node1"), ("node1", "node2")])
def test_rollout_goes_to_the_active_node_last(serving, idle):
    """With the group (VIP and HAProxy) active on one node, the other is the standby and is
    written first, whichever it is."""
    cluster = load_cluster("lab.yaml")
    facts = raw_facts(cluster, "debian12-converged", stale=["files"])
    cib = facts["node1"].cib
    cib.resource_nodes["vip"] = cib.resource_nodes["haproxy"] = (serving,)
    hosts = [line.split(":")[0] for line in lines(plan_step("haproxy", cluster, facts))]
    # The idle node's writes (and its re-probe: its agent was missing) all come first.
    assert hosts == [idle] * hosts.count(idle) + [serving] * hosts.count(serving)
    assert hosts.count(idle) >= 2 and hosts.count(serving) >= 2


def test_an_outdated_quorum_heuristic_is_written_again_on_its_node_only():
    """A node whose heuristic script differs from the one this halb ships (an upgrade, a hand
    edit) gets it again, before anything else; the device and its heuristics stay as they are."""
    cluster = load_cluster("lab.yaml")
    facts = raw_facts(cluster, "debian12-converged")
    facts["node2"].files["/usr/lib/halb/quorum_heuristic"] = "0" * 64
    plan = plan_step("quorum", cluster, facts)
    assert lines(plan) == ["node2: write-file /usr/lib/halb/quorum_heuristic mode 0755  "
                           "<stdin: fabfile/agents/quorum_heuristic.py>"]
    assert plan.phases[0] and len(plan.phases) == 1
