"""A run in progress read as a record: what its staging folder holds, in the shape it
will have once committed (`gitml.tracking.commit` writes run.json from the same
`staged_record`).

Imported by the logging API (`get_run` in a script): Python 3.8 syntax, PEP 563, no
git library.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from gitml.envs import LOCAL
from gitml.errors import RunStateError
from gitml.store.cas.pointer import Pointer
from gitml.store.layout import ARTIFACTS_DIR, ENV_DIR, LOGS_DIR, METRICS_DIR, OUTPUT_FILE
from gitml.store.paths import tree_path_problem
from gitml.store.repository import Repository
from gitml.tracking.largefiles import MAX_POINTER_BYTES, is_artifact, object_blocks, pointer_in
from gitml.tracking.model import ArtifactEntry, RunRecord, StoredFile
from gitml.tracking.record import RUNNING, RunSummary
from gitml.tracking.staging import StagedRun, Staging, runs_dir


def staged_record(
    staged: StagedRun,
    end: dict | None,
    artifacts: list[ArtifactEntry] | None = None,
    dirty: bool | None = None,
    env_hash: str | None = None,
    snapshot_lost: bool = False,
) -> RunRecord:
    """The record of a staged run; `end` None means still running. What only committing
    learns (`dirty`, the environment's hash when the run did not say, whether the
    snapshot was lost) the commit passes in."""
    meta = staged.meta
    return RunRecord(
        id=meta["id"],
        name=meta["name"],
        experiment=meta["experiment"],
        status=end["status"] if end else RUNNING,
        start_ms=meta["start_ms"],
        exit_code=end.get("exit_code") if end else None,
        command=list(meta.get("command") or []),
        cwd=meta.get("cwd"),
        entry_point=meta.get("entry_point"),
        note=meta.get("note") or "",
        reproduces=meta.get("reproduces"),
        params=staged.params,
        tags=staged.tags,
        metrics=staged.metric_summaries(),
        end_ms=end["end_ms"] if end else None,
        user=meta.get("user"),
        host=meta.get("host"),
        python=meta.get("python"),
        platform=meta.get("platform"),
        base=meta.get("base"),
        branch=meta.get("branch"),
        dirty=dirty,
        env_hash=meta.get("env_hash") or env_hash,
        env_manager=meta.get("env_manager", LOCAL),
        env_vars=meta.get("env_vars", {}),
        artifacts=list(artifacts or []),
        skipped={"large": meta.get("skipped_large", []), "secret": meta.get("skipped_secret", [])},
        snapshot_lost=snapshot_lost,
    )


def staged_summary(staging: Staging) -> RunSummary:
    """What `gitml ls` lists of a run in progress (its artifacts are not read)."""
    return staged_record(staging.read(), None).summary()


def stored_artifact(name: str, path: Path) -> tuple[ArtifactEntry, bytes]:
    """The entry of artifact `name` (staged at `path`) and the bytes its blob holds: a
    symbolic link is stored as a link, its blob the target's text; an artifact stored by
    content is its pointer (the entry has the object's size, sha256 and store)."""
    link = os.readlink(path) if path.is_symlink() else None
    data = os.fsencode(link) if link is not None else path.read_bytes()
    pointer = pointer_in(data) if link is None else None
    if pointer is not None:
        return ArtifactEntry(name, pointer.size, pointer.sha256, None, pointer.store), data
    return ArtifactEntry(name, len(data), hashlib.sha256(data).hexdigest(), link), data


class StagedRunReader:
    """The reader of a run in progress: its staging folder (see `gitml.tracking.readers`)."""

    def __init__(self, repo: Repository, summary: RunSummary):
        self.summary = summary
        self.label = f"run {summary.name} ({summary.id})"
        self.repo = repo
        self._staging = Staging(runs_dir(repo.state_dir) / summary.id)
        self._metric_paths: dict | None = None  # the metric files found so far
        self._limit: int | None = None  # gitml.metricHistoryLimit, read once

    def record(self) -> RunRecord:
        staged = self._staging.read()
        artifacts = [stored_artifact(name, path)[0] for name, path in staged.artifacts.items()]
        return staged_record(staged, None, artifacts)

    def stored_record(self) -> RunRecord:
        return self.record()

    def stored_by_content(self, path: str) -> Pointer | None:
        """The pointer file `path` holds, when it is an artifact stored by content."""
        found = self._file(path) if is_artifact(path) else None
        if found is None or found.is_symlink() or found.stat().st_size > MAX_POINTER_BYTES:
            return None
        return pointer_in(found.read_bytes())

    def metric_keys(self) -> list[str]:
        self._metric_paths = self._staging.metric_files()
        return sorted(self._metric_paths)

    def metric_points(self, key: str) -> Iterator:
        """Chunks of the points of metric `key` (see `gitml.tracking.points`); a last
        line still being written is left out. MetricTooLargeError when its file is over
        gitml.metricHistoryLimit (the run's writer keeps it within, unless the limit was
        lowered since)."""
        from gitml.tracking.points import file_blocks, parse_blocks

        path = self._metric_path(key)
        if path is None:
            return iter(())
        self._check_size(key, path)
        return parse_blocks(file_blocks(path), keep_last_line=False)

    def check_metric_sizes(self, keys: list[str]) -> None:
        for key in keys:
            path = self._metric_path(key)
            if path is not None:
                self._check_size(key, path)

    def _metric_path(self, key: str) -> Path | None:
        if self._metric_paths is None or key not in self._metric_paths:  # logged since
            self._metric_paths = self._staging.metric_files()
        return self._metric_paths.get(key)

    def _check_size(self, key: str, path: Path) -> None:
        from gitml.tracking.limits import metric_history_limit
        from gitml.tracking.points import check_history_size

        if self._limit is None:
            self._limit = metric_history_limit(self.repo)
        check_history_size(self.label, key, path.stat().st_size, self._limit)

    def metric_blob(self, key: str) -> str | None:
        """None: a metric of a run in progress still grows."""
        return None

    def artifact_files(self, folder: str = "") -> list[StoredFile]:
        """The artifacts logged so far: all, or the file or folder `folder`."""
        return [
            StoredFile(name, path.is_symlink(), _blob_id(path))
            for name, path in self._staging.artifact_paths().items()
            if not folder or name == folder or name.startswith(folder.rstrip("/") + "/")
        ]

    def file_blocks(self, path: str) -> Iterator[bytes] | None:
        """The content of the run's file `path` (as `.gitml/` holds it once committed:
        `artifacts/…`, `env/…`, `metrics/…`, `logs/output.txt`); None if it has none."""
        found = self._file(path)
        if found is None:
            return None
        if found.is_symlink():
            return iter([os.fsencode(os.readlink(found))])
        pointer = self.stored_by_content(path)
        if pointer is not None:
            return object_blocks(self.repo, pointer, path[len(ARTIFACTS_DIR) + 1 :])
        from gitml.tracking.points import file_blocks

        return file_blocks(found)

    def read_file(self, path: str, limit: int | None = None) -> bytes | None:
        """The content of file `path` (see `file_blocks`); None if it is missing or over
        `limit` bytes."""
        found = self._file(path)
        if found is None:
            return None
        if found.is_symlink():
            data = os.fsencode(os.readlink(found))
            return data if limit is None or len(data) <= limit else None
        pointer = self.stored_by_content(path)
        if pointer is not None:
            if limit is not None and pointer.size > limit:
                return None
            return b"".join(object_blocks(self.repo, pointer, path[len(ARTIFACTS_DIR) + 1 :]))
        if limit is not None and found.stat().st_size > limit:
            return None
        return found.read_bytes()

    def require_ended(self, action: str) -> None:
        """A run in progress is refused, saying what the caller wanted to do with it
        (`action`, e.g. "push it")."""
        raise self._in_progress(action)

    def commit_for(self, action: str) -> str:
        """A run in progress has no commit yet (see `require_ended`)."""
        raise self._in_progress(action)

    def _in_progress(self, action: str) -> RunStateError:
        name = self.summary.name
        return RunStateError(f"run {name} is still running; {action} once it has ended")

    def close(self) -> None:
        pass

    def __enter__(self) -> StagedRunReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _file(self, path: str) -> Path | None:
        """Where file `path` of the record is staged: never through a symbolic link."""
        if tree_path_problem(path):
            return None
        folder, _, rest = path.partition("/")
        if path == f"{LOGS_DIR}/{OUTPUT_FILE}":
            candidate = self._staging.path / OUTPUT_FILE
        elif folder in (ARTIFACTS_DIR, ENV_DIR, METRICS_DIR) and rest:
            candidate = self._staging.path / path
        else:
            return None
        base = self._staging.path
        for parent in list(candidate.relative_to(base).parents)[:-1]:
            if (base / parent).is_symlink() or not (base / parent).is_dir():
                return None
        if candidate.is_symlink() or candidate.is_file():
            return candidate
        return None


def _blob_id(path: Path) -> str:
    """The id git gives the blob of a staged file (a link: its target's text)."""
    if path.is_symlink():
        data = os.fsencode(os.readlink(path))
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
