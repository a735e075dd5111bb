"""A metric's points for a chart: all of them within a range, or few enough to draw.

A history of a million points is read a chunk at a time into flat arrays, cut to the
range asked for, then, when more points remain than the chart wants, split into
buckets of consecutive points (in logging order) of which each keeps its first,
lowest, highest and last point: no spike or dip disappears, unlike a chart that
keeps every n-th point.
"""

from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

MAX_POINTS = 20_000  # the most a request gets; more is never needed to draw a line
KEPT_CHOICES = 4  # answers of `choose` kept per history (a page asks for one or two sizes)


@dataclass
class Points:
    steps: array  # 'q'
    values: array  # 'd'
    times: array  # 'q'
    _ordered: dict[str, bool] = field(default_factory=dict)  # x → whether it never decreases
    _chosen: dict[int, list[int]] = field(default_factory=dict)  # wanted → `choose`'s answer

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def empty(cls) -> Points:
        return cls(array("q"), array("d"), array("q"))

    def extended(self, steps: list[int], values: list[float], times: list[int]) -> Points:
        """These points and those given, as new arrays: a request still reading these
        never sees them change."""
        return Points(
            self.steps + array("q", steps),
            self.values + array("d", values),
            self.times + array("q", times),
        )

    def axis(self, x: str) -> array:
        return self.steps if x == "step" else self.times

    def ordered(self, x: str) -> bool:
        """Whether the x values never decrease (the usual case), found once."""
        if x not in self._ordered:
            xs = self.axis(x)
            self._ordered[x] = all(map(operator.le, xs, islice(xs, 1, None)))
        return self._ordered[x]

    def chosen(self, wanted: int) -> list[int]:
        """`choose(self.values, wanted)`, found once: the whole history of a long metric
        is asked for again by each view of it."""
        found = self._chosen.get(wanted)
        if found is None:
            found = choose(self.values, wanted)
            while len(self._chosen) >= KEPT_CHOICES:  # a client asking for every size
                self._chosen.pop(next(iter(self._chosen)), None)
            self._chosen[wanted] = found
        return found

    def part(self, first: int, stop: int) -> Points:
        return Points(self.steps[first:stop], self.values[first:stop], self.times[first:stop])


def collect(chunks: Iterable[tuple[list[int], list[float], list[int]]]) -> Points:
    points = Points(array("q"), array("d"), array("q"))
    for steps, values, times in chunks:
        points.steps.extend(steps)
        points.values.extend(values)
        points.times.extend(times)
    return points


def in_range(points: Points, x: str, start: float | None, end: float | None) -> Points:
    """The points whose x (`step` or `time`, unix ms) lies within [start, end]."""
    if start is None and end is None:
        return points
    xs = points.axis(x)
    low = -math.inf if start is None else start
    high = math.inf if end is None else end
    if points.ordered(x):  # a zoom into a long history: two searches, not a scan
        return points.part(bisect_left(xs, low), bisect_right(xs, high))
    kept = [i for i, value in enumerate(xs) if low <= value <= high]
    if len(kept) == len(xs):
        return points
    return Points(
        array("q", [points.steps[i] for i in kept]),
        array("d", [points.values[i] for i in kept]),
        array("q", [points.times[i] for i in kept]),
    )


def choose(values: array, wanted: int) -> list[int]:
    """Indexes of at most `wanted` (>= 4) points of `values` that keep its shape: per
    bucket of consecutive points the first, the lowest, the highest and the last."""
    count = len(values)
    if count <= wanted:
        return list(range(count))
    buckets = wanted // 4
    kept: list[int] = []
    for bucket in range(buckets):
        first, stop = bucket * count // buckets, (bucket + 1) * count // buckets
        chosen = {first, stop - 1, *_extremes(values, first, stop)}
        kept.extend(sorted(chosen))
    return kept


def _extremes(values: array, first: int, stop: int) -> tuple[int, ...]:
    """Where the lowest and highest values of values[first:stop] are (NaN left out)."""
    part = values[first:stop]
    low, high = min(part), max(part)
    if low == low and high == high:  # no NaN met first: min and max are right
        try:
            return first + part.index(low), first + part.index(high)
        except ValueError:
            pass
    numbers = [(v, i) for i, v in enumerate(part, first) if v == v]
    if not numbers:
        return ()
    return min(numbers)[1], max(numbers)[1]


def to_json(points: Points, chosen: list[int]) -> dict:
    """The chosen points as three arrays; NaN and infinities as 'nan', 'inf', '-inf'."""
    values = [points.values[i] for i in chosen]
    if not all(map(math.isfinite, values)):
        values = [
            v if math.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
            for v in values
        ]
    return {
        "step": [points.steps[i] for i in chosen],
        "value": values,
        "time": [points.times[i] for i in chosen],
    }
