"""What a plan is made of: commands as argument lists, with their stdin kept apart."""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
from dataclasses import dataclass, field

from .secret import Secret

MASK = "********"

# sh -c scripts below are constants: every value reaches them as a positional parameter ($1...),
# never spliced into the script text.

# What halb created or replaced on a node, one "created PATH" or "replaced PATH" per line; the
# original of a replaced file is kept beside it as PATH.halb-orig. Teardown reads it, and only it.
MANIFEST = "/var/lib/halb/manifest"
ORIGINAL_SUFFIX = ".halb-orig"

# Write a file atomically: it replaces the old one only once a validator ("$@" plus the new
# file's path; `true` when there is nothing to check) accepts it, and a refused file is removed.
# Never through a symbolic link, never onto a folder or a device, never onto a file another
# package owns ($3 names the one package whose file halb may replace, "-" for none); the new
# file has an unpredictable name in the target's folder (mktemp), private until chmod gives it
# its mode. The first write of a path records it in the manifest, and keeps an original.
# New directories are world-readable (Pacemaker's controller reads agents as hacluster).
# Each script is one line of complete statements: no argument halb sends holds a line break.
_WRITE_FILE = " ".join((
    'p=$1; m=$2; owner=$3; man=$4; shift 4; d=$(dirname -- "$p"); umask 022;',
    'refuse() { echo "halb refuses to write $p: $1" >&2; exit 4; };',
    '[ -L "$d" ] && refuse "its folder is a symbolic link";',
    '[ -L "$p" ] && refuse "it is a symbolic link";',
    '[ -e "$p" ] && [ ! -f "$p" ] && refuse "it is not a regular file (a folder or a device)";',
    'mkdir -p -- "$d" "$(dirname -- "$man")" || exit 1;',
    'if ! grep -qxF -e "created $p" -e "replaced $p" "$man" 2>/dev/null; then',
    '  if [ -e "$p" ]; then pkg=;',
    '    if command -v dpkg-query >/dev/null 2>&1; then',
    '      pkg=$(dpkg-query -S -- "$p" 2>/dev/null | sed -n "1s/: .*//p");',
    '    elif command -v rpm >/dev/null 2>&1; then',
    '      pkg=$(rpm -qf --qf "%{NAME} " -- "$p" 2>/dev/null) || pkg=; pkg=${pkg%% *};',
    '    fi;',
    '    [ -n "$pkg" ] && [ "$pkg" != "$owner" ] && refuse "it belongs to package $pkg";',
    '    cp -p -- "$p" "$p.halb-orig" || exit 1; entry="replaced $p";',
    '  else entry="created $p"; fi;',
    '  printf "%s\\n" "$entry" >> "$man" || exit 1;',
    'fi;',
    't=$(mktemp -- "$d/.halb-new.XXXXXXXXXX") || exit 1;',
    'if ! { cat > "$t" && chmod "$m" "$t"; }; then rm -f -- "$t"; exit 1; fi;',
    '"$@" "$t" || { rm -f -- "$t"; exit 3; };',
    'mv -f -- "$t" "$p" || { rm -f -- "$t"; exit 1; }',
))

# Teardown: remove what the manifest ($1) says halb created, put back what it replaced, and
# nothing else; then halb's own folders if empty. A node set up before the manifest existed
# loses only the files at halb's own fixed paths ("$@" after the manifest), never a configured
# one.
REMOVE_HALB_FILES = " ".join((
    'man=$1; shift;',
    'if [ -f "$man" ] && [ ! -L "$man" ]; then',
    '  while IFS= read -r line; do p=${line#* };',
    '    case "$line" in',
    '      "created /"*) if [ -f "$p" ] && [ ! -L "$p" ]; then rm -f -- "$p"; fi ;;',
    '      "replaced /"*) o="$p.halb-orig";',
    '        if [ -f "$o" ] && [ ! -L "$o" ] && [ ! -L "$p" ]; then mv -f -- "$o" "$p"; fi ;;',
    '    esac;',
    '  done < "$man"; rm -f -- "$man";',
    'else rm -f -- "$@"; fi;',
    'for d in /etc/halb/fence /etc/halb /usr/lib/halb /usr/lib/ocf/resource.d/halb "$(dirname -- "$man")"; do',
    '  rmdir -- "$d" 2>/dev/null || :; done; exit 0',
))


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


def write_file(path, content, mode="0644", why="", label="", validator=None, owner=None,
               manifest=MANIFEST):
    """Atomically replace `path` with `content` (a text or a Secret, passed on stdin). `owner`
    is the one package whose file at `path` halb may replace (its original kept)."""
    check = f" if {shlex.join(validator)} accepts it" if validator else ""
    return Command(("sh", "-c", _WRITE_FILE, "sh", path, mode, owner or "-", manifest,
                    *(validator or ("true",))),
                   why=why, stdin=content, stdin_label=label or f"contents of {path}",
                   shown=f"write-file {shlex.quote(path)} mode {mode}{check}")


def content_digest(text):
    """sha256 of a text as the node's sha256sum reports the file halb wrote from it."""
    return hashlib.sha256(text.encode()).hexdigest()


def copy_file(source, path, mode, why=""):
    """A file already on the node (a package's sample) copied to `path` through the same safe
    write, its stdin being `source`."""
    write = write_file(path, None, mode)
    return dataclasses.replace(
        write, argv=("sh", "-c", 'exec "$@" < "$0"', source, *write.argv), why=why,
        shown=f"{write.shown} from {shlex.quote(source)}", stdin_label="")


def write_group_file(path, content, group, why=""):
    """Atomically replace `path` with `content` (a secret, on stdin), mode 0640 and group
    `group`: the file is only moved into place once it has its group."""
    command = write_file(path, content, "0640", why, validator=("chgrp", group))
    return dataclasses.replace(command, shown=f"write-file {shlex.quote(path)} mode 0640 "
                                              f"group {group}")


def write_validated_file(path, content, mode, validator, why="", label="", owner=None,
                         manifest=MANIFEST):
    return write_file(path, content, mode, why, label, validator, owner, manifest)


def remove_halb_files(legacy_paths, why, manifest=MANIFEST):
    """Teardown's removal: the manifest's files, else only `legacy_paths` (halb's fixed ones)."""
    return Command(("sh", "-c", REMOVE_HALB_FILES, "sh", manifest, *legacy_paths), why=why,
                   shown="remove-halb-files (what /var/lib/halb/manifest lists"
                         + (f"; without it: {' '.join(legacy_paths)})" if legacy_paths else ")"))


# Files halb created and no longer wants: removed, and struck from the manifest ($1), so that
# the next run neither removes them again nor teardown looks for them.
_REMOVE_CREATED = " ".join((
    'man=$1; shift;',
    'for p; do rm -f -- "$p" || exit 1;',
    '  if [ -f "$man" ]; then grep -vxF -e "created $p" -- "$man" > "$man.new";',
    '    mv -f -- "$man.new" "$man" || exit 1; fi;',
    'done',
))


def remove_created_files(paths, why, manifest=MANIFEST):
    return Command(("sh", "-c", _REMOVE_CREATED, "sh", manifest, *paths), why=why,
                   shown=f"rm -f {shlex.join(paths)} (and their lines in {manifest})")


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
