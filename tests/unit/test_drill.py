"""The drill's pure parts: reading Pacemaker's status and fence history, and turning probe
results into an outage. The drill itself runs against the lab (tests/lab/test_3_failover.py)."""

from pathlib import Path

import pytest

from fabfile import parsers
from fabfile.drill import (
    Drill,
    Probe,
    Round,
    client_moments,
    fenced_at_first_attempt,
    outage,
    summarise,
)
from fabfile.drillplot import buckets, check_target, plot
from fabfile.errors import UserError

FACTS = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


def test_crm_mon_xml_of_pacemaker_2_1():
    status = parsers.parse_crm_mon((FACTS / "crm_mon" / "crm_mon-pacemaker-2.1.5.txt").read_text())
    assert status.online == {"node1", "node2"}
    assert status.unclean == frozenset() and status.standby == frozenset()
    assert status.resources["vip"] == ("node1",) and status.resources["haproxy"] == ("node1",)
    assert status.resources["node1-fence"] == ("node2",)
    assert status.failures == 0


def test_crm_mon_errors_are_no_status():
    refused = ('<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">'
               '<status code="102" message="Not connected"/></pacemaker-result>')
    assert parsers.parse_crm_mon(refused) is None
    assert parsers.parse_crm_mon("") is None and parsers.parse_crm_mon("not xml") is None


def test_fencer_log_a_clean_fence():
    events = parsers.parse_fencer_log((FACTS / "fencer_log" / "fencer-log-ok-pacemaker-2.1.5.txt").read_text())
    assert [(e.target, e.device, e.rc, e.by) for e in events] == [
        ("node2", "node2-fence", 0, None), ("node2", None, 0, "node1"),
        ("node2", "node2-fence", 0, None), ("node2", None, 0, "node1")]
    assert fenced_at_first_attempt(events)


def test_fencer_log_a_fence_that_needed_a_retry():
    events = parsers.parse_fencer_log((FACTS / "fencer_log" / "fencer-log-failed-pacemaker-2.1.5.txt").read_text())
    assert [(e.device, e.rc) for e in events] == [("node1-fence", 1), (None, 1),
                                                  ("node1-fence", 0), (None, 0)]
    assert not fenced_at_first_attempt(events)  # fenced in the end, but not at the first attempt
    assert not fenced_at_first_attempt([])  # nothing fenced at all


def probes(pattern, start=100.0, step=0.1, took=0.02):
    """'+' an answered request, '-' a failed one, one every `step` seconds."""
    return [Probe(start + i * step, start + i * step + took, c == "+") for i, c in enumerate(pattern)]


def test_outage_runs_from_the_last_answer_to_the_first_after_the_last_failure():
    seconds, failed = outage(probes("+++-----+++"), fault_at=100.25)
    # last answer ends at 100.22, first answer after the failures ends at 100.82
    assert round(seconds, 2) == 0.60 and failed == 5
    seconds, failed = outage(probes("++--+-++"), fault_at=100.0)  # a flap counts whole
    assert round(seconds, 2) == 0.50 and failed == 3
    assert outage(probes("++++"), fault_at=100.0) == (0.0, 0)


def test_summary_per_fault_and_victim():
    rounds = [Round(i, "crash", "node1" if i % 2 else "node2", None, outage_s=s, failed=f,
                    fence_first_attempt=True)
              for i, (s, f) in enumerate([(2.0, 20), (3.0, 30), (2.5, 25), (4.0, 40)], 1)]
    rows = {r["victim"]: r for r in summarise(rounds)}
    assert rows["node1"]["median_s"] == 2.25 and rows["node1"]["max_s"] == 2.5
    assert rows["node2"]["median_s"] == 3.5 and rows["node2"]["failed_requests"] == 70
    assert all(r["fence_first_attempt"] for r in rows.values())


@pytest.mark.parametrize("real_kernels, expected", [(True, "sysrq node1"), (False, "lab crash node1")])
def test_a_crash_on_a_lab_of_real_kernels_is_the_kernels_own(real_kernels, expected):
    """VMs crash their own kernel (sysrq), as a real cluster does; containers lose power."""
    done = []

    class Lab:
        def crash(self, name):
            done.append(f"lab crash {name}")

    Lab.real_kernels = real_kernels
    drill = Drill.__new__(Drill)
    drill.fault, drill.lab, drill.dialect = "crash", Lab(), None
    drill._crash_real = lambda name: done.append(f"sysrq {name}")
    drill.inject("node1", "node2")
    assert done == [expected]


def test_fencer_log_lines_stamped_by_the_node_clock():
    text = ("1764930528.943339 node2 pacemaker-fenced[61]:  notice: Operation 'off' [201] "
            "targeting node1 using node1-fence returned 0\n"
            "1764930529.010000 node2 pacemaker-fenced[61]:  notice: Operation 'off' targeting "
            "node1 by node2 for pacemaker-controld.65@node2: OK (complete)\n")
    events = parsers.parse_fencer_log(text)
    assert [(e.device, e.rc, e.at) for e in events] == [("node1-fence", 0, 1764930528.943339),
                                                        (None, 0, 1764930529.01)]


@pytest.mark.parametrize("line", [
    "1764930529.5 node2 pacemaker-controld[65]:  notice: Result of start operation for vip on "
    "node2: ok",  # Pacemaker 2.1 and later
    "1764930529.5 node2 pacemaker-controld[65]:  notice: Result of start operation for vip on "
    "node2: 0 (ok)",  # 2.0
])
def test_the_controllers_record_of_a_start(line):
    other = ("1764930529.6 node2 pacemaker-controld[65]:  notice: Result of start operation for "
             "haproxy on node2: ok\n"
             "1764930529.7 node2 pacemaker-controld[65]:  notice: Result of start operation for "
             "vip on node2: error\n")
    assert parsers.parse_starts(line + "\n" + other, "vip") == [(1764930529.5, "node2")]
    assert parsers.parse_starts(line.split(" ", 1)[1], "vip") == []  # no stamp, no moment


def test_what_a_client_saw_first_failure_and_first_answer_after_the_last_one():
    seen = probes("+++--+--+++", start=100.0)
    assert client_moments(seen, fault_at=100.05) == {"first failed request": 0.25,
                                                     "answered again": 0.77}
    assert client_moments(probes("++++"), fault_at=100.0) == {}


def test_buckets_of_100_ms_count_answered_and_failed_and_keep_the_gaps():
    samples = [[-0.95, True], [-0.05, True], [0.02, False], [0.07, False], [0.31, True]]
    assert buckets(samples) == [(-1.0, 1, 0), (-0.9, 0, 0), (-0.8, 0, 0), (-0.7, 0, 0),
                                (-0.6, 0, 0), (-0.5, 0, 0), (-0.4, 0, 0), (-0.3, 0, 0),
                                (-0.2, 0, 0), (-0.1, 1, 0), (0.0, 0, 2), (0.1, 0, 0),
                                (0.2, 0, 0), (0.3, 1, 0)]
    assert buckets([]) == []


def test_a_plot_draws_every_round_with_its_moments(tmp_path):
    rounds = []
    for number, victim in ((1, "node1"), (2, "node2")):
        r = Round(number, "crash", victim, victim, "node2" if victim == "node1" else "node1",
                  outage_s=1.8)
        r.samples = [[round(-1 + i * 0.1, 3), not 10 <= i < 28] for i in range(40)]
        r.moments = {"first failed request": 0.0, "fenced": 1.21, "VIP started": 1.52,
                     "answered again": 1.81}
        rounds.append(r)
    svg = tmp_path / "drill.svg"
    plot(rounds, svg, "halb-lab: drill --fault crash")
    text = svg.read_text()
    for words in ("round 1: crash of node1", "round 2: crash of node2", "fenced 1.21s",
                  "VIP started 1.52s", "answered again 1.81s", "fault 0.00s",
                  "seconds after the fault"):
        assert words in text, words
    png = tmp_path / "drill.png"
    plot(rounds[:1], png, "one round")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("target,words", [("drill.pdf", "an .svg or .png"),
                                          ("nowhere/drill.svg", "directory does not exist")])
def test_a_plot_it_cannot_write_is_refused_before_the_drill(tmp_path, target, words):
    with pytest.raises(UserError, match=words):
        check_target(tmp_path / target)
