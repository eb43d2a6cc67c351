"""Pure planning: (cluster config, dialect, facts per node) -> ordered commands per host.

No module under fabfile/plan/ imports Fabric or touches a host. A step that finds nothing to do
says why, so a re-run on a converged cluster reads as a list of reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..commands import content_digest, write_file
from ..errors import UserError


@dataclass
class Plan:
    step: str
    # Phases run in order; within a phase each host runs its commands, hosts side by side.
    phases: list = field(default_factory=list)  # [[(host, [Command, ...]), ...], ...]
    # Read-only checks that must pass before anything is applied: (host, Command).
    checks: list = field(default_factory=list)
    reasons: list = field(default_factory=list)  # (host, "nothing to do, because ...")

    def add(self, host, *commands, phase=None):
        """Append commands for a host to the given phase (default: a new phase)."""
        commands = [c for c in commands if c is not None]
        if not commands:
            return
        if phase is None or phase >= len(self.phases):
            self.phases.append([])
            phase = len(self.phases) - 1
        for entry in self.phases[phase]:
            if entry[0] == host:
                entry[1].extend(commands)
                return
        self.phases[phase].append((host, list(commands)))

    def unchanged(self, host, reason):
        self.reasons.append((host, reason))

    def ship(self, host, host_facts, path, text, why, label, phase):
        """A program halb ships (agent, script) at `path` on `host`, written unless its
        sha256 there is already that of `text`."""
        if host_facts.files.get(path) == content_digest(text):
            self.unchanged(host, f"{path} is current")
        else:
            self.add(host, write_file(path, text, "0755", why=why, label=label), phase=phase)

    @property
    def empty(self):
        return not any(cmds for phase in self.phases for _, cmds in phase)

    def hosts(self):
        seen = {}
        for phase in self.phases:
            for host, _ in phase:
                seen[host] = True
        for host, _ in self.checks:
            seen[host] = True
        for host, _ in self.reasons:
            seen[host] = True
        return list(seen)

    def commands_for(self, host):
        return [c for phase in self.phases for h, cmds in phase if h == host for c in cmds]


class NotReady(UserError):
    """An earlier step has not run yet: the message says which."""


def require_cib(cluster, facts, step):
    cib = facts[cluster.primary.name].cib
    if cib is None:
        if facts[cluster.primary.name].assumed:
            return None
        raise NotReady(f"step '{step}': the cluster is not running on {cluster.primary.name} "
                       "(run the 'setup' step first)")
    return cib


def option_changes(desired, current):
    """The (name, value) pairs of `desired` that `current` (a dict) does not already hold."""
    return [(k, v) for k, v in desired if current.get(k) != v]
