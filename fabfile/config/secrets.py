"""Secrets: from the environment or .env (halb's own parser), never in the config file, and
refused when they would leak through a word halb prints anyway."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from ..errors import CONTROL_RE, UserError
from ..secret import Secret
from .model import MIN_SECRET_LENGTH, NOT_ASCII_RE


def read_secrets(env_file=".env", environ=None):
    """Environment variables win over the .env file, which never overrides what is set."""
    values = {}
    if env_file and Path(env_file).is_file():
        try:
            raw = Path(env_file).read_bytes()
        except OSError as exc:
            raise UserError(f"{env_file}: cannot be read: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise UserError(f"{env_file}: line {line}: is not UTF-8 text") from None
        values.update(parse_env_file(text, env_file))
    values.update(os.environ if environ is None else environ)
    return values


ENV_LINE_RE = re.compile(r"(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def parse_env_file(text, where=".env"):
    """The .env file's one rule: `NAME=value` per line (`export ` before it allowed), blank lines
    and lines starting with # ignored. The value is everything after `=`, taken literally: no
    escapes, no ${VAR}. Quoted in '...' or "..." it may hold blanks and #, and the quotes go. An
    unquoted value holding ' #' is refused: other readers cut a comment there, this one would
    not, so what is meant is unclear."""
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ENV_LINE_RE.fullmatch(line)
        if not match:
            raise UserError(f"{where}: line {number}: is not NAME=value")
        name, value = match.groups()
        if value[:1] in ("'", '"'):
            quote = value[0]
            if len(value) < 2 or not value.endswith(quote) or quote in value[1:-1]:
                raise UserError(f"{where}: line {number}: {name}'s value opens a {quote} but does "
                                "not end with it (no quote inside, nothing after it)")
            value = value[1:-1]
        elif value != value.strip():
            raise UserError(f"{where}: line {number}: {name}'s value has blanks around it: "
                            "quote it if they belong to it")
        elif " #" in value or "\t#" in value:
            raise UserError(f"{where}: line {number}: {name}'s value holds ' #', which other .env "
                            "readers take for a comment: quote the value ('...') to keep it")
        values[name] = value
    return values


# The most a node's tools take: ipmitool (fence_ipmilan) refuses an IPMI 2.0 password over 20
# bytes; pcs, chpasswd and the other agents read far longer lines.
MAX_SECRET_LENGTH = {"fence_ipmilan": 20}
DEFAULT_MAX_SECRET_LENGTH = 255


@functools.lru_cache(maxsize=1)
def own_words():
    """Everything halb itself can print or write: its code, its templates, its OCF agent. A
    secret found in there would be masked wherever halb prints that word."""
    from ..render import AGENT, TEMPLATES
    root = Path(__file__).resolve().parent.parent  # the fabfile package
    files = [*root.rglob("*.py"), AGENT, *TEMPLATES.glob("*.j2")]
    return "\n".join(f.read_text(encoding="utf-8", errors="replace").lower()
                     for f in files if f.is_file())


def config_values(data):
    """Every scalar of a parsed config, as its text (after YAML's escapes: "\\x41" is "A")."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from config_values(value)
    elif isinstance(data, list):
        for item in data:
            yield from config_values(item)
    elif data is not None:
        yield getattr(data, "text", str(data))


def secret_problem(value, config_text, agent=None):
    """Why a secret cannot be used, or None. Output is masked by value, so a secret that also
    stands for something else would either give itself away or hide that word: such secrets
    are refused, not masked around."""
    if not value.strip():
        return "is blank"
    if CONTROL_RE.search(value) or NOT_ASCII_RE.search(value):
        return "must be one line of printable ASCII characters"
    if len(value) < MIN_SECRET_LENGTH:
        return (f"is shorter than {MIN_SECRET_LENGTH} characters: too easy to guess, and masking "
                "it in output would give it away")
    longest = MAX_SECRET_LENGTH.get(agent, DEFAULT_MAX_SECRET_LENGTH)
    if len(value) > longest:
        return (f"is {len(value)} characters long: the node's tools take at most {longest}"
                + (f" (for {agent})" if agent in MAX_SECRET_LENGTH else ""))
    if re.fullmatch(r"[A-Za-z._-]+", value):
        return ("is spelled like a name (only letters, '.', '-', '_'): the names that halb, pcs "
                "and Pacemaker print are spelled so; add a digit or another symbol")
    lowered = value.lower()
    if lowered in config_text.lower() or lowered in own_words():
        return ("also appears in the config or in what halb prints: masking it in output would "
                "give it away or hide that text; choose another")
    return None


class Secrets:
    """Reads the secrets a config needs, noting the missing and the unusable."""

    def __init__(self, reader, env, config_text):
        self.reader, self.env, self.config_text = reader, env, config_text
        self.missing: list[str] = []

    def __call__(self, name, agent=None):
        value = self.env.get(name, "")
        if not value:
            self.missing.append(name)
        elif problem := secret_problem(value, self.config_text, agent):
            if (name, problem) not in self.reader.problems:  # one variable, several nodes
                self.reader.note(name, problem)
        return Secret(name, value or "")


# --- sections --------------------------------------------------------------------------------
