"""`gitml rerun`: launch a run's recorded command again, with its recorded params and
environment, in a temporary detached worktree holding the run's snapshot (the user's
work tree is not touched); the new run names the original, and its metrics are
compared with the original's.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.envs import LOCAL
from gitml.errors import InvalidValueError, RunStateError
from gitml.projects.launch import SILENT, Launch, Progress, Recording
from gitml.store.gitcmd import run_git
from gitml.store.layout import ENV_DIR
from gitml.store.repository import Repository
from gitml.tracking.model import RunRecord
from gitml.tracking.readers import RunReader
from gitml.tracking.record import DEFAULT_EXPERIMENT, MAX_RECORD_BYTES, RunSummary
from gitml.tracking.runner import CommandResult

RECORDED_SPECS = ("conda.yaml", "python_env.yaml")


@dataclass
class RerunOptions:
    params: dict[str, str] = field(default_factory=dict)  # overrides of recorded params
    name: str | None = None
    artifacts: list[str] = field(default_factory=list)  # relative to the snapshot's root
    rtol: float = 1e-5
    atol: float = 1e-8


@dataclass
class RerunPlan:
    """What a rerun runs; `plan_rerun` is the one place that decides it."""

    command: list[str]
    params: dict[str, str]
    experiment: str
    entry_point: str | None = None
    cwd: str = "."  # the folder the run's command ran in, relative to the repository root


@dataclass
class MetricMove:
    key: str
    original: float | None
    rerun: float | None


@dataclass
class RerunResult:
    original: RunSummary
    launched: CommandResult  # the new run
    moved: list[MetricMove]


def plan_rerun(record: Mapping[str, Any], overrides: dict[str, str]) -> RerunPlan:
    """The recorded command and params (with `overrides`) of a run's record (a `RunRecord`,
    or its JSON)."""
    command = record.get("command") or []
    if isinstance(command, str):
        import shlex

        command = shlex.split(command)
    if not command:
        raise InvalidValueError(
            f"run {record.get('name')} recorded no command (it was logged from a script); "
            "only runs made with `gitml run` can be rerun"
        )
    params = {**(record.get("params") or {}), **overrides}
    return RerunPlan(
        list(command),
        params,
        record.get("experiment") or DEFAULT_EXPERIMENT,
        record.get("entry_point"),
        _recorded_folder(record),
    )


def _recorded_folder(record: Mapping[str, Any]) -> str:
    """Where the run's command ran, relative to the root; runs recorded before gitml kept
    it (or started outside the work tree) ran from the root as far as a rerun knows."""
    from gitml.store.paths import tree_path_problem

    folder = record.get("cwd") or "."
    if folder != "." and (not isinstance(folder, str) or tree_path_problem(folder)):
        raise InvalidValueError(
            f"run {record.get('name')} recorded the working folder {folder!r}, which is not "
            "inside the repository; its record is damaged, so it cannot be rerun"
        )
    return folder


def rerun(
    repo: Repository, run: str, options: RerunOptions, progress: Progress = SILENT
) -> RerunResult:
    """Launch run `run` (an id, prefix or name) again in a temporary worktree."""
    from gitml.projects.launch import launch_planned
    from gitml.store.repository import open_repository
    from gitml.tracking.readers import open_run
    from gitml.tracking.reproduce import check_code_paths
    from gitml.tracking.run import secret_rule
    from gitml.tracking.runner import check_artifact_paths, refuse_empty_artifact_paths

    with open_run(repo, run) as reader:
        original = reader.summary
        commit = reader.commit_for("rerun it")
        progress.note(f"rerunning {original.name} ({original.id}) in a temporary worktree")
        check_code_paths(repo, commit, f"run {original.name} ({original.id})")
        refuse_empty_artifact_paths(options.artifacts)
        record = reader.record()
        spec = _recorded_spec(reader)
    if record.damage:
        raise RunStateError(
            f"run {original.name or original.id} is damaged ({record.damage}): it cannot be rerun"
        )
    plan = plan_rerun(record, options.params)
    recording = Recording(
        name=options.name,
        experiment=plan.experiment,
        artifacts=options.artifacts,
        reproduces=original.id,
    )
    folder = Path(tempfile.mkdtemp(prefix="gitml-rerun-"))
    worktree = folder / "tree"
    try:
        _add_worktree(repo, original, commit, worktree)
        inner = open_repository(worktree)
        workdir = worktree / plan.cwd
        workdir.mkdir(parents=True, exist_ok=True)  # a folder holding no snapshotted file
        secrets = secret_rule(inner)
        artifacts = check_artifact_paths(inner, options.artifacts, secrets, worktree)
        planned = _recorded_launch(spec, record, plan, folder, workdir, progress)
        launched = launch_planned(inner, planned, recording, artifacts, progress)
    finally:
        run_git(["worktree", "remove", "--force", str(worktree)], repo.cwd, check=False)
        shutil.rmtree(folder, ignore_errors=True)
        run_git(["worktree", "prune"], repo.cwd, check=False)
    moved = moved_metrics(original.metrics, launched.summary.metrics, options.rtol, options.atol)
    return RerunResult(original, launched, moved)


def _recorded_spec(reader: RunReader) -> tuple[str, bytes] | None:
    """The environment spec a run recorded in `.gitml/env/` (name, content), if any."""
    for name in RECORDED_SPECS:
        data = reader.read_file(f"{ENV_DIR}/{name}", MAX_RECORD_BYTES)
        if data is not None:
            return name, data
    return None


def _recorded_launch(
    recorded_spec: tuple[str, bytes] | None,
    record: RunRecord,
    plan: RerunPlan,
    folder: Path,
    workdir: Path,
    progress: Progress,
) -> Launch:
    """The launch of `plan` in the environment the run recorded: its spec file
    (`recorded_spec`, written to `folder`) under its env manager, rebuilt when it is no
    longer cached."""
    from gitml.projects.launch import prepare

    spec_path = None
    if recorded_spec is not None:
        spec_path = folder / recorded_spec[0]
        spec_path.write_bytes(recorded_spec[1])
    manager = record.env_manager or LOCAL
    activation, spec = prepare(manager, spec_path, plan.command, workdir, progress)
    return Launch(plan.command, plan.params, plan.entry_point, activation, spec, workdir)


def _add_worktree(repo: Repository, run: RunSummary, commit: str, path: Path) -> None:
    """A detached worktree at the run's base, then the run's files over it, so that
    the new run has the same base and the same snapshot as the original. A run with no
    base (its repository had no commit) starts from a commit of exactly its code: there
    is nothing to restore over it (git restore fails when the run holds no file)."""
    from gitml.tracking.reproduce import CODE_PATHSPEC, code_commit

    start = run.base or code_commit(repo, run, commit)
    run_git(["worktree", "add", "--detach", "--quiet", str(path), start], repo.cwd)
    if run.base:
        run_git(["restore", f"--source={commit}", "--worktree", *CODE_PATHSPEC], str(path))


def moved_metrics(
    original: dict[str, float], new: dict[str, float], rtol: float, atol: float
) -> list[MetricMove]:
    """Metrics whose last values differ beyond |new - old| <= atol + rtol * |old|."""
    moved = []
    for key in sorted(set(original) | set(new)):
        old, now = original.get(key), new.get(key)
        if old is None or now is None:
            moved.append(MetricMove(key, old, now))
        elif old == now or (math.isnan(old) and math.isnan(now)):
            continue
        elif not abs(now - old) <= atol + rtol * abs(old):
            moved.append(MetricMove(key, old, now))
    return moved
