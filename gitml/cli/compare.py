"""`gitml diff`, `gitml compare`, `gitml metrics`, `gitml plot`: compare runs."""

import math
from pathlib import Path

import click

from gitml.cli import format as fmt
from gitml.cli.options import json_option


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
        fmt.echo_json(result.to_json())
    else:
        click.echo(render_markdown(result) if as_md else render_text(result))


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
        fmt.echo_json(
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
    click.echo(lines[0])
    for (_, _, differs), line in zip(rows, lines[1:], strict=False):
        click.echo(click.style(line, fg="yellow", bold=True) if differs else line)


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
    """The history of RUN's metrics (all, or KEYS): every step and value."""
    from gitml.compare.history import metric_history
    from gitml.compare.plot import by_step, sparkline
    from gitml.tracking.catalog import resolve

    repo = obj.repo
    summary = resolve(repo, run)
    history = metric_history(repo, summary, list(keys) or None)
    if as_json:
        fmt.echo_json({key: [p.to_json() for p in points] for key, points in history.items()})
        return
    if as_csv:
        click.echo("key,step,value,timestamp")
        for key, points in history.items():
            quoted = '"' + key.replace('"', '""') + '"' if any(c in key for c in ',"\n') else key
            for p in points:
                click.echo(f"{quoted},{p.step},{p.value!r},{p.timestamp_ms}")
        return
    if not history:
        click.echo(f"run {summary.name} logged no metrics", err=True)
        return
    width = max(fmt.width(fmt.printable(key)) for key in history)
    for key, points in history.items():
        values = [p.value for p in by_step(points)]
        count = f"{len(points)} point{'s' if len(points) != 1 else ''}"
        click.echo(f"{fmt.pad(fmt.printable(key), width)}  {sparkline(values)}  ({count})")
    steps = sorted({p.step for points in history.values() for p in points})
    by_key = {key: {p.step: p.value for p in points} for key, points in history.items()}
    rows = [
        [str(step)] + [fmt.number(by_key[k][step]) if step in by_key[k] else "-" for k in history]
        for step in steps
    ]
    click.echo("")
    click.echo(fmt.table(["step", *history], rows, fixed=1))


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
    from gitml.compare.history import metric_history
    from gitml.compare.plot import by_step, sparkline, write_chart
    from gitml.tracking.catalog import resolve

    repo = obj.repo
    summaries = [resolve(repo, text) for text in runs]
    series = {s.name: metric_history(repo, s, [key])[key] for s in summaries}
    if output is not None:
        write_chart(output, key, series)
        click.echo(f"wrote {output}")
        return
    every = [p.value for points in series.values() for p in points if math.isfinite(p.value)]
    scale = (min(every), max(every)) if every else None
    width = max(fmt.width(fmt.printable(name)) for name in series)
    click.echo(f"{fmt.printable(key)} (one scale for all runs)")
    for name, points in series.items():
        values = [p.value for p in by_step(points)]
        last = fmt.number(values[-1]) if values else "-"
        low = fmt.number(min(values)) if values else "-"
        high = fmt.number(max(values)) if values else "-"
        label = fmt.pad(fmt.printable(name), width)
        click.echo(
            f"  {label}  {sparkline(values, scale=scale)}  last {last}  (min {low}, max {high})"
        )
