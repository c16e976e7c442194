"""Reading a YAML file a user wrote, safely and within bounds.

Whatever the file holds, reading it ends in plain data or in a
:class:`YamlProblem` whose message says what is wrong and at which line,
within a second or two and in bounded memory:

- at most :data:`MAX_BYTES`, UTF-8 only;
- safe loading: no tag builds an object;
- a key given twice is an error, not the last one silently winning;
- at most :data:`MAX_DEPTH` levels of nesting and :data:`MAX_VALUES` values,
  counted with every alias expanded (a few lines of anchors can otherwise
  expand into billions of values).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_VALUES = 100_000


class YamlProblem(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise YamlProblem(
                    "a key must be a plain value, not a list or mapping", key_node.start_mark.line + 1
                )
            if key in seen:
                raise YamlProblem(
                    f"{key!r} is given twice (lines {seen[key]} and {key_node.start_mark.line + 1}); "
                    "each key, server name included, must be unique",
                    key_node.start_mark.line + 1,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read(path: Path) -> tuple[Any, dict[str, int]]:
    """The data in ``path`` and the line of each key path (``servers.x.kind``)."""
    text = _text(path)
    try:
        loader = _StrictLoader(text)  # the reader refuses control characters here
    except yaml.YAMLError as exc:
        raise _syntax(exc) from None
    try:
        return _read(loader)
    finally:
        loader.dispose()


def _read(loader: _StrictLoader) -> tuple[Any, dict[str, int]]:
    """Compose the document once, check its size, then build the data from that same node tree."""
    try:
        root = loader.get_single_node()
    except RecursionError:
        raise YamlProblem(f"nested too deeply; a matrix file needs at most {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        raise _syntax(exc) from None
    if root is None:
        return None, {}
    _check_size(root)
    lines: dict[str, int] = {}
    _walk_lines(root, "", lines)
    try:
        data = loader.construct_document(root)
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        tag = re.search(r"tag '([^']+)'", str(exc.problem))
        shown = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else "that tag"
        raise YamlProblem(
            f"{shown} is not allowed: a matrix file holds plain values only "
            "(strings, numbers, true/false, lists and mappings)",
            line,
        ) from None
    except yaml.YAMLError as exc:
        raise _syntax(exc) from None
    return data, lines


def _text(path: Path) -> str:
    try:
        if not path.is_file():
            what = (
                "is a directory"
                if path.is_dir()
                else "does not exist"
                if not path.exists()
                else "is not a file"
            )
            raise YamlProblem(f"{what}; pass a matrix file such as matrix.yaml")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise YamlProblem(f"is {size} bytes; a matrix file holds at most {MAX_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlProblem(f"cannot be read ({exc.strerror}); pass a readable matrix file") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8",
            line,
        ) from None


def _check_size(root: yaml.Node) -> None:
    """Refuse nesting deeper than MAX_DEPTH and more than MAX_VALUES values with aliases expanded."""
    counted = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        counted += 1
        if depth > MAX_DEPTH:
            raise YamlProblem(
                f"nested {depth} levels deep; a matrix file needs at most {MAX_DEPTH}",
                node.start_mark.line + 1,
            )
        if counted > MAX_VALUES:
            raise YamlProblem(
                f"holds more than {MAX_VALUES} values once its aliases (*name) are expanded; "
                "a matrix file needs a few hundred",
                node.start_mark.line + 1,
            )
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += [(key, depth + 1), (value, depth + 1)]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, depth + 1) for item in node.value]


def _walk_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            lines[child] = key_node.start_mark.line + 1
            _walk_lines(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk_lines(item, f"{path}[{i}]", lines)


def _syntax(exc: yaml.YAMLError) -> YamlProblem:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return YamlProblem(f"not valid YAML ({problem})", mark.line + 1 if mark is not None else None)
