"""`inv lab.record`: the running lab's answers to every fact's command, kept as fact fixtures
(tests/fixtures/facts/<fact>/<release>-<state>-<machine>.txt, state "converged" unless named), so that the planners and
parsers stay tested on each release without the lab. Outputs that hold credentials (pcsd
tokens, digests of BMC passwords) are not recorded, except pcsd's known hosts with every
token replaced by REDACTED (which nodes it knows is what the auth step reads).

The facts are read the way every task reads them, through a session over SSH. The expected
facts (the .json files) come next from `python -m tests.unit.fact_fixtures --rewrite`, to be
reviewed like any other change. Recording needs a checkout: the fixtures' format is the tests'.
"""

from __future__ import annotations

import re

from .. import config as cfg
from ..errors import UserError
from ..session import Session
from . import control
from . import settings as s


def record(say=print, state="converged"):
    from tests.unit.fact_fixtures import FIXTURES, write_fixture
    release = s.running_release()
    if release is None or not control.is_up():
        raise UserError("the lab is down: run inv lab.up")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", state):
        raise UserError(f"--state {state!r}: a fixture name part is lower-case letters, digits "
                        "and dashes")
    cluster = cfg.load(s.lab_config(), env=cfg.read_secrets(s.ROOT / ".env"))
    written = 0
    with Session(cluster, log_dir=s.ROOT / "logs", out=lambda text: None, name="record") as session:
        session.resolve_nodes()
        for node in cluster.hosts:
            base, dialect, outputs = session.fact_outputs(
                node, lambda fact: not fact.sensitive or fact.name == "pcsd_auth")
            if "pcsd_auth" in outputs:
                outputs["pcsd_auth"] = _redacted(outputs["pcsd_auth"])
            case = {"platform": dialect.platform,
                    "pcs_version": base["pcs_version"].strip() or None}
            for name, text in {**base, **outputs}.items():
                written += write_fixture(name, f"{release}-{state}-{node.name}", text, case)
            if node.bmc is not None and node.name == cluster.primary.name:
                status = session.ask(node, dialect.cluster_status_xml(), "record").stdout
                written += write_fixture("crm_mon", f"{release}-{state}", status, case)
    say(f"lab: recorded {written} outputs of the {release} lab under {FIXTURES}; now run "
        "python -m tests.unit.fact_fixtures --rewrite and review the expected facts")
    return written


def _redacted(text):
    """pcsd's known-hosts (or pcs 0.9 tokens) file with every token value replaced."""
    return re.sub(r'("token"\s*:\s*)"[^"]*"|("[^"]+"\s*:\s*)"[0-9a-f-]{20,}"',
                  lambda m: f'{m.group(1) or m.group(2)}"REDACTED"', text)
