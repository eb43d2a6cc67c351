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
