"""A run in progress read as a record: what its staging folder holds, in the shape it
will have once committed (`gitml.tracking.commit` writes run.json from the same
`staged_record`).

Imported by the logging API (`get_run` in a script): Python 3.8 syntax, PEP 563, no
git library.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gitml.envs import LOCAL
from gitml.tracking.model import ArtifactEntry, RunRecord
from gitml.tracking.record import RunSummary
from gitml.tracking.staging import StagedRun, Staging

RUNNING = "running"


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
    symbolic link is stored as a link, its blob the target's text."""
    link = os.readlink(path) if path.is_symlink() else None
    data = os.fsencode(link) if link is not None else path.read_bytes()
    return ArtifactEntry(name, len(data), hashlib.sha256(data).hexdigest(), link), data
