"""`gitml push | fetch | pull | remote setup | hooks`: share runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from gitml.cli import format as fmt
from gitml.cli.options import json_option
from gitml.cli.output import echo, echo_block, echo_json, echo_json_lines, echo_progress, say

if TYPE_CHECKING:
    from gitml.store.repository import Repository

remote_argument = click.argument("remote", required=False)


def _progress():
    """Show git's progress on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    return echo_progress


def _remote_and_runs(repo, remote, runs) -> tuple[str | None, list[str]]:
    """`gitml push RUN` works too: a first argument that is no remote is a run."""
    from gitml.sharing.remotes import is_remote

    if remote is not None and not is_remote(repo, remote):
        return None, [remote, *runs]
    return remote, list(runs)


@click.command("push")
@remote_argument
@click.argument("runs", nargs=-1)
@click.option("--experiment", "-e", help="Only runs of this experiment.")
@click.option("--since", help="Only runs started since then: 7d, 12h, 2026-11-01 …")
@click.option("--dry-run", "-n", is_flag=True, help="Say what would be sent; send nothing.")
@click.option(
    "--delete", is_flag=True, help="Delete RUNS on the remote (the only way gitml deletes there)."
)
@json_option
@click.pass_obj
def push(obj, remote, runs, experiment, since, dry_run, delete, as_json) -> None:
    """Send runs and registry tags the remote lacks (all new runs unless RUNS are named).

    REMOTE defaults to the current branch's upstream remote, else origin.
    """
    from gitml.sharing.transfer import PushOptions, push_runs

    since_ms = None
    if since:
        from gitml.sharing.selection import parse_time_point

        since_ms = parse_time_point(since, "--since")
    remote, runs = _remote_and_runs(obj.repo, remote, runs)
    options = PushOptions(remote, runs, experiment, since_ms, dry_run, delete)
    with _partial_transfer_reported(lambda result: _echo_push(result, False, delete, dry_run)):
        result = push_runs(obj.repo, options, _progress())
    _echo_push(result, as_json, delete, dry_run)


def _echo_push(result, as_json: bool, delete: bool, dry_run: bool) -> None:
    if as_json:
        echo_json(result.to_json())
        return
    verb = _VERBS[delete, dry_run]
    if result.runs or result.tags or delete:
        tags = f" and {fmt.count(len(result.tags), 'registry tag')}" if result.tags else ""
        where = "on" if delete else "to"
        echo(f"{verb} {fmt.count(len(result.runs))}{tags} {where} {result.remote}")
    else:
        echo(f"nothing new to push to {result.remote} ({fmt.count(result.already)} there already)")
    _report_renumbered(result)
    _warn_differing(result)


_VERBS = {  # (delete, dry_run) → what happened
    (False, False): "pushed",
    (False, True): "would push",
    (True, False): "deleted",
    (True, True): "would delete",
}


@contextmanager
def _partial_transfer_reported(echo) -> Iterator[None]:
    """Runs that moved before the registry's part failed are reported, then the error."""
    from gitml.errors import PartialTransferError

    try:
        yield
    except PartialTransferError as failure:
        if failure.transferred.runs:
            echo(failure.transferred)
        raise failure.error from None


def _report_renumbered(result) -> None:
    """One line on stderr for each local registry event changed to fit after the remote's."""
    for change in result.changes:
        say(_registry_change(result.remote, change))


def _registry_change(remote: str, change) -> str:
    old, new, model = change.old.name, change.name, change.old.parsed.model
    numbered = f"{remote} already had events numbered like ours"
    if change.theirs:
        return f"{remote} has the same registration as {old}: kept its tag"
    if change.version and change.old.parsed.kind == "register":
        return (
            f"{remote} has {model} {change.old_version} for another run: yours is now "
            f"{model} {change.version} (tag {new}, counter {change.counter})"
        )
    if change.version:
        renamed = f"renumbered {old} as {new}, which" if change.renamed else old
        return f"{renamed} now names {change.version} ({numbered})"
    if change.renamed:
        return f"{numbered}: renumbered {old} as {new}"
    return f"{numbered}: {old} moved from counter {change.old_counter} to {change.counter}"


def _warn_differing(result) -> None:
    for run_id in result.differing:
        say(
            f"warning: run {run_id} is a different commit on {result.remote}; "
            "both copies were left as they are"
        )
    for name in result.differing_views:
        say(
            f"warning: view {name} was saved differently here and on {result.remote}; "
            "both were left as they are (save it under another name to share it)"
        )
    for missing in result.objects_missing:
        say(f"warning: {missing}")
    for sweep_id in result.differing_sweeps:
        say(
            f"warning: sweep {sweep_id} was recorded differently here and on {result.remote}; "
            "both records were left as they are"
        )
    for experiment_id in result.differing_experiments:
        say(
            f"warning: experiment {experiment_id} was changed differently here and on "
            f"{result.remote}; both records were left as they are"
        )
    for record in result.refused_records:
        say(
            f"warning: {result.remote} refused {record.kind} {record.name}: {record.reason}; "
            "it was not sent"
        )


@click.command("fetch")
@remote_argument
@click.argument("runs", nargs=-1)
@json_option
@click.pass_obj
def fetch(obj, remote, runs, as_json) -> None:
    """Bring runs and registry tags from REMOTE (all runs unless RUNS, id prefixes, are named)."""
    with _partial_transfer_reported(lambda result: _echo_fetch(result, False)):
        result = _fetch(obj, remote, runs)
    _echo_fetch(result, as_json)


def _echo_fetch(result, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json())
        return
    tags = f" and {fmt.count(len(result.tags), 'registry tag')}" if result.tags else ""
    downloaded = fmt.count(result.objects, "large artifact")
    objects = f" ({downloaded} downloaded)" if result.objects else ""
    echo(f"fetched {fmt.count(len(result.runs))}{tags} from {result.remote}{objects}")
    _report_renumbered(result)
    _warn_differing(result)


def _fetch(obj, remote, runs):
    from gitml.sharing.transfer import FetchOptions, fetch_runs

    remote, runs = _remote_and_runs(obj.repo, remote, runs)
    return fetch_runs(obj.repo, FetchOptions(remote, runs), _progress())


@click.command("pull")
@remote_argument
@click.argument("runs", nargs=-1)
@json_option
@click.pass_obj
def pull(obj, remote, runs, as_json) -> None:
    """Fetch, then summarize the runs that arrived."""
    with _partial_transfer_reported(lambda result: _echo_pull(obj.repo, result, False)):
        result = _fetch(obj, remote, runs)
    _echo_pull(obj.repo, result, as_json)


def _echo_pull(repo, result, as_json: bool) -> None:
    from gitml.sharing.transfer import arrived

    new_runs = arrived(repo, result.runs)
    if as_json:
        echo_json({**result.to_json(), "arrived": [run.to_json() for run in new_runs]})
        return
    if not new_runs:
        echo(f"no new runs from {result.remote}")
    else:
        echo(f"{fmt.count(len(new_runs))} arrived from {result.remote}:")
        rows = [
            [run.id[:12], run.name, run.status, run.experiment, fmt.when(run.start_ms), run.user]
            for run in new_runs
        ]
        echo_block(fmt.table(["ID", "NAME", "STATUS", "EXPERIMENT", "STARTED", "USER"], rows, 4))
    if result.tags:
        echo(f"{fmt.count(len(result.tags), 'registry tag')}: {', '.join(result.tags)}")
    _report_renumbered(result)
    _warn_differing(result)


def echo_remote_runs(repo: Repository, remote: str, as_json: bool) -> None:
    """`gitml ls --remote REMOTE`: the run ids a remote has (on a run ref or in its
    archives), and which are here too."""
    from gitml.sharing.transfer import list_remote_runs
    from gitml.store.ids import run_id_time_ms

    runs = list_remote_runs(repo, remote)
    if as_json:
        echo_json_lines(
            [{"id": r.id, "commit": r.sha, "local": r.local, "archived": r.archived} for r in runs]
        )
        return
    if not runs:
        echo(f"no runs on {remote}", err=True)
        return
    rows = [[r.id, fmt.when(run_id_time_ms(r.id)), _yes(r.local), _yes(r.archived)] for r in runs]
    echo_block(fmt.table(["ID", "STARTED", "LOCAL", "ARCHIVED"], rows, 4))


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _fetched_kinds() -> str:
    """The refs `gitml remote setup` makes git fetch, in one pattern:
    refs/gitml/{runs,archive,…}/*."""
    from gitml.sharing.refspecs import FETCH_KINDS

    folders = [spec.partition(":")[0].removeprefix("refs/gitml/")[:-2] for spec in FETCH_KINDS]
    return "refs/gitml/{" + ",".join(folders) + "}/*"


@click.group("remote")
def remote_group() -> None:
    """Set up a git remote for runs."""


@remote_group.command("setup")
@remote_argument
@click.pass_obj
def remote_setup(obj, remote) -> None:
    """Make plain `git fetch REMOTE` bring runs too (plain `git push` is unchanged)."""
    from gitml.sharing.remotes import add_fetch_refspec, choose_remote, prunes_on_fetch

    remote = choose_remote(obj.repo, remote)
    if add_fetch_refspec(obj.repo, remote):
        echo(f"git fetch {remote} now brings runs ({_fetched_kinds()})")
    else:
        echo(f"git fetch {remote} already brings runs ({_fetched_kinds()})")
    if prunes_on_fetch(obj.repo, remote):
        say(
            f"warning: git fetch {remote} prunes (fetch.prune is set): it will delete "
            f"local runs {remote} lacks; push runs first (gitml push, or gitml hooks install)"
        )


@click.group("hooks")
def hooks_group() -> None:
    """Install, remove or show gitml's git hooks (pre-push: send runs along with git push)."""


@hooks_group.command("install")
@click.pass_obj
def hooks_install(obj) -> None:
    """Install the pre-push hook, chaining to any hook already there."""
    from gitml.sharing.hooks import install_hook

    status = install_hook(obj.repo)
    chained = f" (runs {status.chained.name} first)" if status.chained else ""
    echo(f"installed {status.path}{chained}")


@hooks_group.command("uninstall")
@click.pass_obj
def hooks_uninstall(obj) -> None:
    """Remove the pre-push hook and restore the one it replaced."""
    from gitml.sharing.hooks import uninstall_hook

    status = uninstall_hook(obj.repo)
    restored = " and restored the earlier hook" if status.other else ""
    echo(f"removed gitml's hook {status.path}{restored}")


@hooks_group.command("status")
@json_option
@click.pass_obj
def hooks_status(obj, as_json) -> None:
    """Say whether gitml's pre-push hook is installed, chained and enabled."""
    from gitml.sharing.hooks import hook_status

    status = hook_status(obj.repo)
    if as_json:
        echo_json(status.to_json())
        return
    if status.installed:
        state = "installed" + ("" if status.enabled else ", disabled by gitml.prePush=false")
        if status.chained:
            state += f", runs {status.chained} first"
    else:
        state = "not installed" + (" (another hook is there)" if status.other else "")
    echo(f"{status.name}: {state} ({status.path})")
