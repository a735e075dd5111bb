"""Stores that several machines reach, where `gitml push` puts the objects of the runs
it sends and where readers find those a run here lacks: a folder or mount (`file://`),
Git LFS on a remote (`gitml.store.cas.lfs`) and S3 (`gitml.store.cas.s3`).

Each takes objects from the repository's own folder store and gives them back into it,
checked: bytes whose sha256 is not the one asked for are never kept.
"""

from __future__ import annotations

import time
from typing import Protocol

from gitml.store.cas.folder import FolderStore
from gitml.store.cas.progress import start

LEFTOVER_AGE = 24 * 3600  # seconds after which a temporary file of a shared folder is stale


class SharedStore(Protocol):
    label: str  # "the folder /mnt/models", for messages

    def upload(self, local: FolderStore, sha256s: list[str]) -> None:
        """Put the objects `sha256s` of `local` here (those already here are skipped); each
        appears whole or not at all."""

    def download(self, sha256: str, size: int, into: FolderStore) -> str | None:
        """Copy object `sha256` of `size` bytes into `into`; None when done, else why it
        could not be found here. WrongBytes when the bytes are not the object's (read no
        further than `size` bytes and one block)."""


class FolderShared:
    """A folder or mount: the same layout as the repository's own store."""

    def __init__(self, folder: FolderStore):
        self.folder = folder
        self.label = f"the folder {folder.folder}"

    def upload(self, local: FolderStore, sha256s: list[str]) -> None:
        self._forget_killed_writers()
        for sha256 in sha256s:
            if self.folder.has(sha256):
                continue
            size = local.size(sha256) or 0
            transfer = start(f"uploading to {self.folder.folder}", size)
            try:
                self.folder.put_file(local.path(sha256), sha256, transfer, durable=True)
            finally:
                transfer.end()

    def _forget_killed_writers(self) -> None:
        """Remove what uploads killed half-way left in the folder's `tmp/` a day or more
        ago (no upload takes that long; a younger one may be another machine's, going)."""
        now = time.time()
        for leftover in self.folder.leftovers():
            try:
                if now - leftover.stat().st_mtime > LEFTOVER_AGE:
                    leftover.unlink()
            except OSError:
                continue  # another machine took it away first

    def download(self, sha256: str, size: int, into: FolderStore) -> str | None:
        if not self.folder.has(sha256):
            return f"{self.label} does not hold it"
        transfer = start(f"copying from {self.folder.folder}", size)
        try:
            into.put_file(self.folder.path(sha256), sha256, transfer, size=size)
        finally:
            transfer.end()
        return None
