"""Read one params file defensively: whatever the file holds, the result is data or a list of problems, never a crash.

A params file is a few KiB of plain YAML: mappings, lists, strings, numbers, booleans, null. PyYAML's SafeLoader
accepts more than that and lets several inputs escape as Python errors or silent surprises, so the loader here:

- refuses anything but a regular file *before* opening it for reading (a FIFO would block ``open`` forever), opens
  without blocking and checks the opened file again (the path can change in between), and reads at most
  :data:`MAX_BYTES` (a 50 MB file took two minutes and 4.4 GiB before);
- resolves ``2020-13-45`` as the string it looks like: the implicit timestamp resolver is removed, so a date-like
  value reaches the model as text and gets the usual "does not match the allowed format" (with it, PyYAML makes a
  ``date`` or raises ``ValueError`` for an impossible one);
- bounds nesting while composing (:data:`MAX_DEPTH`; 5000 levels was a ``RecursionError``), numbers by length
  (:data:`MAX_NUMBER_CHARS`; a 5000-digit integer hit Python's int max str digits ``ValueError``), and the number of
  values reached through aliases (:data:`MAX_VALUES`; a "billion laughs" file is a few lines);
- refuses duplicate keys with both line numbers (SafeLoader silently keeps the later one) and tags other than the
  plain ones (``!!binary``, ``!!set``, ``!Ref``...).

Problems carry the key path in the format :func:`loc` gives, so :mod:`templates.config` prints them like its own.
"""

from __future__ import annotations

import os
import re
import reprlib
import stat
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1024 * 1024  # params files are a few KiB
MAX_DEPTH = 20  # the model nests 4 levels (storage.backup.schedule, secrets.<VAR>.name)
MAX_NUMBER_CHARS = 20  # the largest number the model accepts has 10 digits
MAX_VALUES = 20_000  # values after expanding aliases; the committed files have about 100

_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map")}
ALLOWED_VALUES = "plain text, numbers, true/false, null, lists and mappings"
_SHORT = reprlib.Repr()
_SHORT.maxstring = 60


class Unusable(Exception):
    """The file cannot be used; ``problems`` are ``(key path or "", message)`` pairs, in file order."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


def loc(parts) -> str:
    """``task.cpu``, ``network.subnet_ids[1]``: the key path as users write it; odd keys are quoted and shortened."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
            continue
        text = part if isinstance(part, str) and re.fullmatch(r"[A-Za-z0-9_\[\]-]{1,64}", part) else _SHORT.repr(part)
        out += f".{text}" if out else text
    return out or "(top level)"


def shown(value) -> str:
    """A value in a message: its repr (control characters escaped), at most about 60 characters of it."""
    return _SHORT.repr(value)


def read(path: Path) -> object:
    """The YAML data in ``path`` (None when the file is empty), or :class:`Unusable`."""
    return parse(_text(path))


# ---------------------------------------------------------------------------------------------------------------
# The file


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _not_regular(mode: int) -> Unusable:
    return Unusable([("", f"is {_kind(mode)}, not a regular file; a params file is a YAML file")])


def _too_big(size: str) -> Unusable:
    return Unusable([("", f"is {size} bytes; allowed: at most {MAX_BYTES} bytes (1 MiB), a params file is a few KiB")])


def _text(path: Path) -> str:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise Unusable([("", f"is a symbolic link to {os.readlink(path)}, which does not exist")]) from None
        raise Unusable([("", "does not exist")]) from None
    except OSError as e:  # a symbolic link loop, a name too long, a folder we may not search
        raise Unusable([("", f"cannot be read: {e.strerror}")]) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(st.st_mode)
    if st.st_size > MAX_BYTES:
        raise _too_big(str(st.st_size))
    try:  # O_NONBLOCK: if the path became a FIFO since the stat, opening it must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        raise Unusable([("", "cannot be read: permission denied (check the file's permissions)")]) from None
    except OSError as e:
        raise Unusable([("", f"cannot be read: {e.strerror}")]) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        chunks, size = [], 0
        while size <= MAX_BYTES:  # the file may grow after the stat: read no more than the limit allows
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise Unusable([("", f"cannot be read: {e.strerror}")]) from None
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise _too_big(f"more than {MAX_BYTES}")
    raw = b"".join(chunks)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unusable([("", f"is not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start}")]) from None


# ---------------------------------------------------------------------------------------------------------------
# The YAML


class _TooDeep(Exception):
    def __init__(self, parts: list, line: int):
        self.parts, self.line = parts, line


class _Loader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps, with a depth bound while composing and the key path to report it."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _TAG + "timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list = []

    def compose_node(self, parent, index):
        # PyYAML composes recursively (about two frames per level); stop long before Python's recursion limit.
        # ``index`` is the key node of a mapping value, the position of a sequence item, None for keys and the root.
        part = index.value if isinstance(index, ScalarNode) else index if isinstance(index, int) else None
        if part is not None:
            self._path.append(part)
        try:
            if len(self._path) > MAX_DEPTH:
                raise _TooDeep(list(self._path), self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            if part is not None:
                self._path.pop()


def parse(text: str) -> object:
    """YAML text -> plain data, or :class:`Unusable` with every problem found (key path, line, what is allowed)."""
    loader = None
    try:
        loader = _Loader(text)  # checks every character first: a NUL byte fails here
        node = loader.get_single_node()
        if node is None:
            return None
        problems = _problems(node)
        if problems:
            raise Unusable(problems)
        return loader.construct_document(node)
    except _TooDeep as e:
        raise Unusable([(loc(e.parts), f"line {e.line}: nested deeper than {MAX_DEPTH} levels; allowed: at most "
                                       f"{MAX_DEPTH} (the params model has 4)")]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = ": ".join(_one_line(t) for t in (e.context, e.problem) if t) or "unreadable"
        raise Unusable([("", f"not valid YAML: {where}{what}")]) from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow, e.g. a NUL byte
        raise Unusable([("", f"not valid YAML: character {shown(chr(e.character))} at offset {e.position} is not "
                             "allowed in YAML")]) from None
    except yaml.YAMLError as e:
        raise Unusable([("", f"not valid YAML: {_one_line(str(e))}")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _wrong_scalar(node: Node) -> str | None:
    """What is wrong with a node on its own: a tag other than the plain ones, a number Python would refuse."""
    line = node.start_mark.line + 1
    if node.tag not in PLAIN_TAGS:
        return f"line {line}: the tag {_tag(node.tag)} is not allowed; allowed: {ALLOWED_VALUES}"
    if node.tag == _TAG + "int" and len(node.value) > MAX_NUMBER_CHARS:
        return (f"line {line}: a number of {len(node.value)} characters is too large; "
                f"allowed: at most {MAX_NUMBER_CHARS} characters")
    return None


def _problems(root: Node) -> list[tuple[str, str]]:
    """Duplicate keys, tags other than the plain ones, oversized numbers, too many values; iterative, bounded."""
    problems: list[tuple[str, str]] = []
    todo: list[tuple[Node, list, int]] = [(root, [], 0)]
    seen_values = 0
    while todo:
        node, parts, depth = todo.pop()
        seen_values += 1
        line = node.start_mark.line + 1
        if seen_values > MAX_VALUES:
            return problems + [("", f"holds more than {MAX_VALUES} values (counting each use of an alias); "
                                    "allowed: a params file holds about a hundred")]
        if depth > MAX_DEPTH:  # only through aliases: composing stopped deeper plain nesting already
            problems.append((loc(parts), f"line {line}: nested deeper than {MAX_DEPTH} levels (through aliases); "
                                         f"allowed: at most {MAX_DEPTH}"))
            continue
        wrong = _wrong_scalar(node)
        if wrong:
            problems.append((loc(parts), wrong))
            continue
        if isinstance(node, ScalarNode):
            continue
        if isinstance(node, SequenceNode):
            todo += [(item, [*parts, i], depth + 1) for i, item in reversed(list(enumerate(node.value)))]
            continue
        assert isinstance(node, MappingNode)
        first_line: dict[tuple[str, str], int] = {}
        children = []
        for key, value in node.value:
            key_line = key.start_mark.line + 1
            if key.tag == _TAG + "merge":  # `<<: *base`: merged keys belong here; explicit keys override them
                merged = value.value if isinstance(value, SequenceNode) else [value]
                children += [(m, parts, depth + 1) for m in merged]
                continue
            if not isinstance(key, ScalarNode):
                problems.append((loc(parts), f"line {key_line}: a key must be a plain name, not a "
                                             f"{'list' if isinstance(key, SequenceNode) else 'mapping'}"))
                continue
            wrong = _wrong_scalar(key)
            if wrong:
                problems.append((loc([*parts, key.value]), wrong.replace(": ", ": as a key, ", 1)))
                continue
            if (key.tag, key.value) in first_line:
                problems.append((loc([*parts, key.value]),
                                 f"duplicate key: at line {first_line[key.tag, key.value]} and again at "
                                 f"line {key_line};"
                                 " YAML would silently keep only the later one: remove one"))
                continue
            first_line[key.tag, key.value] = key_line
            children.append((value, [*parts, key.value], depth + 1))
        todo += reversed(children)
    return problems
