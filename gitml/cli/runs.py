"""`gitml ls`, `gitml show`, `gitml recover`: look at recorded runs."""

import shlex

import click

from gitml.cli import format as fmt
from gitml.cli.options import json_option
from gitml.cli.output import (
    echo,
    echo_block,
    echo_data,
    echo_json,
    echo_json_items,
)
from gitml.errors import RunStateError
from gitml.tracking.record import LISTED_STATUSES, describe_end


@click.command("ls")
@click.option(
    "--experiment", "-e", help="Only runs of this experiment (default: the current branch's)."
)
@click.option("--all", "-a", "all_experiments", is_flag=True, help="Runs of every experiment.")
@click.option(
    "--status",
    type=click.Choice(LISTED_STATUSES, case_sensitive=False),
    help="Only runs with this status (any case).",
)
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), help="At most this many runs (newest first)."
)
@click.option(
    "--filter",
    "-f",
    "filter_",
    metavar="EXPR",
    help="Only runs matching EXPR, e.g. \"metrics.acc > 0.9 and params.model = 'rf'\".",
)
@click.option(
    "--sort",
    "-s",
    "sort",
    multiple=True,
    metavar="KEY",
    help="Order by KEY (repeatable; -KEY or 'KEY DESC' for descending; missing last).",
)
@click.option("--columns", metavar="KEY,...", help="Show these keys, e.g. name,params.lr.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (all keys, or --columns).")
@click.option(
    "--remote",
    metavar="REMOTE",
    help="List the run ids REMOTE has, archived ones too, moving no ref.",
)
@json_option
@click.pass_obj
def ls(
    obj, experiment, all_experiments, status, limit, filter_, sort, columns, as_csv, remote, as_json
) -> None:
    """List runs, newest first: id, name, status, start, duration, params, last metrics."""
    if remote is not None:
        from gitml.cli.sharing import echo_remote_runs

        return echo_remote_runs(obj.repo, remote, as_json)
    from gitml.compare.query import count_runs, find_listed
    from gitml.compare.sorting import RunQuery
    from gitml.store.repository import read_head
    from gitml.tracking.record import branch_experiment

    repo = obj.repo
    if not all_experiments and experiment is None and repo.root is not None:
        experiment = branch_experiment(read_head(repo)[0])
    query = RunQuery(filter_, list(sort), experiment, status, limit)
    listed = find_listed(repo, query)
    if as_json:
        echo_json_items([row.json for row in listed])
        return
    selected = [row.run for row in listed]
    if columns is not None or as_csv:
        from gitml.cli.columns import chosen_columns, columns_csv, columns_table

        fields = chosen_columns(repo, columns, selected)
        if as_csv:
            echo_data(columns_csv(selected, fields))
        else:
            echo_block(columns_table(selected, fields))
        return
    if not selected and filter_:
        echo(f"no runs match the filter: {filter_}", err=True)
        return
    if not selected:
        others = count_runs(repo)
        hint = f" ({others} in other experiments: gitml ls --all)" if others else ""
        echo(f"no runs{' in experiment ' + repr(experiment) if experiment else ''}{hint}", err=True)
        return
    echo_block(_runs_table(selected))


def _runs_table(runs) -> str:
    params = _keys(run.params for run in runs)
    metrics = _keys(run.metrics for run in runs)
    short = fmt.short_ids([run.id for run in runs])
    headers = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "EXPERIMENT"]
    headers += [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics]
    # a run may have thousands of params: cells only for the columns that could show
    shown = fmt.fitting(headers, fixed=3)
    params = params[: max(0, shown - 6)]
    metrics = metrics[: max(0, shown - 6 - len(params))]
    rows = []
    for run in runs:
        row = [
            short[run.id],
            run.name,
            run.status,
            fmt.when(run.start_ms),
            fmt.duration(run.duration_ms),
            run.experiment,
        ]
        row += [run.params.get(k, "-") for k in params]
        row += [fmt.number(run.metrics[k]) if k in run.metrics else "-" for k in metrics]
        rows.append(row)
    return fmt.table(headers[:shown], rows, fixed=3, more=len(headers) - shown)


def _keys(dicts) -> list[str]:
    seen: dict[str, None] = {}
    for d in dicts:
        seen.update(dict.fromkeys(d))
    return list(seen)


@click.command("show")
@click.argument("run")
@json_option
@click.pass_obj
def show(obj, run, as_json) -> None:
    """Everything recorded about RUN (an id, id prefix or name)."""
    from gitml.tracking.readers import read_record

    record = read_record(obj.repo, run).to_json()
    if as_json:
        echo_json(record)
        return
    echo_block(_describe(record))


def _describe(record: dict) -> str:
    """The record as `gitml show` prints it; each value escaped to stay on its line."""
    value = _shown
    command = record.get("command") or ""
    if isinstance(command, list):
        command = shlex.join(command)
    lines = [
        f"run        {value(record['name'])} ({value(record['id'])})",
        f"status     {value(describe_end(record['status'], record.get('exit_code')))}",
        *([f"damaged    {value(record['damage'])}"] if record.get("damage") else []),
        f"experiment {value(record['experiment'])}",
        f"command    {value(command)}",
        *([f"folder     {value(record['cwd'])}"] if record.get("cwd") not in (None, ".") else []),
        f"started    {fmt.when(record.get('start_ms'))}",
        f"duration   {fmt.duration(record.get('duration_ms'))}",
    ]
    for label, key in (
        ("user", "user"),
        ("host", "host"),
        ("python", "python"),
        ("platform", "platform"),
        ("base", "base"),
        ("branch", "branch"),
        ("commit", "commit"),
        ("env hash", "env_hash"),
    ):
        if record.get(key):
            lines.append(f"{label:<10} {value(record[key])}")
    if record["dirty"] is not None:
        lines.append(f"{'dirty':<10} {'yes' if record['dirty'] else 'no'}")
    if record.get("note"):  # several lines of the user's; each indented under the title
        lines += ["", "note"] + ["  " + line for line in str(record["note"]).split("\n")]
    if record.get("params"):
        lines += ["", "params"] + [
            f"  {value(k)} = {value(v)}" for k, v in record["params"].items()
        ]
    if record.get("metrics"):
        lines += ["", "metrics    last  (min / max, steps)"]
        for key, m in record["metrics"].items():
            if m["min"] is not None:
                low, high = fmt.number(float(m["min"])), fmt.number(float(m["max"]))
                lines.append(
                    f"  {value(key)} = {fmt.number(float(m['last']))}  ({low} / {high}, "
                    f"{m['count']} points, last step {m['last_step']})"
                )
            else:
                lines.append(f"  {value(key)} = {fmt.number(float(m['last']))}")
    if record.get("tags"):
        lines += ["", "tags"] + [f"  {value(k)} = {value(v)}" for k, v in record["tags"].items()]
    if record.get("artifacts"):
        lines += ["", "artifacts"] + [
            f"  {value(a['path'])} -> {value(a['link'])}"
            if "link" in a
            else f"  {value(a['path'])}  {fmt.size(a['size'])}"
            + (f"  (by content, {value(a['store'])})" if a.get("store") else "")
            for a in record["artifacts"]
        ]
    skipped = record.get("skipped") or {}
    for path in skipped.get("large", []):
        lines.append(f"  (left out of the snapshot, over the size limit: {value(path)})")
    for path in skipped.get("secret", []):
        lines.append(f"  (left out of the snapshot, looks like a secret: {value(path)})")
    if record.get("files_changed"):
        lines += ["", "files changed against base"]
        lines += [f"  {c['status']}  {value(c['path'])}" for c in record["files_changed"]]
    return "\n".join(lines)


def _shown(value) -> str:
    return fmt.printable(str(value))


@click.command("recover")
@click.pass_obj
def recover(obj) -> None:
    """Commit runs left behind by a crash (every gitml command also does this)."""
    obj.repo  # noqa: B018 -- opening the repository recovers and reports abandoned runs
    if obj.unrecovered:
        raise RunStateError(
            f"{len(obj.unrecovered)} abandoned run(s) could not be recovered (see above)"
        )
    if not obj.recovered:
        echo("no abandoned runs to recover", err=True)
