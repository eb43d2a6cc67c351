"""Invoke tasks of the embedded lab (`inv lab.up`, ...)."""

import os
import shutil
import subprocess
import time
import urllib.request

from invoke import Collection, task
from invoke.exceptions import Exit

from ..cli import user_errors_exit, whole_number
from ..errors import UserError
from . import bench as benchmark
from . import box as boxlib
from . import control, image, network, vagrant, vagrantlab
from . import interrupt as interruptlib
from . import record as recorder
from . import settings as s
from . import soak as soaklib


def _node(name):
    names = {n.name: n for n in s.lab_machines()}
    if name not in names:
        raise UserError(f"no lab node {name!r} (nodes: {', '.join(names)})")
    return names[name]


NODE_HELP = {"node": "lab machine name (node1, node2, or the arbiter when there is one)"}


@task(help={"fresh": "throw away running nodes and boot bare ones from the image",
            "release": f"Debian release of the nodes: {', '.join(s.RELEASES)} (default "
                       f"${s.RELEASE_VARIABLE}, else {s.DEFAULT_RELEASE})",
            "nodes": f"cluster nodes, {s.NODE_COUNTS[0]} to {s.NODE_COUNTS[-1]} (default 2: "
                     "configs/lab.yaml; N: configs/lab-<N>nodes.yaml)",
            "provisioned": "a config: its install step's packages are on the cluster nodes "
                           "from the start (a cached layer), for work that is not about "
                           "installing"})
@user_errors_exit
def up(c, fresh=False, release=None, nodes=2, provisioned=None):
    """Build the node image and mirror (once per release), boot nodes, BMCs and the arbiter.

    Nodes boot bare, or with --provisioned CONFIG, with that config's packages installed."""
    control.up(rebuild=fresh, release=release, nodes=nodes, provisioned=provisioned)


@task(iterable=["release"], help={
    "release": f"a release to build (repeat for more; default: all of {', '.join(s.RELEASES)})"})
@user_errors_exit
def images(c, release=None):
    """Build the node images and mirrors that are not cached yet, and boot nothing (make test
    runs it in the background while the unit tests run)."""
    # The suite's own release first (the lab tests boot it first), then trixie (the Python 3.13
    # stage's chroot), then the rest.
    wanted = release or sorted(s.RELEASES, key=lambda name: (name != s.DEFAULT_RELEASE,
                                                             name != "trixie"))
    for name in wanted:
        if name not in s.RELEASES:
            raise UserError(f"--release {name!r}: one of {', '.join(s.RELEASES)}")
    control.preflight()
    for name in wanted:
        image.build(s.Image(name))


@task
@user_errors_exit
def down(c):
    """Stop the lab: nodes, BMCs, mirror, backends, mounts and bridge; the image cache stays."""
    control.down()


@task
@user_errors_exit
def clean(c):
    """lab.down, then delete the cached image and mirror as well."""
    control.down()
    for cache in (s.IMAGES, s.STATE / "image"):  # image/: the single cache of earlier versions
        if cache.exists():
            shutil.rmtree(cache)
    print(f"lab: removed {s.IMAGES}")


@task
@user_errors_exit
def status(c):
    """Show labd, each node's power and address, the cluster status and a request via the VIP."""
    pid = control.labd_pid()
    release = s.running_release()
    print(f"labd: {f'running, pid {pid}' if pid else 'not running'}"
          + (f"; release {release} ({s.RELEASES.get(release, '?')})" if release else ""))
    nodes = s.lab_machines()
    for node in nodes:
        print(f"{node.name}: power {control.power_state(node)}, address {node.address}, "
              + (f"BMC {node.bmc_address}:{node.bmc_port}" if node.bmc_address else "quorum arbiter (no BMC)"))
    network.require_up()
    running = [n for n in s.lab_nodes() if control.power_state(n) == "on"]  # a frozen one cannot answer
    if running:
        out = control.node_exec(running[0], ["pcs", "status"])
        print(out.stdout.rstrip() or out.stderr.rstrip() or "(pcs status printed nothing)")
    vip = s.vip()
    try:
        with urllib.request.urlopen(f"http://{vip}/", timeout=3) as reply:
            print(f"GET http://{vip}/ -> {reply.status} {reply.read().decode().strip()}")
    except OSError as exc:
        print(f"GET http://{vip}/ -> no answer ({exc})")


@task(help=NODE_HELP)
@user_errors_exit
def ssh(c, node):
    """Open a root shell on a lab node over SSH."""
    target = _node(node)
    network.require_up()
    argv = ["ssh", "-i", str(s.SSH_KEY), "-o",
            f"UserKnownHostsFile={s.KNOWN_HOSTS} {s.ACCEPTED_KEYS}",
            "-o", "StrictHostKeyChecking=accept-new", f"root@{target.address}"]
    if os.isatty(0):
        os.execvp("ssh", argv)
    raise Exit(code=subprocess.call(argv))


@task(help=NODE_HELP)
@user_errors_exit
def crash(c, node):
    """Power loss of a lab node: its link goes dark and all its processes die at once."""
    control.crash(_node(node))
    print(f"lab: {node} crashed (power lost; its BMC says off until something powers it on)")


@task(help=NODE_HELP)
@user_errors_exit
def freeze(c, node):
    """Hang a lab node: all its processes stop, its BMC still says on (fencing must cut it)."""
    control.freeze(_node(node))
    print(f"lab: {node} frozen (BMC says on; inv lab.thaw {node} resumes it)")


@task(help=NODE_HELP)
@user_errors_exit
def thaw(c, node):
    """Resume a frozen lab node."""
    control.thaw(_node(node))
    print(f"lab: {node} thawed")


@task(name="power-on", help=NODE_HELP)
@user_errors_exit
def power_on(c, node):
    """Power a lab machine on (a crashed or fenced node, or the arbiter) and wait for SSH."""
    machine = _node(node)
    network.require_up()
    if not control.power_on(machine):
        print(f"lab: {node} is already on")
        return
    control.wait_for_ssh(machine)
    print(f"lab: {node} powered on and answering SSH")


def _choices(option, text, allowed):
    """A comma-separated option's names, each one of `allowed`."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in allowed:
            raise UserError(f"{option}: {name!r} is not one of {', '.join(allowed)}")
    if not names:
        raise UserError(f"{option}: name at least one of {', '.join(allowed)}")
    return names


ALL_VARIANTS = ",".join(benchmark.VARIANTS)
ALL_WAYS = ",".join(interruptlib.WAYS)


@task(help={"rounds": "rounds per fault and victim (default 10; crash runs twice as many, so "
                      "that each node is the victim that often)",
            "variants": "comma-separated, from: " + ", ".join(benchmark.VARIANTS)
                        + "; NAME:N gives one variant its own round count",
            "out": "directory for the JSON and Markdown results (default benchmarks/results)"})
@user_errors_exit
def bench(c, rounds="10", variants=ALL_VARIANTS, out="benchmarks/results"):
    """Failover benchmark: drill crash, freeze and standby for each failover variant."""
    rounds = whole_number("--rounds", rounds, 1, 1000)
    chosen = []
    for item in (v.strip() for v in variants.split(",") if v.strip()):
        name, _, count = item.partition(":")
        if name not in benchmark.VARIANTS:
            raise UserError(f"--variants: {item!r} is not VARIANT or VARIANT:ROUNDS "
                            f"(variants: {', '.join(benchmark.VARIANTS)})")
        chosen.append((name, whole_number(f"--variants {name}:", count, 1, 1000) if count else rounds))
    network.require_up()
    try:
        print(benchmark.run(chosen, out))
    except RuntimeError as exc:
        raise UserError(str(exc)) from None


@task(help={"rounds": "how many runs to kill (default 20)",
            "seed": "seed of the random kill moments (default 1): the same seed, the same moments",
            "longest": "latest interruption, in seconds after the start (default 60)",
            "ways": "comma-separated, from: " + ", ".join(interruptlib.WAYS) + " (default all)",
            "json": "write the report here (default benchmarks/results/interrupt-<date>.json)"})
@user_errors_exit
def interrupt(c, rounds="20", seed="1", longest="60", ways=ALL_WAYS, json=None):
    """Interrupt setup-cluster at random moments (controller killed, SSH cut, a node rebooted)
    and check that the next run converges and the one after changes nothing; tears the lab's
    cluster down before each round."""
    rounds_n = whole_number("--rounds", rounds, 1, 1000)
    seed_n = whole_number("--seed", seed, 0, 2**31)
    longest_s = whole_number("--longest", longest, 1, 600)
    chosen = _choices("--ways", ways, interruptlib.WAYS)
    network.require_up()
    config = str(s.lab_config().relative_to(s.ROOT))
    report = interruptlib.run(rounds_n, seed_n, config, longest_s, chosen)
    path = json or f"benchmarks/results/interrupt-{time.strftime('%Y%m%d-%H%M', time.gmtime())}.json"
    interruptlib.write(report, path)
    print(f"{rounds_n} run(s) interrupted ({report['by_way']}), {report['failed']} needed more "
          "than one run to converge; "
          f"report in {path}")
    if report["failed"]:
        raise Exit(code=1)


@task(help={"faults": "how many faults, one after another (default 20)",
            "seed": "seed of the faults and their victims (default 1): the same seed, the same run",
            "only": "comma-separated fault types to draw from (default all: "
                    + ", ".join(soaklib.FAULTS) + ")",
            "stress": "CPU-bound busy loops on the host for the whole soak (default 0): do the "
                      "failover timings hold when the nodes are starved?",
            "loss": "percent of the packets a loss fault drops on the node's link (default "
                    f"{soaklib.LOSS_PERCENT})",
            "json": "write the report here (default benchmarks/results/soak-<date>.json)"})
@user_errors_exit
def soak(c, faults="20", seed="1", only=None, stress="0", loss=str(soaklib.LOSS_PERCENT),
         json=None):
    """Random faults under load through every VIP, split-brain invariants watched throughout;
    each fault must end in `inv status` exit 0 within its bound. Exit 1 on any violation."""
    count = whole_number("--faults", faults, 1, 10000)
    seed_n = whole_number("--seed", seed, 0, 2**31)
    hogs = whole_number("--stress", stress, 0, 64)
    loss_percent = whole_number("--loss", loss, 1, 100)
    kinds = _choices("--only", only, soaklib.FAULTS) if only else None
    config = str(s.lab_config().relative_to(s.ROOT))
    path = json or f"benchmarks/results/soak-{time.strftime('%Y%m%d-%H%M', time.gmtime())}.json"
    try:
        report = soaklib.Soak(count, seed_n, config, only=kinds, stress=hogs,
                              loss_percent=loss_percent).run(
            progress=lambda so_far: soaklib.write(so_far, path))
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    soaklib.write(report, path)
    print(soaklib.table(report))
    print(f"report in {path}")
    if report["violations"]:
        raise Exit(code=1)


@task(help={"state": "what the lab is in, the fixtures' middle name (default converged)"})
@user_errors_exit
def record(c, state="converged"):
    """Keep the running lab's fact outputs as test fixtures (tests/fixtures/facts/)."""
    network.require_up()
    recorder.record(state=state)


@task(name="vagrant-config",
      help={"provider": f"the Vagrant provider the VMs run on: {', '.join(vagrant.TEMPLATES)} "
                        "(default libvirt)",
            "output": f"where to write the config (default {vagrant.DEFAULT_OUTPUT})",
            "ssh_config": "read this saved `vagrant ssh-config` output instead of running it"})
@user_errors_exit
def vagrant_config(c, provider="libvirt", output=vagrant.DEFAULT_OUTPUT, ssh_config=None):
    """Write a config for the Vagrant VMs from `vagrant ssh-config` (their SSH address, port,
    user and key), for setup-cluster to run against them unchanged."""
    # The Vagrant lab's VMs answer `vagrant ssh-config` only in the environment they came up in.
    env = vagrantlab.vagrant_env() if provider == "libvirt" and vagrantlab.is_up() else None
    vagrant.write(provider, output, ssh_config, env=env)


@task(name="vagrant-box",
      help={"release": f"Debian release of the box (default {s.DEFAULT_RELEASE})"})
@user_errors_exit
def vagrant_box(c, release=None):
    """Build (once per release) halb's Vagrant box from Debian's packages and add it as halb/RELEASE."""
    vagrantlab.preflight()
    release = s.wanted_release(release)
    if not boxlib.ensure(release):
        print(f"vagrant lab: the box {boxlib.Box(release).name} is built and added; nothing to do")


@task(name="vagrant-up",
      help={"release": f"Debian release of the VMs (only {s.DEFAULT_RELEASE} has a box)"})
@user_errors_exit
def vagrant_up(c, release=None):
    """The Vagrant lab: box, libvirt, isolated networks, mirror, fence_virsh login, two VMs, and
    .vagrant/halb.yaml for setup-cluster."""
    vagrantlab.up(release)


@task(name="vagrant-down")
@user_errors_exit
def vagrant_down(c):
    """Destroy the Vagrant lab's VMs, volumes and networks; stop what vagrant-up started."""
    vagrantlab.down()


@task(name="vagrant-status")
@user_errors_exit
def vagrant_status(c):
    """Whether the Vagrant lab is up, and each VM's state as libvirt reports it."""
    vagrantlab.status()


ns = Collection(up, images, down, clean, status, ssh, crash, freeze, thaw, power_on, bench, interrupt, soak, record,
                vagrant_config, vagrant_box, vagrant_up, vagrant_down, vagrant_status)
