"""A store of objects in a folder: the repository's own (`.git/gitml/objects/`) or any
folder or mount (`file:///…`, the NFS case). Object `<sha256>` is the file
`<folder>/<sha256[:2]>/<sha256[2:]>`, read-only once in place.

An object is written into a temporary file of this process under `<folder>/tmp/`
(flushed to disk first in a store other machines read), then renamed into place, so a
writer killed half-way leaves no object with the wrong bytes, only a temporary file
`gitml gc --objects` removes later. Bytes are moved and hashed a part at a time: memory
does not grow with an object.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gitml.store.cas.progress import Transfer

if TYPE_CHECKING:  # threads and temporary files: loaded when an object is written
    from concurrent.futures import Future

BLOCK = 1 << 20
COPY_PART = 16 << 20  # bytes the kernel copies while the part before is hashed
TMP = "tmp"


class WrongBytes(ValueError):
    """Bytes given for an object that are not its: `reason` says how ("have sha256 …")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TooManyBytes(WrongBytes):
    """More bytes than the object's size came: the rest is not read."""

    def __init__(self, size: int):
        super().__init__(f"are more than the {size:,} bytes the run records")


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

    def put_file(
        self,
        source: Path,
        expected: str | None = None,
        transfer: Transfer | None = None,
        durable: bool = False,
        size: int | None = None,
    ) -> Stored:
        """Store the bytes of file `source` (see `put_blocks` for `expected`, `durable`
        and `size`). The kernel copies them as it does for `cp` (`_copy_part`: several
        times faster than reading and writing them here) and each part is hashed from
        the copy while the next is copied, so the object's name always fits the bytes
        stored, even when `source` changes meanwhile."""
        tmp = self._new_tmp()
        try:
            with open(source, "rb") as src, open(tmp, "r+b", buffering=0) as out:
                found, copied = _copy_hashing(src.fileno(), out, transfer, size)
                if durable:
                    os.fsync(out.fileno())
            _check(expected, size, found, copied)
            self._place(tmp, found)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Stored(found, copied)

    def copy_to(self, sha256: str, out: int) -> None:
        """Write object `sha256` to the open file `out`, copied by the kernel."""
        with open(self.path(sha256), "rb") as src:
            _copy(src.fileno(), out)

    def put_bytes(self, data: bytes) -> Stored:
        return self.put_blocks([data], durable=False)

    def put_blocks(
        self,
        blocks: Iterable[bytes],
        expected: str | None = None,
        transfer: Transfer | None = None,
        durable: bool = True,
        size: int | None = None,
    ) -> Stored:
        """Store the bytes `blocks` hold. With `expected` (a sha256) and `size`, bytes
        that are not those are not kept: WrongBytes says how they differ, and past
        `size` bytes TooManyBytes stops the reading at once (a store that sends 10 GB
        for a pointer of 1 byte fills no disk). `durable`: flushed to disk before it is
        renamed into place (a store other machines read; the repository's own folder is
        as durable as git's loose objects, which git does not flush either)."""
        tmp = self._new_tmp()
        try:
            with open(tmp, "wb") as out:
                found, written = _write_hashing(blocks, out, transfer, size)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            _check(expected, size, found, written)
            self._place(tmp, found)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Stored(found, written)

    def _renew(self, sha256: str) -> bool:
        """Whether the object is here already; its time is then renewed, so that `gitml gc
        --objects` grants it its grace period again (a new run may be about to point to
        it)."""
        try:
            os.utime(self.path(sha256))
        except OSError:
            return False
        return True

    def _new_tmp(self) -> Path:
        """A new empty file of this process under `tmp/`."""
        import tempfile

        (self.folder / TMP).mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix="obj-", dir=self.folder / TMP)
        os.close(descriptor)
        return Path(name)

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


def _check(expected: str | None, size: int | None, found: str, count: int) -> None:
    if expected is not None and found != expected:
        raise WrongBytes(f"have sha256 {found[:12]}, not {expected[:12]} as the run records")
    if size is not None and count != size:  # the object's, but its pointer lies
        raise WrongBytes(f"are {count:,} bytes, not the {size:,} the run records")


def _write_hashing(
    blocks: Iterable[bytes], out: BinaryIO, transfer: Transfer | None, limit: int | None
) -> tuple[str, int]:
    """Write `blocks` to `out`; their sha256 and size. Each block is hashed in a second
    thread while it is written and the next one read (hashlib and file I/O release the
    GIL): about as fast as a copy, and at most two blocks are held."""
    from concurrent.futures import ThreadPoolExecutor

    digest, size = hashlib.sha256(), 0
    with ThreadPoolExecutor(max_workers=1) as hasher:
        pending: Future | None = None
        for block in blocks:
            if limit is not None and size + len(block) > limit:
                raise TooManyBytes(limit)
            if pending is not None:
                pending.result()
            pending = hasher.submit(digest.update, block)
            out.write(block)
            size += len(block)
            if transfer is not None:
                transfer.advance(len(block))
        if pending is not None:
            pending.result()
    return digest.hexdigest(), size


def _copy_hashing(
    source: int, out: BinaryIO, transfer: Transfer | None, limit: int | None
) -> tuple[str, int]:
    """Copy file `source` to `out` (both at their start) a part at a time, each part
    hashed from `out` in a second thread while the next is copied; sha256 and size.
    TooManyBytes as soon as more than `limit` bytes are there."""
    from concurrent.futures import ThreadPoolExecutor

    digest, offset = hashlib.sha256(), 0
    part = COPY_PART if limit is None else min(COPY_PART, limit + 1)
    with ThreadPoolExecutor(max_workers=1) as hasher:
        pending: Future | None = None
        while sent := _copy_part(source, out.fileno(), offset, part):
            if limit is not None and offset + sent > limit:
                raise TooManyBytes(limit)
            if pending is not None:
                pending.result()
            pending = hasher.submit(_hash_part, out.fileno(), offset, sent, digest)
            offset += sent
            if transfer is not None:
                transfer.advance(sent)
        if pending is not None:
            pending.result()
    return digest.hexdigest(), offset


def _copy(source: int, out: int) -> None:
    offset = 0
    while sent := _copy_part(source, out, offset, COPY_PART):
        offset += sent


def _copy_part(source: int, out: int, offset: int, count: int) -> int:
    """Copy up to `count` bytes at `offset` of `source` to `out` at the same offset; how
    many (0 at the end). As `cp` copies: copy_file_range, which a file system that
    shares blocks (XFS, btrfs) or copies on its server (NFS 4.2) does without moving
    the bytes; across file systems that refuse it, sendfile; else a read and a write."""
    for kernel_copy in (_copy_file_range, _sendfile):
        try:
            return kernel_copy(source, out, offset, count)
        except OSError as error:
            if error.errno not in _NO_KERNEL_COPY:
                raise
    done = 0
    while done < count and (data := os.pread(source, min(BLOCK, count - done), offset + done)):
        view, written = memoryview(data), 0
        while written < len(data):  # a write may take part of it
            written += os.pwrite(out, view[written:], offset + done + written)
        done += len(data)
    return done


# what a kernel copy fails with where the file systems (or the system) do not allow it
_NO_KERNEL_COPY = (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK)


def _copy_file_range(source: int, out: int, offset: int, count: int) -> int:
    if not hasattr(os, "copy_file_range"):  # Linux only
        raise OSError(errno.ENOSYS, "no copy_file_range")
    return os.copy_file_range(source, out, count, offset, offset)


def _sendfile(source: int, out: int, offset: int, count: int) -> int:
    os.lseek(out, offset, os.SEEK_SET)  # sendfile writes where `out` stands
    return os.sendfile(out, source, offset, count)


def _hash_part(out: int, offset: int, count: int, digest) -> None:
    """Add `count` bytes at `offset` of file `out` to `digest`, a block at a time."""
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    while count:
        read = os.preadv(out, [view[: min(BLOCK, count)]], offset)
        if not read:
            raise OSError(errno.EIO, "the copy is shorter than what was written")
        digest.update(view[:read])
        offset += read
        count -= read
