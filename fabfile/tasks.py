"""halb's Invoke tasks: the runbook's steps, setup-cluster, and the day-two tasks.

Steps, in runbook order: install, auth, setup, quorum, fence, vip, haproxy, enable-stonith.
`inv setup-cluster` runs them all; every task plans first and changes only what differs.

Tasks stay thin: they read their arguments, take the config file and the log folder from Invoke's
configuration (`halb.config`, `halb.log_dir`: invoke.yaml, INVOKE_HALB_CONFIG, or --config), and
hand over to the modules that do the work.
"""

import inspect
import sys
import time

from invoke import Collection, task
from invoke.exceptions import Exit

from . import backup as backuplib
from . import config as cfg
from . import drill as drilllib
from . import drillplot, health, hooks, maintenance
from . import preflight as preflightlib
from . import runbook as runbooklib
from .cli import invoke_settings, user_errors_exit, whole_number
from .errors import UserError
from .plan import teardown as teardown_plan
from .plan.haproxy import rollout
from .runner import STEP_NAMES, STEPS, Runner, select_steps
from .session import Session

# Invoke configuration under `halb`: an operator sets them once (invoke.yaml beside tasks.py,
# ~/.invoke.yaml, INVOKE_HALB_CONFIG=...) instead of on every command.
DEFAULTS = {"config": "halb.yaml", "log_dir": "logs"}
COMMON_HELP = {
    "config": "cluster config file (YAML; default: Invoke setting halb.config, else halb.yaml)",
    "dry_run": "print the plan per host, secrets masked, and change nothing "
               "(no connection when the config pins 'platform')",
    "log_dir": "directory for the run transcript (default: Invoke setting halb.log_dir, else logs)",
}


def halb_task(body=None, **options):
    """@task for halb: one-line user errors, and the config file and log folder from Invoke's
    configuration when the command line does not give them."""
    def wrap(body):
        names = [name for name in DEFAULTS if name in inspect.signature(body).parameters]
        return task(user_errors_exit(invoke_settings(body, "halb", names)), **options)
    return wrap(body) if body else wrap


def _run(steps, config, dry_run, log_dir, force=False, planners=STEPS, preflight=False):
    cluster = cfg.load(config, require_secrets=not dry_run)
    runner = Runner(cluster, dry_run=dry_run, force=force, log_dir=log_dir)
    if preflight and not runner.offline:
        _cheap_preflight(cluster, log_dir)
    runner.run(steps, planners)


def _cheap_preflight(cluster, log_dir):
    """SSH as root, one platform, clocks and disk: stop before the first change if one fails."""
    with Session(cluster, log_dir=log_dir, out=lambda text: None) as session:
        checks = preflightlib.Preflight(cluster, session).run(only_cheap=True)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise UserError("preflight: nothing was changed, because:\n"
                        + "\n".join(f"  {c.name}: {c.detail}" for c in failed))
    print(f"preflight: {len(checks)} check(s) passed (SSH as root, platform, clocks, disk)")


def _step_task(step, doc):
    def body(c, config=None, dry_run=False, log_dir=None):
        _run([step], config, dry_run, log_dir)
    body.__doc__ = doc
    body.__name__ = step.replace("-", "_")
    return halb_task(body, name=step, help=COMMON_HELP)


install = _step_task("install", "Step 1/10: Install the cluster packages on every node (and the arbiter) and start pcsd.")
auth = _step_task("auth", "Step 2/10: Set the hacluster password and authenticate pcsd between the hosts.")
setup = _step_task("setup", "Step 3/10: Create the cluster (2 to 16 nodes) with its failover timings, start it, enable it at boot.")
quorum = _step_task("quorum", "Step 4/10: Add (or remove) the quorum arbiter: qnetd on a third host, qdevice on the nodes.")
fence = _step_task("fence", "Step 5/10: Create one fence device per node, aimed at that node only.")
vip = _step_task("vip", "Step 6/10: Create the floating virtual IP (IPaddr2) in the resource group.")
haproxy = _step_task("haproxy", "Step 7/10: Install the HAProxy OCF agent and config; group HAProxy with the VIP.")
alerts = _step_task("alerts", "Step 8/10: Pacemaker alerts from the config: agents, tokens and alerts on every node.")
metrics = _step_task("metrics", "Step 9/10: The hacluster exporter on every node, on its cluster address only.")


@halb_task(name="enable-stonith",
      help={**COMMON_HELP, "force": "enable STONITH even if a fence device fails its status check"})
def enable_stonith(c, config=None, dry_run=False, log_dir=None, force=False):
    """Step 10/10: turn STONITH on once every fence device answers a status check from the peer node."""
    _run(["enable-stonith"], config, dry_run, log_dir, force=force)


@halb_task(name="setup-cluster",
      help={**COMMON_HELP,
            "from": f"first step to run (one of: {', '.join(STEP_NAMES)})",
            "to": "last step to run (default: enable-stonith)",
            "force": "enable STONITH even if a fence device fails its status check"})
def setup_cluster(c, config=None, dry_run=False, log_dir=None, from_=None, to=None,
                  force=False):
    """All steps 1-10 in order (install .. enable-stonith); resume with --from/--to."""
    _run(select_steps(from_, to), config, dry_run, log_dir, force=force, preflight=True)


@halb_task(name="haproxy-config", help=COMMON_HELP)
def haproxy_config(c, config=None, dry_run=False, log_dir=None):
    """Roll out a changed HAProxy config: validate, standby node, active node, cluster reload."""
    _run(["haproxy-config"], config, dry_run, log_dir, planners={"haproxy-config": rollout})


@halb_task(auto_shortflags=False, help={
    "config": COMMON_HELP["config"],
    "fault": "what to break: " + "; ".join(f"{k}: {v}" for k, v in drilllib.FAULTS.items()),
    "rounds": "how many rounds (default 1)",
    "victim": "'active' (the node holding the VIP, default) or a node name",
    "port": "port of the service on the VIP (default: the first HAProxy frontend, else 80)",
    "path": "URL path to GET (default /)",
    "interval_ms": "milliseconds between requests (default 100)",
    "timeout_ms": "timeout of one request in milliseconds (default 500)",
    "json": "print the rounds and the summary as JSON instead of a table",
    "plot": "also draw each round's timeline to this .svg or .png file (needs matplotlib)",
    "i_accept_a_crash": "on a real cluster, allow '--fault crash' to crash the victim's kernel",
    "log_dir": COMMON_HELP["log_dir"],
})
def drill(c, config=None, fault="crash", rounds="1", victim="active", port=None, path="/",
          interval_ms="100", timeout_ms="500", json=False, plot=None, i_accept_a_crash=False,
          log_dir=None):
    """Break the node that serves (crash, freeze, fence, standby, move) and measure the outage."""
    cluster = cfg.load(config, require_secrets=False)
    # A registered test bed that runs the config's machines, if any (fabfile.hooks).
    lab = hooks.fault_injector_for(cluster)
    hooks.check_reach(cluster.vip_addresses + [n.ssh_host for n in cluster.nodes])
    if lab is None and fault == "crash" and not i_accept_a_crash:
        raise UserError("--fault crash on a real cluster crashes the kernel of the victim "
                        "(echo c > /proc/sysrq-trigger): pass --i-accept-a-crash to do it")
    if port is None:
        port = cluster.service_port
    port = whole_number("--port", port, 1, 65535, "not a TCP port (1-65535)")
    rounds = whole_number("--rounds", rounds, 1, 1000)
    interval_ms = whole_number("--interval-ms", interval_ms, 10, 60000)
    timeout_ms = whole_number("--timeout-ms", timeout_ms, 10, 60000)
    if plot:
        drillplot.check_target(plot)
    say = (lambda text: None) if json else (lambda text: print(text, flush=True))
    runner = drilllib.Drill(cluster, fault, rounds, victim, port, path,
                            interval_ms / 1000, timeout_ms / 1000, lab=lab, say=say,
                            log_dir=log_dir)
    if lab is None and fault in drilllib.POWER_FAULTS:
        what = ("crashes the kernel of" if fault == "crash" else "fences")
        say(f"drill: each of {rounds} round(s) {what} the victim ({victim}); the cluster "
            "fences it, and the drill powers it on again through its own fence device")
    rounds_done = runner.run()
    summary = drilllib.summarise(rounds_done)
    if json:
        print(drilllib.as_json(rounds_done, summary, {"config": config, "fault": fault,
                                                       "cluster": cluster.name}))
    else:
        print(drilllib.table(rounds_done, summary))
    if plot:
        drillplot.plot(rounds_done, plot, f"{cluster.name}: drill --fault {fault}, "
                       f"{len(rounds_done)} round(s), http://{cluster.vip.ip}:{port}{path} every "
                       f"{interval_ms} ms")
        say(f"timeline of each round drawn in {plot}")


CHECKS_HELP = {"config": COMMON_HELP["config"], "log_dir": COMMON_HELP["log_dir"],
               "json": "print the checks as JSON instead of a table"}


def _checks_task(config, json, log_dir, read, verdicts, metrics_file=None):
    """Read-only checks through one session, printed as a table or JSON; exit 1 on a failure."""
    cluster = cfg.load(config, require_secrets=False)
    if metrics_file:
        health.check_metrics_file(metrics_file)
    with Session(cluster, log_dir=log_dir, out=lambda text: None) as session:
        checks = read(cluster, session)
    if metrics_file:
        # A new file renamed over the old one: a collector never reads half of it.
        runbooklib.write_new_file(metrics_file, health.as_prometheus(
            checks, cluster.name, time.time()), 0o644, option="--metrics-file")
    print(health.as_json(checks, {"config": config, "cluster": cluster.name}, verdicts[0])
          if json else health.table(checks, *verdicts))
    if not all(check.ok for check in checks):
        raise Exit(code=1)


@halb_task(help={**CHECKS_HELP, "metrics_file": "also write the checks for Prometheus (a .prom "
                 "file in a textfile collector's folder, e.g. node_exporter's)"})
def status(c, config=None, json=False, log_dir=None, metrics_file=None):
    """Health of the running cluster: nodes, quorum, fencing, VIP, backends, failures, drift."""
    _checks_task(config, json, log_dir,
                 lambda cluster, session: health.Health(cluster, session, STEPS).checks(),
                 health.HEALTH_VERDICTS, metrics_file)


@halb_task(help=CHECKS_HELP)
def preflight(c, config=None, json=False, log_dir=None):
    """Can the runbook work on these hosts? Read-only checks, each failure says what to fix."""
    _checks_task(config, json, log_dir,
                 lambda cluster, session: preflightlib.Preflight(cluster, session).run(),
                 preflightlib.VERDICTS)


@halb_task(name="rolling-update", help={
    "config": COMMON_HELP["config"], "log_dir": COMMON_HELP["log_dir"],
    "reboot": "reboot each node after its upgrade (default; --no-reboot skips it)",
    "probe": "GET the service through the VIP every 100 ms meanwhile and report what failed"})
def rolling_update(c, config=None, reboot=True, probe=False, log_dir=None):
    """Upgrade and reboot one node at a time without an outage, then check the cluster.

    Each node, the one not serving first: standby (the service moves to the other), package
    upgrade, reboot, back in the cluster, unstandby. Stops at the first problem."""
    cluster = cfg.load(config, require_secrets=False)
    prober = None
    if probe:
        hooks.check_reach([cluster.vip.ip])
        prober = drilllib.Prober(cluster.vip.ip, cluster.service_port, "/", 0.1, 0.5).start()
    try:
        with Session(cluster, log_dir=log_dir, out=lambda text: None) as session:
            session.hold_cluster("rolling-update")
            maintenance.RollingUpdate(cluster, session, reboot=reboot).run()
            checks = health.Health(cluster, session, STEPS).checks()
    finally:
        if prober:
            prober.stop()
            print(maintenance.probe_summary(prober.records, cluster), flush=True)
    print("\n" + health.table(checks))
    if not all(check.ok for check in checks):
        raise Exit(code=1)


def _standby_task(on):
    verb = "standby" if on else "unstandby"

    def body(c, node, config=None, log_dir=None):
        cluster = cfg.load(config, require_secrets=False)
        with Session(cluster, log_dir=log_dir, out=lambda text: None) as session:
            session.hold_cluster(f"{verb} {node}")
            maintenance.switch(cluster, session, node, on)
    body.__name__ = verb
    body.__doc__ = ("Put a node in standby: its services move to another node; returns once they "
                    "answer there." if on else
                    "Take a node out of standby; returns once it is back in the cluster.")
    return halb_task(body, name=verb,
                help={"node": "the node's name", "config": COMMON_HELP["config"],
                      "log_dir": COMMON_HELP["log_dir"]})


@halb_task(help={"config": COMMON_HELP["config"], "log_dir": COMMON_HELP["log_dir"],
            "format": "markdown (a document for review, default) or sh (a script that runs it "
                      "over SSH)",
            "output": "write to this file instead of stdout"})
def runbook(c, config=None, format="markdown", output=None, log_dir=None):
    """The plan for a config as the operator's document: every step, host, command and why.
    Secrets are named placeholders. With 'platform' pinned it needs no connection; otherwise
    it reads the hosts' live facts, like a dry run."""
    if format not in runbooklib.FORMATS:
        raise UserError(f"--format {format!r}: one of {', '.join(runbooklib.FORMATS)}")
    cluster = runbooklib.with_placeholder_secrets(cfg.load(config, require_secrets=False))
    with Session(cluster, dry_run=True, log_dir=log_dir, out=lambda text: None) as session:
        if not session.offline:
            session.resolve_nodes()
        text = runbooklib.write(cluster, session, STEPS, format)
    if output is None:
        sys.stdout.write(text)
        return
    runbooklib.write_new_file(output, text, 0o755 if format == "sh" else 0o644)
    print(f"runbook for {cluster.name} written to {runbooklib.one_line_text(output)} ({format})")


@halb_task(help={**COMMON_HELP, "yes": "do not ask: destroy the cluster at once"})
def teardown(c, config=None, yes=False, dry_run=False, log_dir=None):
    """Destroy the cluster and remove halb's files from the nodes; packages stay.

    Removes the OCF agent, the HAProxy config and the BMC password files; setup-cluster builds
    the cluster again from there."""
    cluster = cfg.load(config, require_secrets=False)
    if not (dry_run or yes):
        if not sys.stdin.isatty():
            raise UserError(f"teardown destroys cluster {cluster.name}: pass --yes to confirm "
                            "(or run it in a terminal to be asked)")
        answer = input(f"This destroys cluster {cluster.name} on "
                       f"{', '.join(n.name for n in cluster.nodes)}. Type its name to go on: ")
        if answer.strip() != cluster.name:
            raise UserError("teardown: not confirmed; nothing changed")
    Runner(cluster, dry_run=dry_run, log_dir=log_dir).run(["teardown"],
                                                          {"teardown": teardown_plan.plan})


@halb_task(name="restore-config", help={
    "backup": "a CIB backup (cib-*.xml, saved in the log directory before every CIB change)",
    "config": COMMON_HELP["config"], "log_dir": COMMON_HELP["log_dir"],
    "dry_run": "list what the restore would change, by id, and change nothing"})
def restore_config(c, backup, config=None, dry_run=False, log_dir=None):
    """Put the cluster configuration (CIB) back as a backup has it, saving the current one first."""
    cluster = cfg.load(config, require_secrets=False)
    backuplib.read(backup, cluster)  # a wrong file is refused before any connection
    with Session(cluster, log_dir=log_dir) as session:
        backuplib.restore(session, backup, dry_run)


standby = _standby_task(True)
unstandby = _standby_task(False)

ns = Collection(install, auth, setup, quorum, fence, vip, haproxy, alerts, metrics, enable_stonith, setup_cluster,
                haproxy_config, drill, status, standby, unstandby, runbook, teardown,
                restore_config, preflight, rolling_update)
ns.configure({"halb": DEFAULTS})
