"""One way to reach the nodes: a session holds the SSH connections, the run log, the masker, and
what each node is (its base facts and dialect, read once).

Every task works through one: the runbook's steps (Runner), status, preflight, standby, the
rolling update, the drill, the backups and the exported runbook.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import facts as factlib
from . import hooks
from .commands import Masker
from .errors import ConfigError, UserError
from .executor import Executor, RunLog
from .runlock import ClusterLock


class Session:
    def __init__(self, cluster, dry_run=False, log_dir="logs", out=None, name="run"):
        self.cluster = cluster
        self.dry_run = dry_run
        self.out = out or (lambda text: print(text, flush=True))
        self.masker = Masker(cluster.secrets)
        self.log = RunLog(log_dir, self.masker, name=name)
        self.offline = dry_run and cluster.platform is not None
        self.executor = None if self.offline else Executor(cluster, self.log, self.say)
        self.fact_seconds: dict[str, float] = {}  # per host, for the latest gather
        # Base facts (os-release, pcs --version) per node: they name the dialect, and change
        # only when packages do (forget_base after an install or an upgrade).
        self._base: dict[str, dict] = {}
        self._base_lock = threading.Lock()
        self.run_lock = None

    def hold_cluster(self, task):
        """A run that changes the cluster takes the run lock on every host first (runlock);
        it is released when the session closes. Dry runs never take it."""
        if self.dry_run or self.executor is None or self.run_lock is not None:
            return

        def note(text):  # on stderr: a task's stdout may be JSON
            self.log.write(text)
            print(self.masker(text), file=sys.stderr, flush=True)
        self.run_lock = ClusterLock(self.executor, self.cluster.hosts, task, note)
        self.run_lock.take()

    def say(self, text):
        self.out(self.masker(text))

    def resolve_nodes(self):
        """Every node address must resolve before the first connection, and every registered
        reach guard (fabfile.hooks) must let it through."""
        resolved = []
        for i, node in enumerate(self.cluster.hosts):
            field = (f"nodes[{i}].{'ssh_address' if node.ssh_address else 'address'}" if node.bmc
                     else "quorum.device.address")
            try:
                found = socket.getaddrinfo(node.ssh_host, node.ssh_port, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                raise ConfigError(self.cluster.path, field,
                                  f"{node.ssh_host!r} does not resolve: {exc.strerror or exc}") from None
            resolved += [info[4][0] for info in found]
        hooks.check_reach(resolved)

    def ask(self, node, command, step, sensitive=False):
        return self.executor.run(node, command, step, sensitive=sensitive)

    # --- what a node is ---------------------------------------------------------------------
    def base(self, node):
        with self._base_lock:
            known = self._base.get(node.name)
        if known is not None:
            return known
        base = factlib.read_base(lambda command: self.ask(node, command, "facts").stdout)
        with self._base_lock:
            self._base[node.name] = base
        return base

    def forget_base(self, node=None):
        with self._base_lock:
            if node is None:
                self._base.clear()
            else:
                self._base.pop(node.name, None)

    def dialect(self, node):
        """One node's dialect from its base facts, for tasks that need no other fact."""
        return factlib.require_dialect(self.base(node), self.cluster, node.name)

    def any_dialect(self, why):
        """The dialect of the first node that answers; every node's problem if none does."""
        problems = []
        for node in self.cluster.nodes:
            try:
                return self.dialect(node)
            except UserError as exc:
                problems.append(str(exc))
                if self.executor:
                    self.executor.forget(node.name)
        raise UserError(f"{why}: no node answers:\n  " + "\n  ".join(problems))

    # --- facts ------------------------------------------------------------------------------
    def gather(self):
        """Facts of every node, gathered side by side; invented ones when dry-running offline."""
        hosts = self.cluster.hosts
        if self.offline:
            return {n.name: factlib.fresh(self.cluster.platform) for n in hosts}
        with ThreadPoolExecutor(len(hosts)) as pool:
            found = list(pool.map(self._gather_node, hosts))
        return {node.name: facts for node, facts in zip(hosts, found, strict=True)}

    def _gather_node(self, node):
        started = time.monotonic()
        try:
            return self.probe(node)
        finally:
            self.fact_seconds[node.name] = time.monotonic() - started

    def probe(self, node):
        base, dialect, outputs = self.fact_outputs(node)
        return factlib.assemble(base, outputs, dialect)

    def fact_outputs(self, node, wanted=lambda fact: True):
        """(base facts, dialect, {fact: its command's output}) for the wanted facts; a
        sensitive fact's output stays out of the log."""
        base = self.base(node)
        dialect = factlib.require_dialect(base, self.cluster, node.name)
        probe = factlib.Probe(dialect, self.cluster, node)
        outputs = {}
        for fact in factlib.FACTS:
            if wanted(fact) and (command := fact.command(probe)) is not None:
                outputs[fact.name] = self.ask(node, command, "facts",
                                              sensitive=fact.sensitive).stdout
        return base, dialect, outputs

    # --- lifetime ---------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.run_lock is not None:
            self.run_lock.release()
            self.run_lock = None
        if self.executor:
            self.executor.close()
        self.log.close()
