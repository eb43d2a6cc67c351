"""halb: a highly available HAProxy on a two-node Pacemaker/Corosync cluster, step by step.

Steps, in runbook order: install, auth, setup, fence, vip, haproxy, enable-stonith.
`inv setup-cluster` runs them all; every task plans first and changes only what differs.
"""

from invoke import Collection, task
from invoke.exceptions import Exit

from fabfile import config as cfg
from fabfile.errors import UserError
from fabfile.lab import tasks as lab_tasks
from fabfile.runner import STEP_NAMES, STEPS, Runner, haproxy_rollout, select_steps

DEFAULT_CONFIG = "configs/lab.yaml"
COMMON_HELP = {
    "config": f"cluster config file (YAML; default {DEFAULT_CONFIG})",
    "dry_run": "print the plan per host, secrets masked, and change nothing "
               "(no connection when the config pins 'platform')",
    "log_dir": "directory for the run transcript (default logs/)",
}


def _run(steps, config, dry_run, log_dir, force=False, planners=STEPS):
    try:
        cluster = cfg.load(config, require_secrets=not dry_run)
        Runner(cluster, dry_run=dry_run, force=force, log_dir=log_dir).run(steps, planners)
    except UserError as exc:
        raise Exit(f"error: {exc}", code=1) from None


def _step_task(step, doc):
    def body(c, config=DEFAULT_CONFIG, dry_run=False, log_dir="logs"):
        _run([step], config, dry_run, log_dir)
    body.__doc__ = doc
    body.__name__ = step.replace("-", "_")
    return task(body, name=step, help=COMMON_HELP)


install = _step_task("install", "Step 1/7: Install the cluster packages on every node and start pcsd.")
auth = _step_task("auth", "Step 2/7: Set the hacluster password and authenticate pcsd between the nodes.")
setup = _step_task("setup", "Step 3/7: Create the two-node cluster, start it and enable it at boot.")
fence = _step_task("fence", "Step 4/7: Create one fence device per node, aimed at that node only.")
vip = _step_task("vip", "Step 5/7: Create the floating virtual IP (IPaddr2) in the resource group.")
haproxy = _step_task("haproxy", "Step 6/7: Install the HAProxy OCF agent and config; group HAProxy with the VIP.")


@task(name="enable-stonith",
      help={**COMMON_HELP, "force": "enable STONITH even if a fence device fails its status check"})
def enable_stonith(c, config=DEFAULT_CONFIG, dry_run=False, log_dir="logs", force=False):
    """Step 7/7: turn STONITH on once every fence device answers a status check from the peer node."""
    _run(["enable-stonith"], config, dry_run, log_dir, force=force)


@task(name="setup-cluster",
      help={**COMMON_HELP,
            "from": f"first step to run (one of: {', '.join(STEP_NAMES)})",
            "to": "last step to run (default: enable-stonith)",
            "force": "enable STONITH even if a fence device fails its status check"})
def setup_cluster(c, config=DEFAULT_CONFIG, dry_run=False, log_dir="logs", from_=None, to=None,
                  force=False):
    """All steps 1-7 in order (install .. enable-stonith); resume with --from/--to."""
    try:
        steps = select_steps(from_, to)
    except UserError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    _run(steps, config, dry_run, log_dir, force=force)


@task(name="haproxy-config", help=COMMON_HELP)
def haproxy_config(c, config=DEFAULT_CONFIG, dry_run=False, log_dir="logs"):
    """Roll out a changed HAProxy config: validate, standby node, active node, cluster reload."""
    _run(["haproxy-config"], config, dry_run, log_dir, planners={"haproxy-config": haproxy_rollout})


ns = Collection(install, auth, setup, fence, vip, haproxy, enable_stonith, setup_cluster,
                haproxy_config)
ns.add_collection(lab_tasks.ns, name="lab")
