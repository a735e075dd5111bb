"""Charts of metric histories: a terminal sparkline (no extra needed) and PNG/SVG
files through matplotlib (the optional `plot` extra)."""

import math
from collections.abc import Sequence
from pathlib import Path

from gitml.errors import InvalidValueError, MissingExtraError

BARS = "▁▂▃▄▅▆▇█"
CHART_FORMATS = (".png", ".svg", ".pdf")


class Buckets:
    """Means of consecutive values in at most 2 × `width` buckets however many values
    arrive: when every bucket is full, neighbours merge and each takes twice as many
    values. Memory stays the same for ten points or ten million; values arrive in
    lists (blocks of a metric file) and are summed a slice at a time."""

    def __init__(self, width: int):
        self.capacity = 2 * width
        self.per_bucket = 1
        self.sums: list[float] = []  # of the finite values in each bucket
        self.finite: list[int] = []  # finite values in each bucket
        self.sizes: list[int] = []  # values in each bucket

    def add(self, values: Sequence[float]) -> None:
        position = 0
        while position < len(values):
            if not self.sizes or self.sizes[-1] == self.per_bucket:
                if len(self.sizes) == self.capacity:
                    self._merge()
                    continue
                self.sums.append(0.0)
                self.finite.append(0)
                self.sizes.append(0)
            part = values[position : position + self.per_bucket - self.sizes[-1]]
            total, count = sum(part), len(part)
            if not math.isfinite(total):
                finite = [v for v in part if math.isfinite(v)]
                total, count = sum(finite), len(finite)
            self.sums[-1] += total
            self.finite[-1] += count
            self.sizes[-1] += len(part)
            position += len(part)

    def _merge(self) -> None:
        """Pairs of (full) buckets become one."""
        self.sums = [sum(self.sums[i : i + 2]) for i in range(0, len(self.sums), 2)]
        self.finite = [sum(self.finite[i : i + 2]) for i in range(0, len(self.finite), 2)]
        self.sizes = [sum(self.sizes[i : i + 2]) for i in range(0, len(self.sizes), 2)]
        self.per_bucket *= 2

    def means(self, width: int) -> list[float]:
        """At most `width` means of consecutive values (NaN where none is finite)."""
        count = len(self.sizes)
        shown = min(count, width)
        means = []
        for index in range(shown):
            start, end = index * count // shown, (index + 1) * count // shown
            finite = sum(self.finite[start:end])
            means.append(sum(self.sums[start:end]) / finite if finite else math.nan)
        return means


def sparkline(
    values: list[float], width: int = 40, scale: tuple[float, float] | None = None
) -> str:
    """One character per bucket of points (their mean), scaled between min and max
    (or `scale`, to draw several runs on the same scale).

    Missing or non-finite values show as a space.
    """
    buckets = Buckets(width)
    buckets.add(values)
    return render(buckets.means(width), scale)


def render(means: list[float], scale: tuple[float, float] | None = None) -> str:
    """One bar per mean, between the lowest and highest (or `scale`); a space for NaN."""
    if not means:
        return ""
    finite = [v for v in means if math.isfinite(v)]
    if not finite:
        return " " * len(means)
    low, high = scale or (min(finite), max(finite))
    span = high - low
    chars = []
    for value in means:
        if not math.isfinite(value):
            chars.append(" ")
        elif span == 0:
            chars.append(BARS[len(BARS) // 2])
        else:
            level = int((value - low) / span * len(BARS))
            chars.append(BARS[max(0, min(len(BARS) - 1, level))])
    return "".join(chars)


def write_chart(path: Path, key: str, series: dict[str, tuple[list[float], list[float]]]) -> Path:
    """A line chart of metric `key` over steps, one line per run (its steps and values,
    e.g. `MetricDigest.curve()`), as PNG, SVG or PDF."""
    if path.suffix.lower() not in CHART_FORMATS:
        raise InvalidValueError(
            f"cannot write a chart to {path.name}: use a name ending in " + ", ".join(CHART_FORMATS)
        )
    if not path.parent.is_dir():
        raise InvalidValueError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("writing a chart", "matplotlib", "plot") from None
    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4.5), dpi=100)
    try:
        for label, (steps, values) in series.items():
            axes.plot(steps, values, label=label)
        axes.set_xlabel("step")
        axes.set_ylabel(key)
        axes.set_title(key)
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, metadata=_metadata(path))
    finally:
        pyplot.close(figure)
    return path


def _metadata(path: Path) -> dict:
    """No creation date in the file, so the same chart gives the same bytes."""
    suffix = path.suffix.lower()
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return {}
