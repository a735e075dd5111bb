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

from gitml.errors import LargeObjectError
from gitml.store.cas.pointer import Pointer
from gitml.store.cas.stores import configured_store, fetch_object, local_store, open_shared
from gitml.store.layout import ARTIFACTS_DIR
from gitml.store.repository import Repository
from gitml.tracking.catalog import resolve
from gitml.tracking.readers import open_run


@dataclass
class MovedObjects:
    count: int = 0  # objects uploaded or downloaded
    missing: list[str] = field(default_factory=list)  # "<run>: <artifact>: why", fetch only


def run_pointers(repo: Repository, run_id: str) -> list[tuple[str, Pointer]]:
    """(artifact path, pointer) of each artifact of run `run_id` stored by content."""
    found = []
    with open_run(repo, resolve(repo, run_id)) as reader:
        for file in reader.artifact_files():
            if not file.link:
                pointer = reader.stored_by_content(f"{ARTIFACTS_DIR}/{file.path}")
                if pointer is not None:
                    found.append((file.path, pointer))
    return found


def upload_objects(repo: Repository, remote: str, run_ids: list[str]) -> int:
    """Put the objects runs `run_ids` point to in the shared store (Git LFS on `remote`
    by default); those this repository lacks are downloaded first (a run fetched from
    elsewhere). Returns how many objects were sent; LargeObjectError when any cannot
    be, and then no run of `run_ids` may be pushed."""
    wanted: dict[str, tuple[str, Pointer]] = {}
    for run_id in run_ids:
        for path, pointer in run_pointers(repo, run_id):
            wanted.setdefault(pointer.sha256, (path, pointer))
    if not wanted:
        return 0
    shared = open_shared(repo, configured_store(repo), remote)
    if shared is None:
        raise LargeObjectError(
            "no shared store for large artifacts"
        )  # configured_store refuses local
    local = local_store(repo)
    for path, pointer in wanted.values():
        if not local.has(pointer.sha256):
            fetch_object(repo, pointer, path, remote)
    shared.upload(local, sorted(wanted))
    return len(wanted)


def download_objects(repo: Repository, remote: str, run_ids: list[str]) -> MovedObjects:
    """Bring the objects runs `run_ids` point to that this repository lacks."""
    moved = MovedObjects()
    local = local_store(repo)
    for run_id in run_ids:
        for path, pointer in run_pointers(repo, run_id):
            if local.has(pointer.sha256):
                continue
            try:
                fetch_object(repo, pointer, path, remote)
            except LargeObjectError as error:
                moved.missing.append(f"run {run_id}: {error}")
            else:
                moved.count += 1
    return moved
