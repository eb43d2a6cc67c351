"""Errors a user can act on: printed as one clear message, never as a traceback."""

import re


class UserError(Exception):
    """Bad input or a refused action: the message says what and where."""


# C0 and C1 controls, DEL, and Unicode's own line and paragraph separators.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# Anything but printable ASCII: what a comment in a generated script may not hold.
NOT_PRINTABLE_RE = re.compile(r"[^\x20-\x7e]")


def escaped(text, pattern=CONTROL_RE):
    """`text` with every character `pattern` matches written as its escape (\\n, \\x00,
    \\u2028), so that it stays one line whatever it held."""
    return pattern.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace")
                       .decode("ascii"), str(text))


def cut(text, limit=300):
    """Error messages stay short and on one line whatever a value holds."""
    text = escaped(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."

class ConfigError(UserError):
    """A cluster config file is invalid: one line per problem, the first one in `field`."""

    MAX_LINES = 20

    def __init__(self, path, field, problem, more=()):
        self.path, self.field, self.problem = str(path), cut(field, 120), cut(problem)
        self.problems = [(self.field, self.problem)] + [(cut(f, 120), cut(p)) for f, p in more]
        lines = [f"{self.path}: {f}: {p}" for f, p in self.problems[:self.MAX_LINES]]
        if len(self.problems) > self.MAX_LINES:
            lines.append(f"{self.path}: ... and {len(self.problems) - self.MAX_LINES} more")
        super().__init__("\n".join(lines))

    @classmethod
    def of(cls, path, problems):
        (field, problem), *more = problems
        return cls(path, field, problem, more)

class StepFailed(UserError):
    """A remote command failed: names the host, the step, the command and its output."""

    def __init__(self, step, host, command, detail):
        self.step, self.host, self.command, self.detail = step, host, command, detail
        super().__init__(
            f"step '{step}' failed on {host}\n  command: {command}\n  {detail}".rstrip()
        )
