"""`gitml rm | gc | archive`: delete local runs and fold older ones into archives."""

from __future__ import annotations

import click

from gitml.cli import format as fmt
from gitml.cli.options import json_option
from gitml.cli.output import echo, echo_json
from gitml.tracking.record import DAMAGED, ENDED


@click.command("rm")
@click.argument("runs", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Delete runs even if registry tags point at them.")
@click.pass_obj
def rm(obj, runs, force) -> None:
    """Delete RUNS (ids, id prefixes or names) from this repository; remotes are untouched."""
    from gitml.sharing.cleanup import remove_runs

    for run in remove_runs(obj.repo, list(runs), force):
        echo(f"deleted {run.name} ({run.id})")


@click.command("gc")
@click.option("--experiment", "-e", help="Only runs of this experiment (default: every one).")
@click.option(
    "--status",
    type=click.Choice([*ENDED, DAMAGED]),
    help="Only runs with this status (running runs are never collected).",
)
@click.option(
    "--filter", "-f", "filter_", metavar="EXPR", help="Only runs matching EXPR (as in gitml ls)."
)
@click.option("--older-than", help="Only runs started before then: 30d, 12h, 2026-11-01 …")
@click.option("--keep", type=click.IntRange(min=1), help="Spare the newest N selected runs.")
@click.option("--dry-run", "-n", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option(
    "--objects",
    "objects",
    is_flag=True,
    help="Also remove stored large artifacts no run points to (alone: only that).",
)
@click.option(
    "--grace",
    default="1d",
    show_default=True,
    help="With --objects: spare objects written or used within this long (30m, 12h, 2d).",
)
@json_option
@click.pass_obj
def gc(
    obj, experiment, status, filter_, older_than, keep, dry_run, objects, grace, as_json
) -> None:
    """Delete local runs by status, age and count; runs in the model registry are kept.
    With --objects, then remove the large artifacts no run points to any more."""
    import time

    from gitml.sharing.cleanup import GcOptions, collect_garbage, collect_objects
    from gitml.sharing.selection import parse_time_point

    chosen = (experiment, status, filter_, older_than, keep)
    runs = []
    if not objects or any(choice is not None for choice in chosen):
        older_ms = parse_time_point(older_than, "--older-than") if older_than else None
        options = GcOptions(experiment, status, filter_, older_ms, keep, dry_run)
        runs = collect_garbage(obj.repo, options)
    removed = []
    if objects:
        now_ms = int(time.time() * 1000)
        grace_s = (now_ms - parse_time_point(grace, "--grace", now_ms)) / 1000
        removed = collect_objects(obj.repo, grace_s, dry_run)
    if as_json:
        if objects:
            echo_json({"runs": [run.to_json() for run in runs],
                       "objects": [item.to_json() for item in removed]})  # fmt: skip
        else:
            echo_json([run.to_json() for run in runs])
        return
    for run in runs:
        echo(f"{'would delete' if dry_run else 'deleted'} {run.name} ({run.id})")
    if not runs and not objects:
        echo("no runs to delete")
    if objects:
        total = sum(item.size for item in removed)
        verb = "would remove" if dry_run else "removed"
        echo(f"{verb} {fmt.count(len(removed), 'object')} of large artifacts ({total:,} bytes)")


@click.command("archive")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    help="Runs that keep a ref each, the newest (default: half of git config gitml.liveRuns).",
)
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for another fold.")
@json_option
@click.pass_obj
def archive(obj, keep, wait, as_json) -> None:
    """Fold older runs into archive commits (refs/gitml/archive/*): every command still
    finds them, and git's own push, fetch and gc no longer see a ref per run."""
    from gitml.tracking.budgets import live_runs_budget
    from gitml.tracking.fold import fold_runs

    if keep is None:
        keep = live_runs_budget(obj.repo) // 2
    result = fold_runs(obj.repo, keep, timeout=wait)
    if as_json:
        echo_json(result.to_json())
        return
    for sha, problems in result.problems:
        for problem in problems:
            echo(f"warning: archive commit {sha[:12]}: {problem}", err=True)
    archives = fmt.count(len(result.archives), "archive")
    echo(f"folded {fmt.count(len(result.folded))} into {archives}")
