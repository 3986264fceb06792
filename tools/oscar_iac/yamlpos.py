"""Load YAML (and JSON) and remember the line of every key, so errors can name it.

Every input file goes through here, so the limits that keep a hostile or broken file
from crashing or stalling the tool live here too: bytes that are not UTF-8, a file
over MAX_BYTES, nesting deeper than MAX_DEPTH, aliases that expand to more than
MAX_NODES nodes (an "alias bomb", refused after composing and before anything is
constructed, so it costs milliseconds), recursive aliases and unhashable keys all
give a UserError naming the file and, when known, the line.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from oscar_iac.errors import Problem, UserError

Loc = tuple[str | int, ...]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent overwrite hides typos)."""


# Site, catalog and service files are a few kilobytes; these bounds are far above any
# real one and far below what would take a noticeable time or memory to process.
MAX_BYTES = 4 * 2**20
MAX_DEPTH = 64
MAX_NODES = 200_000


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "a key must be a plain value, not a list or mapping",
                key_node.start_mark,
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    # A key's own line wins over its value's (an alias' value starts at its anchor).
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                continue  # refused when constructed (unhashable key)
            key = k.value
            lines[(*loc, key)] = k.start_mark.line + 1
            _walk(v, (*loc, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_shape(path: Path, root: yaml.Node) -> None:
    """Refuse a document whose expanded tree (aliases followed) is too deep or too big,
    or that refers to itself, before anything is constructed from it. Each distinct
    node is measured once, so an alias bomb is refused in time linear in the file."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, height)
    active: set[int] = set()

    def too(what: str, node: yaml.Node) -> UserError:
        return UserError(Problem(path, "", what, node.start_mark.line + 1))

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in active:
            raise too("invalid YAML: an alias refers to a node that contains it", node)
        if key not in measured:
            if depth > MAX_DEPTH:
                raise too(f"nested more than {MAX_DEPTH} levels deep", node)
            active.add(key)
            size, height = 1, 0
            for child in _children(node):
                csize, cheight = measure(child, depth + 1)
                size += csize
                height = max(height, cheight + 1)
                if size > MAX_NODES:
                    raise too(
                        f"expands to more than {MAX_NODES} values (YAML aliases repeated "
                        "inside aliases?); expected a small description",
                        node,
                    )
            active.discard(key)
            measured[key] = (size, height)
        size, height = measured[key]
        if depth + height > MAX_DEPTH:
            raise too(f"nested more than {MAX_DEPTH} levels deep (through an alias)", node)
        return size, height

    measure(root, 0)


def _bad_encoding(path: Path, data: bytes, exc: UnicodeDecodeError) -> UserError:
    line = data[: exc.start].count(b"\n") + 1
    return UserError(
        Problem(path, "", f"not UTF-8 text (byte {data[exc.start]:#04x}); save it as UTF-8", line)
    )


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise UserError(
                Problem(path, "", f"is {size} bytes; expected a description under {MAX_BYTES}")
            )
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(Problem(path, "", f"cannot read file: {exc.strerror}")) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad_encoding(path, data, exc) from exc


def read_text(path: Path) -> str:
    """A small UTF-8 text file, or a UserError naming it (unreadable, too big, not UTF-8)."""
    return _read(path)


def _invalid(path: Path, exc: yaml.YAMLError) -> UserError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return UserError(Problem(path, "", f"invalid YAML: {problem}", mark.line + 1 if mark else None))


class _SafeLoader(yaml.SafeLoader):
    """Plain safe YAML (repeated keys allowed), with unhashable keys refused clearly."""


def _construct_any_mapping(loader: _SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.MappingNode | yaml.SequenceNode):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "a key must be a plain value, not a list or mapping",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=deep)


_SafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_any_mapping)


def _parse(path: Path, loader_class: type[yaml.SafeLoader]) -> tuple[Any, yaml.Node | None]:
    """Compose, check the shape, then construct: each step's failure is a UserError."""
    text = _read(path)
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:  # a control character PyYAML does not accept
        line = text[: exc.position].count("\n") + 1
        raise UserError(
            Problem(path, "", f"invalid YAML: character {exc.character:#x} is not allowed", line)
        ) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_shape(path, node)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        raise _invalid(path, exc) from exc
    except RecursionError as exc:
        raise UserError(Problem(path, "", f"nested more than {MAX_DEPTH} levels deep")) from exc
    finally:
        loader.dispose()


def load_yaml(path: Path) -> Any:
    """Parse `path` as plain safe YAML (third-party files such as catalog metadata may
    repeat keys); unreadable or invalid: a UserError naming the file and, when known,
    the line."""
    return _parse(path, _SafeLoader)[0]


def load_yaml_with_lines(path: Path, *, unique_keys: bool = True) -> tuple[Any, dict[Loc, int]]:
    """Parse `path`; return the data and a map from key path to line number.
    `unique_keys=False` for third-party files (catalog metadata) that may repeat keys."""
    data, node = _parse(path, _UniqueKeyLoader if unique_keys else _SafeLoader)
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(path: Path) -> Any:
    """Parse `path` as strict JSON (no NaN/Infinity), with the same limits as YAML."""
    text = _read(path)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise UserError(Problem(path, "", f"invalid JSON: {exc.msg}", exc.lineno)) from exc
    except ValueError as exc:
        raise UserError(Problem(path, "", f"invalid JSON: {exc}")) from exc
    except RecursionError as exc:
        raise UserError(Problem(path, "", f"nested more than {MAX_DEPTH} levels deep")) from exc
    _check_json_depth(path, data)
    return data


def _check_json_depth(path: Path, data: Any) -> None:
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UserError(Problem(path, "", f"nested more than {MAX_DEPTH} levels deep"))
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of `loc`, or of its nearest ancestor present in the file."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def undotted(field: str) -> Loc:
    """'functions.oscar[0].x.name' -> ('functions', 'oscar', 0, 'x', 'name')."""
    loc: list[str | int] = []
    for part in field.split("."):
        name, _, rest = part.partition("[")
        if name:
            loc.append(name)
        for index in rest.replace("]", "").split("[") if rest else ():
            loc.append(int(index) if index.isdigit() else index)
    return tuple(loc)


def with_lines(exc: UserError, path: Path, lines: dict[Loc, int]) -> UserError:
    """`exc` with the line of each problem about `path` filled in from `lines`."""
    problems = [
        Problem(p.file, p.field, p.message, p.line or line_for(lines, undotted(p.field)))
        if str(p.file) == str(path) and p.field
        else p
        for p in exc.problems
    ]
    return UserError(problems) if problems else exc


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
