"""Metric history: every logged point of a run's metrics, read a block at a time.

A committed run keeps one `.gitml/metrics/<key>.tsv` file per metric, one
`step<TAB>value<TAB>unix_ms` line per point; a run still in progress keeps them in
its staging folder. A metric may have millions of points, so nothing here holds a
whole file: `MetricHistory` hands out its points in chunks (steps, values, times of
one block of lines), and `MetricDigest` sums them up for a human in constant memory.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from gitml.compare.plot import Buckets
from gitml.errors import UnknownKeyError
from gitml.store.layout import RECORD_METRICS
from gitml.store.repository import Repository
from gitml.tracking.record import RunSummary, filename_to_key

BLOCK = 1 << 20  # bytes of a metric file read at once
MAX_LINE = 4096  # a longer line is damage (a point takes some 40 bytes) and is skipped
TABLE_POINTS = 1000  # the human view lists every point up to this many, then sums up
CURVE_WIDTH = 1000  # points of a chart's line (means of consecutive points)

Chunk = tuple[list[int], list[float], list[int]]  # steps, values, unix ms


@dataclass(frozen=True)
class Point:
    step: int
    value: float
    timestamp_ms: int


class MetricHistory:
    """The metrics of one run: `keys`, and `chunks(key)` of each in logging order.

    Use as a context manager (a committed run is read through one `git cat-file`);
    read one key's chunks to the end before the next key's."""

    def __init__(self, repo: Repository, run: RunSummary, keys: list[str] | None = None):
        self._files: dict = {}  # key → blob id (committed) or Path (in progress)
        self._reader = None
        if run.sha is None:
            from gitml.tracking.catalog import staging_path
            from gitml.tracking.staging import Staging

            self._files = Staging(staging_path(repo, run.id)).metric_files()
        else:
            from gitml.store.blobs import BlobReader
            from gitml.store.objects import ObjectStore

            with ObjectStore(repo) as store:
                tree = store.commit(run.sha.encode()).tree
                found = store.folder_files(tree, RECORD_METRICS)
            self._files = {filename_to_key(name): sha for name, sha in found.items()}
        for key in keys or []:
            if key not in self._files:
                known = sorted(self._files)
                raise UnknownKeyError("show metric", key, known, f"run {run.name} did not log it")
        self.keys = list(keys) if keys is not None else sorted(self._files)
        if run.sha is not None and self.keys:
            self._reader = BlobReader(repo)

    def chunks(self, key: str) -> Iterator[Chunk]:
        """The points of `key`, a block of lines at a time; damaged lines are left out
        (and, in a run in progress, a last line still being written)."""
        source = self._files[key]
        if self._reader is None:
            yield from _parse_blocks(_file_blocks(source), keep_last_line=False)
        else:
            yield from _parse_blocks(self._reader.blocks(source), keep_last_line=True)

    def digest(self, key: str) -> "MetricDigest":
        summary = MetricDigest()
        for chunk in self.chunks(key):
            summary.add(*chunk)
        return summary

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> "MetricHistory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _file_blocks(path) -> Iterator[bytes]:
    with open(path, "rb") as file:
        while block := file.read(BLOCK):
            yield block


def _parse_blocks(blocks: Iterator[bytes], keep_last_line: bool) -> Iterator[Chunk]:
    """Chunks of the complete lines in `blocks` (a line may span two blocks)."""
    carried = b""  # the start of a line the next block ends
    skipping = False  # inside a line longer than MAX_LINE, which is left out
    for block in blocks:
        end = block.rfind(b"\n")
        if end < 0:
            if not skipping:
                carried += block
                carried, skipping = (b"", True) if len(carried) > MAX_LINE else (carried, False)
            continue
        head, rest = block[: end + 1], block[end + 1 :]
        if skipping:
            head, skipping = head[head.find(b"\n") + 1 :], False
        lines, carried = carried + head, rest
        if len(carried) > MAX_LINE:
            carried, skipping = b"", True
        if lines:
            yield _parse_lines(lines)
    if carried and keep_last_line:
        yield _parse_lines(carried)


def _parse_lines(data: bytes) -> Chunk:
    """The points of `step<TAB>value<TAB>ms` lines; a damaged line is left out."""
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    tokens = data.split()
    if len(tokens) == 3 * lines and data.count(b"\t") == 2 * lines:  # three fields a line
        try:
            return (
                list(map(int, tokens[0::3])),
                list(map(float, tokens[1::3])),
                list(map(int, tokens[2::3])),
            )
        except ValueError:
            pass
    chunk: Chunk = ([], [], [])
    for line in data.split(b"\n"):
        fields = line.split(b"\t")
        try:
            point = (int(fields[0]), float(fields[1]), int(fields[2])) if len(fields) == 3 else None
        except ValueError:
            continue
        if point is not None:
            for column, value in zip(chunk, point, strict=True):
                column.append(value)
    return chunk


@dataclass
class MetricDigest:
    """One metric summed up as its points arrive, in memory that does not grow with
    them: count, step range, last value (at the highest step, the last logged on
    ties), lowest and highest finite values, means of consecutive points for a
    sparkline or a chart, and every point while there are at most TABLE_POINTS."""

    count: int = 0
    low_step: int | None = None
    high_step: int | None = None
    last: float = math.nan
    low: float = math.nan
    high: float = math.nan
    points: list[Point] | None = field(default_factory=list)
    _steps: Buckets = field(default_factory=lambda: Buckets(CURVE_WIDTH))
    _values: Buckets = field(default_factory=lambda: Buckets(CURVE_WIDTH))

    def add(self, steps: list[int], values: list[float], times: list[int]) -> None:
        if not steps:
            return
        self.count += len(steps)
        top = max(steps)
        if self.high_step is None or top >= self.high_step:
            self.high_step = top
            self.last = values[len(steps) - 1 - steps[::-1].index(top)]
        bottom = min(steps)
        self.low_step = bottom if self.low_step is None else min(self.low_step, bottom)
        finite = values if math.isfinite(sum(values)) else [v for v in values if math.isfinite(v)]
        if finite:
            low, high = min(finite), max(finite)
            self.low = low if math.isnan(self.low) else min(self.low, low)
            self.high = high if math.isnan(self.high) else max(self.high, high)
        self._steps.add(steps)
        self._values.add(values)
        if self.points is not None and self.count <= TABLE_POINTS:
            self.points += map(Point, steps, values, times)
        else:
            self.points = None

    def means(self, width: int) -> list[float]:
        """At most `width` means of consecutive values (for a sparkline)."""
        return self._values.means(width)

    def curve(self) -> tuple[list[float], list[float]]:
        """The line to draw: means of steps and values of consecutive points."""
        return self._steps.means(CURVE_WIDTH), self._values.means(CURVE_WIDTH)
