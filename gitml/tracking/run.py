"""A run's start (name, snapshot, staging folder) and its end.

Starting a run only calls the git executable; finishing imports dulwich (in
`gitml.tracking.commit`) to write the record, so the logging API stays light until a
run ends. Runs whose processes died are committed by `gitml.tracking.recovery`.
"""

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitml.envs import LOCAL
from gitml.errors import InvalidValueError, RunNameTakenError
from gitml.store.cas.stores import configured_store
from gitml.store.config import read_config
from gitml.store.gitcmd import EMPTY_TREE, git_output, run_git
from gitml.store.ids import is_run_id, new_run_id
from gitml.store.layout import META_FILE, NAME_CLAIMS_DIR, TMP_DIR
from gitml.store.refs import create_ref, remove_ref, snapshot_ref
from gitml.store.repository import Repository, read_head
from gitml.store.secret_files import SecretRule, parse_patterns
from gitml.store.snapshot import Snapshot, snapshot_work_tree
from gitml.tracking import catalog
from gitml.tracking.commit import commit_staged
from gitml.tracking.environment import machine_facts, process_alive, process_start_token
from gitml.tracking.ids import is_valid_run_name, new_run_name
from gitml.tracking.index import open_index
from gitml.tracking.limits import run_limits
from gitml.tracking.record import (
    ENDED,
    FORMAT_VERSION,
    MAX_MS,
    RunSummary,
    branch_experiment,
    check_experiment,
    validate_pairs,
)
from gitml.tracking.staging import Staging, write_json_atomic
from gitml.values import as_utf8, check_utf8


@dataclass
class RunOptions:
    """What the caller decides about a new run; everything else is observed."""

    name: str | None = None
    experiment: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    note: str = ""
    command: list[str] = field(default_factory=list)
    entry_point: str | None = None
    reproduces: str | None = None
    owner_pid: int = field(default_factory=os.getpid)
    env_manager: str = LOCAL
    env_spec: Path | None = None  # default: conda.yaml at the work tree's root
    env_spec_name: str = "conda.yaml"  # recorded as .gitml/env/<this>
    env_hash: str | None = None  # default: computed from the recorded files
    cwd: Path | None = None  # where the command runs; default: the current folder
    number_if_taken: bool = False  # a taken name gets -2, -3, … (else RunNameTakenError)
    allow_secrets: list[str] = field(default_factory=list)  # patterns, with gitml.allowSecrets
    # The work tree's snapshot when the caller has it already (a sweep's trial runs in a
    # worktree checked out from one): its tree id. None: snapshot the work tree now.
    snapshot_tree: str | None = None


@dataclass
class StartedRun:
    staging: Staging
    snapshot: Snapshot


def _artifact_settings(repo: Repository) -> dict:
    """What a staging folder's meta says of artifacts and metrics (see `Staging`)."""
    limits = run_limits(repo)
    return {
        "size_limit": limits.artifact,  # None: no limit
        "large_threshold": limits.large_threshold,
        "large_store": configured_store(repo),
        "metric_limit": limits.metric_history,
    }


def check_options(options: RunOptions) -> None:
    """Refuse, before anything is written, what a run could not record: a refused run
    leaves no snapshot, no staging folder and no name behind."""
    if options.experiment is not None:
        check_experiment(options.experiment)
    validate_pairs("param", options.params)
    validate_pairs("tag", options.tags)
    check_utf8("the note", options.note)
    for position, word in enumerate(options.command):
        check_utf8(f"word {position + 1} of the command", word)


def secret_rule(repo: Repository, allowed: Sequence[str] = ()) -> SecretRule:
    """The secret rule of a run: `allowed` patterns and those of `gitml.allowSecrets`."""
    for pattern in allowed:
        if not pattern.strip():
            raise InvalidValueError(
                "an empty --allow-secret pattern allows nothing; give a file name or "
                "pattern, e.g. --allow-secret '.env.example'"
            )
        check_utf8("an --allow-secret pattern", pattern)
    configured = parse_patterns(read_config(repo).get("gitml.allowSecrets"))
    return SecretRule(tuple(allowed) + configured)


def start_run(repo: Repository, options: RunOptions) -> StartedRun:
    """Snapshot the work tree and open a staging folder for a new run."""
    check_options(options)
    run_id = new_run_id()
    name, claim = _choose_name(repo, options.name, options.number_if_taken)
    try:  # the claim on the name lasts until the staging folder shows the name
        branch, base = read_head(repo)
        limits = run_limits(repo)
        artifact_settings = _artifact_settings(repo)
        secrets = secret_rule(repo, options.allow_secrets)
        cwd = working_folder(repo, options.cwd or Path.cwd())
        state = repo.state_dir
        scratch = state / TMP_DIR / f"index-{run_id}"
        snapshot = (
            Snapshot(options.snapshot_tree)
            if options.snapshot_tree
            else snapshot_work_tree(repo, scratch, limits.snapshot_file, secrets)
        )
        create_ref(repo, snapshot_ref(run_id), snapshot.tree, message="gitml: run in progress")
        try:
            meta = {
                "format": FORMAT_VERSION,
                "id": run_id,
                "name": name,
                "experiment": options.experiment or branch_experiment(branch),
                "command": options.command,
                "cwd": cwd,
                "entry_point": options.entry_point,
                "note": options.note,
                "reproduces": options.reproduces,
                "base": base,
                "branch": branch,
                "snapshot_tree": snapshot.tree,
                "skipped_large": [as_utf8(path) for path in snapshot.skipped_large],
                "skipped_secret": [as_utf8(path) for path in snapshot.skipped_secret],
                "start_ms": int(time.time() * 1000),
                **artifact_settings,
                "snapshot_limit": limits.snapshot_file,
                "allow_secrets": list(secrets.allowed),
                "owner_pid": options.owner_pid,
                "owner_start": process_start_token(options.owner_pid),
                "env_manager": options.env_manager,
                "env_hash": options.env_hash,
                "env_vars": allowed_environment_variables(repo),
                **machine_facts(),
            }
            staging = Staging.create(state, meta)
        except BaseException:
            remove_ref(repo, snapshot_ref(run_id))  # no run will ever release it
            raise
    finally:
        claim.unlink(missing_ok=True)
    for key, value in options.params.items():
        staging.log_param(key, value)
    for key, value in options.tags.items():
        staging.set_tag(key, value)
    conda_spec = options.env_spec or repo.work_tree / "conda.yaml"
    if conda_spec.is_file():
        staging.add_env_file(options.env_spec_name, conda_spec.read_bytes())
    return StartedRun(staging, snapshot)


def working_folder(repo: Repository, folder: Path) -> str | None:
    """`folder` relative to the work tree's root, as a posix path ("." for the root), so
    that a rerun starts the command where it ran; None when it is outside the work tree."""
    root = repo.work_tree.resolve()
    path = folder.resolve()
    if not path.is_relative_to(root):
        return None
    relative = path.relative_to(root).as_posix()
    return check_utf8("the name of the folder the command runs in", relative)


def allowed_environment_variables(repo: Repository) -> dict[str, str]:
    """The environment variables the user chose to record (`git config gitml.recordEnv
    "SEED,CUDA_VISIBLE_DEVICES"`, names separated by commas, semicolons or spaces); no
    others are ever recorded, they may hold secrets."""
    listed = read_config(repo).get("gitml.recordEnv") or ""
    names = listed.replace(",", " ").replace(";", " ").split()
    return {name: os.environ[name] for name in names if name in os.environ}


def _choose_name(
    repo: Repository, wanted: str | None, number_if_taken: bool = False
) -> tuple[str, Path]:
    """A name no other run has, with the claim that keeps concurrent starts off it."""
    if wanted is not None and is_run_id(wanted):
        raise InvalidValueError(
            f"run name {wanted!r} is not valid: it would read as a run id; choose another name"
        )
    if wanted is not None and not is_valid_run_name(wanted):
        raise InvalidValueError(
            f"run name {wanted!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(up to 100 characters, starting with a letter or digit)"
        )
    with open_index(repo) as index:
        taken = catalog.NamesInUse(repo, index)
        base, number = wanted or "", 1  # a wanted name taken gets a number
        while True:
            name = wanted or new_run_name(taken)
            claim = _claim_name(repo, name)
            owner = "that is starting right now"
            if claim is not None:
                # Looked up after claiming: a run that released its claim shows its name.
                found = taken.owner(name)
                if found is None:
                    return name, claim
                claim.unlink(missing_ok=True)
                owner = found
            if wanted is not None and not number_if_taken:
                raise RunNameTakenError(wanted, owner)
            if wanted is not None:
                number += 1
                wanted = f"{base[: 99 - len(str(number))]}-{number}"


def _claim_name(repo: Repository, name: str) -> Path | None:
    """Create `names/<name>` exclusively (None if a live process holds it): two runs
    starting at once could otherwise both find a name free and both take it."""
    folder = repo.state_dir / NAME_CLAIMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _claim_is_stale(path):
                return None
            path.unlink(missing_ok=True)
            continue
        os.write(fd, json.dumps([os.getpid(), process_start_token(os.getpid())]).encode())
        os.close(fd)
        return path
    return None


def _claim_is_stale(path: Path) -> bool:
    """A claim left by a process that died before releasing it."""
    try:
        pid, start = json.loads(path.read_text())
    except FileNotFoundError:
        return True
    except ValueError:  # being written right now, or cut short long ago
        try:
            return time.time() - path.stat().st_mtime > 60
        except FileNotFoundError:  # released meanwhile by its owner
            return True
    return not process_alive(pid, start)


def discard_run(repo: Repository, staging: Staging) -> None:
    """Remove a run whose command never started, as if it had never begun: its staging
    folder (so recovery never finds it) and the ref keeping its snapshot."""
    import shutil

    staging.close()
    shutil.rmtree(staging.path, ignore_errors=True)
    remove_ref(repo, snapshot_ref(staging.meta["id"]))


def set_owner(staging: Staging, pid: int, role: str = "child") -> None:
    """Record a further process (the wrapped script) that keeps the run alive."""
    write_json_atomic(
        staging.path / f"{role}.json", {"pid": pid, "start": process_start_token(pid)}
    )


def finish_run(
    repo: Repository, staging: Staging, status: str, exit_code: int | None
) -> RunSummary:
    """End the run: write its end state, commit the record, create its ref."""
    staging.close()
    staging.write_end(status, exit_code)
    return commit_staged(repo, staging.path)


# Runs recorded by another tool (gitml import mlflow)

IMPORT_PREFIX = "import-"  # tmp/import-<run id>: the staging folder of a run being imported
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ImportedRun:
    """A run another tool recorded, with its own times, status and code (`base`, a
    commit of this repository, or None: the run then holds no code)."""

    name: str | None  # wanted; a taken one gets -2, -3, …; one gitml refuses is adapted
    experiment: str
    start_ms: int
    end_ms: int
    status: str  # one of ENDED
    base: str | None = None
    user: str | None = None
    note: str = ""


def record_imported_run(
    repo: Repository, run: ImportedRun, fill: Callable[[Staging], None]
) -> RunSummary:
    """Write `run` as a gitml run: `fill` logs its params, metrics, tags and artifacts
    into a staging folder of its own, which is then committed as any run's is.

    The folder lives under tmp/, not among the runs in progress: a crash half-way
    leaves no partial run for recovery to commit (the next import removes the folder
    and imports the run again)."""
    check_experiment(run.experiment)
    check_utf8("the note", run.note)
    if run.status not in ENDED:
        raise InvalidValueError(f"an imported run has ended: status {run.status!r}")
    for what, ms in (("start", run.start_ms), ("end", run.end_ms)):
        if not 0 <= ms <= MAX_MS:
            raise InvalidValueError(
                f"its {what} time {ms} ms is out of range (0 to {MAX_MS:,} ms since 1970)"
            )
    _remove_abandoned_imports(repo)
    run_id = new_run_id(run.start_ms)
    name, claim = _choose_name(repo, importable_name(run.name), number_if_taken=True)
    folder = repo.state_dir / TMP_DIR / f"{IMPORT_PREFIX}{run_id}"
    try:
        folder.mkdir(parents=True)
        meta = {
            "format": FORMAT_VERSION,
            "id": run_id,
            "name": name,
            "experiment": run.experiment,
            "command": [],
            "cwd": None,
            "entry_point": None,
            "note": run.note,
            "reproduces": None,
            "base": run.base,
            "branch": None,
            "snapshot_tree": _code_tree(repo, run.base),
            "start_ms": run.start_ms,
            **_artifact_settings(repo),
            "allow_secrets": list(secret_rule(repo).allowed),
            "owner_pid": os.getpid(),
            "owner_start": process_start_token(os.getpid()),
            "env_manager": LOCAL,
            "env_hash": None,
            "env_vars": {},
            "user": run.user,
        }
        write_json_atomic(folder / META_FILE, meta)
        staging = Staging(folder)
        fill(staging)
        staging.close()
        staging.write_end(run.status, None, run.end_ms)
        return commit_staged(repo, folder)  # removes the folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        claim.unlink(missing_ok=True)


def importable_name(name: str | None) -> str | None:
    """A run name gitml accepts made of `name` (characters it refuses become `-`), or
    None (a new name) when nothing usable is left or it would read as a run id."""
    if not name:
        return None
    adapted = _NOT_IN_NAMES.sub("-", name).strip("-._")[:100].rstrip("-._")
    if not adapted or is_run_id(adapted) or not is_valid_run_name(adapted):
        return None
    return adapted


def _code_tree(repo: Repository, base: str | None) -> str:
    """The tree of commit `base`, or the empty tree (written, so the commit finds it)."""
    if base is None:
        run_git(["mktree"], repo.cwd, input=b"")
        return EMPTY_TREE
    return git_output(["rev-parse", "--verify", "--end-of-options", f"{base}^{{tree}}"], repo.cwd)


def _remove_abandoned_imports(repo: Repository) -> None:
    """Staging folders of imports whose process died (killed half-way)."""
    folder = repo.state_dir / TMP_DIR
    if not folder.is_dir():
        return
    for path in folder.glob(f"{IMPORT_PREFIX}*"):
        try:
            meta = json.loads((path / META_FILE).read_text())
            alive = process_alive(meta["owner_pid"], meta.get("owner_start"))
        except (OSError, ValueError, KeyError, TypeError):
            alive = time.time() - path.stat().st_mtime < 60  # being made right now
        if not alive:
            shutil.rmtree(path, ignore_errors=True)
