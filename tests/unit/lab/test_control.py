"""The lab says what the host lacks, and how to fix it, before it touches anything."""

import pytest

from fabfile.errors import UserError
from fabfile.lab import control


def test_not_root_and_missing_tools_are_named_with_their_fix(monkeypatch):
    monkeypatch.setattr(control.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(control.shutil, "which",
                        lambda tool: None if tool in ("systemd-nspawn", "debootstrap") else "/bin/x")
    with pytest.raises(UserError) as info:
        control.preflight()
    message = str(info.value)
    assert "needs root" in message
    assert "apt-get install systemd-container" in message
    assert "apt-get install debootstrap" in message


def test_the_lab_release_comes_from_the_option_then_the_environment(monkeypatch):
    from fabfile.lab import settings as s
    monkeypatch.delenv(s.RELEASE_VARIABLE, raising=False)
    assert s.wanted_release() == "bookworm"
    monkeypatch.setenv(s.RELEASE_VARIABLE, "trixie")
    assert s.wanted_release() == "trixie"
    assert s.wanted_release("bullseye") == "bullseye"
    assert s.Image("bullseye").platform == "debian11"
    with pytest.raises(UserError, match="--release 'sid': not a lab release"):
        s.wanted_release("sid")
    monkeypatch.setenv(s.RELEASE_VARIABLE, "buster")
    with pytest.raises(UserError, match="HALB_LAB_RELEASE 'buster'"):
        s.wanted_release()


def test_each_release_mirrors_what_its_install_step_asks_for():
    from fabfile.lab import image
    from fabfile.lab import settings as s
    packages = {r: image.mirror_packages(s.Image(r)) for r in s.RELEASES}
    assert "fence-agents-ipmilan" in packages["trixie"] and "fence-agents" not in packages["trixie"]
    assert "fence-agents" in packages["bullseye"] and "fence-agents" in packages["bookworm"]
    assert len({image.recipe_id(s.Image(r)) for r in s.RELEASES}) == 3
