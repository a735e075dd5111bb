"""Getting a run back: on a branch, or run again (its code in the work tree:
`gitml.tracking.checkout`).

- `branch_from_run` makes a branch whose tip holds exactly the run's code.
- `rerun` runs the recorded command with the recorded params in a temporary
  detached worktree holding the run's snapshot, records a new run that
  names the original, and compares the metrics.
"""

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitml.errors import InvalidValueError, RunStateError
from gitml.store.gitcmd import run_git
from gitml.store.repository import Repository
from gitml.tracking.record import DEFAULT_EXPERIMENT, RECORD_DIR, RunSummary

CODE_PATHSPEC = ["--", ".", f":(exclude){RECORD_DIR}"]


def _git(repo: Repository, args: list[str], **kwargs) -> str:
    return run_git(args, repo.cwd, **kwargs).stdout.decode(errors="surrogateescape")


# code without the record


def check_code_paths(repo: Repository, commit: str, where: str) -> None:
    """Refuse a snapshot whose code would be written outside the work tree: a run
    fetched from a remote may hold `..`, `.git` or absolute-looking paths, or a file
    beneath a symbolic link (UnsafePathError, before anything is written)."""
    from gitml.store.paths import check_tree_files

    out = _git(repo, ["ls-tree", "-r", "-z", "--full-tree", commit])
    entries = []
    for line in out.split("\0"):
        info, tab, path = line.partition("\t")
        if tab and not path.startswith(RECORD_DIR + "/"):
            entries.append((path, int(info.split(" ", 1)[0], 8)))
    check_tree_files(entries, where)


def code_tree(repo: Repository, run: RunSummary) -> str:
    """The tree of the run's snapshot without `.gitml/`."""
    entries = _git(repo, ["ls-tree", "-z", run.sha])
    kept = [e for e in entries.split("\0") if e and e.split("\t", 1)[1] != RECORD_DIR]
    body = "".join(entry + "\0" for entry in kept)
    return _git(repo, ["mktree", "-z"], input=body.encode(errors="surrogateescape")).strip()


def code_commit(repo: Repository, run: RunSummary) -> str:
    """A commit of exactly the run's code, parented on the run's base."""
    parents = ["-p", run.base] if run.base else []
    message = f"Code of gitml run {run.name}\n\nGitml-Source-Run: {run.id}\n"
    return _git(
        repo, ["commit-tree", code_tree(repo, run), *parents, "-F", "-"], input=message.encode()
    ).strip()


def branch_from_run(repo: Repository, run: RunSummary, branch: str) -> str:
    """Create branch `branch` at a commit holding the run's code; return that commit."""
    check = run_git(["check-ref-format", "--branch", branch], repo.cwd, check=False)
    if check.returncode != 0 or branch.startswith("-"):
        raise InvalidValueError(f"{branch!r} is not a valid branch name")
    ref = "refs/heads/" + branch
    if run_git(["rev-parse", "-q", "--verify", ref], repo.cwd, check=False).returncode == 0:
        raise InvalidValueError(f"branch {branch!r} already exists; choose another name")
    check_code_paths(repo, run.sha, f"run {run.name} ({run.id})")
    sha = code_commit(repo, run)
    _git(repo, ["update-ref", "-m", f"gitml branch from run {run.name}", ref, sha, ""])
    return sha


# rerun


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
    summary: RunSummary
    exit_code: int
    moved: list[MetricMove]
    artifact_errors: list[str]
    artifact_warnings: list[str] = field(default_factory=list)


def plan_rerun(record: dict, overrides: dict[str, str]) -> RerunPlan:
    """The recorded command and params (with `overrides`) of a run's record."""
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


def _recorded_folder(record: dict) -> str:
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


def rerun(repo: Repository, run: RunSummary, options: RerunOptions) -> RerunResult:
    """Run the run again in a temporary worktree; the user's work tree is not touched."""
    from gitml.projects.launch import recorded_environment
    from gitml.store.repository import open_repository
    from gitml.tracking.catalog import load_record
    from gitml.tracking.run import RunOptions, start_run
    from gitml.tracking.runner import check_command, execute, refuse_empty_artifact_paths

    if run.sha is None:
        raise RunStateError(f"run {run.name} is still running; rerun it once it has ended")
    check_code_paths(repo, run.sha, f"run {run.name} ({run.id})")
    refuse_empty_artifact_paths(options.artifacts)
    record = load_record(repo, run)
    if record.get("damage"):
        raise RunStateError(
            f"run {run.name or run.id} is damaged ({record['damage']}): it cannot be rerun"
        )
    plan = plan_rerun(record, options.params)
    folder = Path(tempfile.mkdtemp(prefix="gitml-rerun-"))
    worktree = folder / "tree"
    try:
        # the recorded spec and env manager, so the rerun gets the environment it recorded
        env = recorded_environment(repo, run.sha, record, folder)
        _add_worktree(repo, run, worktree)
        inner = open_repository(worktree)
        workdir = worktree / plan.cwd
        workdir.mkdir(parents=True, exist_ok=True)  # a folder holding no snapshotted file
        check_command(plan.command, env.activation.search_path, workdir)
        started = start_run(
            inner,
            RunOptions(
                name=options.name,
                experiment=plan.experiment,
                params=plan.params,
                command=plan.command,
                entry_point=plan.entry_point,
                reproduces=run.id,
                cwd=workdir,
                **env.env_options(),
            ),
        )
        artifacts = [worktree / path for path in options.artifacts]
        result = execute(inner, started, plan.command, artifacts, env.activation, cwd=workdir)
    finally:
        run_git(["worktree", "remove", "--force", str(worktree)], repo.cwd, check=False)
        shutil.rmtree(folder, ignore_errors=True)
        run_git(["worktree", "prune"], repo.cwd, check=False)
    moved = moved_metrics(run.metrics, result.summary.metrics, options.rtol, options.atol)
    return RerunResult(
        result.summary, result.exit_code, moved, result.artifact_errors, result.artifact_warnings
    )


def _add_worktree(repo: Repository, run: RunSummary, path: Path) -> None:
    """A detached worktree at the run's base, then the run's files over it, so that
    the new run has the same base and the same snapshot as the original."""
    start = run.base or code_commit(repo, run)
    _git(repo, ["worktree", "add", "--detach", "--quiet", str(path), start])
    run_git(["restore", f"--source={run.sha}", "--worktree", *CODE_PATHSPEC], str(path))


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
