"""Spellings with logic of their own: the pcsd restart that does not wait out a deadlocked stop."""

import os
import subprocess

from fabfile.dialects import Dialect

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$LOG"
[ "$1" = stop ] && [ -n "$HANG" ] && exec sleep 60
exit 0
"""


def restart(tmp_path, hang):
    """Run the restart's script with systemctl replaced by a recorder (a stop that hangs when
    asked), the grace cut to 1 s; returns what systemctl was asked, in order."""
    (tmp_path / "systemctl").write_text(FAKE_SYSTEMCTL)
    (tmp_path / "systemctl").chmod(0o755)
    log = tmp_path / "calls"
    command = Dialect.for_platform("debian12").restart_pcsd()
    argv = list(command.argv)
    argv[-1] = "1"  # the grace, in seconds
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "LOG": str(log),
           "HANG": "1" if hang else ""}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


def test_a_pcsd_that_stops_is_started_again(tmp_path):
    assert restart(tmp_path, hang=False) == ["stop pcsd.service", "reset-failed pcsd.service",
                                             "start pcsd.service"]


def test_a_pcsd_whose_stop_hangs_is_killed_then_started(tmp_path):
    assert restart(tmp_path, hang=True) == [
        "stop pcsd.service", "kill --signal=SIGKILL pcsd.service", "reset-failed pcsd.service",
        "start pcsd.service"]
