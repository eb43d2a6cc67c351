"""Quoting of hostile values, and secrets kept off command lines."""

import subprocess
from pathlib import Path

import pytest

from fabfile.commands import Masker, run, write_file, write_secret_file
from fabfile.dialects import Dialect
from fabfile.secret import Secret

HOSTILE = ["$(touch {marker})", "`touch {marker}`", "a; touch {marker}", "x' && touch {marker} '",
           'quote " and space', "new\\nline", "*", "--help", "&& reboot"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_option_values_reach_the_program_verbatim(value, tmp_path):
    marker = tmp_path / "pwned"
    value = value.format(marker=marker)
    cmd = Dialect.for_platform("debian12").create_resource(
        "web", "systemd:nginx", [("opt", value)], "10s", "halb", "create")
    # Run the exact line through a shell, with printf standing in for pcs.
    line = run("printf", "%s\\n", *cmd.argv[1:]).shell_line()
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == list(cmd.argv[1:])
    assert f"opt={value}" in out.splitlines()
    assert not marker.exists()


def test_written_file_content_travels_on_stdin(tmp_path):
    target = tmp_path / "dir" / "file.cfg"
    content = "$(touch oops)\n'quoted' \"text\"\n"
    cmd = write_file(str(target), content, "0640")
    subprocess.run(["sh", "-c", cmd.shell_line()], input=cmd.stdin_text(), text=True, check=True)
    assert target.read_text() == content
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    # Pacemaker's controller reads agents as hacluster: new directories stay traversable.
    assert oct(target.parent.stat().st_mode & 0o777) == "0o755"
    assert content not in cmd.shell_line()


def test_secret_file_is_root_only_and_secret_never_on_the_line(tmp_path):
    secret = Secret("FENCE_PASSWORD", "s3cr3t; reboot")
    target = tmp_path / "fence" / "node1.password"
    cmd = write_secret_file(str(target), secret)
    assert secret.value not in cmd.shell_line() and secret.value not in cmd.display()
    subprocess.run(["sh", "-c", cmd.shell_line()], input=cmd.stdin_text(), text=True, check=True)
    assert target.read_text() == secret.value + "\n"
    assert target.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("platform", ["centos7", "el8", "el9", "debian12"])
def test_passwords_go_on_stdin_for_every_dialect(platform):
    dialect = Dialect.for_platform(platform)
    secret = Secret("HACLUSTER_PASSWORD", "pw-123")
    from fabfile.config import Bmc, Node
    nodes = [Node(f"n{i}", f"10.0.0.{i}", "root", 22, Bmc("10.0.1.1", 623, "a"), secret)
             for i in (1, 2)]
    for cmd in (dialect.set_hacluster_password(secret), dialect.auth_nodes(nodes, secret)):
        assert "pw-123" not in cmd.shell_line()
        assert "pw-123" not in cmd.display()
        assert "-p" not in cmd.argv
        assert "pw-123" in cmd.stdin_text()
    assert dialect.set_hacluster_password(secret).stdin_text() == "hacluster:pw-123\n"


def test_masker_hides_every_secret_longest_first():
    mask = Masker([Secret("A", "abc"), Secret("B", "abcdef"), Secret("C", "")])
    assert mask("x abcdef y abc z") == "x ******** y ******** z"
    assert mask(None) is None


def run_locally(cmd):
    return subprocess.run(["sh", "-c", cmd.shell_line()], input=cmd.stdin_text(), text=True,
                          capture_output=True)


@pytest.mark.parametrize("validator,replaced", [(("true",), True), (("false",), False)])
def test_validated_file_replaces_the_old_one_only_when_accepted(tmp_path, validator, replaced):
    from fabfile.commands import write_validated_file
    target = tmp_path / "etc" / "haproxy.cfg"
    target.parent.mkdir()
    target.write_text("old\n")
    manifest = tmp_path / "state" / "manifest"
    cmd = write_validated_file(str(target), "new\n", "0644", validator, manifest=str(manifest))
    result = run_locally(cmd)
    assert (result.returncode == 0) is replaced
    assert target.read_text() == ("new\n" if replaced else "old\n")
    # No half-written leftovers; the original is kept once, for teardown to put back.
    assert sorted(p.name for p in target.parent.iterdir()) == ["haproxy.cfg",
                                                               "haproxy.cfg.halb-orig"]
    assert (target.parent / "haproxy.cfg.halb-orig").read_text() == "old\n"
    assert manifest.read_text() == f"replaced {target}\n"


def test_writes_never_follow_links_nor_land_on_folders_or_devices(tmp_path):
    from fabfile.commands import write_file
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "link.cfg").symlink_to(victim)
    (tmp_path / "folder.cfg").mkdir()
    (tmp_path / "linked-dir").symlink_to(tmp_path / "folder.cfg")
    manifest = tmp_path / "manifest"
    for path, words in ((tmp_path / "link.cfg", "it is a symbolic link"),
                        (tmp_path / "folder.cfg", "not a regular file"),
                        (Path("/dev/null"), "not a regular file"),
                        (tmp_path / "linked-dir" / "x.cfg", "its folder is a symbolic link")):
        result = run_locally(write_file(str(path), "new\n", manifest=str(manifest)))
        assert result.returncode == 4 and words in result.stderr, (path, result.stderr)
    assert victim.read_text() == "precious\n"
    assert list((tmp_path / "folder.cfg").iterdir()) == [] and not manifest.exists()


def test_a_file_another_package_owns_is_refused():
    """/etc/debian_version belongs to base-files here: halb may replace only haproxy's."""
    from fabfile.commands import write_file
    if subprocess.run(["dpkg-query", "-S", "/etc/debian_version"], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("no dpkg database on this machine")
    before = Path("/etc/debian_version").read_text()
    result = run_locally(write_file("/etc/debian_version", "x\n", owner="haproxy",
                                    manifest="/nonexistent/halb-test/manifest"))
    assert result.returncode == 4 and "belongs to package base-files" in result.stderr
    assert Path("/etc/debian_version").read_text() == before


def test_teardown_removes_what_halb_created_and_puts_back_what_it_replaced(tmp_path):
    from fabfile.commands import remove_halb_files, write_file
    manifest = tmp_path / "state" / "manifest"
    package_cfg, own, foreign = tmp_path / "haproxy.cfg", tmp_path / "new.cfg", tmp_path / "x.cfg"
    package_cfg.write_text("package default\n")
    foreign.write_text("not halb's\n")
    for path in (package_cfg, own):
        assert run_locally(write_file(str(path), "halb's\n", manifest=str(manifest))).returncode == 0
    assert run_locally(write_file(str(own), "again\n", manifest=str(manifest))).returncode == 0
    assert manifest.read_text() == f"replaced {package_cfg}\ncreated {own}\n"
    # A manifest line can only name what halb wrote; teardown removes nothing recursively.
    result = run_locally(remove_halb_files([str(foreign)], "teardown", manifest=str(manifest)))
    assert result.returncode == 0, result.stderr
    assert package_cfg.read_text() == "package default\n" and not own.exists()
    assert foreign.read_text() == "not halb's\n"  # listed for the legacy case only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["haproxy.cfg", "x.cfg"]


def test_pcsd_is_bound_to_the_cluster_address_keeping_the_package_settings(tmp_path):
    from fabfile.dialects import Dialect
    settings = tmp_path / "pcsd"
    default = (Path(__file__).parents[1] / "fixtures" / "facts" / "pcsd_settings" /
               "debian12-package-default.txt").read_text()
    settings.write_text(default)
    manifest = tmp_path / "manifest"
    dialect = Dialect.for_platform("debian12", (0, 11, 5))
    for addresses in (("192.168.56.11", "127.0.0.1"), ("192.168.56.12", "127.0.0.1")):
        command = dialect.bind_pcsd(addresses)
        argv = list(command.argv)
        argv[4], argv[6] = str(settings), str(manifest)  # the file and manifest, here
        result = subprocess.run(argv, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    lines = settings.read_text().splitlines()
    assert [line for line in lines if "PCSD_BIND_ADDR=" in line] == [
        "#PCSD_BIND_ADDR='::'", "PCSD_BIND_ADDR=192.168.56.12,127.0.0.1"]
    assert sum("(set by halb)" in line for line in lines) == 1
    assert [line for line in default.splitlines() if line] == \
        [line for line in lines[:-2] if line]  # the package's settings kept, in order
    assert (tmp_path / "pcsd.halb-orig").read_text() == default
    assert manifest.read_text() == f"replaced {settings}\n"


def _fake_cluster_tools(bin_dir, joined_after_polls):
    """crm_mon answering with node2 pending for its first `joined_after_polls` calls, then
    joined; pcs recording its arguments; sleep returning at once."""
    bin_dir.mkdir()
    node = ('<node name="{name}" id="1" online="true" standby="{pending}" pending="{pending}" '
            'unclean="false" type="member"/>')
    joined = node.format(name="node2", pending="false")
    joining = node.format(name="node2", pending="true")
    scripts = {
        "crm_mon": f"""#!/bin/sh
n=$(cat "{bin_dir}/polls" 2>/dev/null || echo 0); echo $((n + 1)) > "{bin_dir}/polls"
echo '<crm_mon><nodes>'
echo '{node.format(name="node1", pending="false")}'
if [ "$n" -ge {joined_after_polls} ]; then echo '{joined}'; else echo '{joining}'; fi
echo '</nodes></crm_mon>'
""",
        "pcs": f'#!/bin/sh\necho "$*" >> "{bin_dir}/pcs.log"\n',
        "sleep": "#!/bin/sh\nexit 0\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)


@pytest.mark.parametrize("joined_after_polls,changed", [(3, True), (10_000, False)])
def test_the_totem_window_opens_only_once_every_node_has_joined(tmp_path, joined_after_polls,
                                                                  changed):
    """A node still joining (crm_mon: pending) must not see corosync reloaded under it: the
    window waits for it, and gives up having changed nothing when it never joins."""
    from types import SimpleNamespace
    bin_dir = tmp_path / "bin"
    _fake_cluster_tools(bin_dir, joined_after_polls)
    failover = SimpleNamespace(token_ms=3000, consensus_ms=3600, profile="conservative")
    cmd = Dialect.for_platform("debian12").change_totem(
        failover, {"stonith-enabled": "true"}, members=2, settle=2)
    result = subprocess.run(["sh", "-c", cmd.shell_line()], input=cmd.stdin_text(), text=True,
                            capture_output=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    if changed:
        assert result.returncode == 0, result.stderr
        assert (bin_dir / "pcs.log").read_text().splitlines() == [
            "property set maintenance-mode=true", "property set stonith-enabled=false",
            "cluster config update totem token=3000 consensus=3600",
            "cluster reload corosync", "property set stonith-enabled=true",
            "property set maintenance-mode=false"]
    else:
        assert result.returncode != 0
        assert "nothing changed" in result.stderr and "pending" in result.stderr
        assert not (bin_dir / "pcs.log").exists()
