"""`inv runbook`: the document and the script say exactly what the runbook's plan does.

The script is run here against a stand-in `ssh` that records what would reach each host (the
line its shell gets and the stdin): it must be, word for word, the planned commands with the
secrets filled in from the environment. The lab runs the real script on bare nodes."""

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fabfile import config, runbook
from fabfile.runner import STEPS, Runner

from .conftest import CONFIGS, SECRETS, load_example
from .planning import lab_cluster, raw_facts

EXAMPLES = ["example-centos7.yaml", "example-debian12.yaml", "example-el9.yaml"]

FAKE_SSH = """#!{python}
import json, os, sys
argv = sys.argv[1:]
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(json.dumps({{"target": argv[-2], "line": argv[-1], "options": argv[:-2],
                          "stdin": sys.stdin.read()}}) + "\\n")
"""


FIXTURE_CONFIGS = Path(__file__).resolve().parents[1] / "fixtures" / "configs"


def write(name, fmt, tmp_path, env=None):
    path = CONFIGS / name if (CONFIGS / name).exists() else FIXTURE_CONFIGS / name
    loaded = config.load(path, env=SECRETS if env is None else env,
                         require_secrets=env is None)
    cluster = runbook.with_placeholder_secrets(loaded)
    with Runner(cluster, dry_run=True, log_dir=tmp_path / "logs", out=lambda t: None) as runner:
        assert runner.offline
        return cluster, runbook.plan_all(cluster, runner, STEPS), \
            runbook.write(cluster, runner, STEPS, fmt)


def planned_commands(cluster, steps):
    """(host address, argv, stdin with the test's secrets) in the order the script runs them."""
    out = []
    for step in steps:
        for host, command in runbook._commands(step):
            stdin = command.stdin_text()
            if stdin is not None:
                stdin = runbook.MARKER_RE.sub(lambda m: SECRETS.get(m.group(1), "?"), stdin)
            out.append((cluster.node(host).address, list(command.argv), stdin or ""))
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_script_sends_each_host_exactly_the_planned_commands(name, tmp_path):
    cluster, steps, text = write(name, "sh", tmp_path)
    script = tmp_path / "runbook.sh"
    script.write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH.format(python=sys.executable))
    (bin_dir / "ssh").chmod(0o755)
    (bin_dir / "sleep").write_text("#!/bin/sh\n")  # never reached: nothing fails here
    log = tmp_path / "ssh.log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SSH_LOG": str(log), **SECRETS}
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    sudo = cluster.ssh.sudo
    got = []
    for record in sent:
        words = shlex.split(record["line"])
        if sudo:
            assert words[:3] == ["sudo", "-n", "--"]
            words = words[3:]
        got.append((record["target"].split("@", 1)[1], words, record["stdin"]))
    assert got == planned_commands(cluster, steps)
    assert len(got) > 20
    # Each host is reached as the config says.
    for record in sent:
        assert "BatchMode=yes" in record["options"]


@pytest.mark.parametrize("name", [*EXAMPLES, "lab-debian12.yaml"])
@pytest.mark.parametrize("fmt", runbook.FORMATS)
def test_no_secret_in_either_form_only_named_placeholders(name, fmt, tmp_path):
    _, _, text = write(name, fmt, tmp_path)
    for value in SECRETS.values():
        assert value not in text
    assert "@@halb-secret" not in text
    assert '"$HACLUSTER_PASSWORD"' in text and '"$FENCE_PASSWORD"' in text
    if name == "lab-debian12.yaml":  # a webhook alert's token: a placeholder too
        assert '"$ALERT_TOKEN_HOOK"' in text


def test_without_secrets_set_the_document_is_still_written(tmp_path):
    _, _, text = write("example-debian12.yaml", "markdown", tmp_path, env={})
    assert "`HACLUSTER_PASSWORD`" in text and "`FENCE_PASSWORD`" in text


def test_the_script_refuses_to_run_without_its_secrets(tmp_path):
    _, _, text = write("example-debian12.yaml", "sh", tmp_path)
    done = subprocess.run(["sh", "-c", text], env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "set HACLUSTER_PASSWORD in the environment" in done.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_document_names_each_step_host_and_purpose(name, tmp_path):
    cluster, steps, text = write(name, "markdown", tmp_path)
    for number, step in enumerate(steps, 1):
        assert f"## {number}. {step.name}\n" in text
        for host, command in runbook._commands(step):
            assert f"# {command.why}" in text or f"{command.why}" in text
            assert f"**{host}**" in text
            assert command.shell_line() in text
    # The fenced shell blocks are valid shell.
    blocks = text.split("```sh\n")[1:]
    for block in blocks:
        body = block.split("```")[0]
        assert subprocess.run(["sh", "-n"], input=body, text=True).returncode == 0, body


def test_debian_packages_start_a_cluster_that_setup_removes_first(tmp_path):
    _, steps, _ = write("example-debian12.yaml", "sh", tmp_path)
    setup = next(s for s in steps if s.name == "setup")
    first = [c.argv for _, c in runbook._commands(setup)][:2]
    # Planned before the install, its CIB unknown: the package's cluster runs nothing yet.
    assert [(argv[:2], argv[-3:]) for argv in first] == \
        [(("sh", "-c"), ("pcs", "cluster", "destroy"))] * 2
    # The package started haproxy.service too: the install step leaves it to the cluster.
    install = next(s for s in steps if s.name == "install")
    assert ("systemctl", "disable", "--now", "haproxy") in [c.argv for _, c in runbook._commands(install)]
    # EL packages start nothing: nothing to remove or stop.
    _, steps, _ = write("example-el9.yaml", "sh", tmp_path)
    argvs = [c.argv for s in steps for _, c in runbook._commands(s)]
    assert not [a for a in argvs if "pcs cluster destroy" in " ".join(a)]
    assert ("systemctl", "disable", "--now", "haproxy") not in argvs


def test_a_here_document_never_ends_early():
    text = "line\nHALB_EOF\nmore\n"
    tag = runbook._heredoc_tag(text)
    assert tag not in text.splitlines()


def test_printf_keeps_backslashes_percents_and_newlines(tmp_path):
    text = "a\\b %s %d 100%\nsecret=@@halb-secret:X_1@@\n"
    args = runbook._printf(text)
    done = subprocess.run(["sh", "-c", f"printf {args}"], env={"X_1": "v$`'\"", "PATH": os.environ["PATH"]},
                          capture_output=True, text=True)
    assert done.stdout == "a\\b %s %d 100%\nsecret=v$`'\"\n"


def test_a_secret_on_a_command_line_is_refused():

    from fabfile.commands import run
    with pytest.raises(runbook.UserError, match="secret reached a command line"):
        runbook.local_lines(run("echo", "@@halb-secret:X@@"))


def test_an_unknown_format_is_refused(tmp_path):
    cluster = runbook.with_placeholder_secrets(load_example("example-debian12.yaml"))
    with Runner(cluster, dry_run=True, log_dir=tmp_path, out=lambda t: None) as runner:
        with pytest.raises(runbook.UserError, match="--format 'html'"):
            runbook.write(cluster, runner, STEPS, "html")


def test_the_script_is_executable_when_written_to_a_file(tmp_path):
    out = tmp_path / "rb.sh"
    done = subprocess.run([sys.executable, "-m", "invoke", "runbook", "--config",
                           "configs/example-debian12.yaml", "--format", "sh", "--output", str(out)],
                          capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
                              os.path.dirname(os.path.abspath(__file__)))))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & stat.S_IXUSR
    assert subprocess.run(["sh", "-n", str(out)]).returncode == 0


def test_a_systemd_service_started_by_its_package_is_left_to_the_cluster(tmp_path):
    loaded = config.load(CONFIGS.parent / "tests" / "fixtures" / "configs" / "service-nginx.yaml",
                         env=SECRETS)
    cluster = runbook.with_placeholder_secrets(loaded)
    with Runner(cluster, dry_run=True, log_dir=tmp_path / "logs", out=lambda t: None) as runner:
        steps = runbook.plan_all(cluster, runner, STEPS)
    # Disabled in the install step, before a node joins (and is probed with it running).
    install = next(s for s in steps if s.name == "install")
    disables = [(host, c.argv) for host, c in runbook._commands(install)
                if c.argv[:3] == ("systemctl", "disable", "--now")]
    assert disables == [("node1", ("systemctl", "disable", "--now", "nginx")),
                        ("node2", ("systemctl", "disable", "--now", "nginx"))]
    service = next(s for s in steps if s.name == "haproxy")
    argvs = [(host, c.argv[:4]) for host, c in runbook._commands(service)]
    assert argvs == [("node1", ("pcs", "resource", "create", "web"))]


# --- the script parses everywhere and carries no line from input ------------------------------

SHELLS = [["bash", "-n"], ["sh", "-n"], ["shellcheck", "-s", "sh", "-S", "warning"]]


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("checker", SHELLS, ids=lambda c: c[0])
def test_the_script_parses_under_bash_sh_and_shellcheck(name, checker, tmp_path):
    """The secrets' messages hold apostrophes ("the hacluster user's password"): inside
    ${VAR:?...} bash parses them differently from sh."""
    if subprocess.run(["sh", "-c", f"command -v {checker[0]}"], capture_output=True).returncode:
        pytest.fail(f"{checker[0]} is not installed: make test-deps installs it")
    _, _, text = write(name, "sh", tmp_path)
    assert "user's" in text
    script = tmp_path / "runbook.sh"
    script.write_text(text)
    result = subprocess.run([*checker, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_config_file_name_with_a_newline_adds_no_line(tmp_path):
    folder = tmp_path / "evil\ntouch halb-pwned\n#"
    folder.mkdir()
    path = folder / "c.yaml"
    path.write_text((CONFIGS / "example-debian12.yaml").read_text())
    cluster = runbook.with_placeholder_secrets(config.load(path, env=SECRETS,
                                                           require_secrets=False))
    with Runner(cluster, dry_run=True, log_dir=tmp_path / "logs", out=lambda t: None) as runner:
        for fmt in runbook.FORMATS:
            text = runbook.write(cluster, runner, STEPS, fmt)
            assert not any(line.startswith("touch halb-pwned") for line in text.splitlines())
            assert "evil\\ntouch" in text


def test_output_is_a_new_file_and_never_a_device_or_folder(tmp_path):
    target = tmp_path / "runbook.sh"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    hard_link = tmp_path / "other-name"
    os.link(target, hard_link)
    runbook.write_new_file(str(target), "#!/bin/sh\n", 0o755)
    assert target.read_text() == "#!/bin/sh\n" and stat.S_IMODE(target.stat().st_mode) == 0o755
    # The old file was replaced, not written through: another name for it keeps its text.
    assert hard_link.read_text() == "old\n" and stat.S_IMODE(hard_link.stat().st_mode) == 0o600
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path, "/dev/null"):
        with pytest.raises(runbook.UserError, match="not a regular file"):
            runbook.write_new_file(str(path), "x\n", 0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "other-name", "runbook.sh"]


class RecordedSession:
    """A session whose hosts answer with recorded facts."""

    def __init__(self, facts):
        self.facts = facts

    def gather(self):
        return self.facts


def test_steps_after_a_new_cluster_are_planned_for_it_not_for_the_packaged_one():
    """Nodes with the packages in already (a golden image): Debian's one-node cluster runs, and
    its CIB has no stonith-enabled (true by default). The setup step makes the cluster anew,
    STONITH off, so the runbook's later steps plan for that cluster: fence devices created, and
    STONITH turned on at the end, not "already true" from the CIB setup destroys."""
    cluster = lab_cluster()
    facts = raw_facts(cluster, "debian12-packaged", stale=("files", "secret_files", "hacluster"))
    assert facts["node1"].cib is not None and "stonith-enabled" not in facts["node1"].cib.properties
    planned = {step.name: step for step in runbook.plan_all(cluster, RecordedSession(facts), STEPS)}
    assert ("pcs", "cluster", "destroy") in [c.argv[-3:] for _, c in runbook._commands(planned["setup"])]
    fence = [" ".join(c.argv) for _, c in runbook._commands(planned["fence"])]
    assert any("stonith create node1-fence" in line for line in fence), fence
    enable = [c.argv for _, c in runbook._commands(planned["enable-stonith"])]
    assert ("pcs", "property", "set", "stonith-enabled=true") in [tuple(a[-4:]) for a in enable], enable


def test_a_running_cluster_of_its_own_is_planned_from_its_cib():
    """The same rule does not forget a CIB the setup step keeps: on a converged cluster, every
    later step plans nothing."""
    cluster = lab_cluster()
    facts = raw_facts(cluster, "debian12-converged")
    planned = runbook.plan_all(cluster, RecordedSession(facts), STEPS)
    assert [step.name for step in planned if not step.plan.empty] == []
