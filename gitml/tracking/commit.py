"""Turn a run's staging folder into a commit on `refs/gitml/runs/<id>`.

The commit's tree is the snapshot taken at start plus `.gitml/` holding the
record (docs/format.md); its message carries the summary `gitml ls` reads.
"""

import hashlib
import json
import shutil
import time
from pathlib import Path

from gitml.store.layout import (
    ARTIFACTS_DIR,
    ENV_DIR,
    ENV_FREEZE_FILE,
    LOGS_DIR,
    METRICS_DIR,
    OUTPUT_FILE,
    PARAMS_FILE,
    RECORD_DIR,
    RUN_FILE,
)
from gitml.store.refs import (
    RefExistsError,
    break_stale_lock,
    create_ref,
    remove_ref,
    resolve_ref,
    run_ref,
    snapshot_ref,
)
from gitml.store.repository import Repository, start_auto_gc
from gitml.tracking.identity import user_identity
from gitml.tracking.index import record_run
from gitml.tracking.model import ArtifactEntry
from gitml.tracking.record import RunSummary, build_message, key_to_filename
from gitml.tracking.staged import staged_record, stored_artifact
from gitml.tracking.staging import StagedRun, Staging

# Run objects are written loose, and only git's porcelain runs `gc --auto`; gitml
# starts it (in the background) after about one run in 32: ids end in random chars.
AUTO_GC_CHARS = "0"


def commit_staged(repo: Repository, path: Path) -> RunSummary:
    """Turn a staging folder into a commit on refs/gitml/runs/<id>, then remove it."""
    from gitml.store.objects import ObjectStore

    staged = Staging(path).read()
    meta = staged.meta
    end = staged.end or {"status": "killed", "exit_code": None, "end_ms": _last_activity(path)}
    with ObjectStore(repo) as store:
        base = meta["base"]
        snapshot_tree = meta["snapshot_tree"].encode()
        snapshot_lost = not store.has(snapshot_tree)
        if snapshot_lost:  # pruned while the run went on, by a gitml too old to protect it
            snapshot_tree = (
                store.commit(base.encode()).tree if base else store.write_tree_of_files({})
            )
        files, artifacts = _record_files(staged)
        record = staged_record(
            staged,
            end,
            artifacts,
            dirty=base is None or store.commit(base.encode()).tree != snapshot_tree,
            env_hash=None if meta.get("env_hash") else _env_hash(staged.env_files),
            snapshot_lost=snapshot_lost,
        )
        stored = json.dumps(record.to_json(stored=True), indent=2, ensure_ascii=False)
        files[RUN_FILE] = stored.encode()
        links = frozenset(f"{ARTIFACTS_DIR}/{entry.path}" for entry in artifacts if entry.link)
        record_tree = store.write_tree_of_files(files, links)
        root = store.with_entry(snapshot_tree, RECORD_DIR, record_tree)
        summary = record.summary()
        commit = store.write_commit(
            tree=root,
            parents=[base.encode()] if base else [],
            message=build_message(summary, record.note),
            author=user_identity(repo),
            when=end["end_ms"] / 1000,
        )
    written = commit
    commit = _create_run_ref(repo, meta, commit)
    remove_ref(repo, snapshot_ref(meta["id"]))  # the run's commit holds the snapshot now
    summary.sha = commit.decode()
    if commit == written:  # else committed before a crash: its ref's commit is the run
        record_run(repo, summary)
    shutil.rmtree(path, ignore_errors=True)
    if meta["id"][-1] in AUTO_GC_CHARS:
        start_auto_gc(repo)
    return summary


def _create_run_ref(repo: Repository, meta: dict, commit: bytes) -> bytes:
    """Point the run's ref at `commit`, or return the commit it points at already (the
    run was committed before a crash that kept its folder: the ref is the truth)."""
    ref = run_ref(meta["id"])
    message = f"gitml: run {meta['name']}"
    try:
        create_ref(repo, ref, commit.decode(), message=message)
        return commit
    except RefExistsError:
        existing = resolve_ref(repo, ref)
    if existing is not None:
        return existing.encode()
    # Only a lock is there: a commit of this run was killed between taking the ref's
    # lock and renaming it. This process owns the run's commit now; the lock is stale.
    break_stale_lock(repo, ref)
    create_ref(repo, ref, commit.decode(), message=message)
    return commit


def params_yaml(params: dict[str, str]) -> str:
    """Params as YAML without a YAML library: JSON strings are YAML double-quoted scalars."""
    return "".join(
        f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}\n"
        for key, value in sorted(params.items())
    )


def _record_files(staged: StagedRun) -> tuple[dict[str, bytes], list[ArtifactEntry]]:
    """The files of `.gitml/` but run.json, and the entries of the artifacts among them."""
    files: dict[str, bytes] = {}
    artifacts = []
    for name, source in staged.artifacts.items():
        entry, data = stored_artifact(name, source)
        files[f"{ARTIFACTS_DIR}/{name}"] = data
        artifacts.append(entry)
    for name, source in staged.env_files.items():
        files[f"{ENV_DIR}/{name}"] = source.read_bytes()
    for key, data in staged.metrics.items():
        files[f"{METRICS_DIR}/{key_to_filename(key)}"] = data
    if staged.output:
        files[f"{LOGS_DIR}/{OUTPUT_FILE}"] = staged.output
    files[PARAMS_FILE] = params_yaml(staged.params).encode()
    return files, artifacts


def _env_hash(env_files: dict[str, Path]) -> str | None:
    """Hash of the environment spec (conda.yaml), else of the installed packages."""
    if "conda.yaml" in env_files:
        from gitml.tracking.environment import spec_hash

        return spec_hash(env_files["conda.yaml"].read_text(errors="replace"))
    if ENV_FREEZE_FILE in env_files:
        return hashlib.sha256(env_files[ENV_FREEZE_FILE].read_bytes()).hexdigest()
    return None


def _last_activity(path: Path) -> int:
    newest = max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0)
    return int(newest * 1000) or int(time.time() * 1000)
