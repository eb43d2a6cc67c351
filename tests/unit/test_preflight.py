"""Preflight's readings: clock skew, free space, addresses, who holds the VIP."""

import pytest

from fabfile import preflight


def test_clock_skew_is_measured_against_the_midpoint_of_each_question():
    offsets = {"a": preflight.clock_offset(1000.5, 1000.0, 1001.0),  # 0.0: in time
               "b": preflight.clock_offset(1003.6, 1000.0, 1000.2),  # 3.5 ahead
               "c": preflight.clock_offset(999.0, 1000.0, 1000.0)}   # 1.0 behind
    skew, (early, late) = preflight.worst_skew(offsets)
    assert (early, late) == ("c", "b")
    assert skew == pytest.approx(4.5)
    assert skew > preflight.MAX_SKEW_SECONDS


def test_free_space_is_read_per_mount_point():
    df = ("Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
          "/dev/sda1          1000000  900000    102400      90% /\n"
          "/dev/sdb1          2000000  100000   1843200       6% /usr\n")
    assert preflight.free_megabytes(df) == {"/": 100, "/usr": 1800}


def test_getent_addresses_in_order_without_repeats():
    out = ("10.0.0.2        STREAM lb1.example.com\n10.0.0.2        DGRAM  \n"
           "10.0.0.2        RAW    \n10.0.0.9        STREAM \n")
    assert preflight.addresses(out) == ["10.0.0.2", "10.0.0.9"]
    assert preflight.addresses("") == []


@pytest.mark.parametrize("answers, expected", [
    ({"n1": "local\n", "n2": "192.168.56.10 dev host0 lladdr 0a:00:00:00:00:01 REACHABLE\n"},
     ("n1", None)),
    ({"n1": "192.168.56.10 dev host0 lladdr 02:68:61:6c:62:00 REACHABLE\n", "n2": ""},
     (None, "02:68:61:6c:62:00")),
    ({"n1": "192.168.56.10 dev host0 lladdr 02:68:61:6c:62:00 STALE\n"},
     (None, "02:68:61:6c:62:00")),
    ({"n1": "192.168.56.10 dev host0 FAILED\n", "n2": "192.168.56.10 dev host0 INCOMPLETE\n"},
     (None, None)),
    ({"n1": "", "n2": ""}, (None, None)),
])
def test_who_holds_the_vip(answers, expected):
    assert preflight.vip_holder(answers) == expected
