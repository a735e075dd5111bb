"""What a remote holds of gitml's refs, asked in one `git ls-remote`: its run refs, its
archive refs and, when wanted, its registry (one round trip for `gitml push` and
`gitml fetch`, whatever they then move); and the runs its archive commits hold."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitml.store.gitcmd import run_git
from gitml.store.gitproc import Progress, ask_remote, fetch_objects
from gitml.store.refs import ARCHIVE_PREFIX, RUNS_PREFIX, parse_archive_ref, parse_run_ref
from gitml.store.repository import Repository

if TYPE_CHECKING:
    from gitml.registry.listing import RemoteRegistry

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass
class RemoteListing:
    runs: dict[str, str] = field(default_factory=dict)  # run id → commit, of its run refs
    archives: dict[str, str] = field(default_factory=dict)  # archive ref → commit
    registry: RemoteRegistry | None = None  # when asked for


def list_remote(repo: Repository, remote: str, registry: bool = False) -> RemoteListing:
    """The remote's run refs and archive refs (and its registry when `registry`): one
    `git ls-remote`. A line that names no object id or no ref of these is left out."""
    patterns = [RUNS_PREFIX + "*", ARCHIVE_PREFIX + "*"]
    if registry:
        from gitml.registry.listing import PATTERNS, parse_registry_listing

        patterns += PATTERNS
    out = ask_remote(repo, ["ls-remote", "--", remote, *patterns], remote)
    pairs = (line.partition("\t") for line in out.splitlines())
    lines = [(sha, ref) for sha, _, ref in pairs]
    listing = RemoteListing()
    for sha, ref in lines:
        if not _SHA.fullmatch(sha):
            continue
        run_id = parse_run_ref(ref)
        if run_id:
            listing.runs[run_id] = sha
        elif parse_archive_ref(ref) is not None:
            listing.archives[ref] = sha
    if registry:
        listing.registry = parse_registry_listing(lines)
    return listing


def missing_objects(repo: Repository, shas: list[str]) -> list[str]:
    """Those of `shas` (object ids a remote listed) this repository lacks: one
    `git cat-file --batch-check`."""
    if not shas:
        return []
    asked = "".join(f"{sha}\n" for sha in shas).encode()
    out = run_git(["cat-file", "--batch-check"], repo.cwd, input=asked).stdout.decode()
    return [line.split(" ")[0] for line in out.splitlines() if line.endswith(" missing")]


def remote_archived_runs(
    repo: Repository, remote: str, archives: dict[str, str], progress: Progress | None = None
) -> dict[str, str]:
    """run id → commit of the runs the remote's archive commits (`archives`, as it lists
    them) hold: those missing here are fetched by id first (no ref moves), then read as
    any archive commit from a remote is, as hostile (`gitml.tracking.archive`)."""
    from gitml.store.blobs import ObjectReader
    from gitml.tracking.archive import held_runs

    if not archives:
        return {}
    tips = set(archives.values())
    lacking = missing_objects(repo, sorted(tips))
    if lacking:
        fetch_objects(repo, remote, lacking, progress)
    with ObjectReader(repo) as objects:
        return held_runs(objects, tips)
