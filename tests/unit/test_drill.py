"""The drill's pure parts: reading Pacemaker's status and fence history, and turning probe
results into an outage. The drill itself runs against the lab (tests/lab/test_3_failover.py)."""

from pathlib import Path

from fabfile import facts
from fabfile.drill import Probe, Round, new_fence_events, outage, summarise

STATUS = Path(__file__).resolve().parents[1] / "fixtures" / "status"


def test_crm_mon_xml_of_pacemaker_2_1():
    status = facts.parse_crm_mon((STATUS / "crm_mon-pacemaker-2.1.5.xml").read_text())
    assert status.online == {"node1", "node2"}
    assert status.unclean == frozenset() and status.standby == frozenset()
    assert status.resources["vip"] == ("node1",) and status.resources["haproxy"] == ("node1",)
    assert status.resources["node1-fence"] == ("node2",)
    assert status.failures == 0


def test_crm_mon_errors_are_no_status():
    refused = ('<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">'
               '<status code="102" message="Not connected"/></pacemaker-result>')
    assert facts.parse_crm_mon(refused) is None
    assert facts.parse_crm_mon("") is None and facts.parse_crm_mon("not xml") is None


def test_only_new_events_of_the_victim_count_oldest_first():
    before = facts.parse_fence_history((STATUS / "fence_history-pacemaker-2.1.5.xml").read_text())
    assert before and all(e.status == "success" for e in before)
    failed = facts.FenceEvent("node2", "reboot", "failed", "node1", "node1", "2026-11-25 23:00:01Z")
    retried = facts.FenceEvent("node2", "reboot", "success", "node1", "node1", "2026-11-25 23:00:30Z")
    other = facts.FenceEvent("node1", "reboot", "success", "node2", "node2", "2026-11-25 23:00:02Z")
    after = [retried, other, failed, *before]  # the fencer lists newest first
    assert new_fence_events(before, after, "node2") == [failed, retried]
    assert new_fence_events(before, before, "node2") == []


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
