"""The reader of a committed run: its commit on `refs/gitml/runs/<id>`, read through
one `git cat-file --batch` process (`gitml.store.blobs.ObjectReader`).

Everything in a run's tree may come from a remote: trees are walked by gitml, not by
git (no path of theirs reaches git), each file is read within a bound or a block at a
time, and a record gitml cannot read makes the run DAMAGED, never an error.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import replace

from gitml.documents import load_json
from gitml.errors import DocumentError, RecordError, RunStateError, UnsafePathError
from gitml.store.blobs import ObjectReader, TreeEntry
from gitml.store.cas.pointer import Pointer
from gitml.store.layout import (
    ARTIFACTS_DIR,
    RECORD_ARTIFACTS,
    RECORD_DIR,
    RECORD_METRICS,
    RUN_FILE,
    record_path,
)
from gitml.store.refs import MAX_MESSAGE_BYTES
from gitml.store.repository import Repository
from gitml.tracking.largefiles import MAX_POINTER_BYTES, is_artifact, object_blocks, pointer_in
from gitml.tracking.model import ChangedFile, RunRecord, StoredFile
from gitml.tracking.record import (
    ENDED,
    MAX_RECORD_BYTES,
    RunSummary,
    filename_to_key,
    parse_message,
    shown,
)

MAX_DEPTH = 1000  # folders in folders; deeper is refused (paths would grow without end)


class CommittedRunReader:
    """The reader of a committed run (see `gitml.tracking.readers`)."""

    def __init__(self, repo: Repository, summary: RunSummary, objects: ObjectReader | None = None):
        """`objects`, when given, is a reader of the repository's objects to share (one
        git process reading many runs in turn); it is left open at close."""
        if summary.sha is None:
            raise ValueError(f"run {summary.id} has no commit to read")
        self.summary = summary
        self._commit = summary.sha
        self.label = f"run {summary.name or summary.id} ({summary.id})"
        self.repo = repo
        self._own_objects = objects is None
        self._objects = ObjectReader(repo) if objects is None else objects
        self._pointers: dict[str, Pointer | None] = {}  # blob id → the pointer it holds
        self._trees: dict[str, list[TreeEntry]] = {}  # the trees read so far, by id
        self._stored: RunRecord | None = None
        self._metrics: dict[str, str] | None = None  # metric key → blob id, read once
        self._limit: int | None = None  # gitml.metricHistoryLimit, read once

    # the record

    def record(self) -> RunRecord:
        """run.json, checked (see `stored_record`), with the files the run changed."""
        return replace(self.stored_record(), files_changed=self._files_changed())

    def stored_record(self) -> RunRecord:
        """The record in the run's run.json. A run fetched from a remote may hold none, or
        one too large, not JSON, nested too deep, of the wrong shape or of another run:
        the summary's fields then stand in for the record, and its status is DAMAGED with
        the reason in `damage` (as for a run whose trailers are)."""
        if self._stored is None:
            self._stored = self._read_record()
        return self._stored

    def _read_record(self) -> RunRecord:
        summary = self.summary
        where = record_path(RUN_FILE)
        try:
            entry = self._entry(where)
        except RunStateError:  # its ref names no commit: the listing said why
            return RunRecord.standing_in_for(summary).damaged("its commit cannot be read")
        found = self._objects.read(entry.id, MAX_RECORD_BYTES) if entry else None
        problem = None
        if found is None or found.kind != "blob":
            problem = f"it has no {where}"
        elif found.data is None:
            problem = f"its {where} is {found.size:,} bytes, more than gitml reads"
        else:
            try:
                record = RunRecord.from_json(load_json(found.data, where))
            except DocumentError as error:
                problem = f"its {error}"
            except RecordError as error:
                problem = f"its {where} {error}"
            else:
                if record.id != summary.id:
                    problem = f"its {where} is the record of run {shown(record.id)}"
                elif record.status not in ENDED:
                    problem = f"its {where} has the status {shown(record.status)}"
        if problem is not None:
            return RunRecord.standing_in_for(summary).damaged(problem)
        record = replace(record, commit=summary.sha, damage=None, files_changed=[])
        return record if summary.damage is None else record.damaged(summary.damage)

    def _files_changed(self) -> list[ChangedFile]:
        """Files the run's snapshot changed against its base (`.gitml/` left out), as
        `git diff --name-status` lists them; none when the base a damaged run names is
        not in the repository."""
        try:
            root = self._root_tree()
        except RunStateError:
            return []
        base = None
        if self.summary.base:
            commit = self._objects.commit(self.summary.base)
            if commit is None:
                return []
            base = commit.tree
        changes: list[ChangedFile] = []
        pending: list[tuple[str, str | None, str | None]] = [("", base, root)]
        while pending:
            prefix, old, new = pending.pop()
            if prefix.count("/") > MAX_DEPTH:
                continue  # a tree fetched from a remote may nest without end
            before = {e.name: e for e in self._objects.tree(old) or []} if old else {}
            after = {e.name: e for e in self._objects.tree(new) or []} if new else {}
            for name in before.keys() | after.keys():
                if not prefix and name == RECORD_DIR:
                    continue
                a, b = before.get(name), after.get(name)
                if a is not None and b is not None and (a.id, a.mode) == (b.id, b.mode):
                    continue
                path = prefix + name
                if a is not None and b is not None and a.is_tree and b.is_tree:
                    pending.append((path + "/", a.id, b.id))
                    continue
                if a is not None and b is not None and not a.is_tree and not b.is_tree:
                    kind = "M" if stat.S_IFMT(a.mode) == stat.S_IFMT(b.mode) else "T"
                    changes.append(ChangedFile(kind, path))
                    continue
                if a is not None:  # removed, or replaced by what b is
                    if a.is_tree:
                        pending.append((path + "/", a.id, None))
                    else:
                        changes.append(ChangedFile("D", path))
                if b is not None:
                    if b.is_tree:
                        pending.append((path + "/", None, b.id))
                    else:
                        changes.append(ChangedFile("A", path))
        return sorted(changes, key=lambda c: c.path.encode(errors="surrogateescape"))

    # metrics

    def metric_keys(self) -> list[str]:
        return sorted(self._metric_files())

    def metric_points(self, key: str) -> Iterator:
        """Chunks of the points of metric `key` (see `gitml.tracking.points`), a block of
        its file at a time; MetricTooLargeError, before any of it is read, when its file
        is over gitml.metricHistoryLimit."""
        from gitml.tracking.points import check_history_size, parse_blocks

        blob = self._metric_files().get(key)
        if blob is None:
            return iter(())
        limit = self._metric_limit()
        size, blocks = self._objects.sized_blocks(blob, limit)
        check_history_size(self.label, key, size, limit)
        assert blocks is not None  # within the limit
        return parse_blocks(blocks, True)

    def check_metric_sizes(self, keys: list[str]) -> None:
        from gitml.tracking.points import check_history_size

        files = self._metric_files()
        blobs = {key: files[key] for key in keys if key in files}
        sizes = self._objects.sizes(list(blobs.values()))
        for key, blob in blobs.items():
            check_history_size(self.label, key, sizes.get(blob, 0), self._metric_limit())

    def _metric_limit(self) -> int:
        if self._limit is None:
            from gitml.tracking.limits import metric_history_limit

            self._limit = metric_history_limit(self.repo)
        return self._limit

    def metric_blob(self, key: str) -> str | None:
        return self._metric_files().get(key)

    def _metric_files(self) -> dict[str, str]:
        """metric key → blob id of each file directly in `.gitml/metrics/`; read once, as
        every key's points are asked for in turn (3,000 metrics took 100 s)."""
        if self._metrics is None:
            folder = self._entry(RECORD_METRICS)
            entries = (self._objects.tree(folder.id) or []) if folder and folder.is_tree else []
            self._metrics = {filename_to_key(e.name): e.id for e in entries if stat.S_ISREG(e.mode)}
        return self._metrics

    # files

    def artifact_files(self, folder: str = "") -> list[StoredFile]:
        """What the run's tree holds under `.gitml/artifacts/`: all of it, or the file or
        folder `folder`."""
        start = self._entry(f"{RECORD_ARTIFACTS}/{folder}" if folder else RECORD_ARTIFACTS)
        if start is None:
            return []
        if not start.is_tree:
            return [_stored(folder, start)] if start.is_file else []
        prefix = f"{folder}/" if folder else ""
        return [_stored(prefix + path, entry) for path, entry in self._walk(start.id, folder)]

    def stored_by_content(self, path: str) -> Pointer | None:
        """The pointer file `.gitml/<path>` holds, when it is an artifact stored by
        content (see `gitml.tracking.largefiles`)."""
        entry = self._entry(record_path(path)) if is_artifact(path) else None
        if entry is None or not stat.S_ISREG(entry.mode):
            return None
        if entry.id not in self._pointers:
            found = self._objects.read(entry.id, MAX_POINTER_BYTES, "blob")
            self._pointers[entry.id] = pointer_in(found.data if found else None)
        return self._pointers[entry.id]

    def file_blocks(self, path: str) -> Iterator[bytes] | None:
        """The content of file `.gitml/<path>` (a link: its target's text; an artifact
        stored by content: the object's), a block at a time; None if the run has no such
        file."""
        entry = self._entry(record_path(path))
        if entry is None or not entry.is_file:
            return None
        pointer = self.stored_by_content(path)
        if pointer is not None:
            return object_blocks(self.repo, pointer, path[len(ARTIFACTS_DIR) + 1 :])
        return self._objects.blocks(entry.id)

    def read_file(self, path: str, limit: int | None = None) -> bytes | None:
        """The content of file `.gitml/<path>` (see `file_blocks`); None if it is missing
        or over `limit`."""
        entry = self._entry(record_path(path))
        if entry is None or not entry.is_file:
            return None
        pointer = self.stored_by_content(path)
        if pointer is not None:
            if limit is not None and pointer.size > limit:
                return None
            return b"".join(object_blocks(self.repo, pointer, path[len(ARTIFACTS_DIR) + 1 :]))
        found = self._objects.read(entry.id, limit)
        return None if found is None or found.kind != "blob" else found.data

    def require_ended(self, action: str) -> None:
        """A committed run has ended."""

    def commit_for(self, action: str) -> str:
        """The run's commit; RunStateError when the run is damaged and its ref names no
        commit."""
        if self.summary.damage is not None:
            try:
                self._root_tree()
            except RunStateError:
                summary = self.summary
                raise RunStateError(
                    f"cannot {action}: run {summary.id} is damaged ({summary.damage})"
                ) from None
        return self._commit

    # the tree

    def _root_tree(self) -> str:
        """The run commit's tree; RunStateError when the run's ref names no commit (a
        damaged run: a ref fetched from a remote may name a tree or a blob)."""
        if "" not in self._trees:
            commit = self._objects.commit(self._commit, MAX_MESSAGE_BYTES)
            self._trees[""] = [] if commit is None else [TreeEntry("", 0o40000, commit.tree)]
        if not self._trees[""]:
            reason = self.summary.damage or "its commit cannot be read"
            raise RunStateError(f"cannot read {self.label}: it is damaged ({reason})")
        return self._trees[""][0].id

    def _tree(self, tree_id: str) -> list[TreeEntry]:
        if tree_id not in self._trees:
            self._trees[tree_id] = self._objects.tree(tree_id) or []
        return self._trees[tree_id]

    def _entry(self, path: str) -> TreeEntry | None:
        """The entry at `path` (posix, from the run's root), or None."""
        tree: str | None = self._root_tree()
        entry = None
        for part in path.split("/"):
            if tree is None:
                return None
            entry = next((e for e in self._tree(tree) if e.name == part), None)
            if entry is None:
                return None
            tree = entry.id if entry.is_tree else None
        return entry

    def _walk(self, tree: str, where: str) -> Iterator[tuple[str, TreeEntry]]:
        """(path, entry) of every file and link under `tree`, in the tree's order."""
        stack = [("", iter(self._objects.tree(tree) or []))]
        while stack:
            prefix, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
            elif entry.is_tree:
                if len(stack) > MAX_DEPTH:
                    raise UnsafePathError(
                        f"{where}/{prefix}…", "nests folders deeper than gitml reads", self.label
                    )
                stack.append((f"{prefix}{entry.name}/", iter(self._objects.tree(entry.id) or [])))
            elif entry.is_file:
                yield prefix + entry.name, entry

    def close(self) -> None:
        if self._own_objects:
            self._objects.close()

    def __enter__(self) -> CommittedRunReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stored(path: str, entry: TreeEntry) -> StoredFile:
    return StoredFile(path, stat.S_ISLNK(entry.mode), entry.id)


def summary_of_commit(repo: Repository, commit: str) -> RunSummary | None:
    """The run summary a commit's trailers carry (a commit a registry tag names); None
    when it carries none, or when the repository has no such commit."""
    with ObjectReader(repo) as objects:
        found = objects.commit(commit, MAX_MESSAGE_BYTES)
    if found is None or found.message is None:
        return None
    return parse_message(found.message.decode(errors="replace"), commit)
