"""A lane's lab (make test's second lab, .ci/lane) runs only inside its own network namespace."""

import pytest

from fabfile.lab import settings


@pytest.mark.parametrize("lane,problem", [
    ("", None),
    ("B", "lower-case letters and digits"), ("lane-b", "lower-case letters and digits"),
    ("b\n", "lower-case letters and digits"),
    ("b", "not run in the lane's network namespace (halb-lane-b)"),
    ("2", "not run in the lane's network namespace (halb-lane-2)"),
])
def test_a_lane_is_refused_outside_its_namespace_or_with_a_bad_name(monkeypatch, lane, problem):
    monkeypatch.setattr(settings, "LANE", lane)
    found = settings.lane_problem()
    if problem is None:
        assert found is None
    else:
        assert problem in found
