"""The rolling update's pure parts: outage windows, and where a stopped update left things.
(The task itself is proven in the lab.)"""

import pytest

from fabfile.drill import Probe
from fabfile.errors import UserError
from fabfile.maintenance import failure_windows

from .planning import lab_cluster


def probes(pattern, step=0.1):
    """'..xx...x.' -> probes every `step` seconds, x failing, each taking 10 ms."""
    return [Probe(i * step, i * step + 0.01, c == ".") for i, c in enumerate(pattern)]


def test_outage_windows_run_from_the_last_answer_to_the_next():
    windows = failure_windows(probes("..xx...x."))
    assert [(round(w, 2), n) for w, n in windows] == [(0.3, 2), (0.2, 1)]
    assert failure_windows(probes(".....")) == []
    assert [n for _, n in failure_windows(probes("..xxx"))] == [3]



@pytest.mark.parametrize("phase, state", [
    ("standby", "node2: it is not in standby"),
    ("upgrade", "node2: it stays in standby, the service runs on node1; once fixed: inv unstandby node2"),
    ("reboot", "node2: it stays in standby, the service runs on node1; once fixed: inv unstandby node2"),
    ("unstandby", "node2: see inv status; inv unstandby node2 again once it is back"),
])
def test_a_rolling_update_that_stops_says_where_and_what_state_it_left(phase, state):
    from types import SimpleNamespace

    from fabfile.maintenance import RollingUpdate
    cluster = lab_cluster()
    update = RollingUpdate(cluster, SimpleNamespace(executor=None), say=lambda text: None)

    def fails():
        raise UserError("apt-get: exit 100\nmore detail")
    with pytest.raises(UserError) as caught:
        update.step(cluster.node("node2"), phase, fails)
    assert str(caught.value) == f"rolling-update stopped at node2, {phase}: apt-get: exit 100\n{state}"


def test_a_stopped_rolling_update_of_three_nodes_names_no_single_peer():
    from types import SimpleNamespace

    from fabfile import config
    from fabfile.maintenance import RollingUpdate

    from .conftest import CONFIGS, SECRETS
    cluster = config.load(CONFIGS / "lab-3nodes.yaml", env=SECRETS)
    update = RollingUpdate(cluster, SimpleNamespace(executor=None), say=lambda text: None)

    def fails():
        raise UserError("apt-get: exit 100")
    with pytest.raises(UserError, match="node3: it stays in standby, the service runs on "
                                        "another node; once fixed: inv unstandby node3"):
        update.step(cluster.node("node3"), "upgrade", fails)
