"""One trial: run trial N of a sweep, with its params, on the sweep's snapshot in a
temporary worktree (its job's, reset to the snapshot, or one of its own), and record it
as a gitml run tagged `sweep=<id>`, `trial=<n>`.

`run_trial` is the whole of it and knows nothing of Optuna: whoever drives trials (the
sweep driver's threads, a worker on another machine, a cluster job) calls it with the
params it was given, and may watch the metric as the run logs it (`Watch`) to stop a
trial early (pruning). The user's work tree, index and HEAD are never touched: the
worktree is detached, holds the snapshot commit's files, and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitml.errors import GitCommandError, GitmlError
from gitml.projects.launch import SILENT, LaunchRequest, Progress, Recording
from gitml.store.gitcmd import run_git, with_git_config
from gitml.store.repository import Repository
from gitml.sweeps.record import SweepRecord
from gitml.sweeps.space import fill_command
from gitml.tracking.record import RunSummary

SWEEP_TAG = "sweep"
TRIAL_TAG = "trial"
PRUNED_TAG = "pruned"  # why a trial was stopped early
POLL_S = 0.1  # how often the metric file is looked at
STOP_GRACE_S = 10  # SIGTERM, then SIGKILL after this

# Report a metric point (step, value) of the running trial; the answer is a reason to
# stop it (pruning), or None to let it go on.
Watch = Callable[[int, float], str | None]


@dataclass
class TrialOutcome:
    number: int
    run: RunSummary
    state: str  # complete | pruned | failed
    value: float | None = None  # the metric's last value
    reason: str = ""  # why it failed or was pruned
    warnings: list[str] = field(default_factory=list)


def run_trial(
    repo: Repository,
    sweep: SweepRecord,
    number: int,
    params: dict[str, str],
    watch: Watch | None = None,
    stop: threading.Event | None = None,
    started: Callable[[str], None] | None = None,
    progress: Progress = SILENT,
    tree: TrialTree | None = None,
) -> TrialOutcome:
    """Run trial `number` of `sweep` with `params` and record it; `watch` sees each new
    point of the sweep's metric, `stop` ends the trial early (the sweep is stopping),
    `started` is told the run's id once it exists. `tree` is the worktree of the job
    running it (reset to the snapshot first); without one, the trial has a worktree of
    its own, removed when it ends."""
    own = tree is None
    tree = tree or TrialTree(repo, sweep)
    try:
        path, inner = tree.checkout()
        return _launch(repo, inner, sweep, number, params, path, watch, stop, started, progress)
    finally:
        if own:
            tree.remove()


def worktree_prefix(sweep_id: str) -> str:
    """The start of the name of every temporary folder a sweep's trials run in."""
    return f"gitml-sweep-{sweep_id}-"


OWNER_FILE = "owner.json"  # beside a trial worktree: the process that made it


class TrialTree:
    """A detached worktree at the sweep's base holding the snapshot's files, where the
    trials of one job run one after the other: made for the first, reset to the
    snapshot before each next one (tracked files as the snapshot has them, every other
    file removed, HEAD at the base), removed when the job ends. Each job has its own, so
    parallel trials never share a work tree or an index. Its folder holds OWNER_FILE, the
    process that made it: a resume removes the trees of dead processes only."""

    def __init__(self, repo: Repository, sweep: SweepRecord):
        self.repo = repo
        self.sweep = sweep
        self.path: Path | None = None
        self.inner: Repository | None = None

    def checkout(self) -> tuple[Path, Repository]:
        """The worktree, holding exactly the snapshot; and the repository seen from it."""
        if self.path is not None and self.inner is not None:
            try:
                self._reset(self.path, self.inner)
                return self.path, self.inner
            except (GitmlError, OSError):  # the last trial broke it (removed its .git, say)
                self.remove()
        try:
            self._add()
        except BaseException:
            self.remove()
            raise
        assert self.path is not None and self.inner is not None
        return self.path, self.inner

    def remove(self) -> None:
        if self.path is None:
            return
        remove_worktree(self.repo, self.path)
        shutil.rmtree(self.path.parent, ignore_errors=True)
        self.path = self.inner = None

    def _add(self) -> None:
        from gitml.store.repository import open_repository
        from gitml.tracking.environment import process_start_token

        sweep, pid = self.sweep, os.getpid()
        folder = Path(tempfile.mkdtemp(prefix=f"{worktree_prefix(sweep.id)}{pid}-"))
        owner = {"pid": pid, "start": process_start_token(pid)}
        (folder / OWNER_FILE).write_text(json.dumps(owner))
        # its own name: git names the worktree after it, and two `git worktree add` of
        # one name at once race for the same numbered name under .git/worktrees/
        self.path = folder / folder.name
        start = sweep.base or sweep.snapshot  # each run's parent: the commit the user was on
        add = ["worktree", "add", "--detach", "--no-checkout", "--quiet", str(self.path), start]
        with _WORKTREES:
            try:
                run_git(add, self.repo.cwd)
            except GitCommandError:  # racing another process's add or remove: once more
                run_git(add, self.repo.cwd)
        run_git(["read-tree", "-u", "--reset", sweep.snapshot], str(self.path))
        self.inner = open_repository(self.path)

    def _reset(self, path: Path, inner: Repository) -> None:
        """Undo what the last trial did: its edits of tracked files, the files it made
        (ignored ones too), a HEAD it moved, an index it changed."""
        from gitml.store.repository import read_head

        start = self.sweep.base or self.sweep.snapshot
        if read_head(inner) != (None, start):
            run_git(["update-ref", "--no-deref", "HEAD", start], str(path))
        run_git(["read-tree", "-u", "--reset", self.sweep.snapshot], str(path))
        run_git(["clean", "-ffdxq"], str(path))


# `git worktree add` and `remove` run one at a time in this process: an add reads the
# entries of .git/worktrees/ (and fails on one half made), a remove of the last entry
# deletes the folder under an add making its own.
_WORKTREES = threading.Lock()


def remove_worktree(repo: Repository, tree: Path) -> None:
    with _WORKTREES:
        run_git(["worktree", "remove", "--force", "--force", str(tree)], repo.cwd, check=False)


def _launch(
    repo: Repository,
    inner: Repository,
    sweep: SweepRecord,
    number: int,
    params: dict[str, str],
    tree: Path,
    watch: Watch | None,
    stop: threading.Event | None,
    started_hook: Callable[[str], None] | None,
    progress: Progress,
) -> TrialOutcome:
    from gitml.projects.launch import plan_launch
    from gitml.tracking.run import start_run
    from gitml.tracking.runner import check_command, execute, start_command

    snapshot_tree = _tree_of(repo.cwd, sweep.snapshot)
    directory = tree / sweep.folder
    directory.mkdir(parents=True, exist_ok=True)  # a folder holding no snapshotted file
    recording = Recording(
        experiment=sweep.experiment,
        tags={SWEEP_TAG: sweep.id, TRIAL_TAG: str(number)},
    )
    request = LaunchRequest(
        command=fill_command(sweep.command, params) if sweep.command else [],
        params=params,
        entry_point=sweep.entry_point,
        env_manager=sweep.env_manager,
        directory=directory,
        recording=recording,
    )
    planned = plan_launch(inner, request, progress)
    check_command(planned.command, planned.activation.search_path, planned.cwd)
    options = planned.run_options(recording)
    options.snapshot_tree = snapshot_tree  # the worktree holds exactly the snapshot
    started = start_run(inner, options)
    child = start_command(inner, started, planned.command, planned.activation, planned.cwd)
    if started_hook is not None:
        started_hook(started.staging.meta["id"])
    metric_file = _metric_file(started.staging.path, sweep.metric)
    pruned: list[str] = []
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch_metric,
        args=(metric_file, child, watch, stop, done, pruned, started.staging),
        daemon=True,
    )
    watcher.start()
    try:
        result = execute(
            inner, started, planned.command, [], planned.activation, planned.cwd, child, echo=False
        )
    finally:
        done.set()
        watcher.join()
    return _outcome(number, result.summary, sweep.metric, pruned, result.output_warnings)


@functools.lru_cache(maxsize=64)
def _tree_of(cwd: str, commit: str) -> str:
    return run_git(["rev-parse", "--verify", f"{commit}^{{tree}}"], cwd).stdout.decode().strip()


def _metric_file(staging: Path, metric: str) -> Path:
    from gitml.store.layout import METRICS_DIR
    from gitml.tracking.record import key_to_filename

    return staging / METRICS_DIR / key_to_filename(metric)


def _outcome(
    number: int, run: RunSummary, metric: str, pruned: list[str], warnings: list[str]
) -> TrialOutcome:
    value = run.metrics.get(metric)
    if pruned:
        return TrialOutcome(number, run, "pruned", value, pruned[0], warnings)
    if run.status != "finished":
        from gitml.tracking.record import describe_end

        reason = f"the run {describe_end(run.status, run.exit_code)}"
        return TrialOutcome(number, run, "failed", value, reason, warnings)
    if value is None:
        reason = f"the run logged no metric {metric!r}"
        return TrialOutcome(number, run, "failed", None, reason, warnings)
    return TrialOutcome(number, run, "complete", value, "", warnings)


def _watch_metric(
    path: Path,
    child: subprocess.Popen,
    watch: Watch | None,
    stop: threading.Event | None,
    done: threading.Event,
    pruned: list[str],
    staging,
) -> None:
    """Follow the metric file as the run appends to it, telling `watch` each new point;
    stop the command when `watch` gives a reason (recorded as the run's `pruned` tag) or
    when `stop` is set."""
    points = _points(path)
    while not done.wait(POLL_S):
        if stop is not None and stop.is_set():
            _stop(child, done)
            return
        if watch is None:
            continue
        for step, value in next(points):
            reason = watch(step, value)
            if reason:
                pruned.append(reason)
                staging.set_tag(PRUNED_TAG, reason)
                _stop(child, done)
                return


def _points(path: Path) -> Iterator[list[tuple[int, float]]]:
    """Each `next()` gives the points appended to the metric file since the last one."""
    offset, held = 0, b""
    while True:
        found: list[tuple[int, float]] = []
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as file:
            file.seek(offset)
            data = file.read()
            offset += len(data)
            held += data
            *lines, held = held.split(b"\n")
            for line in lines:
                fields = line.split(b"\t")
                with contextlib.suppress(ValueError, IndexError):
                    found.append((int(fields[0]), float(fields[1])))
        yield found


def _stop(child: subprocess.Popen, done: threading.Event) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    if not done.wait(STOP_GRACE_S):
        with contextlib.suppress(ProcessLookupError):
            child.kill()


@contextlib.contextmanager
def auto_gc_off() -> Iterator[None]:
    """While trials run, every git this process starts (and the trials' own) sees
    `gc.auto=0` and `maintenance.auto=false` (as `git -c` would give them): a `git gc`
    started in the middle of parallel trials would repack under them. Set through the
    environment, as git reads it, before the trials' threads start; restored after."""
    count = {"GIT_CONFIG_COUNT": os.environ.get("GIT_CONFIG_COUNT", "")}
    added = with_git_config(count, {"gc.auto": "0", "maintenance.auto": "false"})
    saved = {name: os.environ.get(name) for name in added}
    os.environ.update(added)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
