"""Walking the YAML tree: every problem recorded with its dotted field path, a value's text
as written, and the rule that every text reaching a node is one printable line."""

from __future__ import annotations

import re

from ..errors import CONTROL_RE
from ..yamlfile import YamlFloat, YamlInt, YamlWord
from .model import NOT_ASCII_RE


def shown(value, limit=40):
    """A value as an error message quotes it: repr, cut short."""
    text = repr(value) if not isinstance(value, (YamlInt, YamlFloat, YamlWord)) else value.text
    return text if len(text) <= limit else text[:limit] + "...'"


def text_problem(text, limit=255):
    """Why `text` cannot go to a node as one word or one line, or None."""
    if not text:
        return "must not be empty"
    control = CONTROL_RE.search(text)
    if control:
        what = {"\n": "a newline", "\r": "a carriage return", "\x00": "a NUL", "\t": "a tab"}.get(
            control.group(), f"the control character U+{ord(control.group()):04X}")
        return (f"must be single-line printable text: {shown(text)} contains {what} "
                f"at position {control.start() + 1}")
    if other := NOT_ASCII_RE.search(text):
        return (f"{shown(text)} holds U+{ord(other.group()):04X} at position {other.start() + 1}: "
                "only printable ASCII reaches a node (invisible, look-alike and non-ASCII "
                "characters read differently in different tools)")
    if text != text.strip():
        return f"{shown(text)} has leading or trailing blanks"
    if len(text) > limit:
        return f"is {len(text)} characters long, more than {limit}"
    return None


def as_text(value):
    """(the text a YAML scalar stands for, None) or (None, why it cannot stand for text).
    Numbers are taken as written only when YAML read them as written: `010` became 8."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, YamlWord):
        return None, (f"YAML reads {value.text} as {str(value.value).lower()}: write it in "
                      f"quotes ('{value.text}') if you mean the word")
    if isinstance(value, YamlInt):
        if re.fullmatch(r"0|[1-9][0-9]*", value.text):
            return value.text, None
        return None, (f"YAML reads {value.text} as the number {int(value)}: write it in quotes "
                      f"('{value.text}')")
    if isinstance(value, YamlFloat):
        if re.fullmatch(r"[0-9]+\.[0-9]+", value.text):
            return value.text, None
        return None, f"YAML reads {value.text} as the number {float(value)}: write it in quotes"
    if isinstance(value, bool):
        return None, f"YAML reads {str(value).lower()} as a boolean: write it in quotes"
    kind = {"date": "a date", "datetime": "a date and time", "list": "a list", "dict": "a mapping",
            "bytes": "binary data"}.get(type(value).__name__, type(value).__name__)
    return None, f"must be text, but YAML reads it as {kind}: write it in quotes"


class Abandon(Exception):
    """The section being read cannot be read further; its problem is already recorded."""


class Reader:
    """Walks the YAML tree, recording every problem with its dotted field path."""

    def __init__(self, path, prefix=""):
        self.path = path
        self.prefix = prefix  # where this reader's fields sit: groups[1] for a group's vip.ip
        self.problems: list[tuple[str, str]] = []

    def scoped(self, prefix):
        """A reader of one part of the file (an item of a list of sections): its fields are
        named from `prefix`, its problems are this reader's."""
        child = Reader(self.path, f"{self.prefix}.{prefix}" if self.prefix else prefix)
        child.problems = self.problems
        return child

    def note(self, where, problem):
        if self.prefix:
            where = f"{self.prefix}.{where}" if where else self.prefix
        self.problems.append((where or "(top level)", problem))

    def fail(self, where, problem):
        self.note(where, problem)
        raise Abandon

    def section(self, read, *args):
        """Run one section's reader; a problem in it leaves None and the next section runs."""
        try:
            return read(self, *args)
        except Abandon:
            return None

    def mapping(self, data, where, allowed):
        if not isinstance(data, dict):
            self.fail(where, f"must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            self.fail(f"{where}.{unknown[0]}" if where else unknown[0],
                      f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return data

    def get(self, data, key, where, kind, default=..., check=None, limit=255):
        dotted = f"{where}.{key}" if where else key
        if key not in data or data[key] is None:
            if default is ...:
                self.fail(dotted, "is required")
            return default
        value = data[key]
        if kind is int:
            if isinstance(value, YamlInt) and not re.fullmatch(r"0|[1-9][0-9]*", value.text):
                self.fail(dotted, f"YAML reads {value.text} as {int(value)}: write the number "
                          "in plain decimal")
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(dotted, f"must be an integer, got {shown(value)}")
            value = int(value)
        elif kind is bool:
            if isinstance(value, YamlWord):
                value = value.value  # yes/no in a true-or-false field mean what they say
            if not isinstance(value, bool):
                self.fail(dotted, f"must be true or false, got {shown(value)}")
        elif kind is str:
            value, problem = as_text(value)
            if problem is None:
                problem = text_problem(value, limit)
            if problem:
                self.fail(dotted, problem)
        elif kind is list:
            if not isinstance(value, list):
                self.fail(dotted, f"must be a list, got {type(value).__name__}")
        elif kind is dict:
            if not isinstance(value, dict):
                self.fail(dotted, f"must be a mapping, got {type(value).__name__}")
        if check:
            problem = check(value)
            if problem:
                self.fail(dotted, problem)
        return value

    def texts(self, data, key, where, check):
        """A list of texts, each checked."""
        out = []
        for i, item in enumerate(self.get(data, key, where, list, default=[])):
            dotted = f"{where}.{key}[{i}]"
            value, problem = as_text(item)
            problem = problem or text_problem(value) or check(value)
            if problem:
                self.fail(dotted, problem)
            out.append(value)
        return tuple(out)


# --- field checks: each returns why a value is wrong, or None ------------------------------
