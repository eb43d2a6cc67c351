"""Two service groups on the two nodes (configs/lab-2vips.yaml): the running one-group cluster
grows a second group in place, each group's VIP answers from a node of its own at once, and a
crash of the node serving one group moves that group alone: the other one's clients see
nothing. Then the config goes back to one group and the next run deletes the second group from
the cluster (shown in the plan first)."""

import pytest

from .conftest import TIMINGS, crm_mon, drill, http_via_vip, inv, run_in, vip_holders, wait_for

TWO = ("--config", "configs/lab-2vips.yaml")
VIP_A, VIP_B = "192.168.56.10", "192.168.56.30"
BOTH = {"node1", "node2"}


def answers(vip):
    try:
        return http_via_vip(timeout=2, vip=vip)[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def two_groups(converged):
    wait_for(lambda: crm_mon("node1")["online"] == BOTH, 240, "both nodes online")
    rc, out, took = inv("setup-cluster", *TWO)
    assert rc == 0, out[-4000:]
    assert "pcs constraint colocation add web-b with halb" in out, out[-4000:]
    TIMINGS["a second service group added to the running cluster"] = f"{took:.1f}s"
    yield
    # Back to configs/lab.yaml's one group: the group taken out of the config is deleted, and
    # the dry run says so first.
    rc, out, _ = inv("setup-cluster", "--config", "configs/lab.yaml", "--dry-run")
    assert rc == 0 and "pcs resource delete web-b" in out, out[-3000:]
    assert "web-b" in run_in("node1", "crm_mon", "-1").stdout  # the dry run changed nothing
    rc, out, took = inv("setup-cluster", "--config", "configs/lab.yaml")
    assert rc == 0 and "pcs resource delete web-b" in out, out[-3000:]
    TIMINGS["the second service group, taken out of the config, deleted"] = f"{took:.1f}s"
    assert "web-b" not in run_in("node1", "cibadmin", "--query", "--scope", "resources").stdout
    assert answers(VIP_A) and not answers(VIP_B)
    rc, out, _ = inv("setup-cluster", "--config", "configs/lab.yaml")
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]


def test_two_vips_answer_at_once_each_from_a_node_of_its_own(two_groups):
    wait_for(lambda: len(vip_holders(VIP_A)) == 1 and len(vip_holders(VIP_B)) == 1
             and answers(VIP_A) and answers(VIP_B), 60, "both VIPs answering")
    assert {vip_holders(VIP_A)[0], vip_holders(VIP_B)[0]} == BOTH
    resources = crm_mon("node1")["resources"]
    assert resources["web-b-haproxy"]["nodes"] == vip_holders(VIP_B)
    assert resources["haproxy"]["nodes"] == vip_holders(VIP_A)
    rc, out, _ = inv("status", *TWO)
    assert rc == 0, out
    assert "VIP on exactly one node (web-b)" in out and "backends healthy (web-b)" in out, out
    rc, out, _ = inv("setup-cluster", *TWO)
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]


def test_a_crash_moves_the_group_of_the_crashed_node_alone(two_groups):
    """The drill crashes the node serving web-b and probes both VIPs every 100 ms."""
    a_node, b_node = vip_holders(VIP_A)[0], vip_holders(VIP_B)[0]
    assert a_node != b_node
    report, _ = drill("--fault", "crash", "--victim", b_node, *TWO)
    (round_,) = report["rounds"]
    assert round_["error"] is None, round_
    assert round_["fenced"] and round_["fence_first_attempt"] is True, round_["fenced"]
    # The first group's clients saw nothing; web-b's saw its move.
    assert round_["vip_before"] == round_["vip_after"] == a_node, round_
    assert round_["failed"] == 0 and round_["outage_s"] == 0, round_
    b = round_["other_vips"][VIP_B]
    assert 0 < b["failed"] < b["requests"] and b["outage_s"] < 10, b
    TIMINGS["two groups: crash of web-b's node (drill)"] = (
        f"web-b outage {b['outage_s']:.2f}s, {b['failed']} failed requests; the first group "
        f"{round_['failed']} failed of {round_['requests']}")
    # The node is back; both groups stay where they run (a move is an outage of its own).
    wait_for(lambda: crm_mon(a_node)["online"] == BOTH, 240, f"{b_node} back online")
    assert vip_holders(VIP_A) == [a_node] and vip_holders(VIP_B) == [a_node]
    rc, out, _ = inv("status", *TWO)
    assert rc == 0, out
