"""Commit runs whose processes died (a crash, `kill -9`) as `killed`.

Every gitml command calls `recover_abandoned_runs` on opening the repository.
Several processes may do so at once: each run is claimed by an atomic rename
before it is committed, and a claim whose process died is taken over.
"""

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitml.store.ids import is_run_id, run_id_time_ms
from gitml.store.layout import META_FILE, RECOVERING_DIR, TMP_DIR
from gitml.store.repository import Repository
from gitml.tracking.environment import process_alive
from gitml.tracking.record import RunSummary
from gitml.tracking.staging import Staging, runs_dir


def staged_runs(repo: Repository) -> list[Staging]:
    """Runs in progress (or abandoned) in this repository."""
    folder = runs_dir(repo.state_dir)
    if not folder.is_dir():
        return []
    return [Staging(p) for p in sorted(folder.iterdir()) if (p / META_FILE).exists()]


def is_abandoned(staging: Staging) -> bool:
    """True when neither gitml nor the script it started is still alive."""
    meta = staging.meta
    if process_alive(meta["owner_pid"], meta.get("owner_start")):
        return False
    child = staging.path / "child.json"
    try:
        info = json.loads(child.read_text())
    except FileNotFoundError:
        # gitml may have died between starting the script and writing child.json
        return not _process_working_in(staging.path)
    return not process_alive(info["pid"], info.get("start"))


def _process_working_in(run_dir: Path) -> bool:
    """Whether a live process has this run's staging folder as GITML_RUN_DIR (the wrapped
    script and its children do). Reads /proc, so only where there is one (Linux)."""
    marker = f"GITML_RUN_DIR={run_dir}".encode() + b"\0"
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                return True
        except OSError:
            continue
    return False


@dataclass
class Recovery:
    """What one recovery did: the runs it committed, and those it could not (each
    `"<run id>: <error>"`; their folders stay under `recovering/` and are retried)."""

    committed: list[RunSummary] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def recover_abandoned_runs(repo: Repository) -> Recovery:
    """Commit every run whose processes died without committing it (status `killed`
    unless its end was already written). Safe to call from several processes."""
    recovery = Recovery()
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
        _commit_claimed(repo, claimed, recovery)
    _retry_stuck_claims(repo, claimed_dir, recovery)
    _remove_empty_leftovers(repo)
    return recovery


def _commit_claimed(repo: Repository, claimed: Path, recovery: Recovery) -> None:
    """Commit one claimed run; a damaged one is reported, never allowed to stop the
    recovery of the others (or the command that triggered it)."""
    from gitml.tracking.commit import commit_staged  # only once there is a run to commit

    try:
        recovery.committed.append(commit_staged(repo, claimed))
    except Exception as error:  # noqa: BLE001 - reported in `recovery.failed`
        run_id = claimed.name.partition(".")[0]
        recovery.failed.append(f"{run_id}: {type(error).__name__}: {error}")


def _retry_stuck_claims(repo: Repository, claimed_dir: Path, recovery: Recovery) -> None:
    """Claims whose recovering process died (or failed) are claimed again."""
    if not claimed_dir.is_dir():
        return
    for path in claimed_dir.iterdir():
        run_id, _, pid = path.name.partition(".")
        if not pid.isdigit() or int(pid) == os.getpid() or process_alive(int(pid), None):
            continue
        again = claimed_dir / f"{run_id}.{os.getpid()}"
        try:
            os.rename(path, again)
        except OSError:
            continue
        _commit_claimed(repo, again, recovery)


def _remove_empty_leftovers(repo: Repository) -> None:
    """A crash between mkdir and writing meta.json leaves an empty folder, and one
    during a snapshot leaves its temporary index."""
    _remove_stale_temporary_indexes(repo)
    folder = runs_dir(repo.state_dir)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            stale = path.is_dir() and time.time() - path.stat().st_mtime > 60
        except FileNotFoundError:
            continue  # claimed by a recovery running in another process meanwhile
        if stale and not (path / META_FILE).exists():
            shutil.rmtree(path, ignore_errors=True)


STALE_INDEX_SECONDS = 3600  # a snapshot takes seconds; an index of an hour-old run is a crash's


def _remove_stale_temporary_indexes(repo: Repository) -> None:
    """`tmp/index-<run id>` of runs started over an hour ago. The age comes from the run
    id, never from the file: the index is a copy of the user's, mtime included."""
    folder = repo.state_dir / TMP_DIR
    if not folder.is_dir():
        return
    now_ms = time.time() * 1000
    for path in folder.glob("index-*"):
        run_id = path.name.removeprefix("index-")
        if is_run_id(run_id) and now_ms - run_id_time_ms(run_id) > STALE_INDEX_SECONDS * 1000:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
