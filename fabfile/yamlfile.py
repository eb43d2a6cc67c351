"""Reading a config file's YAML without its pitfalls.

YAML 1.1, as PyYAML reads it, changes what a value means behind the writer's back: `010` is the
number 8, `off` is false, a repeated key silently replaces the first, and a few aliases can
expand into millions of nodes. This reader keeps the spelling of every number and yes/no word
(so the config loader can refuse a value whose type changed its meaning), refuses repeated and
non-text keys, and refuses documents that expand past a small size.
"""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

MAX_BYTES = 1 << 20
# Far above any real config (the lab's has about 150 nodes), far below what hurts.
MAX_NODES = 20000
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlProblem(Exception):
    """Where (a line, or "(file)") and what is wrong."""

    def __init__(self, where, problem):
        super().__init__(problem)
        self.where, self.problem = where, problem


class YamlInt(int):
    """An integer that remembers how it was written."""

    text: str


class YamlFloat(float):
    text: str


class YamlWord:
    """yes/no/on/off/y/n: YAML 1.1 reads them as booleans; the loader decides what they may mean."""

    def __init__(self, text, value):
        self.text, self.value = text, value

    def __repr__(self):
        return self.text


class _StrictLoader(yaml.SafeLoader):
    def compose_document(self):
        node = super().compose_document()
        _check_size(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen = {}
            for key, _ in node.value:
                if key.tag == MERGE_TAG:
                    continue
                line = key.start_mark.line + 1
                if not isinstance(key, ScalarNode) or key.tag != STR_TAG:
                    raise YamlProblem(f"line {line}", f"key {_cut(getattr(key, 'value', key))!r} is "
                                      "not read as text by YAML: write it in quotes")
                if key.value in seen:
                    raise YamlProblem(f"line {line}", f"key {_cut(key.value)!r} is repeated (first "
                                      f"on line {seen[key.value]}): YAML would keep only the last")
                seen[key.value] = line
        mapping = super().construct_mapping(node, deep)
        # A merge key (<<) brings another mapping's keys in after the check above.
        for key in mapping:
            if not isinstance(key, str):
                raise YamlProblem(f"line {node.start_mark.line + 1}", f"key {_cut(key)!r} (merged "
                                  "in with <<) is not read as text by YAML: write it in quotes")
        return mapping


# No field of a config takes a longer number; Python refuses integers past 4300 digits, and a
# float that long is infinity.
MAX_NUMBER_CHARS = 40


def _number_node(node):
    if len(node.value) > MAX_NUMBER_CHARS:
        raise YamlProblem(f"line {node.start_mark.line + 1}", f"the number {_cut(node.value)} is "
                          f"{len(node.value)} characters long: no field takes one so long")


def _construct_int(loader, node):
    _number_node(node)
    value = YamlInt(yaml.SafeLoader.construct_yaml_int(loader, node))
    value.text = node.value
    return value


def _construct_float(loader, node):
    _number_node(node)
    value = YamlFloat(yaml.SafeLoader.construct_yaml_float(loader, node))
    value.text = node.value
    return value


def _construct_bool(loader, node):
    value = yaml.SafeLoader.construct_yaml_bool(loader, node)
    return value if node.value.lower() in ("true", "false") else YamlWord(node.value, value)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def _check_size(root):
    """Count nodes as the document would expand (an alias counts its whole target again)."""
    if root is None:
        return
    sizes, open_nodes = {}, set()

    def size(node):
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise YamlProblem(f"line {node.start_mark.line + 1}", "an alias refers to itself")
        open_nodes.add(key)
        if isinstance(node, SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise YamlProblem(f"line {node.start_mark.line + 1}",
                              f"expands to more than {MAX_NODES} values (aliases?): refused")
        sizes[key] = total
        return total

    size(root)


def _cut(value, limit=40):
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def read(path):
    """The parsed document of the file at `path` (a pathlib.Path), or YamlProblem."""
    try:
        raw = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
    except OSError as exc:
        raise YamlProblem("(file)", f"cannot be read: {exc.strerror or exc}") from None
    if raw is None:
        raise YamlProblem("(file)", f"is larger than {MAX_BYTES // 1024} kB: not a cluster config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise YamlProblem(f"line {line}", "is not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except YamlProblem:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        problem = " ".join((getattr(exc, "problem", None) or str(exc)).split())
        raise YamlProblem(where, f"is not valid YAML: {_cut(problem, 120)}") from None
    except RecursionError:
        raise YamlProblem("(file)", "nests too deeply to be a cluster config") from None
