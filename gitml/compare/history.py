"""Metric history: every logged point of a run's metrics, read a block at a time.

A run keeps one `step<TAB>value<TAB>unix_ms` line per point in a file per metric, which
its reader (`gitml.tracking.readers`) hands out a block at a time. A metric may have
millions of points, so nothing here holds a whole file: `MetricHistory` hands out its
points in chunks (steps, values, times of one block of lines), and `MetricDigest` sums
them up for a human in constant memory.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from gitml.compare.plot import Buckets
from gitml.errors import UnknownKeyError
from gitml.store.repository import Repository
from gitml.tracking.points import Chunk
from gitml.tracking.readers import open_run
from gitml.tracking.record import RunSummary

TABLE_POINTS = 1000  # the human view lists every point up to this many, then sums up
CURVE_WIDTH = 1000  # points of a chart's line (means of consecutive points)


@dataclass(frozen=True)
class Point:
    step: int
    value: float
    timestamp_ms: int


class MetricHistory:
    """The metrics of one run: `keys`, and `chunks(key)` of each in logging order.

    Use as a context manager (it holds the run's reader open); read one key's chunks to
    the end before the next key's."""

    def __init__(self, repo: Repository, run: RunSummary, keys: list[str] | None = None):
        self._reader = open_run(repo, run)
        known = self._reader.metric_keys()
        for key in keys or []:
            if key not in known:
                self._reader.close()
                raise UnknownKeyError("show metric", key, known, f"run {run.name} did not log it")
        self.keys = list(keys) if keys is not None else known
        try:  # every history is within the limit, before any is written out
            self._reader.check_metric_sizes(self.keys)
        except BaseException:
            self._reader.close()
            raise

    def chunks(self, key: str) -> Iterator[Chunk]:
        """The points of `key`, a block of lines at a time; damaged lines are left out
        (and, in a run in progress, a last line still being written)."""
        return self._reader.metric_points(key)

    def digest(self, key: str) -> "MetricDigest":
        summary = MetricDigest()
        for chunk in self.chunks(key):
            summary.add(*chunk)
        return summary

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "MetricHistory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
