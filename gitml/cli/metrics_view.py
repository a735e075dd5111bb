"""What `gitml metrics` prints: every point as CSV or JSON, written a block of points at
a time as it is read, or for a human a sparkline per metric and a table of every
step (a summary of each metric once there are more than TABLE_POINTS)."""

import json
import math

from gitml.cli import format as fmt
from gitml.cli.output import echo, echo_block, echo_data, echo_json_text
from gitml.compare.history import TABLE_POINTS, MetricDigest, MetricHistory
from gitml.compare.plot import render
from gitml.tracking.record import json_float

SPARKLINE = 40  # characters


def echo_csv(history: MetricHistory) -> None:
    echo_data("key,step,value,timestamp")
    for key in history.keys:
        quoted = '"' + key.replace('"', '""') + '"' if any(c in key for c in ',"\n\r') else key
        for steps, values, times in history.chunks(key):
            lines = [
                f"{quoted},{step},{value!r},{ms}\n"
                for step, value, ms in zip(steps, values, times, strict=True)
            ]
            echo_data("".join(lines), nl=False)


def echo_json(history: MetricHistory) -> None:
    """`{key: [{"step": …, "value": …, "timestamp": …}, …], …}`, one point a line."""
    echo_json_text("{", nl=False)
    for index, key in enumerate(history.keys):
        key_text = json.dumps(key, ensure_ascii=False)
        echo_json_text(f"{',' if index else ''}\n  {key_text}: [", nl=False)
        empty = True
        for steps, values, times in history.chunks(key):
            if not steps:
                continue
            points = ",".join(
                f'\n    {{"step": {step}, "value": {_json_value(value)}, "timestamp": {ms}}}'
                for step, value, ms in zip(steps, values, times, strict=True)
            )
            echo_json_text(points if empty else "," + points, nl=False)
            empty = False
        echo_json_text("]" if empty else "\n  ]", nl=False)
    echo_json_text("\n}" if history.keys else "}")


def _json_value(value: float) -> str:
    return repr(value) if math.isfinite(value) else json.dumps(json_float(value))


def echo_human(history: MetricHistory, run_name: str) -> None:
    digests = {key: history.digest(key) for key in history.keys}
    if not digests:
        echo(f"run {run_name} logged no metrics", err=True)
        return
    width = max(fmt.width(fmt.printable(key)) for key in digests)
    for key, digest in digests.items():
        count = f"{digest.count:,} point{'s' if digest.count != 1 else ''}"
        line = render(digest.means(SPARKLINE))
        echo(f"{fmt.pad(fmt.printable(key), width)}  {line}  ({count})")
    echo("")
    echo_block(_steps_table(digests) or _summary_table(digests, run_name))


def _steps_table(digests: dict[str, MetricDigest]) -> str | None:
    """Every step, a column per metric (a step logged twice shows its last value); None
    when that would be more than TABLE_POINTS rows."""
    by_key: dict[str, dict[int, float]] = {}
    for key, digest in digests.items():
        if digest.points is None:
            return None
        by_key[key] = {p.step: p.value for p in digest.points}
    steps = sorted({step for values in by_key.values() for step in values})
    if len(steps) > TABLE_POINTS:
        return None
    rows = [
        [str(step)] + [fmt.number(by_key[k][step]) if step in by_key[k] else "-" for k in by_key]
        for step in steps
    ]
    return fmt.table(["step", *by_key], rows, fixed=1)


def _summary_table(digests: dict[str, MetricDigest], run_name: str) -> str:
    rows = [
        [
            key,
            f"{digest.count:,}",
            f"{digest.low_step} to {digest.high_step}",
            fmt.number(digest.last),
            fmt.number(digest.low),
            fmt.number(digest.high),
        ]
        for key, digest in digests.items()
    ]
    headers = ["key", "points", "steps", "last", "min", "max"]
    return (
        fmt.table(headers, rows, fixed=1)
        + f"\n(more than {TABLE_POINTS:,} steps: every point with "
        + f"`gitml metrics {run_name} --csv` or --json)"
    )
