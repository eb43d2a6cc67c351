"""`inv drill` refuses what it cannot or must not do before it connects to anything.

The example config names real private addresses (10.0.0.x): each case here must stop on its
arguments alone, which the absence of any connection timeout in the run time also shows."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL = "configs/example-debian12.yaml"

CASES = [
    (["--fault", "crash"], "pass --i-accept-a-crash"),
    (["--fault", "freeze"], "only a lab can freeze a node"),
    (["--fault", "explode"], "not a fault"),
    (["--victim", "lb9", "--fault", "standby"], "'active' or one of the nodes (lb1, lb2)"),
    (["--rounds", "0", "--fault", "standby"], "at least 1"),
    (["--port", "http", "--fault", "standby"], "not a TCP port"),
    (["--interval-ms", "0", "--fault", "standby"], "at least 10"),
    (["--rounds", "x", "--fault", "standby"], "--rounds 'x': must be a whole number"),
    (["--timeout-ms", "1e3", "--fault", "standby"], "--timeout-ms '1e3': must be a whole number"),
    (["--path", "/a\nb", "--fault", "standby"], "not a URL path"),
    (["--log-dir", "tasks.py", "--fault", "standby"], "not a directory"),
    (["--plot", "drill.pdf", "--fault", "standby"], "name an .svg or .png file"),
    (["--plot", "no/such/dir/drill.svg", "--fault", "standby"], "its directory does not exist"),
]


@pytest.mark.parametrize("args,problem", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_refused_before_any_connection(args, problem, tmp_path):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "invoke", "drill", "--config", REAL,
                           *([] if "--log-dir" in args else ["--log-dir", str(tmp_path)]), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert problem in out and "Traceback" not in out
    assert "fences the victim" not in out and "round 1" not in out
    assert time.monotonic() - started < 20


def test_a_reader_that_goes_away_ends_a_task_quietly():
    """`inv runbook ... | head`: the reader is gone (here before the task writes at all)."""
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "runbook", "--config", REAL],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "Broken" not in err, err
