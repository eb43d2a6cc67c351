"""Fact fixtures: tests/fixtures/facts/<fact>/<case>.txt is a command's output as a node gave
it, <case>.json the parsed fact expected from it (and the dialect it was read in).

    python -m tests.unit.fact_fixtures --check    # what test_facts does
    python -m tests.unit.fact_fixtures --rewrite  # expected facts from the parsers' answer

The plan tests read the same outputs as a whole node (<source>-<node>.txt of every fact; see
planning.raw_facts). `inv lab.record` adds a live node's outputs. Rewriting records the
parsers' present answer: review the diff before committing it.
"""

import dataclasses
import json
import sys
from pathlib import Path

from fabfile import facts as factlib
from fabfile import health, parsers
from fabfile.dialects import Dialect, parse_pcs_version

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


def write_fixture(fact, name, text, case, expected=None):
    """A fact case: the output as <name>.txt, its context and expected fact as <name>.json
    (None until --rewrite reads it)."""
    folder = FIXTURES / fact
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(text)
    (folder / f"{name}.json").write_text(json.dumps({**case, "fact": expected}, indent=1,
                                                    sort_keys=True) + "\n")
    return 1


# Parsers of live status that the drill and the lab read, next to the node facts.
STATUS_PARSERS = {"crm_mon": parsers.parse_crm_mon, "fencer_log": parsers.parse_fencer_log,
                  "quorumtool": health.quorum_flags,
                  "show_stat": lambda text: [f"{b}/{s} {st}" for (b, s), st in
                                             sorted(health.backend_servers(text).items())]}


def parsers():
    units = {f.name: f.parse for f in factlib.BASE_FACTS + factlib.FACTS}
    units.update({name: (lambda text, _d, parse=parse: parse(text))
                  for name, parse in STATUS_PARSERS.items()})
    return units


def plain(value):
    """A parsed fact as JSON-able data: dataclasses as mappings, sets sorted, tuples as lists."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "text"}
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=json.dumps)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return value


def parse_case(fact, text, case):
    dialect = Dialect.for_platform(case["platform"], parse_pcs_version(case.get("pcs_version")))
    return plain(parsers()[fact](text, dialect))


def cases():
    for expected in sorted(FIXTURES.glob("*/*.json")):
        yield expected.parent.name, expected.stem, expected.with_suffix(".txt"), expected


def write_case(fact, name, text, case):
    """Record `text` as fact case `name`, with its expected fact as the parser reads it now."""
    case = {k: v for k, v in case.items() if k != "fact"}
    return write_fixture(fact, name, text, case, parse_case(fact, text, case))


def mismatches():
    return [f"{fact}/{name}" for fact, name, text, expected in cases()
            if parse_case(fact, text.read_text(), json.loads(expected.read_text()))
            != json.loads(expected.read_text())["fact"]]


if __name__ == "__main__":
    if "--rewrite" in sys.argv:
        for fact, name, text, expected in cases():
            case = json.loads(expected.read_text())
            write_case(fact, name, text.read_text(), case)
    bad = mismatches()
    print("\n".join(bad) or "all fact cases match")
    sys.exit(1 if bad else 0)
