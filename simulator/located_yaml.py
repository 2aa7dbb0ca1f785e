"""YAML read with the line of every value: the one reader behind scenario and catalog files.

Two ways in, for two kinds of file:

- :func:`parse_document` (scenarios, written by hand and possibly hostile) composes with PyYAML's
  pure-Python ``SafeLoader`` (no arbitrary tags) under a node budget, then builds plain data
  itself so that every value keeps the line it came from (:class:`LocatedDoc`). Aliases are
  expanded under the same budget and recursive aliases are refused, so alias bombs become a
  :class:`~simulator.errors.Problem`, not a hang; duplicate keys, merge keys (``<<``), control
  characters and unsupported tags are problems too, each with file, line and key path.
- :func:`load_with_lines` (the catalog, the project's own data) builds data exactly as
  ``yaml.safe_load`` does, with the C loader when PyYAML has it, and maps each dotted key path
  (``systems[2].weapons[0].max_range_km``) to its line.

:func:`read_text` reads a file as UTF-8 text without blocking on FIFOs or devices, with a size cap.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.errors import Problem

__all__ = [
    "SAFE_LOADER",
    "BoundedSafeLoader",
    "LocatedDoc",
    "first_line",
    "format_key_path",
    "key_path_lines",
    "load_with_lines",
    "parse_document",
    "read_text",
]

# Guards against hostile or runaway documents (alias bombs, deep nesting, huge files).
_MAX_FILE_BYTES = 16 * 1024 * 1024
_MAX_NODES = 200_000  # values built, counting every expansion of an alias
_MAX_DEPTH = 64  # nesting of mappings/sequences

#: PyYAML's safe loader, in C when PyYAML was built with libyaml (for trusted data files).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------- located documents

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_CORE_SCALAR_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp", "value")
}


class _Abort(Exception):
    """Stop building a document; the problem is already recorded."""


@dataclass
class LocatedDoc:
    """A parsed YAML document and where each value came from."""

    display: str
    data: Any = None
    value_lines: dict = field(default_factory=dict)  # path -> line of the value node
    key_lines: dict = field(default_factory=dict)  # path -> line of the key node
    unusable: set = field(default_factory=set)  # paths whose value could not be read

    def line(self, path: tuple) -> int | None:
        """Line of ``path``: of its key when it has one (``area:``), else of its value.

        For a missing key, the line of the nearest existing parent.
        """
        path = tuple(path)
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            if path in self.value_lines:
                return self.value_lines[path]
            path = path[:-1]
        return self.value_lines.get((), 1)


#: Characters refused in any scalar of a located document: C0/C1 controls but tab and line breaks,
#: DEL, lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class _Builder:
    """Builds plain Python data from a composed node graph, recording lines per key path."""

    def __init__(self, loader: yaml.SafeLoader, doc: LocatedDoc, problems: list[Problem]):
        self.loader = loader
        self.doc = doc
        self.problems = problems
        self.budget = _MAX_NODES
        self.active: set[int] = set()

    def problem(self, node: yaml.Node | None, path: tuple, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None and node.start_mark is not None else None
        self.problems.append(Problem(self.doc.display, line, format_key_path(path), message))

    def build(self, node: yaml.Node, path: tuple, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            self.problem(node, path, f"document too large: more than {_MAX_NODES} values once aliases are expanded")
            raise _Abort
        if depth > _MAX_DEPTH:
            self.problem(node, path, f"nested more than {_MAX_DEPTH} levels deep")
            raise _Abort
        self.doc.value_lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self.active:
            self.problem(node, path, "recursive alias: a value that contains itself")
            raise _Abort
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ_TAG:
                    self._unsupported_tag(node, path)
                return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            if node.tag != _MAP_TAG:
                self._unsupported_tag(node, path)
            return self._mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def _unsupported_tag(self, node: yaml.Node, path: tuple) -> None:
        self.problem(node, path, f"unsupported YAML tag {node.tag!r}; use plain mappings, lists and values")
        self.doc.unusable.add(path)

    def _scalar(self, node: yaml.ScalarNode, path: tuple) -> Any:
        bad = _UNPRINTABLE.search(node.value) if isinstance(node.value, str) else None
        if bad is not None:
            # escapes such as "\e[2J" reach a terminal raw, a lone surrogate breaks every writer
            char = bad.group()
            what = "a lone surrogate" if 0xD800 <= ord(char) <= 0xDFFF else "a control character"
            self.problem(node, path, f"text holds {what} (U+{ord(char):04X} at character {bad.start() + 1}); "
                                     "expected printable text (tabs and line breaks allowed)")
            self.doc.unusable.add(path)
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:  # noqa: BLE001 - any constructor failure is a problem of the input
            if node.tag in _CORE_SCALAR_TAGS:
                return node.value  # e.g. 2020-02-30: keep the text; the schema says what is expected
            self.problem(node, path, f"unsupported YAML tag {node.tag!r} ({first_line(exc)})")
            self.doc.unusable.add(path)
            return None

    def _pairs(self, node: yaml.MappingNode, path: tuple, depth: int) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """Key/value node pairs of a mapping with YAML merge keys (``<<``) applied."""
        explicit: list[tuple[yaml.Node, yaml.Node, bool]] = []
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                if isinstance(value_node, yaml.MappingNode):
                    sources = [value_node]
                elif isinstance(value_node, yaml.SequenceNode) and all(
                    isinstance(n, yaml.MappingNode) for n in value_node.value
                ):
                    sources = list(value_node.value)
                else:
                    self.problem(value_node, path, "a merge key '<<' needs a mapping or a list of mappings")
                    self.doc.unusable.add(path)
                    continue
                for src in sources:
                    if id(src) in self.active or depth > _MAX_DEPTH:
                        self.problem(src, path, "recursive merge: a mapping that merges itself")
                        raise _Abort
                    self.budget -= len(src.value)
                    self.active.add(id(src))
                    try:
                        merged.extend((k, v, True) for k, v, _ in self._pairs(src, path, depth + 1))
                    finally:
                        self.active.discard(id(src))
            else:
                explicit.append((key_node, value_node, False))
        return merged + explicit

    def _mapping(self, node: yaml.MappingNode, path: tuple, depth: int) -> dict:
        out: dict[str, Any] = {}
        explicit_line: dict[str, int] = {}
        seen_nodes: dict[str, tuple[yaml.Node, yaml.Node, bool]] = {}
        for key_node, value_node, from_merge in self._pairs(node, path, depth):
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "mapping keys must be plain text, not a list or a mapping")
                self.doc.unusable.add(path)
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if not from_merge:
                if key in explicit_line:
                    self.problem(
                        key_node, path + (key,), f"duplicate key {key!r} (also on line {explicit_line[key]})"
                    )
                    continue
                explicit_line[key] = line
            elif key in seen_nodes:
                continue  # earlier merge sources win; explicit keys override below
            seen_nodes[key] = (key_node, value_node, from_merge)
        for key, (key_node, value_node, _) in seen_nodes.items():
            child = path + (key,)
            self.doc.key_lines[child] = key_node.start_mark.line + 1
            self.doc.value_lines[child] = value_node.start_mark.line + 1
            out[key] = self.build(value_node, child, depth + 1)
        return out


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _TooManyNodes(yaml.YAMLError):
    pass


class BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops composing past :data:`_MAX_NODES` nodes: a 16 MiB
    flow list of 8 M scalars would otherwise build gigabytes of nodes before any check."""

    def __init__(self, stream):
        super().__init__(stream)
        self._nodes_left = _MAX_NODES

    def compose_node(self, parent, index):
        self._nodes_left -= 1
        if self._nodes_left < 0:
            raise _TooManyNodes(f"more than {_MAX_NODES} values in the file")
        return super().compose_node(parent, index)


def parse_document(
    text: str, display: str, problems: list[Problem], *, kind: str, expected: str
) -> LocatedDoc | None:
    """Compose ``text`` with the safe loader and build data + line maps; None if unusable.

    Every problem goes to ``problems``, naming ``display`` as the file; ``kind`` names what the
    file holds (``"scenario"``) and ``expected`` what an empty file should have held.
    """
    doc = LocatedDoc(display)
    loader = None
    try:
        try:
            loader = BoundedSafeLoader(text)
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or exc.context or "invalid YAML"
            extra = ""
            if exc.context and exc.problem and exc.context_mark is not None:
                extra = f" ({exc.context} at line {exc.context_mark.line + 1})"
            problems.append(
                Problem(display, mark.line + 1 if mark else None, "", f"YAML syntax error: {what}{extra}")
            )
            return None
        except yaml.reader.ReaderError as exc:
            pos = exc.position if isinstance(exc.position, int) else 0
            problems.append(
                Problem(
                    display,
                    text.count("\n", 0, pos) + 1,
                    "",
                    f"unacceptable character #x{exc.character:04x} ({exc.reason}); "
                    "expected printable UTF-8 text" if isinstance(exc.character, int) else f"YAML error: {exc}",
                )
            )
            return None
        except _TooManyNodes:
            problems.append(Problem(display, _current_line(loader), "",
                                    f"document too large: more than {_MAX_NODES} values (a {kind} holds far fewer)"))
            return None
        except yaml.YAMLError as exc:
            problems.append(Problem(display, None, "", f"YAML error: {first_line(exc)}"))
            return None
        except RecursionError:
            problems.append(Problem(display, _current_line(loader), "", f"YAML nested too deeply (keep it under {_MAX_DEPTH} levels)"))
            return None
        if node is None:
            problems.append(
                Problem(display, 1, "", f"the file is empty; expected {expected}")
            )
            return None
        doc.value_lines[()] = node.start_mark.line + 1
        try:
            doc.data = _Builder(loader, doc, problems).build(node, (), 0)
        except _Abort:
            return None
        except RecursionError:
            problems.append(Problem(display, None, "", f"YAML nested too deeply (keep it under {_MAX_DEPTH} levels)"))
            return None
        return doc
    finally:
        if loader is not None:
            loader.dispose()


def _current_line(loader: yaml.SafeLoader | None) -> int | None:
    try:
        return loader.get_mark().line + 1 if loader is not None else None
    except Exception:  # noqa: BLE001 - only a hint for the message
        return None


def read_text(path: Path, display: str, problems: list[Problem]) -> str | None:
    """Read a file (a scenario) as UTF-8 text; problems for missing, unreadable or non-UTF-8 files."""
    try:
        if not path.exists():
            problems.append(Problem(display, None, "", f"file not found: {_abs(path)}"))
            return None
        if not path.is_file():
            problems.append(Problem(display, None, "", f"not a regular file: {_abs(path)}"))
            return None
        # O_NONBLOCK and a check of what was opened: a FIFO swapped in after the test above
        # must not block the read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                problems.append(Problem(display, None, "", f"not a regular file: {_abs(path)}"))
                return None
            raw = fh.read(_MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:
        problems.append(Problem(display, None, "", f"cannot read file: {exc}"))
        return None
    if len(raw) > _MAX_FILE_BYTES:
        problems.append(Problem(display, None, "", f"file larger than {_MAX_FILE_BYTES // 2**20} MiB"))
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.append(
            Problem(
                display,
                line,
                "",
                f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}; save the file as UTF-8",
            )
        )
        return None


def _abs(path: Path) -> str:
    try:
        return str(Path(os.path.abspath(path)))
    except (OSError, ValueError):
        return str(path)


# --------------------------------------------------------------------------- key paths

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_key_path(path: Iterable[Any]) -> str:
    """``('units', 2, 'antenna_height_m')`` -> ``'units[2].antenna_height_m'``."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT_RE.fullmatch(seg):
            out += ("." if out else "") + seg
        else:
            out += f"[{seg!r}]"
    return out


# --------------------------------------------------------------------------- plain data + dotted key paths


def load_with_lines(text: str) -> tuple[Any, dict[str, int]]:
    """Plain data as ``yaml.safe_load`` builds it, and :func:`key_path_lines` of the document.

    One parse: compose the node tree (for line numbers), then construct plain data from it,
    exactly as ``yaml.safe_load`` does, with :data:`SAFE_LOADER`. Raises :class:`yaml.YAMLError`.
    """
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        lines = key_path_lines(node)
    finally:
        loader.dispose()
    return data, lines


def key_path_lines(node: yaml.Node | None, path: str = "") -> dict[str, int]:
    """Map each key path (``systems[2].weapons[0].max_range_km``) to its 1-based line."""
    lines: dict[str, int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            lines.update(key_path_lines(value_node, child))
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(key_path_lines(item, f"{path}[{index}]"))
    return lines
