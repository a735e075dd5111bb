"""Reading a run, whatever its state: one protocol, two readers.

`open_run` picks the reader: a run in progress is read from its staging folder
(`gitml.tracking.staged.StagedRunReader`), a committed run from its commit through one
`git cat-file` process (`gitml.tracking.committed.CommittedRunReader`). Callers never
ask which: both give the run's summary, its record, its metric points (a chunk at a
time), the files it holds and their bytes (those of an artifact stored by content,
outside git, downloaded when needed: `gitml.tracking.largefiles`), and, for what only
an ended run allows (pushing it, registering it, comparing its code), an error saying
so while it runs.

Imported by the logging API (`get_run` in a script): Python 3.8 syntax, PEP 563.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from gitml.store.cas.pointer import Pointer
from gitml.store.repository import Repository
from gitml.tracking.model import RunRecord, StoredFile
from gitml.tracking.record import RunSummary

if TYPE_CHECKING:
    from gitml.store.blobs import ObjectReader


class RunReader(Protocol):
    repo: Repository  # the repository it reads
    summary: RunSummary  # what `gitml ls` lists of the run
    label: str  # "run <name> (<id>)", for messages

    def record(self) -> RunRecord:
        """Everything recorded about the run, with the files its snapshot changed."""

    def stored_record(self) -> RunRecord:
        """The record as stored, without the files its snapshot changed (no diff made)."""

    def metric_keys(self) -> list[str]:
        """The keys of the metrics it logged, sorted."""

    def metric_points(self, key: str) -> Iterator:
        """The points of metric `key` in logging order, a chunk (steps, values, unix ms:
        `gitml.tracking.points.Chunk`) at a time, in memory that does not grow with them;
        lines that are no point are left out. MetricTooLargeError, before any of it is
        read, when its file is over gitml.metricHistoryLimit."""

    def check_metric_sizes(self, keys: list[str]) -> None:
        """MetricTooLargeError when the file of one of metrics `keys` is over
        gitml.metricHistoryLimit, none of them read: before writing any history out (a
        refusal halfway would leave output half-written), or reading a file otherwise
        than through `metric_points`."""

    def metric_blob(self, key: str) -> str | None:
        """The blob id of metric `key`'s file, which names its points for good (a cache
        may keep them under it); None while the run is in progress (its file grows) or
        when it has no such metric."""

    def artifact_files(self, folder: str = "") -> list[StoredFile]:
        """The files the run holds under `artifacts/`: all, or the file or folder `folder`."""

    def file_blocks(self, path: str) -> Iterator[bytes] | None:
        """The bytes of the run's file `path` (`artifacts/…`, `env/…`, `metrics/…`,
        `logs/output.txt`, as in its commit's `.gitml/`), a block at a time; None if
        it has no such file."""

    def read_file(self, path: str, limit: int | None = None) -> bytes | None:
        """The bytes of file `path` (see `file_blocks`); None if missing or over `limit`."""

    def stored_by_content(self, path: str) -> Pointer | None:
        """The pointer of artifact file `path` (`artifacts/…`) when it is stored by
        content, outside git (`file_blocks` and `read_file` give the object's bytes,
        downloaded when this repository lacks them); None for any other file."""

    def require_ended(self, action: str) -> None:
        """RunStateError while the run is in progress, saying what the caller wanted to
        `action` ("push it"): "run X is still running; push it once it has ended"."""

    def commit_for(self, action: str) -> str:
        """The run's commit, to read its code: RunStateError while the run is in
        progress (see `require_ended`), or when the run is damaged and its ref names no
        commit (a ref fetched from a remote may name a tree or a blob)."""

    def close(self) -> None: ...

    def __enter__(self) -> RunReader: ...

    def __exit__(self, *exc) -> None: ...


def open_run(
    repo: Repository, run: str | RunSummary, objects: ObjectReader | None = None
) -> RunReader:
    """The reader of run `run`: a summary, or what a user typed (an id, id prefix or
    name; RunNotFoundError when it names none). `objects`, when given, is the reader of
    the repository's objects a committed run is read through (one git process shared by
    many runs read in turn; left open)."""
    if isinstance(run, str):
        from gitml.tracking.catalog import resolve

        run = resolve(repo, run)
    if run.sha is None:
        from gitml.tracking.staged import StagedRunReader

        return StagedRunReader(repo, run)
    from gitml.tracking.committed import CommittedRunReader

    return CommittedRunReader(repo, run, objects)


def read_record(repo: Repository, run: str | RunSummary) -> RunRecord:
    """Everything recorded about run `run` (see `open_run`)."""
    with open_run(repo, run) as reader:
        return reader.record()


MODEL_FILE = "MLmodel"  # a folder holding it at its top is a model


def model_folders(repo: Repository, runs: list[RunSummary]) -> dict[str, list[str]]:
    """The artifact folders at the top of each run that hold a model (an `MLmodel`
    file), by run id: committed runs read through one `git cat-file` process, runs in
    progress from their staging folders. A folder whose name gitml would refuse as an
    artifact name (from a fetched tree) is left out."""
    from gitml.errors import ArtifactError
    from gitml.store.blobs import ObjectReader
    from gitml.store.layout import ARTIFACTS_DIR, RECORD_DIR
    from gitml.store.refs import MAX_MESSAGE_BYTES
    from gitml.tracking.staging import check_artifact_name, runs_dir

    def kept(names: list[str]) -> list[str]:
        found = []
        for name in sorted(names):
            try:
                found.append(check_artifact_name(name))
            except ArtifactError:
                continue
        return found

    found: dict[str, list[str]] = {}
    with ObjectReader(repo) as objects:
        for run in runs:
            if run.sha is None:
                folder = runs_dir(repo.state_dir) / run.id / ARTIFACTS_DIR
                models = [p.parent.name for p in folder.glob(f"*/{MODEL_FILE}") if p.is_file()]
                found[run.id] = kept(models)
                continue
            commit = objects.commit(run.sha, MAX_MESSAGE_BYTES)
            tree = [] if commit is None else objects.tree(commit.tree) or []
            for part in (RECORD_DIR, ARTIFACTS_DIR):
                entry = next((e for e in tree if e.name == part and e.is_tree), None)
                tree = [] if entry is None else objects.tree(entry.id) or []
            models = [
                entry.name
                for entry in tree
                if entry.is_tree
                and any(e.name == MODEL_FILE and e.is_file for e in objects.tree(entry.id) or [])
            ]
            found[run.id] = kept(models)
    return found
