"""Spellings with logic of their own: the pcsd restart that does not wait out a deadlocked stop."""

import os
import subprocess

import pytest

from fabfile import config
from fabfile.dialects import Dialect

from .conftest import CONFIGS, SECRETS

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$LOG"
[ "$1" = cat ] && [ -z "$RUBY" ] && exit 1
[ "$1" = stop ] && [ -n "$HANG" ] && exec sleep 60
exit 0
"""


def restart(tmp_path, hang, ruby=True):
    """Run the restart's script with systemctl replaced by a recorder (a stop that hangs when
    asked), the grace cut to 1 s; returns what systemctl was asked, in order."""
    (tmp_path / "systemctl").write_text(FAKE_SYSTEMCTL)
    (tmp_path / "systemctl").chmod(0o755)
    log = tmp_path / "calls"
    command = Dialect.for_platform("debian12").restart_pcsd()
    argv = list(command.argv)
    argv[-1] = "1"  # the grace, in seconds
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "LOG": str(log),
           "HANG": "1" if hang else "", "RUBY": "1" if ruby else ""}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


BOTH = "pcsd.service pcsd-ruby.service"


def test_a_pcsd_that_stops_is_started_again_with_its_ruby_half(tmp_path):
    """pcs 0.10's pcsd does not Require pcsd-ruby: a start that named only pcsd would leave
    the ruby half stopped, and every pcs request between nodes would fail."""
    assert restart(tmp_path, hang=False) == [
        "cat pcsd-ruby.service", f"stop {BOTH}", f"reset-failed {BOTH}", f"start {BOTH}"]


def test_a_pcsd_whose_stop_hangs_is_killed_then_started(tmp_path):
    assert restart(tmp_path, hang=True) == [
        "cat pcsd-ruby.service", f"stop {BOTH}", f"kill --signal=SIGKILL {BOTH}",
        f"reset-failed {BOTH}", f"start {BOTH}"]


def test_pcsd_without_a_ruby_half_is_restarted_alone(tmp_path):
    """pcs 0.9 (EL7): one pcsd unit."""
    assert restart(tmp_path, hang=False, ruby=False) == [
        "cat pcsd-ruby.service", "stop pcsd.service", "reset-failed pcsd.service",
        "start pcsd.service"]


# How each pcs generation spells a membership change (pcs 0.9 takes no addr=, 0.10+ do; the
# quorum device and the removal read alike everywhere).
MEMBERSHIP = {
    "centos7": ("pcs cluster node add node3 --start --enable",
                "pcs cluster node remove node3"),
    "debian11": ("pcs cluster node add node3 addr=192.168.56.14 --start --enable --wait=120",
                 "pcs cluster node remove node3"),
    "debian12": ("pcs cluster node add node3 addr=192.168.56.14 --start --enable --wait=120",
                 "pcs cluster node remove node3"),
    "debian13": ("pcs cluster node add node3 addr=192.168.56.14 --start --enable --wait=120",
                 "pcs cluster node remove node3"),
}


@pytest.mark.parametrize("platform", sorted(MEMBERSHIP))
def test_each_pcs_generation_spells_a_node_joining_and_leaving(platform):
    cluster = config.load(CONFIGS / "lab-3nodes.yaml", env=SECRETS)
    dialect = Dialect.for_platform(platform)
    join, leave = MEMBERSHIP[platform]
    assert dialect.add_node(cluster.node("node3")).display() == join
    assert dialect.remove_node("node3").display() == leave
    setup = dialect.setup_cluster(cluster.name, cluster.nodes, cluster.failover)
    assert "node3" in setup.argv and "3 nodes, quorum by majority" in setup.why
