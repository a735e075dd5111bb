"""Every run as one column-wise table: what `GET /api/runs` answers.

One array per field (`id`, `name`, ..., `params.lr`, `metrics.acc`, `tags.x`) holds
the value of each run in order, so 10,000 runs travel as a few hundred arrays instead
of 10,000 objects repeating every key. Field names are the filter grammar's spelling
(`gitml ls --columns`), so a page can put them into a filter as they are.

The table is built again whenever a run changes, so each column is one C-level pass
(`map` over `dict.get` or an attribute getter), not a Python loop per value.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterable
from functools import partial
from itertools import chain, repeat
from operator import attrgetter, is_not

from gitml.compare.search import ATTRIBUTES, Field, field_text
from gitml.tracking.record import RunSummary

# the grammar's attributes read straight from the summary's fields where they are fields
_FIELDS = {"id": "id", "name": "name", "status": "status", "experiment": "experiment",
           "user": "user", "branch": "branch", "start_time": "start_ms",
           "end_time": "end_ms"}  # fmt: skip
# then what only a listing row has
_EXTRA: dict[str, Callable[[RunSummary], object]] = {
    "base": attrgetter("base"),
    "exit_code": attrgetter("exit_code"),
    "damage": attrgetter("damage"),
}
_present = partial(is_not, None)


def runs_table(runs: list[RunSummary]) -> dict:
    """`{"count", "fields", "columns"}`: the attributes, then every param, metric and tag
    some run has (in the order first seen, runs newest first)."""
    columns: dict[str, list] = {}
    getters = {name: attrgetter(_FIELDS[name]) if name in _FIELDS else get
               for name, get in ATTRIBUTES.items()}  # fmt: skip
    for name, get in [*getters.items(), *_EXTRA.items()]:
        columns[name] = list(map(get, runs))
    count = len(runs)
    for kind in ("params", "metrics", "tags"):
        pairs = list(map(attrgetter(kind), runs))
        for key in dict.fromkeys(chain.from_iterable(pairs)):
            values = list(map(dict.get, pairs, repeat(key, count)))
            if kind == "metrics" and not _all_finite(values):
                values = [_number(v) for v in values]
            columns[field_text(Field(kind, key))] = values
    return {"count": count, "fields": list(columns), "columns": columns}


def _all_finite(values: list) -> bool:
    """No NaN or infinity among `values` (None left out), in one C-level pass."""
    numbers: Iterable[float] = filter(_present, values)
    return all(map(math.isfinite, numbers))


def _number(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: 'nan', 'inf', '-inf' (as run.json writes them)."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


class TableJson:
    """The JSON of `runs_table(runs)` and its gzip, built again as runs come without
    encoding nor compressing every value again: the columns of the older committed runs
    (the "body", which a new run does not change) are kept as JSON fragments and as
    those fragments deflated, and only the runs before them (new ones, runs in progress:
    the "head") are encoded and compressed at each change, then spliced in
    (`gzip_joined`).

    Runs are listed newest first, so a new run joins the head; when the body's runs are
    no longer the list's tail (a run deleted or moved) or the head has grown long, the
    body is made again from everything but the runs in progress.
    """

    HEAD_LIMIT = 500  # runs encoded at each change before the body is made again

    def __init__(self) -> None:
        self._body: list[tuple[str, str | None]] = []  # (id, commit) of each body run
        self._fragments: dict[str, Deflated] = {}  # field → its body values, comma-separated
        self._body_keys: dict[str, list[str]] = {}  # kind → the body's keys, first seen first

    def build(self, runs: list[RunSummary]) -> tuple[bytes, bytes]:
        """The answer's JSON and the same gzipped."""
        from gitml.ui.answers import dumps

        count = len(runs)
        body_size = len(self._body)
        fits = (
            0 < body_size <= count
            and count - body_size <= self.HEAD_LIMIT
            and [(run.id, run.sha) for run in runs[count - body_size :]] == self._body
        )
        if not fits:
            self._make_body(runs)
            body_size = len(self._body)
        head = runs[: count - body_size]
        head_table = runs_table(head)["columns"]
        fields = [*ATTRIBUTES, *_EXTRA]
        for kind in ("params", "metrics", "tags"):
            prefix = kind + "."
            seen = [f for f in head_table if f.startswith(prefix) and f not in fields]
            fields += list(dict.fromkeys([*seen, *self._body_keys[kind]]))
        nulls = Deflated(b",".join([b"null"] * body_size)) if body_size else None
        pieces: list[bytes | Deflated] = [
            b'{"count":%d,"fields":%s,"columns":{' % (count, dumps(fields))
        ]
        for number, name in enumerate(fields):
            head_part = dumps(head_table.get(name, [None] * len(head)))[1:-1]
            pieces.append(b"%s%s:[%s" % (b"," if number else b"", dumps(name), head_part))
            body_part = self._fragments.get(name, nulls)
            if body_part is not None:
                pieces += [b"," if head_part else b"", body_part]
            pieces.append(b"]")
        pieces.append(b"}}")
        return gzip_joined(pieces)

    def _make_body(self, runs: list[RunSummary]) -> None:
        """The body: every run after the last one in progress (those change)."""
        from gitml.ui.answers import dumps

        last_running = max((i for i, run in enumerate(runs) if run.sha is None), default=-1)
        body = runs[last_running + 1 :]
        table = runs_table(body)["columns"]
        self._body = [(run.id, run.sha) for run in body]
        self._fragments = {
            name: Deflated(dumps(values)[1:-1]) for name, values in table.items() if values
        }
        self._body_keys = {
            kind: [f for f in table if f.startswith(kind + ".")]
            for kind in ("params", "metrics", "tags")
        }


LEVEL = 1  # of compression: a third of the time of level 5 for 7% more bytes
_GZIP_HEAD = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no time, OS unknown


class Deflated:
    """Bytes and the same deflated on their own, to be spliced into a gzip stream: raw
    deflate blocks that refer to nothing before them and end on a byte (a sync flush),
    not last."""

    __slots__ = ("data", "deflated")

    def __init__(self, data: bytes):
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self.data = data
        self.deflated = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def gzip_joined(pieces: Iterable[bytes | Deflated]) -> tuple[bytes, bytes]:
    """The bytes of `pieces` one after the other, and one gzip member of them in which
    each `Deflated` piece is its deflated blocks as they are and the bytes between are
    compressed now (a full flush before each kept piece, so no later block refers back
    across it): one deflate stream any gzip reader takes, made in the time of
    compressing only what is not kept."""
    plain: list[bytes] = []
    zipped = [_GZIP_HEAD]
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    for piece in pieces:
        if isinstance(piece, Deflated):
            zipped.append(compressor.flush(zlib.Z_FULL_FLUSH))
            zipped.append(piece.deflated)
            plain.append(piece.data)
        else:
            zipped.append(compressor.compress(piece))
            plain.append(piece)
    zipped.append(compressor.flush(zlib.Z_FINISH))
    body = b"".join(plain)
    zipped.append(struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF))
    return body, b"".join(zipped)
