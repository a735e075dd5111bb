"""A run's life: start (snapshot + staging folder), finish (commit + ref), recover.

Starting a run only calls the git executable; finishing imports dulwich to
write the record, so the logging API stays light until a run ends.
"""

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitml import catalog
from gitml.environment import machine_facts, process_alive, process_start_token
from gitml.errors import GitmlError, InvalidValueError, RunNameTakenError
from gitml.ids import is_valid_run_name, new_run_id, new_run_name
from gitml.record import (
    FORMAT_VERSION,
    RECORD_DIR,
    RunSummary,
    build_message,
    key_to_filename,
    summarize_metric,
)
from gitml.staging import StagedRun, Staging, runs_dir
from gitml.store.refs import RefExistsError, create_ref, resolve_ref, run_ref
from gitml.store.repository import (
    Repository,
    config_value,
    parse_size,
    read_head,
    start_auto_gc,
)
from gitml.store.snapshot import Snapshot, snapshot_work_tree

DEFAULT_SIZE_LIMIT = 10 << 20
RECOVERING_DIR = "recovering"
NAME_CLAIMS_DIR = "names"
FALLBACK_IDENTITY = ("gitml", "gitml@localhost")
# Run objects are written loose, and only git's porcelain runs `gc --auto`; gitml
# starts it (in the background) after about one run in 32: ids end in random chars.
AUTO_GC_CHARS = "0"


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
    env_manager: str = "local"
    env_spec: Path | None = None  # default: conda.yaml at the work tree's root
    env_spec_name: str = "conda.yaml"  # recorded as .gitml/env/<this>
    env_hash: str | None = None  # default: computed from the recorded files


@dataclass
class StartedRun:
    staging: Staging
    snapshot: Snapshot


def artifact_size_limit(repo: Repository) -> int:
    value = config_value(repo, "gitml", "artifactSizeLimit")
    if value is None:
        return DEFAULT_SIZE_LIMIT
    try:
        return parse_size(value)
    except ValueError:
        raise InvalidValueError(
            f"gitml.artifactSizeLimit is {value!r}; set a number of bytes, e.g. 20m"
        ) from None


def start_run(repo: Repository, options: RunOptions) -> StartedRun:
    """Snapshot the work tree and open a staging folder for a new run."""
    run_id = new_run_id()
    name, claim = _choose_name(repo, options.name)
    try:  # the claim on the name lasts until the staging folder shows the name
        branch, base = read_head(repo)
        size_limit = artifact_size_limit(repo)
        state = repo.state_dir
        snapshot = snapshot_work_tree(repo, state / "tmp" / f"index-{run_id}", size_limit)
        meta = {
            "format": FORMAT_VERSION,
            "id": run_id,
            "name": name,
            "experiment": options.experiment or branch or "default",
            "command": options.command,
            "entry_point": options.entry_point,
            "note": options.note,
            "reproduces": options.reproduces,
            "base": base,
            "branch": branch,
            "snapshot_tree": snapshot.tree,
            "skipped_large": snapshot.skipped_large,
            "skipped_secret": snapshot.skipped_secret,
            "start_ms": int(time.time() * 1000),
            "size_limit": size_limit,
            "owner_pid": options.owner_pid,
            "owner_start": process_start_token(options.owner_pid),
            "env_manager": options.env_manager,
            "env_hash": options.env_hash,
            "env_vars": allowed_environment_variables(repo),
            **machine_facts(),
        }
        staging = Staging.create(state, meta)
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


def allowed_environment_variables(repo: Repository) -> dict[str, str]:
    """The environment variables the user chose to record (`git config gitml.recordEnv
    "SEED,CUDA_VISIBLE_DEVICES"`); no others are ever recorded, they may hold secrets."""
    names = (config_value(repo, "gitml", "recordEnv") or "").replace(",", " ").split()
    return {name: os.environ[name] for name in names if name in os.environ}


def _choose_name(repo: Repository, wanted: str | None) -> tuple[str, Path]:
    """A name no other run has, with the claim that keeps concurrent starts off it."""
    if wanted is not None and not is_valid_run_name(wanted):
        raise InvalidValueError(
            f"run name {wanted!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(up to 100 characters, starting with a letter or digit)"
        )
    taken: set[str] = set()
    while True:
        name = wanted or new_run_name(taken)
        claim = _claim_name(repo, name)
        # Listed after claiming: a run that released its claim already shows its name.
        names = (
            catalog.names_in_use(repo)
            if claim is not None
            else {name: "that is starting right now"}
        )
        if claim is not None and name not in names:
            return name, claim
        if claim is not None:
            claim.unlink(missing_ok=True)
        if wanted is not None:
            raise RunNameTakenError(wanted, names[wanted])
        taken |= set(names)


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
        return time.time() - path.stat().st_mtime > 60
    return not process_alive(pid, start)


def set_owner(staging: Staging, pid: int, role: str = "child") -> None:
    """Record a further process (the wrapped script) that keeps the run alive."""
    path = staging.path / f"{role}.json"
    path.write_text(json.dumps({"pid": pid, "start": process_start_token(pid)}))


def finish_run(
    repo: Repository, staging: Staging, status: str, exit_code: int | None
) -> RunSummary:
    """End the run: write its end state, commit the record, create its ref."""
    staging.close()
    staging.write_end(status, exit_code)
    return commit_staged(repo, staging.path)


def commit_staged(repo: Repository, path: Path) -> RunSummary:
    """Turn a staging folder into a commit on refs/gitml/runs/<id>, then remove it."""
    from gitml.store.objects import ObjectStore

    staged = Staging(path).read()
    meta = staged.meta
    end = staged.end or {"status": "killed", "exit_code": None, "end_ms": _last_activity(path)}
    metric_summaries = {key: summarize_metric(data) for key, data in staged.metrics.items()}
    summary = _summary(staged, end, metric_summaries)
    with ObjectStore(repo) as store:
        base = meta["base"]
        snapshot_tree = meta["snapshot_tree"].encode()
        dirty = base is None or store.commit(base.encode()).tree != snapshot_tree
        record_tree = store.write_tree_of_files(
            _record_files(staged, summary, end, dirty, metric_summaries)
        )
        root = store.with_entry(snapshot_tree, RECORD_DIR, record_tree)
        commit = store.write_commit(
            tree=root,
            parents=[base.encode()] if base else [],
            message=build_message(summary, meta.get("note") or ""),
            author=_identity(repo),
            when=end["end_ms"] / 1000,
        )
    ref = run_ref(meta["id"])
    try:
        create_ref(repo, ref, commit.decode(), message=f"gitml: run {meta['name']}")
    except RefExistsError:
        # Committed before a crash that kept the folder: the ref is the truth.
        commit = resolve_ref(repo, ref).encode()
    summary.sha = commit.decode()
    catalog.remember_name(repo, meta["id"], meta["name"])
    shutil.rmtree(path, ignore_errors=True)
    if meta["id"][-1] in AUTO_GC_CHARS:
        start_auto_gc(repo)
    return summary


def _summary(staged: StagedRun, end: dict, metric_summaries: dict) -> RunSummary:
    meta = staged.meta
    return RunSummary(
        id=meta["id"],
        name=meta["name"],
        experiment=meta["experiment"],
        status=end["status"],
        start_ms=meta["start_ms"],
        end_ms=end["end_ms"],
        exit_code=end.get("exit_code"),
        base=meta["base"],
        user=meta.get("user", ""),
        command=_command_text(meta.get("command") or []),
        params=staged.params,
        metrics={key: summary.last for key, summary in metric_summaries.items()},
        tags=staged.tags,
    )


def _command_text(command: list[str]) -> str:
    import shlex

    return shlex.join(command)


def params_yaml(params: dict[str, str]) -> str:
    """Params as YAML without a YAML library: JSON strings are YAML double-quoted scalars."""
    return "".join(
        f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}\n"
        for key, value in sorted(params.items())
    )


def _record_files(
    staged: StagedRun, summary: RunSummary, end: dict, dirty: bool, metric_summaries: dict
) -> dict:
    meta = staged.meta
    files: dict[str, bytes] = {}
    artifacts = []
    for name, source in staged.artifacts.items():
        data = source.read_bytes()
        files[f"artifacts/{name}"] = data
        artifacts.append(
            {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
    for name, source in staged.env_files.items():
        files[f"env/{name}"] = source.read_bytes()
    for key, data in staged.metrics.items():
        files["metrics/" + key_to_filename(key)] = data
    if staged.output:
        files["logs/output.txt"] = staged.output
    files["params.yaml"] = params_yaml(summary.params).encode()
    record = {
        "format": FORMAT_VERSION,
        "id": meta["id"],
        "name": meta["name"],
        "experiment": meta["experiment"],
        "status": end["status"],
        "exit_code": end.get("exit_code"),
        "command": meta.get("command") or [],
        "entry_point": meta.get("entry_point"),
        "note": meta.get("note") or "",
        "reproduces": meta.get("reproduces"),
        "params": summary.params,
        "tags": summary.tags,
        "metrics": {key: m.to_json() for key, m in metric_summaries.items()},
        "start_ms": meta["start_ms"],
        "end_ms": end["end_ms"],
        "duration_ms": end["end_ms"] - meta["start_ms"],
        "user": meta.get("user"),
        "host": meta.get("host"),
        "python": meta.get("python"),
        "platform": meta.get("platform"),
        "base": meta["base"],
        "branch": meta.get("branch"),
        "dirty": dirty,
        "env_hash": meta.get("env_hash") or _env_hash(staged.env_files),
        "env_manager": meta.get("env_manager", "local"),
        "env_vars": meta.get("env_vars", {}),
        "artifacts": artifacts,
        "skipped": {
            "large": meta.get("skipped_large", []),
            "secret": meta.get("skipped_secret", []),
        },
    }
    files["run.json"] = json.dumps(record, indent=2, ensure_ascii=False).encode()
    return files


def _env_hash(env_files: dict[str, Path]) -> str | None:
    """Hash of the environment spec (conda.yaml), else of the installed packages."""
    if "conda.yaml" in env_files:
        from gitml.environment import spec_hash

        return spec_hash(env_files["conda.yaml"].read_text(errors="replace"))
    if "pip-freeze.txt" in env_files:
        return hashlib.sha256(env_files["pip-freeze.txt"].read_bytes()).hexdigest()
    return None


def _identity(repo: Repository):
    from gitml.store.objects import Identity

    name = os.environ.get("GIT_AUTHOR_NAME") or config_value(repo, "user", "name")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or config_value(repo, "user", "email")
    if not (name and email):
        global_name, global_email = _global_identity()
        name, email = name or global_name, email or global_email
    return Identity(name or FALLBACK_IDENTITY[0], email or FALLBACK_IDENTITY[1])


def _global_identity() -> tuple[str | None, str | None]:
    from dulwich.config import StackedConfig

    config = StackedConfig.default()

    def get(key: bytes) -> str | None:
        try:
            return config.get((b"user",), key).decode()
        except KeyError:
            return None

    return get(b"name"), get(b"email")


def _last_activity(path: Path) -> int:
    newest = max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0)
    return int(newest * 1000) or int(time.time() * 1000)


# recovery


def staged_runs(repo: Repository) -> list[Staging]:
    """Runs in progress (or abandoned) in this repository."""
    folder = runs_dir(repo.state_dir)
    if not folder.is_dir():
        return []
    return [Staging(p) for p in sorted(folder.iterdir()) if (p / "meta.json").exists()]


def is_abandoned(staging: Staging) -> bool:
    """True when neither gitml nor the script it started is still alive."""
    meta = staging.meta
    if process_alive(meta["owner_pid"], meta.get("owner_start")):
        return False
    child = staging.path / "child.json"
    if child.exists():
        info = json.loads(child.read_text())
        if process_alive(info["pid"], info.get("start")):
            return False
    return True


def recover_abandoned_runs(repo: Repository) -> list[RunSummary]:
    """Commit every run whose processes died without committing it (status `killed`
    unless its end was already written). Safe to call from several processes."""
    recovered = []
    claimed_dir = repo.state_dir / RECOVERING_DIR
    for staging in staged_runs(repo):
        try:
            if not is_abandoned(staging):
                continue
        except (OSError, ValueError, KeyError):
            continue
        claimed_dir.mkdir(parents=True, exist_ok=True)
        claimed = claimed_dir / f"{staging.path.name}.{os.getpid()}"
        try:
            os.rename(staging.path, claimed)  # atomic: one process wins the claim
        except OSError:
            continue
        recovered.append(commit_staged(repo, claimed))
    recovered.extend(_retry_stuck_claims(repo, claimed_dir))
    _remove_empty_leftovers(repo)
    return recovered


def _retry_stuck_claims(repo: Repository, claimed_dir: Path) -> list[RunSummary]:
    """Claims whose recovering process died are claimed again."""
    done = []
    if not claimed_dir.is_dir():
        return done
    for path in claimed_dir.iterdir():
        run_id, _, pid = path.name.partition(".")
        if not pid.isdigit() or int(pid) == os.getpid() or process_alive(int(pid), None):
            continue
        again = claimed_dir / f"{run_id}.{os.getpid()}"
        try:
            os.rename(path, again)
        except OSError:
            continue
        try:
            done.append(commit_staged(repo, again))
        except GitmlError:
            continue
    return done


def _remove_empty_leftovers(repo: Repository) -> None:
    """A crash between mkdir and writing meta.json leaves an empty folder."""
    folder = runs_dir(repo.state_dir)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            stale = path.is_dir() and time.time() - path.stat().st_mtime > 60
        except FileNotFoundError:
            continue  # claimed by a recovery running in another process meanwhile
        if stale and not (path / "meta.json").exists():
            shutil.rmtree(path, ignore_errors=True)
