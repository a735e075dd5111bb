"""The one reader of YAML and JSON documents: bounded, whoever wrote them.

Project files, environment specs, MLmodel files, run records fetched from a remote
and request bodies all reach gitml from someone else. A few hundred bytes of YAML
whose aliases refer to aliases ("billion laughs") stand for billions of values once
anything walks them, and a document nested thousands of levels deep makes Python's
parsers (and every recursive walk after them) fail with RecursionError. So before
building anything, a YAML document's events are counted: nesting depth, and how many
values its aliases would stand for; a JSON document's depth is checked once decoded
(its C decoder refuses very deep input on its own, as a RecursionError).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitml.errors import DocumentError

if TYPE_CHECKING:
    from yaml.events import Event

MAX_DEPTH = 100  # levels of nesting; real files use fewer than ten
MAX_ALIAS_VALUES = 100_000  # values that aliases may stand for, in all
MAX_YAML_BYTES = 16 << 20  # real YAML files are a few KiB

_DEPTH_PROBLEM = f"nested more than {MAX_DEPTH} levels deep (gitml reads at most {MAX_DEPTH})"


def read_text(path: Path, error: type[DocumentError] = DocumentError) -> str:
    """The text of a document file; `error(path, problem, line)` when it cannot be read
    or is not UTF-8 (the line of its first byte that is not)."""
    try:
        data = path.read_bytes()
    except OSError as problem:
        raise error(str(path), f"cannot be read: {problem.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = data.count(b"\n", 0, problem.start) + 1
        raise error(
            str(path),
            f"not UTF-8 text (byte 0x{data[problem.start]:02x}); save the file as UTF-8",
            line,
        ) from None


def load_yaml(text: str | bytes, where: str, error: type[DocumentError] = DocumentError) -> Any:
    """The value of a single YAML document; `error(where, problem, line)` if it is not
    valid YAML or breaks a bound above."""
    import yaml

    if len(text) > MAX_YAML_BYTES:
        raise error(where, f"too large to read ({len(text):,} bytes; at most {MAX_YAML_BYTES:,})")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_events(yaml.parse(text, Loader=loader), where, error)
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        detail = problem.problem or problem.context or "invalid YAML"
        raise error(where, f"invalid YAML: {detail}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as problem:
        raise error(where, f"invalid YAML: {problem}") from None


def load_yaml_file(path: Path, error: type[DocumentError] = DocumentError) -> Any:
    """The value of the YAML file `path` (see `load_yaml`); errors name the file and the line."""
    return load_yaml(read_text(path, error), str(path), error)


def _check_events(events, where: str, error: type[DocumentError]) -> None:
    """Refuse a document nested too deep or whose aliases stand for too many values,
    from its parse events alone (nothing is built yet, and parsing does not recurse)."""
    from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    sizes: dict[str | None, int] = {}  # anchor → values the anchored node stands for
    open_sizes = [0]  # values so far in each collection being read, outermost first
    anchors: list[str | None] = [None]
    from_aliases = 0
    for event in events:
        if isinstance(event, CollectionStartEvent):
            if len(open_sizes) > MAX_DEPTH:
                raise error(where, _DEPTH_PROBLEM, _line(event))
            open_sizes.append(1)
            anchors.append(event.anchor)
        elif isinstance(event, CollectionEndEvent):
            size = open_sizes.pop()
            anchor = anchors.pop()
            if anchor is not None:
                sizes[anchor] = size
            open_sizes[-1] += size
        elif isinstance(event, AliasEvent):
            size = sizes.get(event.anchor, 1)  # an unknown anchor fails when loading
            open_sizes[-1] += size
            from_aliases += size
            if from_aliases > MAX_ALIAS_VALUES:
                raise error(
                    where,
                    f"its aliases stand for more than {MAX_ALIAS_VALUES:,} values "
                    "(an alias bomb?); gitml refuses to expand it",
                    _line(event),
                )
        elif isinstance(event, ScalarEvent):
            open_sizes[-1] += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1


def _line(event: Event) -> int | None:
    """The line (from 1) an event of the parser starts on."""
    return event.start_mark.line + 1 if event.start_mark is not None else None


def load_json(
    data: str | bytes | bytearray, where: str, error: type[DocumentError] = DocumentError
) -> Any:
    """The value of a JSON document; `error(where, problem)` if it is not valid JSON or
    is nested deeper than MAX_DEPTH. The garbage collector is paused meanwhile."""
    import json

    with collector_paused():
        try:
            value = json.loads(data)
        except RecursionError:
            raise error(where, _DEPTH_PROBLEM) from None
        except (ValueError, UnicodeDecodeError) as problem:
            raise error(where, f"not valid JSON: {problem}") from None
        if nesting_exceeds(value, MAX_DEPTH):
            raise error(where, _DEPTH_PROBLEM)
    return value


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block (then left as it was).

    A JSON body of many rows makes millions of lists, and each collection they trigger
    scans all those made so far: parsing 61 MiB of rows took three times as long with
    it, and the first collection after the parse another half second (the scoring
    server also keeps it paused while the rows are predicted on, and freed). Decoded
    JSON holds no reference cycles: freeing it needs no collector.
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def nesting_exceeds(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether lists, tuples and dicts in `value` nest deeper than `limit` (a scalar is
    level 0); one level at a time, without recursion, each container once per level
    (so a value that holds itself is simply too deep)."""
    containers = (list, tuple, dict)
    level = [value] if isinstance(value, containers) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        inner: dict[int, list | tuple | dict] = {}
        for node in level:
            items = node.values() if isinstance(node, dict) else node
            inner.update((id(item), item) for item in items if isinstance(item, containers))
        level = list(inner.values())
    return False
