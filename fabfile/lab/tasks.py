"""Invoke tasks of the embedded lab (`inv lab.up`, ...)."""

import os
import shutil
import subprocess
import urllib.request

from invoke import Collection, task
from invoke.exceptions import Exit

from ..errors import UserError
from . import control
from . import settings as s


def _guard(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except UserError as exc:
        raise Exit(f"error: {exc}", code=1) from None


@task(help={"fresh": "throw away running nodes and boot bare ones from the image"})
def up(c, fresh=False):
    """Build (once) the node image and mirror, then boot two bare nodes with their BMCs."""
    _guard(control.up, rebuild=fresh)


@task
def down(c):
    """Stop the lab: nodes, BMCs, mirror, backends, mounts and bridge; the image cache stays."""
    _guard(control.down)


@task
def clean(c):
    """lab.down, then delete the cached image and mirror as well."""
    _guard(control.down)
    if s.IMAGE.exists():
        shutil.rmtree(s.IMAGE)
    print(f"lab: removed {s.IMAGE}")


@task
def status(c):
    """Show labd, each node's power and address, the cluster status and a request via the VIP."""
    pid = control.labd_pid()
    print(f"labd: {f'running, pid {pid}' if pid else 'not running'}")
    nodes = s.lab_nodes()
    for node in nodes:
        print(f"{node.name}: power {control.power_state(node)}, address {node.address}, "
              f"BMC {node.bmc_address}")
    running = [n for n in nodes if control.power_state(n) == "on"]
    if running:
        out = control.node_exec(running[0], ["pcs", "status"])
        print(out.stdout.rstrip() or out.stderr.rstrip() or "(pcs status printed nothing)")
    vip = s.vip()
    try:
        with urllib.request.urlopen(f"http://{vip}/", timeout=3) as reply:
            print(f"GET http://{vip}/ -> {reply.status} {reply.read().decode().strip()}")
    except OSError as exc:
        print(f"GET http://{vip}/ -> no answer ({exc})")


@task(help={"node": "node name (node1 or node2)"})
def ssh(c, node):
    """Open a root shell on a lab node over SSH."""
    names = {n.name: n for n in s.lab_nodes()}
    if node not in names:
        raise Exit(f"error: no lab node {node!r} (nodes: {', '.join(names)})", code=1)
    argv = ["ssh", "-i", str(s.SSH_KEY), "-o", f"UserKnownHostsFile={s.KNOWN_HOSTS}",
            "-o", "StrictHostKeyChecking=accept-new", f"root@{names[node].address}"]
    if os.isatty(0):
        os.execvp("ssh", argv)
    raise Exit(code=subprocess.call(argv))


ns = Collection(up, down, clean, status, ssh)
