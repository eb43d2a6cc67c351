"""The drill's pure parts: reading Pacemaker's status and fence history, and turning probe
results into an outage. The drill itself runs against the lab (tests/lab/test_3_failover.py)."""

from pathlib import Path

import pytest

from fabfile import parsers
from fabfile.drill import Drill, Probe, Round, fenced_at_first_attempt, outage, summarise

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
