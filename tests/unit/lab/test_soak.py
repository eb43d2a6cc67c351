"""The soak's pure parts: the seeded choice of faults and the summary per fault type."""

import random

from fabfile.lab import soak


def outcome(number, fault, failed, requests, outage, recovered, fenced=(), violations=()):
    o = soak.Outcome(number, fault, "node1", "node1", float(number))
    o.failed, o.requests, o.outage_s, o.recovered_s = failed, requests, outage, recovered
    o.fenced, o.violations = list(fenced), list(violations)
    return o


class Chooser:
    """A Soak with only what choose() reads."""

    def __init__(self, seed, kinds):
        self.pick, self.kinds = random.Random(seed), sorted(kinds)
        self.nodes = {"node1": None, "node2": None}

    choose = soak.Soak.choose


def test_a_seed_repeats_the_faults_and_their_victims():
    runs = []
    for _ in range(2):
        chooser = Chooser(7, soak.FAULTS)
        runs.append([chooser.choose("node2") for _ in range(30)])
    assert runs[0] == runs[1]
    other = Chooser(8, soak.FAULTS)
    assert [other.choose("node2") for _ in range(30)] != runs[0]
    assert {fault for fault, _ in runs[0]} <= set(soak.FAULTS)


def test_a_fault_aimed_at_the_serving_node_takes_it():
    chooser = Chooser(1, ["haproxy-kill"])
    assert {chooser.choose("node2") for _ in range(10)} == {("haproxy-kill", "node2")}


def test_the_summary_gives_availability_outage_and_recovery_per_fault_type():
    rows = soak.summarise([
        outcome(1, "crash", 20, 1000, 2.0, 30.0, fenced=["node1"]),
        outcome(2, "crash", 30, 1000, 3.0, 40.0, fenced=["node2"]),
        outcome(3, "crash", 25, 1000, 2.5, None, violations=["not healthy within 90s"]),
        outcome(4, "standby", 0, 500, 0.0, 8.0),
        outcome(5, "standby", 5, 500, 0.3, 9.0),
    ])
    rows_false = soak.summarise([outcome(6, "flap-short", 0, 100, 0.0, 3.0)])
    assert rows_false[0]["false_failovers"] == 0
    crash, standby = rows
    assert crash["fault"] == "crash" and crash["count"] == 3
    assert crash["availability"] == round(1 - 75 / 3000, 4)
    assert (crash["outage_median_s"], crash["outage_worst_s"]) == (2.5, 3.0)
    assert (crash["recovered_median_s"], crash["recovered_worst_s"]) == (35.0, 40.0)
    assert crash["not_recovered"] == 1 and crash["fenced"] == 2 and crash["violations"] == 1
    assert standby["availability"] == 0.995 and standby["fenced"] == 0
    assert crash["false_failovers"] == 0


def test_every_fault_has_a_bound_and_says_what_it_does():
    for fault in soak.FAULTS.values():
        assert fault.bound_s > 0 and fault.what and fault.victim in ("any", "serving")


def test_a_failover_the_fault_did_not_call_for_is_named():
    ff = soak.false_failover
    assert ff("crash", "node1", "node1", "node2", ["node1"]) is None
    assert ff("crash", "node2", "node1", "node1", ["node2"]) is None  # the idle one: fenced, no move
    assert ff("crash", "node2", "node1", "node2", ["node2"]) == "the service moved node1 -> node2"
    assert ff("flap-short", "node1", "node1", "node2", []) == "the service moved node1 -> node2"
    assert ff("flap-short", "node1", "node1", "node1", ["node1"]) == "node1 fenced"
    assert ff("haproxy-kill", "node1", "node1", "node1", []) is None
    assert ff("split", "node2", "node1", "node1", ["node1", "node2"]) == "node1, node2 fenced"
    assert ff("standby", "node1", "node1", "node2", []) is None


def test_only_the_failures_a_fault_causes_on_its_victim_are_expected():
    from fabfile import config

    from ..conftest import CONFIGS, SECRETS
    cluster = config.load(CONFIGS / "lab.yaml", env=SECRETS)
    kill, corosync, crash = (soak.FAULTS[f] for f in ("haproxy-kill", "corosync-kill", "crash"))
    assert soak.expected_failure(kill, "node1", ("haproxy", "monitor", "node1"), cluster)
    assert not soak.expected_failure(kill, "node1", ("haproxy", "monitor", "node2"), cluster)
    assert not soak.expected_failure(kill, "node1", ("node2-fence", "monitor", "node1"), cluster)
    assert soak.expected_failure(corosync, "node1", ("node2-fence", "monitor", "node1"), cluster)
    assert not soak.expected_failure(corosync, "node1", ("vip", "stop", "node2"), cluster)
    assert not soak.expected_failure(crash, "node1", ("vip", "stop", "node1"), cluster)
    # Packet loss on a node's link can fail the monitors that go over it there (its fence
    # device's, through the BMC), and nowhere else.
    loss = soak.FAULTS["loss"]
    assert soak.expected_failure(loss, "node1", ("node2-fence", "monitor", "node1"), cluster)
    assert not soak.expected_failure(loss, "node1", ("node1-fence", "monitor", "node2"), cluster)
