"""A store of objects in a folder: the repository's own (`.git/gitml/objects/`) or any
folder or mount (`file:///…`, the NFS case). Object `<sha256>` is the file
`<folder>/<sha256[:2]>/<sha256[2:]>`, read-only once in place.

An object is written into a temporary file of this process under `<folder>/tmp/`,
flushed to disk, then renamed into place, so a writer killed half-way leaves no object
with the wrong bytes, only a temporary file `gc` removes later. Bytes are moved and
hashed a block at a time: memory does not grow with an object.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gitml.store.cas.progress import Transfer

BLOCK = 1 << 20
TMP = "tmp"


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int


class FolderStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except OSError:
            return None

    def blocks(self, sha256: str) -> Iterator[bytes]:
        """The object's bytes, a block at a time (FileNotFoundError when it has none)."""
        with open(self.path(sha256), "rb") as file:
            while block := file.read(BLOCK):
                yield block

    def put_file(self, source: Path, link: bool = False) -> Stored:
        """Store the bytes of file `source`. With `link` (a file gitml owns, on the same
        file system), it is hashed, then hard-linked into place: no copy."""
        if link:
            digest, size = hash_file(source)
            if self._renew(digest):
                return Stored(digest, size)
            tmp = self._tmp_name()
            try:
                os.link(source, tmp)
            except OSError:
                tmp.unlink(missing_ok=True)
            else:
                self._place(tmp, digest)
                return Stored(digest, size)
        with open(source, "rb") as file:
            return self.put_blocks(iter(lambda: file.read(BLOCK), b""))

    def put_bytes(self, data: bytes) -> Stored:
        return self.put_blocks([data])

    def put_blocks(
        self, blocks: Iterable[bytes], expected: str | None = None, transfer: Transfer | None = None
    ) -> Stored:
        """Store the bytes `blocks` hold. With `expected`, bytes of another sha256 are not
        kept: ValueError carries the sha256 found."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / TMP).mkdir(exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix="obj-", dir=self.folder / TMP)
        tmp = Path(name)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(descriptor, "wb") as out:
                for block in blocks:
                    out.write(block)
                    digest.update(block)
                    size += len(block)
                    if transfer is not None:
                        transfer.advance(len(block))
                out.flush()
                os.fsync(out.fileno())
            found = digest.hexdigest()
            if expected is not None and found != expected:
                raise ValueError(found)
            self._place(tmp, found)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Stored(found, size)

    def _renew(self, sha256: str) -> bool:
        """Whether the object is here already; its time is then renewed, so that `gitml gc
        --objects` grants it its grace period again (a new run may be about to point to
        it)."""
        try:
            os.utime(self.path(sha256))
        except OSError:
            return False
        return True

    def _tmp_name(self) -> Path:
        (self.folder / TMP).mkdir(parents=True, exist_ok=True)
        return self.folder / TMP / f"obj-{os.getpid()}-{time.monotonic_ns()}"

    def _place(self, tmp: Path, sha256: str) -> None:
        if self._renew(sha256):
            tmp.unlink(missing_ok=True)
            return
        target = self.path(sha256)
        target.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)  # the same name holds the same bytes: a race is harmless

    def objects(self) -> Iterator[tuple[str, Path]]:
        """(sha256, path) of every object in the folder."""
        if not self.folder.is_dir():
            return
        for first in sorted(self.folder.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for path in sorted(first.iterdir()):
                sha256 = first.name + path.name
                if len(sha256) == 64:
                    yield sha256, path

    def leftovers(self) -> Iterator[Path]:
        """Temporary files writers left (killed half-way)."""
        tmp = self.folder / TMP
        if tmp.is_dir():
            yield from tmp.iterdir()


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 and size of a file, read a block at a time."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as file:
        while block := file.read(BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
