"""Which stores hold large artifacts, read from git config once per call:

- the repository's own folder `.git/gitml/objects/` (`local_store`), where every
  object of a run made or read here is kept;
- the shared store (`gitml.largeArtifactStore`): `lfs` (the default: Git LFS on the
  remote pushed to or fetched from), `file:///folder` or `s3://bucket/prefix`
  (endpoint: `gitml.s3Endpoint`).

`fetch_object` brings the object a pointer names into the local store, from the store
configured here.
"""

from __future__ import annotations

from pathlib import Path

from gitml.errors import (
    InvalidValueError,
    LargeObjectError,
    ObjectMismatchError,
    ObjectMissingError,
)
from gitml.store.cas.folder import FolderStore, WrongBytes
from gitml.store.cas.lfs import LfsShared
from gitml.store.cas.pointer import LFS, LOCAL, Pointer, parse_store
from gitml.store.cas.s3 import S3Shared
from gitml.store.cas.shared import FolderShared, SharedStore
from gitml.store.config import read_config
from gitml.store.layout import OBJECTS_DIR
from gitml.store.repository import Repository

STORE_SETTING = "gitml.largeArtifactStore"
ENDPOINT_SETTING = "gitml.s3Endpoint"


def local_store(repo: Repository) -> FolderStore:
    return FolderStore(repo.state_dir / OBJECTS_DIR)


def configured_store(repo: Repository) -> str:
    """The name of the shared store (`gitml.largeArtifactStore`, default `lfs`)."""
    value = read_config(repo).get(STORE_SETTING)
    if value is None:
        return LFS
    if value == LOCAL or parse_store(value) is None:
        raise InvalidValueError(
            f"{STORE_SETTING} is {value!r}; set lfs, file:///absolute/folder or s3://bucket/prefix"
        )
    return value


def open_shared(repo: Repository, name: str, remote: str | None = None) -> SharedStore | None:
    """The shared store `name` names (`remote`: the git remote of `lfs`); None for
    `local`, which is no shared store."""
    store = parse_store(name)
    if store is None or store.kind == LOCAL:
        return None
    if store.kind == LFS:
        return LfsShared(repo, remote)
    if store.kind == "file":
        return FolderShared(FolderStore(Path(store.location)))
    return S3Shared(store.location, read_config(repo).get(ENDPOINT_SETTING))


def fetch_object(
    repo: Repository, pointer: Pointer, artifact: str, remote: str | None = None
) -> None:
    """Bring the object of artifact `artifact` (its `pointer`) into the local store from
    the store configured here (never from one a pointer names: a fetched run may name
    any): ObjectMissingError when it lacks it, ObjectMismatchError when it gives other
    bytes (nothing of them is kept). `remote`: the git remote whose Git LFS to ask
    (default: git-lfs's own choice)."""
    configured = configured_store(repo)
    shared = open_shared(repo, configured, remote)
    reason = "no shared store is configured"
    if shared is not None:
        local = local_store(repo)
        _check_room(local, pointer, artifact)
        try:
            missing = shared.download(pointer.sha256, pointer.size, local)
        except WrongBytes as error:
            raise ObjectMismatchError(artifact, error.reason, shared.label) from None
        if missing is None:
            return
        reason = f"{shared.label}: {missing}"
    hint = "run `gitml fetch` from the remote the run came from"
    if pointer.store != configured:
        hint += (
            f", or, if you trust it, set gitml.largeArtifactStore to {pointer.store!r}, "
            "the store the run names"
        )
    raise ObjectMissingError(artifact, pointer.sha256, reason, hint)


def _check_room(local: FolderStore, pointer: Pointer, artifact: str) -> None:
    """Refuse at once an object larger than the free space of the local store's disk (a
    pointer may claim 10 TB): a download would fill the disk and then fail."""
    import shutil

    folder = local.folder
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if pointer.size > free:
        raise LargeObjectError(
            f"artifact {artifact!r} is stored by content as {pointer.size:,} bytes, more than "
            f"the {free:,} free on the disk of {local.folder}; nothing was downloaded (free "
            "some space, or check where the run came from)"
        )
