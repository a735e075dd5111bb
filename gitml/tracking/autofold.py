"""Folding older runs by itself once a run is recorded, the way git's `gc --auto` packs a
repository (gc.autoDetach): in a process of its own that nobody waits for.

Every way of recording a run (`gitml run`, a sweep's trials, the logging API,
MlflowClient, the MLflow plugin, Optuna's callback) calls `fold_after_run` once the run's
commit and ref are written. Past `gitml.liveRuns` run refs it starts `python -m
gitml.tracking.autofold <repository>`, detached: its own session, no terminal, output to
/dev/null, reparented to init as soon as it starts; the run's own exit code and output
do not depend on it. That process waits for the lease of folding (`gitml.tracking.fold`,
one folder at a time, dropped by the kernel when its holder dies, even by `kill -9`),
checks the budget again (another may have folded meanwhile) and folds down to half of
it. What goes wrong goes to `.git/gitml/fold.log`, which the next command reports once
(`take_fold_log`), as git reports its gc.log. With `gitml.autoFoldDetach` false, the
fold happens in the recording process, which waits for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gitml.errors import GitmlError
from gitml.store.config import read_config
from gitml.store.layout import FOLD_LOG_FILE
from gitml.store.repository import Repository, open_repository

DETACH = "gitml.autoFoldDetach"  # git config: fold in a background process (default true)
MAX_LOG_BYTES = 16 << 10  # what a report reads of the log at most
MAX_LOG_LINES = 20
BACKGROUND = "(in the background, after an earlier run)"  # ends each line reported


@dataclass(frozen=True)
class AutoFold:
    """What `fold_after_run` did: nothing, start a fold in the background, or fold here."""

    started: bool = False  # a background fold was started
    folded: int = 0  # runs folded here (gitml.autoFoldDetach false)
    warning: str | None = None  # why no fold was started or done here


def fold_after_run(repo: Repository) -> AutoFold:
    """Past gitml.liveRuns run refs, fold older runs: start a detached process for it, or
    fold here when gitml.autoFoldDetach is false. Never raises: the run is recorded
    whatever happens here, so a problem is only a warning."""
    from gitml.tracking.fold import fold_if_over_budget, over_budget  # git objects: on use

    try:
        if not over_budget(repo):
            return AutoFold()
        if read_config(repo).get_bool(DETACH, True) and sys.executable:
            start_background_fold(repo)
            return AutoFold(started=True)
        done = fold_if_over_budget(repo)
    except (GitmlError, OSError, subprocess.CalledProcessError) as error:  # OSError and
        # CalledProcessError: no process could start
        return AutoFold(warning=f"older runs were not folded into archives: {error}")
    return AutoFold(folded=len(done.folded) if done is not None else 0)


def fold_after_api_run(repo: Repository, stacklevel: int = 2) -> None:
    """`fold_after_run` for the runs a script commits (the logging API, MlflowClient, the
    MLflow plugin, Optuna's callback), which reports what an earlier background fold
    logged, as a command does: each problem is a UserWarning, issued for the code
    `stacklevel` frames up from the caller, as `warnings.warn` counts."""
    import warnings

    problems = [f"{line} {BACKGROUND}" for line in take_fold_log(repo)]
    warning = fold_after_run(repo).warning
    for problem in [*problems, *([warning] if warning is not None else [])]:
        warnings.warn(problem, UserWarning, stacklevel=stacklevel + 1)


def start_background_fold(repo: Repository) -> None:
    """Start the fold in a process of its own and return at once. `sh` starts it in the
    background and ends (waited for here): the fold's parent is then init, which reaps
    it, so no process of ours is left to wait for, and it outlives this one."""
    package_parent = str(Path(__file__).resolve().parents[2])  # imports this very gitml
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "gitml.tracking.autofold", repo.cwd]
    subprocess.run(
        ["sh", "-c", '"$@" &', "gitml-fold", *command],
        cwd=repo.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # no terminal's signals (Ctrl-C, hang-up) reach it
        check=True,
    )


def fold_in_background(repo: Repository) -> None:
    """The detached process's work: wait for the lease, fold if the runs are still over
    the budget; what went wrong, or what the archives hold that is wrong, is written to
    the fold log."""
    from gitml.tracking.fold import WAIT_SECONDS, fold_if_over_budget

    try:
        done = fold_if_over_budget(repo, timeout=WAIT_SECONDS)
    except GitmlError as error:
        lines = [f"folding older runs into archive commits failed: {error}"]
    except Exception as error:  # a bug: said once, as any command says it
        lines = [
            "folding older runs into archive commits failed unexpectedly: "
            f"{type(error).__name__}: {error} (please report it)"
        ]
    else:
        problems = done.problems if done is not None else []
        lines = [f"archive commit {sha[:12]}: {why}" for sha, whys in problems for why in whys]
    if lines:
        _write_log(repo, lines)


def _write_log(repo: Repository, lines: list[str]) -> None:
    """The fold log, replaced whole (a reader never sees half of it)."""
    log = repo.state_dir / FOLD_LOG_FILE
    tmp = log.with_name(f"{log.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines))
    os.replace(tmp, log)


def take_fold_log(repo: Repository) -> list[str]:
    """The lines a background fold logged, taken away so that one command reports them
    (taken by a rename: of two commands at once, one gets them); [] when there are none."""
    log = repo.state_dir / FOLD_LOG_FILE
    taken = log.with_name(f"{log.name}.{os.getpid()}.taken")
    try:
        os.rename(log, taken)
    except OSError:  # none (the usual case), or .git/gitml not ours to change
        return []
    try:
        with open(taken, "rb") as file:
            text = file.read(MAX_LOG_BYTES).decode(errors="replace")
    finally:
        taken.unlink(missing_ok=True)
    return [line for line in text.splitlines() if line.strip()][:MAX_LOG_LINES]


def main(argv: list[str]) -> None:
    """`python -m gitml.tracking.autofold REPOSITORY`: what `start_background_fold` starts."""
    try:
        repo = open_repository(argv[0])
    except GitmlError:
        return  # the repository went away: nothing to fold, nowhere to log
    fold_in_background(repo)


if __name__ == "__main__":
    main(sys.argv[1:])
