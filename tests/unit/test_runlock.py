"""The run lock's holder script, run for real with bash and flock on this machine."""

import subprocess

import pytest

from fabfile import runlock

pytestmark = pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v flock"],
                                               capture_output=True).returncode != 0,
                                reason="flock is not installed")


def hold(lock_file, name, silence=30):
    argv = [*runlock.hold_command(name).argv]
    argv[argv.index(runlock.LOCK_FILE)] = str(lock_file)
    argv[-1] = str(silence)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline().rstrip("\n")
    return proc, first


def test_a_second_run_is_refused_with_the_holder_named(tmp_path):
    lock = tmp_path / "halb.lock"
    first, answer = hold(lock, "task setup-cluster by root@ops1 (pid 10)")
    assert answer == "held"
    second, answer = hold(lock, "task teardown by root@ops2 (pid 20)")
    assert answer == "busy"
    assert second.stdout.readline().strip() == "task setup-cluster by root@ops1 (pid 10)"
    assert second.wait(5) == 75
    first.stdin.write("release\n")
    first.stdin.flush()
    assert first.wait(5) == 0
    assert lock.read_text() == ""  # released: no name left
    third, answer = hold(lock, "task teardown by root@ops2 (pid 20)")
    assert answer == "held"  # nothing to take over
    third.stdin.close()
    third.wait(5)


@pytest.mark.parametrize("how", ["input ends", "holder falls silent"])
def test_a_holder_that_vanished_leaves_its_name_and_the_next_run_takes_over(tmp_path, how):
    lock = tmp_path / "halb.lock"
    first, answer = hold(lock, "task drill by root@ops1 (pid 10)", silence=1)
    assert answer == "held"
    if how == "input ends":  # the run was killed: its SSH channel closed
        first.stdin.close()
    assert first.wait(5) == 0  # silence: nothing heard for 1 s
    second, answer = hold(lock, "task setup-cluster by root@ops2 (pid 20)")
    assert answer == "held task drill by root@ops1 (pid 10)"
    assert lock.read_text() == "task setup-cluster by root@ops2 (pid 20)\n"
    second.stdin.write("alive\nrelease\n")
    second.stdin.close()
    assert second.wait(5) == 0


def test_the_holder_name_is_one_line_of_plain_words(monkeypatch):
    monkeypatch.setattr(runlock.getpass, "getuser", lambda: "op\nerator$(x)")
    name = runlock.holder_name("standby node2\nrm -rf /")
    assert "\n" not in name and "$" not in name and "/" not in name
    assert name.startswith("task standby node2_rm -rf _ by op_erator_(x)@")
    # The name reaches the host as an argument of its own, never inside the script.
    argv = runlock.hold_command(name).argv
    assert argv[:2] == ("bash", "-c") and name in argv and name not in argv[2]
