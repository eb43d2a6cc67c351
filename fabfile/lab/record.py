"""`inv lab.record`: the running lab's answers to every fact's command, kept as fact fixtures
(tests/fixtures/facts/<fact>/<release>-converged-<machine>.txt), so that the planners and
parsers stay tested on each release without the lab. Outputs that hold credentials (pcsd
tokens, digests of BMC passwords) are not recorded, except pcsd's known hosts with every
token replaced by REDACTED (which nodes it knows is what the auth step reads).

The expected facts (the .json files) come next from `python -m tests.unit.fact_fixtures
--rewrite`, to be reviewed like any other change.
"""

from __future__ import annotations

import json
import re

from .. import config as cfg
from .. import facts as factlib
from ..errors import UserError
from . import control
from . import settings as s

FIXTURES = s.ROOT / "tests" / "fixtures" / "facts"


def record(say=print):
    release = s.running_release()
    if release is None or not control.is_up():
        raise UserError("the lab is down: run inv lab.up")
    cluster = cfg.load(s.LAB_CONFIG, env=cfg.read_secrets(s.ROOT / ".env"))
    machines = {m.name: m for m in s.lab_machines()}
    written = 0
    for node in cluster.hosts:
        def ask(command, machine=machines[node.name]):
            return control.node_exec(machine, list(command.argv), input=command.stdin_text()).stdout
        base = factlib.read_base(ask)
        dialect = factlib.require_dialect(base, cluster, node.name)
        probe = factlib.Probe(dialect, cluster, node)
        outputs = dict(base)
        for fact in factlib.FACTS:
            command = fact.command(probe)
            if command is not None and not fact.sensitive:
                outputs[fact.name] = ask(command)
            elif command is not None and fact.name == "pcsd_auth":
                outputs[fact.name] = _redacted(ask(command))
        case = {"platform": dialect.platform, "pcs_version": base["pcs_version"].strip() or None}
        for name, text in outputs.items():
            written += write_fixture(name, f"{release}-converged-{node.name}", text, case)
        if node.bmc is not None and node.name == cluster.primary.name:
            status = ask(dialect.cluster_status_xml())
            written += write_fixture("crm_mon", f"{release}-converged", status, case)
    say(f"lab: recorded {written} outputs of the {release} lab under {FIXTURES}; now run "
        "python -m tests.unit.fact_fixtures --rewrite and review the expected facts")
    return written


def _redacted(text):
    """pcsd's known-hosts (or pcs 0.9 tokens) file with every token value replaced."""
    return re.sub(r'("token"\s*:\s*)"[^"]*"|("[^"]+"\s*:\s*)"[0-9a-f-]{20,}"',
                  lambda m: f'{m.group(1) or m.group(2)}"REDACTED"', text)


def write_fixture(fact, name, text, case, expected=None):
    """A fact case: the output as <name>.txt, its context and expected fact as <name>.json
    (None until tests.unit.fact_fixtures --rewrite reads it)."""
    folder = FIXTURES / fact
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(text)
    (folder / f"{name}.json").write_text(json.dumps({**case, "fact": expected}, indent=1,
                                                    sort_keys=True) + "\n")
    return 1
