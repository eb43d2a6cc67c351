"""The failover benchmark's table: one row per variant, fault and victim, each linking the
drawing of its drill's rounds. The drills themselves run in the lab (inv lab.bench)."""

from fabfile.lab.bench import markdown


def test_each_row_links_the_timelines_of_its_drill():
    summary = [{"victim": "node1", "rounds": 2, "median_s": 1.8, "p95_s": 2.1, "max_s": 2.1,
                "failed_requests": 40, "fence_first_attempt": True}]
    report = {"date": "2026-12-05 11:00 UTC", "commit": "abc1234", "machine": "host: 2 cores",
              "variants": {"fast+arbiter": {
                  "crash": {"summary": summary, "plot": "failover-x-fast-arbiter-crash.svg"},
                  "standby": {"summary": summary}}}}
    lines = markdown(report).splitlines()
    assert lines[2].endswith("| timelines |")
    assert lines[4] == ("| fast+arbiter | crash | node1 | 2 | 1.80 s | 2.10 s | 2.10 s | 40 | yes | "
                        "[svg](failover-x-fast-arbiter-crash.svg) |")
    assert lines[5].endswith("| - | - |")  # standby: no fence; a report without a drawing
