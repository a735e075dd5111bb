"""`gitml checkout`, `gitml branch`, `gitml rerun`: get a run back."""

import click

from gitml.cli import format as fmt
from gitml.cli.options import json_option, parse_pairs
from gitml.cli.output import echo, echo_json, say


@click.command("checkout")
@click.argument("run")
@click.option(
    "--force",
    is_flag=True,
    help="Replace files no commit holds (they are saved first, under refs/gitml-backups/).",
)
@click.pass_obj
def checkout(obj, run, force) -> None:
    """Restore RUN's code into the work tree (`.gitml/` left out); HEAD does not move.

    Files it would replace that no commit holds (uncommitted changes, ignored
    files, a folder where RUN has a file...) are refused, or with --force first
    saved with the rest of the work tree; RUN may also be a commit, e.g. such a
    backup.
    """
    from gitml.errors import shortened
    from gitml.tracking.checkout import checkout_code
    from gitml.tracking.sides import resolve_side

    repo = obj.repo
    side = resolve_side(repo, run, "check it out")
    result = checkout_code(repo, side, force)
    if result.backup_ref:
        ref = result.backup_ref
        say(
            f"the work tree, with what the checkout replaced "
            f"({shortened(result.saved, 10)}), was saved as {ref} (kept in this repository "
            f"only); get them back with: git restore --source={ref} --worktree -- :/"
        )
    if not result.changed:
        echo(f"the work tree already holds the code of {side.label}")
        return
    echo(f"restored the code of {side.label}: {len(result.changed)} files written or removed")
    for path in result.changed:
        echo(f"  {path}")


@click.command("branch")
@click.argument("run")
@click.argument("name")
@click.pass_obj
def branch(obj, run, name) -> None:
    """Create branch NAME whose tip holds exactly RUN's code, on top of RUN's base."""
    from gitml.tracking.reproduce import branch_from_run
    from gitml.tracking.sides import committed_run

    repo = obj.repo
    summary, commit = committed_run(repo, run, "branch from it")
    sha = branch_from_run(repo, summary, commit, name)
    echo(f"created branch {name} at {sha[:12]} with the code of run {summary.name}")


@click.command("rerun")
@click.argument("run")
@click.option(
    "-P", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a param."
)
@click.option("--name", help="Name of the new run (default: a new adjective-noun name).")
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    metavar="PATH",
    help="A file or folder (relative to the repository root) to store after the run.",
)
@click.option("--check", is_flag=True, help="Exit 1 if a metric moved beyond tolerance.")
@click.option("--rtol", type=float, default=1e-5, show_default=True, help="Relative tolerance.")
@click.option("--atol", type=float, default=1e-8, show_default=True, help="Absolute tolerance.")
@json_option
@click.pass_obj
def rerun(obj, run, params, name, artifacts, check, rtol, atol, as_json) -> None:
    """Run RUN's command again with its params, in a temporary worktree holding its
    code (your work tree is not touched), and record a new run that reproduces it."""
    from gitml.cli.run import echo_run_problems, progress_on_stderr, register_logged_models
    from gitml.projects.rerun import RerunOptions
    from gitml.projects.rerun import rerun as rerun_run
    from gitml.tracking.record import json_float

    options = RerunOptions(parse_pairs(params, "param"), name, list(artifacts), rtol, atol)
    result = rerun_run(obj.repo, run, options, progress_on_stderr())
    echo_run_problems(result.launched)
    register_logged_models(obj.repo, result.launched)
    original, new = result.original, result.launched.summary
    if as_json:
        echo_json(
            {
                "run": new.to_json(),
                "reproduces": original.id,
                "moved": [
                    {
                        "key": m.key,
                        "original": None if m.original is None else json_float(m.original),
                        "rerun": None if m.rerun is None else json_float(m.rerun),
                    }
                    for m in result.moved
                ],
            }
        )
    else:
        echo(f"run {new.name} ({new.id}) {new.status}, reproducing {original.name}")
        for move in result.moved:
            old = "-" if move.original is None else fmt.number(move.original)
            now = "-" if move.rerun is None else fmt.number(move.rerun)
            echo(f"  metric {move.key} moved: {old} → {now}")
        if not result.moved:
            echo(f"  metrics match (rtol {rtol:g}, atol {atol:g})")
    code = result.launched.exit_status
    if code == 0 and check and result.moved:
        code = 1
    click.get_current_context().exit(code)
