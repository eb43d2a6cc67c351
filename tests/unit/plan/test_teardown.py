"""Teardown's plan: a converged cluster destroyed once, halb's files removed, another cluster
left alone. (The task itself is proven in the lab.)"""

import pytest

from fabfile.plan import teardown

from ..conftest import load_example
from ..planning import fresh_facts, lab_cluster, lines, plan_step, raw_facts


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
    restart = "systemctl restart pcsd (a stop that hangs is killed after 5 s)"
    assert got[3:] == [f"node1: {removal}", f"node1: {restart}",
                       f"node2: {removal}", f"node2: {restart}"]
    # What the plan says it removes is the manifest's list, never a configured path alone.
    reasons = [c.why for _, commands in plan.phases[1] for c in commands]
    created, replaced = reasons[0].removeprefix("remove what halb created: ").split(
        "; put back what it replaced: ")
    assert set(created.split()) == {
        "/usr/lib/ocf/resource.d/halb/haproxy", "/etc/halb/fence/node1.password",
        "/etc/halb/fence/node2.password", "/usr/lib/halb/alert_webhook",
        "/usr/lib/halb/alert_file.sh", "/etc/halb/alert-hook.token",
        "/usr/lib/halb/quorum_heuristic"}
    assert set(replaced.split(") ")) == {
        "/etc/haproxy/haproxy.cfg (from /etc/haproxy/haproxy.cfg.halb-orig",
        "/etc/default/pcsd (from /etc/default/pcsd.halb-orig",
        "/etc/ha_cluster_exporter.yaml (from /etc/ha_cluster_exporter.yaml.halb-orig)"}
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
