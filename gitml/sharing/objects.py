"""The objects of large artifacts, moved with the runs that point to them
(docs/sharing.md#large-artifacts).

`gitml push` uploads the objects of the runs it sends to the shared store before it
pushes their refs: a remote never holds a run whose objects are not in the store (an
upload cut short sends nothing, and the refs wait). `gitml fetch` downloads those of
the runs it brought; one no store has is reported, not fatal: its run is here, and a
reader tries again when the artifact is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitml.errors import LargeObjectError
from gitml.store.cas.referenced import pointers_in, run_pointers
from gitml.store.refs import run_shas
from gitml.store.repository import Repository

if TYPE_CHECKING:
    from gitml.store.cas.pointer import Pointer


@dataclass
class MovedObjects:
    count: int = 0  # objects uploaded or downloaded
    missing: list[str] = field(default_factory=list)  # why each object is not here (fetch)


def _pointers(repo: Repository, run_ids: list[str]) -> dict[str, tuple[str, Pointer]]:
    """sha256 → (artifact path, pointer) of the objects runs `run_ids` (run refs here)
    point to."""
    if not run_ids:
        return {}
    shas = run_shas(repo)
    return run_pointers(repo, [shas[run_id] for run_id in run_ids if run_id in shas])


def upload_objects(repo: Repository, remote: str, run_ids: list[str]) -> None:
    """Put the objects runs `run_ids` point to in the shared store (Git LFS on `remote`
    by default); those this repository lacks are downloaded first (a run fetched from
    elsewhere). LargeObjectError when any cannot be: then no run of `run_ids` may be
    pushed."""
    _upload(repo, remote, _pointers(repo, run_ids))


def upload_archive_objects(
    repo: Repository, remote: str, ours: list[str], theirs: list[str]
) -> None:
    """`upload_objects` for the runs that archive commits `ours` hold and `theirs`
    (the remote's) do not."""
    _upload(repo, remote, pointers_in(repo, [*ours, *(f"^{sha}" for sha in theirs)]))


def download_archive_objects(
    repo: Repository, remote: str, theirs: list[str], ours: list[str]
) -> MovedObjects:
    """`download_objects` for the runs that archive commits `theirs` (just fetched)
    hold and `ours` (those here before) do not."""
    return _download(repo, remote, pointers_in(repo, [*theirs, *(f"^{sha}" for sha in ours)]))


def _upload(repo: Repository, remote: str, wanted: dict[str, tuple[str, Pointer]]) -> None:
    if not wanted:
        return
    from gitml.store.cas.stores import configured_store, fetch_object, local_store, open_shared

    shared = open_shared(repo, configured_store(repo), remote)
    assert shared is not None  # configured_store never names the local folder
    local = local_store(repo)
    for path, pointer in wanted.values():
        if not local.has(pointer.sha256):
            fetch_object(repo, pointer, path, remote)
    shared.upload(local, sorted(wanted))


def download_objects(repo: Repository, remote: str, run_ids: list[str]) -> MovedObjects:
    """Bring the objects runs `run_ids` point to that this repository lacks."""
    return _download(repo, remote, _pointers(repo, run_ids))


def _download(
    repo: Repository, remote: str, wanted: dict[str, tuple[str, Pointer]]
) -> MovedObjects:
    moved = MovedObjects()
    if not wanted:
        return moved
    from gitml.store.cas.stores import fetch_object, local_store

    local = local_store(repo)
    for path, pointer in wanted.values():
        if local.has(pointer.sha256):
            continue
        try:
            fetch_object(repo, pointer, path, remote)
        except LargeObjectError as error:
            moved.missing.append(str(error))
        else:
            moved.count += 1
    return moved
