"""`gitml diff`, `gitml compare`, `gitml metrics`, `gitml plot`: compare runs."""

import math
from pathlib import Path

import click

from gitml.cli import format as fmt
from gitml.cli.options import json_option
from gitml.cli.output import echo, echo_block, echo_json


@click.command("diff")
@click.argument("a")
@click.argument("b", required=False)
@click.option("--stat", is_flag=True, help="Code: file names and line counts, no patch.")
@click.option("--no-code", is_flag=True, help="Skip the code; params, metrics, ... only.")
@click.option("--md", "as_md", is_flag=True, help="Print Markdown tables (for a pull request).")
@json_option
@click.pass_obj
def diff(obj, a, b, stat, no_code, as_md, as_json) -> None:
    """What differs from run A to run B: params, metrics, tags, environment,
    artifacts and code. Without B, run A against the commit it started from.

    A or B may also be a branch, tag or commit: then only the code is compared.
    """
    from gitml.cli.diff_view import render_markdown, render_text
    from gitml.compare.diff import DiffOptions, diff_sides
    from gitml.tracking.sides import base_side, resolve_side

    repo = obj.repo
    side_a = resolve_side(repo, a)
    side_b = resolve_side(repo, b) if b is not None else None
    if side_b is None:
        side_a, side_b = base_side(side_a), side_a
    result = diff_sides(repo, side_a, side_b, DiffOptions(code=not no_code, patch=not stat))
    if as_json:
        echo_json(result.to_json())
    else:
        echo_block(render_markdown(result) if as_md else render_text(result))


@click.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--diff-only", is_flag=True, help="Only the rows where the runs differ.")
@json_option
@click.pass_obj
def compare(obj, runs, diff_only, as_json) -> None:
    """RUNS side by side: one column per run, rows for params, metrics and tags.

    Rows where the runs differ are marked with '*' (and highlighted on a terminal).
    """
    from gitml.cli.columns import header
    from gitml.compare.side_by_side import side_by_side
    from gitml.errors import InvalidValueError
    from gitml.tracking.catalog import resolve

    repo = obj.repo
    summaries = [resolve(repo, text) for text in runs]
    if len(summaries) < 2 or len({s.id for s in summaries}) < len(summaries):
        raise InvalidValueError("give at least two different runs to compare")
    rows = []
    for row in side_by_side(summaries):
        cells = [_cell(row.field, v) for v in row.values]
        differs = _differs(row, cells)
        if differs or not diff_only:
            rows.append((row, cells, differs))
    if as_json:
        echo_json(
            {
                "runs": [s.to_json() for s in summaries],
                "rows": [
                    {"key": header(r.field), "values": _json_values(r.values), "differs": differs}
                    for r, _, differs in rows
                ],
            }
        )
        return
    headers = ["", "key"] + [s.name for s in summaries]
    table = [["*" if differs else "", header(r.field)] + cells for r, cells, differs in rows]
    lines = fmt.table(headers, table, fixed=len(headers)).splitlines()
    echo(lines[0])
    for (_, _, differs), line in zip(rows, lines[1:], strict=False):
        if differs:
            echo(line, fg="yellow", bold=True)
        else:
            echo(line)


def _differs(row, cells: list[str]) -> bool:
    """Start times and durations differ in milliseconds between almost any two runs:
    they count as different only when they differ as shown (to the second, to 0.1 s)."""
    if row.field.kind == "attributes" and row.field.key in ("start_time", "duration"):
        return len(set(cells)) > 1
    return row.differs


def _json_values(values: list) -> list:
    from gitml.tracking.record import json_float

    return [json_float(v) if isinstance(v, float) else v for v in values]


def _cell(field, value) -> str:
    from gitml.cli.columns import _cell as cell

    return cell(field, value)


@click.command("metrics")
@click.argument("run")
@click.argument("keys", nargs=-1)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: key,step,value,timestamp.")
@json_option
@click.pass_obj
def metrics(obj, run, keys, as_csv, as_json) -> None:
    """The history of RUN's metrics (all, or KEYS): every step and value.

    Past 1,000 steps the table gives way to a summary of each metric; --csv and
    --json always give every point."""
    from gitml.cli.metrics_view import echo_csv, echo_human, echo_json
    from gitml.compare.history import MetricHistory
    from gitml.tracking.catalog import resolve

    repo = obj.repo
    summary = resolve(repo, run)
    with MetricHistory(repo, summary, list(keys) or None) as history:
        if as_json:
            echo_json(history)
        elif as_csv:
            echo_csv(history)
        else:
            echo_human(history, summary.name)


@click.command("plot")
@click.argument("key")
@click.argument("runs", nargs=-1, required=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a chart (.png, .svg or .pdf; needs the 'plot' extra) instead of sparklines.",
)
@click.pass_obj
def plot(obj, key, runs, output) -> None:
    """Metric KEY over steps for each of RUNS: sparklines, or a chart file with -o."""
    from gitml.cli.metrics_view import SPARKLINE
    from gitml.compare.history import MetricHistory
    from gitml.compare.plot import render, write_chart
    from gitml.tracking.catalog import resolve

    repo = obj.repo
    series = {}
    for summary in [resolve(repo, text) for text in runs]:
        with MetricHistory(repo, summary, [key]) as history:
            series[summary.name] = history.digest(key)
    if output is not None:
        write_chart(output, key, {name: digest.curve() for name, digest in series.items()})
        echo(f"wrote {output}")
        return
    lows = [d.low for d in series.values() if not math.isnan(d.low)]
    highs = [d.high for d in series.values() if not math.isnan(d.high)]
    scale = (min(lows), max(highs)) if lows else None
    width = max(fmt.width(fmt.printable(name)) for name in series)
    echo(f"{fmt.printable(key)} (one scale for all runs)")
    for name, digest in series.items():
        last, low, high = (
            fmt.number(value) if digest.count else "-"
            for value in (digest.last, digest.low, digest.high)
        )
        label = fmt.pad(fmt.printable(name), width)
        line = render(digest.means(SPARKLINE), scale=scale)
        echo(f"  {label}  {line}  last {last}  (min {low}, max {high})")
