"""The quorum arbiter's own failure: with qnetd down, a crash must wait for it (ffsplit)."""

import re
import time

from .conftest import (
    TIMINGS,
    crm_mon,
    http_via_vip,
    inv,
    power_events_since,
    quorum_of,
    settled,
    vip_holders,
    wait_for,
)


def test_with_the_arbiter_down_a_crash_waits_for_it(converged):
    """ffsplit and lms alike: without qnetd the two nodes still hold 2 of 3 votes and run on,
    but the survivor of a crash holds 1 of 3. It must not take the service (it cannot tell a
    crash from a split), and it takes over as soon as the arbiter is back."""
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 240, "both nodes online")
    active = vip_holders()[0]
    survivor = "node2" if active == "node1" else "node1"
    rc, out, _ = inv("lab.crash", "arbiter")
    assert rc == 0, out
    # The nodes notice: the arbiter's vote leaves the total, the two nodes' votes stay quorate.
    wait_for(lambda: re.search(r"Total votes:\s+2\b", quorum_of(survivor)), 60,
             "the arbiter's vote gone")
    assert re.search(r"Quorate:\s+Yes", quorum_of(survivor))
    settled(survivor)
    assert vip_holders() == [active]

    since = time.time()
    rc, out, _ = inv("lab.crash", active)
    assert rc == 0, out
    wait_for(lambda: re.search(r"Quorate:\s+No", quorum_of(survivor)), 60,
             f"{survivor} without quorum")
    settled(survivor)  # what the survivor decides without quorum is decided: nothing
    assert vip_holders() == []
    assert power_events_since(since) == [(active, "crash")]  # nobody fenced without quorum

    rc, out, _ = inv("lab.power-on", "arbiter")
    assert rc == 0, out
    back = time.time()
    wait_for(lambda: vip_holders() == [survivor], 60, f"the VIP on {survivor}")
    TIMINGS["arbiter back to the service on the survivor"] = f"{time.time() - back:.1f}s"
    assert wait_for(lambda: http_via_vip()[0] == 200, 30, "HTTP through the VIP")
    rc, out, _ = inv("lab.power-on", active)
    assert rc == 0, out
    wait_for(lambda: crm_mon(survivor)["online"] == {"node1", "node2"}, 240, f"{active} back")
