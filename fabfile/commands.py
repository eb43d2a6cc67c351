"""What a plan is made of: commands as argument lists, with their stdin kept apart."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .secret import Secret

MASK = "********"

# sh -c scripts below are constants: every value reaches them as a positional parameter ($1...),
# never spliced into the script text.
# Write a file atomically: it replaces the old one only once a validator ("$@" plus the new
# file's path; `true` when there is nothing to check) accepts it, and a refused file is removed.
# New directories are world-readable (Pacemaker's controller reads agents as hacluster); the new
# file is private until chmod gives it its mode.
_WRITE_FILE = ('p=$1; m=$2; shift 2; umask 022 && mkdir -p -- "$(dirname -- "$p")" && '
                         '(umask 077 && cat > "$p.halb-new") && chmod "$m" "$p.halb-new" && '
                         '{ "$@" "$p.halb-new" || { rm -f -- "$p.halb-new"; exit 3; }; } && '
                         'mv -f -- "$p.halb-new" "$p"')


@dataclass(frozen=True)
class Command:
    """One remote command. `stdin` carries file contents or secrets, never the command line."""

    argv: tuple[str, ...]
    why: str = ""
    stdin: str | Secret | None = field(default=None, repr=False)
    stdin_label: str = ""
    retry_transient: bool = False
    accept_codes: tuple[int, ...] = (0,)
    shown: str = ""  # a readable stand-in for a long constant script; the log has the real line

    def shell_line(self):
        return shlex.join(self.argv)

    def stdin_text(self):
        if isinstance(self.stdin, Secret):
            return self.stdin.value + "\n"
        return self.stdin

    def display(self):
        """The command as a reader sees it: quoted, with stdin described, secrets never shown."""
        line = self.shown or self.shell_line()
        if isinstance(self.stdin, Secret):
            line += f"  <stdin: {self.stdin}>"
        elif self.stdin is not None:
            line += f"  <stdin: {self.stdin_label or f'{len(self.stdin.splitlines())} lines'}>"
        return line


def one_line(text):
    """`text` if it cannot start a new line where it is written, else ValueError. The config
    loader refuses such values already; this keeps any other source from adding a line."""
    if any(c in text for c in "\n\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        raise ValueError(f"a value holds a line break: {text[:40]!r}")
    return text


def key_value_lines(pairs):
    """name=value lines, as fence agents read their options on stdin."""
    return "".join(f"{one_line(str(k))}={one_line(str(v))}\n" for k, v in pairs)


def run(*argv, why="", **kw):
    return Command(tuple(str(a) for a in argv), why=why, **kw)


def write_file(path, content, mode="0644", why="", label="", validator=None):
    """Atomically replace `path` with `content` (a text or a Secret, passed on stdin)."""
    check = f" if {shlex.join(validator)} accepts it" if validator else ""
    return Command(("sh", "-c", _WRITE_FILE, "sh", path, mode, *(validator or ("true",))),
                   why=why, stdin=content, stdin_label=label or f"contents of {path}",
                   shown=f"write-file {shlex.quote(path)} mode {mode}{check}")


def write_validated_file(path, content, mode, validator, why="", label=""):
    return write_file(path, content, mode, why, label, validator)


def write_secret_file(path, secret: Secret, why=""):
    return write_file(path, secret, "0600", why)


class Masker:
    """Replaces every known secret value in a text."""

    def __init__(self, secrets=()):
        self.values = sorted({s.value for s in secrets if s.value}, key=len, reverse=True)

    def __call__(self, text):
        if text is None:
            return text
        for value in self.values:
            text = text.replace(value, MASK)
        return text
