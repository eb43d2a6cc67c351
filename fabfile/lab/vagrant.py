"""`inv lab.vagrant-config`: the Vagrant VMs' SSH settings, as `vagrant ssh-config` prints them,
written into a copy of the provider's config, so that setup-cluster reaches the VMs the way
`vagrant ssh` does (user, key, and the address and port SSH answers on, which for VirtualBox's
NAT is 127.0.0.1 and a forwarded port, not the node's cluster address)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import yaml

from ..errors import UserError
from . import settings as s

TEMPLATES = {"libvirt": s.ROOT / "configs/vagrant.yaml",
             "virtualbox": s.ROOT / "configs/vagrant-virtualbox.yaml"}
DEFAULT_OUTPUT = ".vagrant/halb.yaml"


def parse_ssh_config(text):
    """ssh_config text -> {host: {keyword (lower case): value}}; the first value of a keyword
    wins, as with ssh itself."""
    hosts, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, value = _keyword(line)
        if key == "host":
            current = hosts.setdefault(value, {})
        elif current is not None:
            current.setdefault(key, value)
    return hosts


def _keyword(line):
    """`Keyword value` or `Keyword=value`, the value maybe in double quotes."""
    key, value = (re.split(r"\s*=\s*|\s+", line, maxsplit=1) + [""])[:2]
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return key.strip().lower(), value


def config_for(provider, ssh_config_text, source):
    """The provider's config with each node's SSH address and port, and the VMs' user and key."""
    template = TEMPLATES[provider]
    data = yaml.safe_load(template.read_text())
    hosts = parse_ssh_config(ssh_config_text)
    users, keys = set(), set()
    for i, node in enumerate(data["nodes"]):
        entry = hosts.get(node["name"])
        if entry is None or "hostname" not in entry:
            raise UserError(f"{source}: no host {node['name']!r} (the name nodes[{i}] has in "
                            f"{template.name}): is its VM up? (vagrant up)")
        node["ssh_address"] = entry["hostname"]
        port = entry.get("port", "22")
        if not port.isdigit():
            raise UserError(f"{source}: host {node['name']}: Port {port!r} is not a number")
        node["ssh_port"] = int(port)
        users.add(entry.get("user", "vagrant"))
        if "identityfile" in entry:
            keys.add(entry["identityfile"])
    if len(users) != 1 or len(keys) > 1:
        raise UserError(f"{source}: the VMs differ in their SSH user or key ({sorted(users)}, "
                        f"{sorted(keys)}); halb uses one of each (ssh.user, ssh.identity_file)")
    data["ssh"]["user"] = users.pop()
    data["ssh"]["sudo"] = data["ssh"]["user"] != "root"
    if keys:
        data["ssh"]["identity_file"] = keys.pop()
    header = (f"# Written by inv lab.vagrant-config from {source} ({provider}) on "
              f"{datetime.now():%Y-%m-%d %H:%M}.\n# Edit {template.relative_to(s.ROOT)} and run "
              "it again rather than this file.\n")
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def vagrant_ssh_config(env=None):
    """`vagrant ssh-config`, in the environment the VMs were brought up with (the Vagrant lab's
    HALB_VAGRANT_* settings pick the box, and so its key)."""
    if shutil.which("vagrant") is None:
        raise UserError("vagrant is not installed here: run this where `vagrant up` ran, or pass "
                        "--ssh-config with the output of `vagrant ssh-config`")
    try:
        done = subprocess.run(["vagrant", "ssh-config"], cwd=s.ROOT, capture_output=True,
                              text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        raise UserError("vagrant ssh-config did not answer within 300s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise UserError(f"vagrant ssh-config failed: {last} (are the VMs up? vagrant up)")
    return done.stdout


def write(provider, output, ssh_config_file=None, say=print, env=None):
    if provider not in TEMPLATES:
        raise UserError(f"--provider must be one of {', '.join(TEMPLATES)}, not {provider!r}")
    if ssh_config_file:
        try:
            text = Path(ssh_config_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{ssh_config_file}: cannot be read: {exc}") from None
        source = ssh_config_file
    else:
        text, source = vagrant_ssh_config(env), "vagrant ssh-config"
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(config_for(provider, text, source))
    say(f"wrote {out}: inv setup-cluster --config {out}")
    return out
