"""Archive commits, the second tier of runs: their one grammar (docs/format.md,
"Archived runs").

Old runs are folded into archive commits on a few refs, `refs/gitml/archive/<bucket>`
(`gitml.store.refs`). An archive commit's parents are first the archive commits it
follows (none for a bucket's first, one, or two for the merge of a bucket archived on
two machines), then the run commits it holds, so every run commit stays reachable and
keeps its sha. Its tree holds:

- `archive.json`: `{"format": 1, "previous": [<sha>, …]}`, the archive parents;
- `runs.jsonl`: a line per run it folds, `{"id": …, "sha": …, "message": …}`, the
  message being the run commit's own (its summary, as trailers);
- `removed.jsonl`: a line per run removed from the archive (`gitml rm`, `gitml gc`),
  `{"id": …, "sha": …}`: a tombstone, which hides that run whichever archive holds it.

An archive commit fetched from a remote is hostile: one whose files are malformed or
too large, or a line naming a run that is not among its parents, is left out with a
reason (`Archive.problems`), never an error; its other lines still count. Past
MAX_RUNS runs (or tombstones), more than a writer puts in one, the rest are left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from gitml.documents import load_json
from gitml.errors import DocumentError
from gitml.store.blobs import ObjectReader
from gitml.store.ids import is_ref_run_id
from gitml.tracking.record import RunSummary, parse_message

FORMAT = 1
HEAD_FILE = "archive.json"
RUNS_FILE = "runs.jsonl"
REMOVED_FILE = "removed.jsonl"
MAX_RUNS = 5000  # runs per archive commit written (a fold of more makes a chain)
MAX_FILE_BYTES = 64 << 20  # a runs.jsonl or removed.jsonl over this is not read
MAX_HEAD_BYTES = 4 << 20  # the commit (its parents: up to MAX_RUNS and more)
MAX_PREVIOUS = 16
_MAX_PROBLEMS = 5  # reasons kept per archive commit (then a count)
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class FoldedRun:
    id: str
    sha: str
    message: str  # the run commit's message


@dataclass
class Archive:
    """What an archive commit says, as far as it holds."""

    sha: str
    previous: list[str] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (run id, commit sha)
    problems: list[str] = field(default_factory=list)

    def problem(self, reason: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(reason)
        elif len(self.problems) == _MAX_PROBLEMS:
            self.problems.append("more problems left unsaid")


# building


def archive_files(
    previous: list[str], runs: list[FoldedRun], removed: list[tuple[str, str]]
) -> dict[str, bytes]:
    """The files of an archive commit's tree (the inverse of `read_archive`)."""
    head = {"format": FORMAT, "previous": previous}
    files = {HEAD_FILE: json.dumps(head).encode()}
    if runs:
        files[RUNS_FILE] = _lines(
            {"id": run.id, "sha": run.sha, "message": run.message} for run in runs
        )
    if removed:
        files[REMOVED_FILE] = _lines({"id": run_id, "sha": sha} for run_id, sha in removed)
    return files


def archive_parents(previous: list[str], runs: list[FoldedRun]) -> list[str]:
    return [*previous, *(run.sha for run in runs)]


def archive_message(runs: int, removed: int, merged: bool = False) -> str:
    if merged:
        return "gitml archive: merge\n"
    parts = [f"{runs} runs folded"] if runs else []
    parts += [f"{removed} runs removed"] if removed else []
    return f"gitml archive: {', '.join(parts) or 'nothing'}\n"


def _lines(items) -> bytes:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items).encode()


# reading


def read_archive(objects: ObjectReader, sha: str) -> Archive:
    """What archive commit `sha` says (see the module's docstring); never raises for
    what it holds."""
    archive = Archive(sha)
    head = _read_head(objects, archive)
    if head is None:
        return archive
    files, parents = head
    held = set(parents[len(archive.previous) :])
    seen: set[str] = set()
    for line in _read_lines(objects, files.get(RUNS_FILE), archive, RUNS_FILE):
        run_id, run_sha, message = line.get("id"), line.get("sha"), line.get("message")
        if not _is_run(run_id, run_sha) or not isinstance(message, str):
            archive.problem(f"a line of its {RUNS_FILE} is malformed")
        elif run_sha not in held:
            archive.problem(f"it lists run {run_id} without holding its commit {run_sha[:12]}")
        elif len(seen) == MAX_RUNS:
            archive.problem(f"it lists more than {MAX_RUNS} runs: the others are left out")
            break
        elif run_id not in seen:
            seen.add(run_id)
            summary = parse_message(message, run_sha, run_id)
            assert summary is not None  # a message read under a run id always says something
            archive.runs.append(summary)
    for line in _read_lines(objects, files.get(REMOVED_FILE), archive, REMOVED_FILE):
        run_id, run_sha = line.get("id"), line.get("sha")
        if len(archive.removed) == MAX_RUNS:
            archive.problem(f"it removes more than {MAX_RUNS} runs: the others are left out")
            break
        if _is_run(run_id, run_sha):
            archive.removed.append((run_id, run_sha))
        else:
            archive.problem(f"a line of its {REMOVED_FILE} is malformed")
    return archive


def read_previous(objects: ObjectReader, sha: str) -> list[str]:
    """The archive commits archive commit `sha` follows (none when it is not one): what
    walking the archives needs, without reading the runs they hold."""
    archive = Archive(sha)
    _read_head(objects, archive)
    return archive.previous


def _read_head(objects: ObjectReader, archive: Archive) -> tuple[dict[str, str], list[str]] | None:
    """The files of `archive`'s commit (name → blob) and its parents, its `previous` set
    from its archive.json; None (and a problem said) when it is no archive commit."""
    commit = objects.commit(archive.sha, MAX_HEAD_BYTES)
    if commit is None or commit.message is None:
        archive.problem("it is no archive commit (missing, not a commit, or too large)")
        return None
    entries = objects.tree(commit.tree)
    files = {entry.name: entry.id for entry in entries or [] if entry.is_file}
    head = _read_json(objects, files.get(HEAD_FILE), MAX_HEAD_BYTES)
    previous = head.get("previous") if isinstance(head, dict) else None
    if (
        not isinstance(head, dict)
        or head.get("format") != FORMAT
        or not isinstance(previous, list)
        or len(previous) > MAX_PREVIOUS
        or previous != commit.parents[: len(previous)]
    ):
        archive.problem(f"its {HEAD_FILE} is missing or malformed, or does not match its parents")
        return None
    archive.previous = previous
    return files, commit.parents


def walk_archives(
    objects: ObjectReader, tips: set[str], known: set[str]
) -> tuple[list[str], set[str]]:
    """The archive commits `tips` reach that are not `known`, each after those it
    follows, and the known ones met on the way. Only their heads are read here."""
    previous: dict[str, list[str]] = {}
    order: list[str] = []
    met: set[str] = set()
    stack = [(sha, False) for sha in sorted(tips)]
    while stack:
        sha, done = stack.pop()
        if done:
            order.append(sha)
        elif sha in known:
            met.add(sha)
        elif sha not in previous:
            previous[sha] = read_previous(objects, sha)
            stack.append((sha, True))
            stack.extend((parent, False) for parent in previous[sha])
    return order, met


def held_runs(objects: ObjectReader, tips: set[str]) -> dict[str, str]:
    """run id → commit of every run the archive commits `tips` hold, as the run index
    reads them: each in the oldest archive that lists it, none a tombstone removes.
    Archive commits are read one at a time (a million runs' summaries are gigabytes)."""
    order, _ = walk_archives(objects, tips, set())
    held: dict[str, str] = {}
    removed: set[tuple[str, str]] = set()
    for sha in order:
        archive = read_archive(objects, sha)
        removed.update(archive.removed)
        for run in archive.runs:
            held.setdefault(run.id, str(run.sha))
    return {run_id: sha for run_id, sha in held.items() if (run_id, sha) not in removed}


def _is_run(run_id: object, sha: object) -> bool:
    return (
        isinstance(run_id, str)
        and is_ref_run_id(run_id)
        and isinstance(sha, str)
        and _SHA.fullmatch(sha) is not None
    )


def _read_json(objects: ObjectReader, blob: str | None, limit: int) -> object:
    if blob is None:
        return None
    found = objects.read(blob, limit, "blob")
    if found is None or found.data is None:
        return None
    try:
        return load_json(found.data, blob)
    except DocumentError:  # not JSON, or nested too deep
        return None


def _read_lines(objects: ObjectReader, blob: str | None, archive: Archive, name: str):
    """The JSON objects of file `name` (blob `blob`), a line each; bad lines skipped."""
    if blob is None:
        return
    found = objects.read(blob, MAX_FILE_BYTES, "blob")
    if found is None or found.data is None:
        archive.problem(f"its {name} is over {MAX_FILE_BYTES >> 20} MiB or no file: not read")
        return
    for line in found.data.split(b"\n"):
        if not line:
            continue
        try:
            item = load_json(line, name)
        except DocumentError:  # not JSON, or nested too deep
            item = None
        if isinstance(item, dict):
            yield item
        else:
            archive.problem(f"a line of its {name} is malformed")
