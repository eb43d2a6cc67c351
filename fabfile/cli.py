"""What every task shares: a UserError ends the task with one line and exit 1, never a
traceback (a closed pipe ends it quietly, exit 141); arguments are checked by halb, not left to
a traceback of int()."""

from __future__ import annotations

import functools
import os
import sys

from invoke.exceptions import Exit

from .config import shown
from .errors import UserError


def user_errors_exit(body):
    """Wrap a task body (under @task, which reads the wrapped signature)."""
    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except UserError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except BrokenPipeError:
            # The reader went away (`inv status | head`): end as a piped Unix tool does, with
            # no traceback and no second error when Python flushes stdout on exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise Exit(code=141) from None
    return wrapper


def invoke_settings(body, section, names):
    """Fill the named arguments left at None from Invoke's configuration (`section.name`), so
    that invoke.yaml, ~/.invoke.yaml or INVOKE_<SECTION>_<NAME> set them once for every task."""
    @functools.wraps(body)
    def wrapper(c, *args, **kwargs):
        for name in names:
            if kwargs.get(name) is None:
                kwargs[name] = c.config[section][name]
        return body(c, *args, **kwargs)
    return wrapper


def whole_number(option, value, least, most, problem=None):
    text = str(value)
    if not (text.isascii() and text.isdigit()) or not least <= int(text) <= most:
        raise UserError(f"{option} {shown(text)}: "
                        + (problem or f"must be a whole number, at least {least} and at most {most}"))
    return int(text)
