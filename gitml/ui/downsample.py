"""A metric's points for a chart: all of them within a range, or few enough to draw.

A history of a million points is read a chunk at a time into flat arrays, cut to the
range asked for, then, when more points remain than the chart wants, split into
buckets of consecutive points (in logging order) of which each keeps its first,
lowest, highest and last point: no spike or dip disappears, unlike a chart that
keeps every n-th point.

Where a bucket is long, its lowest and highest points are found among those of the
blocks of BLOCK points it covers (`Points.blocks`, found once per history and kept
with it on disk), plus the points at its two ends: a view of a million points looks
at some 8,000 blocks instead of every point.
"""

from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import add

MAX_POINTS = 20_000  # the most a request gets; more is never needed to draw a line
BLOCK = 256  # points of a block of `Points.blocks`
KEPT_CHOICES = 4  # answers of `choose` kept per history (a page asks for one or two sizes)


@dataclass
class Points:
    steps: array  # 'q'
    values: array  # 'd'
    times: array  # 'q'
    _ordered: dict[str, bool] = field(default_factory=dict)  # x → whether it never decreases
    _chosen: dict[int, list[int]] = field(default_factory=dict)  # wanted → `choose`'s answer
    # where each block of BLOCK points has its lowest and highest value (see `blocks`)
    block_extremes: tuple[array, array] | None = None

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

    def known_order(self, x: str, ordered: bool) -> None:
        """Say whether the x values never decrease (as found before: kept on disk)."""
        self._ordered[x] = ordered

    def blocks(self) -> tuple[array, array]:
        """(lows, highs): the index of the lowest and of the highest value of each block
        of BLOCK points (the first of equals; NaN left out; -1 in a block of NaN only)."""
        if self.block_extremes is None:
            starts = range(0, len(self), BLOCK)
            parts = [self.values[first : first + BLOCK] for first in starts]
            low_values, high_values = list(map(min, parts)), list(map(max, parts))
            if all(v == v for v in chain(low_values, high_values)):  # each a pass in C
                lows = array("q", map(add, starts, map(array.index, parts, low_values)))
                highs = array("q", map(add, starts, map(array.index, parts, high_values)))
            else:  # NaN met first in some block: those looked at one by one
                lows, highs = array("q"), array("q")
                for first in starts:
                    found = _extremes(self.values, first, min(first + BLOCK, len(self)))
                    low, high = found or (-1, -1)
                    lows.append(low)
                    highs.append(high)
            self.block_extremes = (lows, highs)
        return self.block_extremes

    def chosen(self, wanted: int, first: int = 0, stop: int | None = None) -> list[int]:
        """`choose` over points[first:stop], the blocks used where buckets are long;
        that of the whole history is kept (each view of a long metric asks for it)."""
        stop = len(self) if stop is None else stop
        whole = (first, stop) == (0, len(self))
        found = self._chosen.get(wanted) if whole else None
        if found is None:
            long_buckets = (stop - first) // max(1, wanted // 4) >= 2 * BLOCK
            blocks = self.blocks() if long_buckets else None
            found = choose(self.values, wanted, first, stop, blocks)
            if whole:
                while len(self._chosen) >= KEPT_CHOICES:  # a client asking for every size
                    self._chosen.pop(next(iter(self._chosen)), None)
                self._chosen[wanted] = found
        return found

    def span(self, x: str, start: float | None, end: float | None) -> tuple[int, int] | None:
        """(first, stop) of the points whose x lies within [start, end] when the x values
        never decrease (two searches, not a scan); None when they do (see `in_range`)."""
        if start is None and end is None:
            return 0, len(self)
        if not self.ordered(x):
            return None
        xs = self.axis(x)
        low = -math.inf if start is None else start
        high = math.inf if end is None else end
        return bisect_left(xs, low), bisect_right(xs, high)

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
    span = points.span(x, start, end)
    if span is not None:
        return points if span == (0, len(points)) else points.part(*span)
    xs = points.axis(x)
    low = -math.inf if start is None else start
    high = math.inf if end is None else end
    kept = [i for i, value in enumerate(xs) if low <= value <= high]
    if len(kept) == len(xs):
        return points
    return Points(
        array("q", [points.steps[i] for i in kept]),
        array("d", [points.values[i] for i in kept]),
        array("q", [points.times[i] for i in kept]),
    )


def choose(
    values: array,
    wanted: int,
    first: int = 0,
    stop: int | None = None,
    blocks: tuple[array, array] | None = None,
) -> list[int]:
    """Indexes of at most `wanted` (>= 4) points of values[first:stop] that keep its
    shape: per bucket of consecutive points the first, the lowest, the highest and the
    last (the first of equals; NaN is never an extreme). `blocks`: see `Points.blocks`."""
    stop = len(values) if stop is None else stop
    count = stop - first
    if count <= wanted:
        return list(range(first, stop))
    buckets = wanted // 4
    kept: list[int] = []
    for bucket in range(buckets):
        start, end = first + bucket * count // buckets, first + (bucket + 1) * count // buckets
        if blocks is None:
            extremes = _extremes(values, start, end)
        else:
            extremes = _extremes_by_blocks(values, start, end, blocks)
        kept.extend(sorted({start, end - 1, *extremes}))
    return kept


def _extremes(values: array, first: int, stop: int) -> tuple[int, ...]:
    """Where the lowest and highest values of values[first:stop] first are (NaN left
    out); () when there are none but NaN."""
    if first >= stop:
        return ()
    part = values[first:stop]
    low, high = min(part), max(part)
    if low == low and high == high:  # no NaN met first: min and max are right
        try:
            return first + part.index(low), first + part.index(high)
        except ValueError:
            pass
    numbers = [i for i, v in enumerate(part, first) if v == v]
    if not numbers:
        return ()
    return _lowest(values, numbers), _highest(values, numbers)


def _extremes_by_blocks(
    values: array, first: int, stop: int, blocks: tuple[array, array]
) -> tuple[int, ...]:
    """`_extremes`, from the blocks values[first:stop] covers whole and its two ends."""
    inner_first, inner_stop = -(-first // BLOCK), stop // BLOCK  # whole blocks
    if inner_stop - inner_first < 2:
        return _extremes(values, first, stop)
    lows, highs = blocks
    candidates = [
        *_extremes(values, first, inner_first * BLOCK),
        *_extremes(values, inner_stop * BLOCK, stop),
    ]
    candidates += [i for i in lows[inner_first:inner_stop] if i >= 0]
    candidates += [i for i in highs[inner_first:inner_stop] if i >= 0]
    if not candidates:
        return ()
    return _lowest(values, candidates), _highest(values, candidates)


def _lowest(values: array, indexes: list[int]) -> int:
    return min(indexes, key=lambda i: (values[i], i))


def _highest(values: array, indexes: list[int]) -> int:
    return max(indexes, key=lambda i: (values[i], -i))


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
