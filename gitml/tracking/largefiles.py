"""Artifacts stored by content, as the run readers resolve them: a file of a run that
holds a pointer (`gitml.store.cas.pointer`) stands for the object it names, read from
the repository's own store, downloaded first from the shared store when it is not
there (`gitml.store.cas.stores.fetch_object`, which checks its sha256).

Imported by the logging API (`get_run` in a script): Python 3.8 syntax, PEP 563.
"""

from __future__ import annotations

from collections.abc import Iterator

from gitml.errors import LargeObjectError
from gitml.store.cas.pointer import MAX_POINTER_BYTES, Pointer, parse_pointer
from gitml.store.layout import ARTIFACTS_DIR
from gitml.store.repository import Repository

__all__ = ["MAX_POINTER_BYTES", "is_artifact", "object_blocks", "pointer_in"]


def is_artifact(path: str) -> bool:
    """Whether a file of the record (`artifacts/…`, `env/…`) is an artifact: only those
    are ever stored by content."""
    return path.startswith(ARTIFACTS_DIR + "/")


def pointer_in(data: bytes | None) -> Pointer | None:
    return None if data is None else parse_pointer(data)


def object_blocks(repo: Repository, pointer: Pointer, artifact: str) -> Iterator[bytes]:
    """The bytes of the object `pointer` names (artifact `artifact`), a block at a time,
    downloaded first when this repository lacks it."""
    from gitml.store.cas.stores import fetch_object, local_store

    local = local_store(repo)
    if not local.has(pointer.sha256):
        fetch_object(repo, pointer, artifact)
    found = local.size(pointer.sha256)
    if found != pointer.size:  # readers bound what they read by the pointer's size
        raise LargeObjectError(
            f"artifact {artifact!r}: its object here holds {found or 0:,} bytes, not the "
            f"{pointer.size:,} the run records (a run written by hand or damaged); not read"
        )
    return local.blocks(pointer.sha256)
