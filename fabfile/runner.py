"""Runs runbook steps: gather facts, plan, show, apply, summarise."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from . import backup
from . import facts as factlib
from .errors import StepFailed, UserError
from .executor import last_line
from .plan import (
    NotReady,
    alerts,
    auth,
    enable_stonith,
    fence,
    haproxy,
    install,
    metrics,
    quorum,
    setup,
    vip,
)
from .session import Session

# The runbook, in order: step name -> planner.
STEPS = {
    "install": install.plan,
    "auth": auth.plan,
    "setup": setup.plan,
    "quorum": quorum.plan,
    "fence": fence.plan,
    "vip": vip.plan,
    "haproxy": haproxy.plan,
    "alerts": alerts.plan,
    "metrics": metrics.plan,
    "enable-stonith": enable_stonith.plan,
}
STEP_NAMES = tuple(STEPS)
# enable-stonith asks a fence device that did not answer once more, this long after.
CHECK_AGAIN_AFTER_S = 5


def select_steps(start=None, stop=None):
    for name, value in (("--from", start), ("--to", stop)):
        if value and value not in STEPS:
            raise UserError(f"{name} {value!r}: not a step (steps: {', '.join(STEP_NAMES)})")
    first = STEP_NAMES.index(start) if start else 0
    last = STEP_NAMES.index(stop) if stop else len(STEP_NAMES) - 1
    if first > last:
        raise UserError(f"--from {start} comes after --to {stop}")
    return list(STEP_NAMES[first:last + 1])


@dataclass
class Row:
    step: str
    host: str
    status: str  # changed / unchanged / failed / planned
    seconds: float


class Runner(Session):
    """The runbook's steps on a session: plan each from the facts, show it, apply what differs,
    and summarise. Facts are read again only after a step changed something."""

    def __init__(self, cluster, dry_run=False, force=False, log_dir="logs", out=None):
        super().__init__(cluster, dry_run=dry_run, log_dir=log_dir, out=out)
        self.force = force
        self.rows: list[Row] = []
        self.facts = None  # still true until a step changes something
        self.cib_saved = None  # the CIB backup of this run, taken before its first CIB change

    # --- the run ----------------------------------------------------------------------------
    def run(self, steps, planners=STEPS):
        started = time.monotonic()
        mode = "dry run" + (" (offline: nodes assumed fresh)" if self.offline else "") \
            if self.dry_run else "apply"
        self.say(f"cluster {self.cluster.name} from {self.cluster.path}: {mode}; "
                 f"log {self.log.path}")
        if self.cluster.ssh.sudo:
            self.say("commands run through sudo -n on the nodes (ssh.sudo)")
        if self.dry_run and self.cluster.missing_secrets:
            self.say("note: not set, a real run will refuse: "
                     + ", ".join(self.cluster.missing_secrets))
        if not self.offline:
            self.resolve_nodes()
        self.hold_cluster("setup-cluster" if len(steps) > 1 else steps[0])
        if any(s in ("haproxy", "haproxy-config") for s in steps):
            haproxy.check_rendered_config(self.cluster, self.say)
        try:
            for step in steps:
                self.run_step(step, planners[step])
        except StepFailed as exc:
            self.summary(time.monotonic() - started)
            done = [r.step for r in self.rows if r.status == "changed"]
            raise UserError(f"{exc}\nThe run stopped there. Steps before it were applied"
                            + (f" ({', '.join(dict.fromkeys(done))} changed)" if done else "")
                            + "; commands of the failed step that ran before the failure stay "
                            "applied. Fix the cause and re-run: every step converges.") from None
        finally:
            self.close()
        self.summary(time.monotonic() - started)
        return self.rows

    def run_step(self, step, planner):
        self.say(f"\n== {step}")
        plan = self.plan_step(step, planner)
        if plan is None:
            return
        if self.dry_run:
            for host in plan.hosts() or [self.cluster.primary.name]:
                self.rows.append(Row(step, host, "planned" if plan.commands_for(host)
                                     else "unchanged", 0.0))
            if self.offline and step == "install":
                # Later steps meet what the packages set up by themselves (Debian's start a
                # one-node cluster and haproxy): plan them against that, as a real run would.
                self.facts = install.expected_after(
                    self.cluster, factlib.cluster_dialect(self.cluster, self.facts), self.facts)
            elif step == "setup":
                # Nor do they meet that one-node cluster's CIB once setup has made the cluster.
                self.facts = setup.expected_after(self.cluster, self.facts)
            return
        self.check(plan)
        if not plan.empty and step in backup.CIB_STEPS and not self.cib_saved:
            self.cib_saved = backup.save(self, step, self.facts)
            if self.cib_saved:
                self.say(f"   CIB saved to {self.cib_saved} (inv restore-config --backup "
                         f"{self.cib_saved} goes back to it)")
        if not plan.empty:
            self.facts = None  # the nodes are about to change: the next step reads them again
            if step == "install":
                self.forget_base()  # packages change, and with them pcs's version
        seconds, failed = self.apply(plan)
        self.record(plan, seconds, failed)
        if failed:
            raise failed[1]
        if plan.empty:
            self.say("   nothing changed")

    def plan_step(self, step, planner):
        """The step's plan from the nodes' facts (read again after a step changed something),
        shown; None when a dry run cannot plan it before earlier steps have applied."""
        if self.facts is None:
            self.facts = self.gather()
        else:
            self.fact_seconds = {}  # read for an earlier step that changed nothing
        dialect = factlib.cluster_dialect(self.cluster, self.facts)
        try:
            plan = planner(self.cluster, dialect, self.facts)
        except NotReady as exc:
            if self.dry_run:
                self.say(f"   (cannot plan yet: {exc}; a real run plans it once the earlier "
                         "steps have applied)")
                return None
            raise
        self.show(plan, dialect)
        return plan

    def apply(self, plan):
        """Each phase in order, its hosts side by side; stops after the phase that failed.
        Returns each host's seconds (reading its facts, then its commands) and the first
        failure as (host, StepFailed), or None."""
        seconds = {host: self.fact_seconds.get(host, 0.0) for host in plan.hosts()}
        failed = None
        for phase in plan.phases:
            with ThreadPoolExecutor(len(phase)) as pool:
                futures = {host: pool.submit(self._apply, plan.step, host, cmds)
                           for host, cmds in phase}
            for host, future in futures.items():
                took, error = future.result()
                seconds[host] = seconds.get(host, 0.0) + took
                if error and failed is None:
                    failed = (host, error)
            if failed:
                break
        return seconds, failed

    def record(self, plan, seconds, failed):
        for host in seconds:
            status = ("failed" if failed and failed[0] == host else
                      "changed" if plan.commands_for(host) else "unchanged")
            self.rows.append(Row(plan.step, host, status, seconds[host]))

    def _apply(self, step, host, commands):
        node = self.cluster.node(host)
        took = 0.0
        for command in commands:
            self.say(f"   [{host}] {command.why or command.display()}")
            try:
                took += self.executor.run(node, command, step).seconds
            except StepFailed as exc:
                return took, exc
        return took, None

    def check(self, plan):
        failures = []
        for host, command in plan.checks:
            try:
                self._check_once_more_on_failure(host, command, plan.step)
                self.say(f"   [{host}] ok: {command.why}")
            except StepFailed as exc:
                failures.append(f"[{host}] {command.why}: {exc.detail}")
        if not failures:
            return
        text = "\n  ".join(failures)
        if not self.force:
            raise UserError(f"step '{plan.step}' refused: a fence device did not answer:\n  {text}\n"
                            "Fix fencing, or pass --force to enable STONITH anyway.")
        self.say("!" * 72)
        self.say(f"!! --force: enabling STONITH although a fence device did not answer:\n  {text}")
        self.say("!! The cluster may be unable to fence, and then it stops recovering.")
        self.say("!" * 72)

    def _check_once_more_on_failure(self, host, command, step):
        """IPMI runs over UDP and a BMC may drop a session: a device that did not answer is asked
        once more before it counts as failed, so one lost exchange does not refuse STONITH."""
        node = self.cluster.node(host)
        Retrying(stop=stop_after_attempt(2), wait=wait_fixed(CHECK_AGAIN_AFTER_S),
                 retry=retry_if_exception_type(StepFailed), reraise=True,
                 before_sleep=lambda rs: self.say(
                     f"   [{host}] no answer ({last_line(rs.outcome.exception().detail, 'no output')}); "
                     f"asking again in {CHECK_AGAIN_AFTER_S} s"))(
            self.executor.run, node, command, step)

    # --- output -----------------------------------------------------------------------------
    def show(self, plan, dialect):
        self.say(f"   ({dialect.label})")
        for host, command in plan.checks:
            self.say(f"   [{host}] check: {command.display()}")
            self.say(f"   {'':{len(host) + 2}}  # {command.why}")
        for number, phase in enumerate(plan.phases, 1):
            for host, commands in phase:
                for command in commands:
                    self.say(f"   {number}. [{host}] {command.display()}")
                    if command.why:
                        self.say(f"      {'':{len(host) + 2}} # {command.why}")
        for host, reason in plan.reasons:
            self.say(f"   [{host}] nothing to do, because {reason}")

    def summary(self, total):
        if not self.rows:
            return
        width = max(len(r.step) for r in self.rows)
        hwidth = max(len(r.host) for r in self.rows)
        self.say(f"\n{'step':<{width}}  {'host':<{hwidth}}  {'result':<9}  seconds")
        for r in self.rows:
            self.say(f"{r.step:<{width}}  {r.host:<{hwidth}}  {r.status:<9}  {r.seconds:7.1f}")
        changed = sum(r.status in ("changed", "planned") for r in self.rows)
        self.say(f"{changed} change(s) {'planned' if self.dry_run else 'made'}; "
                 f"{total:.1f}s in all; log {self.log.path}")
