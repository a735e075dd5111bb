"""Charts of metric histories: a terminal sparkline (no extra needed) and PNG/SVG
files through matplotlib (the optional `plot` extra)."""

import math
from pathlib import Path

from gitml.compare.history import Point
from gitml.errors import InvalidValueError, MissingExtraError

BARS = "▁▂▃▄▅▆▇█"
CHART_FORMATS = (".png", ".svg", ".pdf")


def sparkline(
    values: list[float], width: int = 40, scale: tuple[float, float] | None = None
) -> str:
    """One character per bucket of points (their mean), scaled between min and max
    (or `scale`, to draw several runs on the same scale).

    Missing or non-finite values show as a space.
    """
    if not values:
        return ""
    buckets = _buckets(values, width)
    finite = [v for v in buckets if math.isfinite(v)]
    if not finite:
        return " " * len(buckets)
    low, high = scale or (min(finite), max(finite))
    span = high - low
    chars = []
    for value in buckets:
        if not math.isfinite(value):
            chars.append(" ")
        elif span == 0:
            chars.append(BARS[len(BARS) // 2])
        else:
            level = int((value - low) / span * len(BARS))
            chars.append(BARS[max(0, min(len(BARS) - 1, level))])
    return "".join(chars)


def _buckets(values: list[float], width: int) -> list[float]:
    if len(values) <= width:
        return list(values)
    out = []
    for index in range(width):
        chunk = values[index * len(values) // width : (index + 1) * len(values) // width]
        finite = [v for v in chunk if math.isfinite(v)]
        out.append(sum(finite) / len(finite) if finite else math.nan)
    return out


def by_step(points: list[Point]) -> list[Point]:
    """Points ordered by step; a step logged twice keeps its last value."""
    latest = {}
    for point in points:
        latest[point.step] = point
    return [latest[step] for step in sorted(latest)]


def write_chart(path: Path, key: str, series: dict[str, list[Point]]) -> Path:
    """A line chart of metric `key` over steps, one line per run, as PNG, SVG or PDF."""
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
        for label, points in series.items():
            ordered = by_step(points)
            axes.plot([p.step for p in ordered], [p.value for p in ordered], label=label)
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
