"""The OCF agent on a crowded host: a stop must end inside its operation timeout even when the
process ignores every soft signal, or Pacemaker counts the stop failed and fences the node.

Here the host is the node: 1000 extra processes, the agent run as Pacemaker's executor runs
it, and killed, as the executor kills it, when its timeout passes.
"""

import os
import subprocess

import pytest

from tests.unit.ocf.test_haproxy import OCF_NOT_RUNNING, OCF_SUCCESS, agent  # noqa: F401 (fixture)

STOP_TIMEOUT_S = 8


def test_stop_ends_within_its_timeout_on_a_busy_host(agent):  # noqa: F811
    """Escalation to SIGKILL is timed against the clock: a host with many processes must not
    stretch a stop past its timeout."""
    assert agent("start")[0] == OCF_SUCCESS
    crowd = [subprocess.Popen(["sleep", "300"]) for _ in range(1000)]
    pid = agent.pid()
    os.kill(pid, 19)  # SIGSTOP: deaf to the soft stop and to TERM, so the stop escalates to KILL
    try:
        rc, out = agent("stop", timeout=STOP_TIMEOUT_S, op_timeout_ms=STOP_TIMEOUT_S * 1000)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the stop overran its {STOP_TIMEOUT_S} s timeout and was killed, as "
                    "Pacemaker's executor would kill it (and then fence the node)")
    finally:
        for process in crowd:
            process.kill()
        for process in crowd:
            process.wait()
    assert rc == OCF_SUCCESS, out
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    assert agent("monitor")[0] == OCF_NOT_RUNNING
