"""Long committed metrics kept parsed on disk, so that a history is parsed once.

Parsing a metric of a million points (`gitml.tracking.points`) takes a second or more;
reading its columns back as machine numbers takes milliseconds. A committed metric
file never changes (its blob id names its content), so its parsed points are kept
under `.git/gitml/cache/points/<blob id>` (`store.layout.POINTS_CACHE`) for the next
view, by this server or the next one.

The cache is never the truth: a file missing, cut short, damaged, of another format
or byte order, or anything but a regular file in that folder (a symbolic link, a
FIFO) is a miss, and the points are parsed from the blob again and written over it.
A file is MAGIC, the count n, whether the steps never decrease (a byte: 1 or 0; a zoom
then finds its range by bisection), the steps (n 8-byte integers), values (n doubles) and
times (n 8-byte integers), then where each block of `downsample.BLOCK` points has its
lowest and its highest value (`Points.blocks`: two columns of 8-byte integers), all in
the machine's byte order, then the CRC-32 of all that.
It is written to a new file renamed into place, so a reader never sees one half
written. The folder is kept under MAX_BYTES: the oldest files written go first.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import sys
import threading
import zlib
from array import array
from pathlib import Path

from gitml.store.layout import POINTS_CACHE
from gitml.ui.downsample import BLOCK, Points

MAGIC = b"gmlpts2" + (b"l" if sys.byteorder == "little" else b"b")  # 2: with the blocks
CACHED_FROM = 20_000  # points; fewer parse in a few milliseconds
MAX_BYTES = 1 << 30  # of the folder; the oldest files beyond it are removed
_HEAD = struct.Struct("=8sQB")  # MAGIC, n, steps in order
_CRC = struct.Struct("=I")
_NAME_CHARS = frozenset("0123456789abcdef")


def load(state_dir: Path, blob: str) -> Points | None:
    """The points kept for `blob`, or None (missing, or not to be trusted)."""
    fd = _open_kept(state_dir, blob)
    if fd is None:
        return None
    try:
        found = _read_regular(fd)
    except (OSError, struct.error):
        return None
    finally:
        os.close(fd)
    if found is None:
        return None
    count, ordered, body = found
    points = _points(memoryview(body), count)
    if points is not None:
        points.known_order("step", ordered)
    return points


def _open_kept(state_dir: Path, blob: str) -> int | None:
    """A descriptor of the file kept for `blob`, never through a link (a FIFO opens
    without blocking: the readers refuse what is not a regular file), or None."""
    if not _is_blob_id(blob):
        return None
    try:
        folder = _open_folder(state_dir, create=False)
    except OSError:
        return None
    try:
        return os.open(blob, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)


def has(state_dir: Path, blob: str) -> bool:
    """Whether a file of this module's format and of the right size is kept for `blob`
    (without reading its columns: `load` checks the rest)."""
    fd = _open_kept(state_dir, blob)
    if fd is None:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size < _HEAD.size:
            return False
        magic, count, _ = _HEAD.unpack(os.read(fd, _HEAD.size))
    except (OSError, struct.error):
        return False
    finally:
        os.close(fd)
    return magic == MAGIC and info.st_size == file_size(count)


def file_size(count: int) -> int:
    """Bytes of the file that keeps `count` points."""
    return _HEAD.size + _body_size(count) + _CRC.size


def _points(body: memoryview, count: int) -> Points | None:
    """The points of a file's checked body, or None when its blocks are not where the
    blocks of `count` points can be (the file was not written by this module)."""
    steps, values, times, lows, highs = array("q"), array("d"), array("q"), array("q"), array("q")
    start = 0
    for column, size in ((steps, count), (values, count), (times, count)):
        column.frombytes(body[start : start + 8 * size])
        start += 8 * size
    for column in (lows, highs):
        column.frombytes(body[start : start + 8 * _blocks(count)])
        start += 8 * _blocks(count)
    for block, (low, high) in enumerate(zip(lows, highs, strict=True)):
        first = block * BLOCK
        within = range(first, min(first + BLOCK, count))
        if not ((low in within and high in within) or low == high == -1):
            return None
    return Points(steps, values, times, block_extremes=(lows, highs))


def _read_regular(fd: int) -> tuple[int, bool, bytes] | None:
    """The count of points a cache file holds, whether its steps are in order, and its
    columns (checked against its CRC); None when the file is no regular file or not one
    this module wrote whole."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size < _HEAD.size + _CRC.size:
        return None
    head = os.read(fd, _HEAD.size)
    magic, count, ordered = _HEAD.unpack(head)
    size = _body_size(count)
    if magic != MAGIC or ordered > 1 or info.st_size != file_size(count):
        return None
    with open(fd, "rb", closefd=False) as file:
        body = file.read(size)
        (crc,) = _CRC.unpack(file.read(_CRC.size))
    if len(body) != size or zlib.crc32(body, zlib.crc32(head)) != crc:
        return None  # changed while read, or damaged
    return count, bool(ordered), body


def save(state_dir: Path, blob: str, points: Points) -> None:
    """Keep `points` for `blob` when they are worth it; anything in the way (a folder
    that cannot be written, a full disk, a name taken by a folder) leaves it uncached."""
    if len(points) < CACHED_FROM or not _is_blob_id(blob):
        return
    with contextlib.suppress(OSError):
        folder = _open_folder(state_dir, create=True)
        try:
            _write(folder, blob, points)
            _trim(folder, keep=blob)
        finally:
            os.close(folder)


def _write(folder: int, blob: str, points: Points) -> None:
    temporary = f".{blob}.{os.getpid()}.{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(temporary, flags, 0o644, dir_fd=folder)
    try:
        with open(fd, "wb") as file:
            head = _HEAD.pack(MAGIC, len(points), points.ordered("step"))
            crc = zlib.crc32(head)
            file.write(head)
            for column in (points.steps, points.values, points.times, *points.blocks()):
                data = memoryview(column).cast("B")
                crc = zlib.crc32(data, crc)
                file.write(data)
            file.write(_CRC.pack(crc))
        os.replace(temporary, blob, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder)
        raise


def _trim(folder: int, keep: str) -> None:
    """Remove the oldest files until the folder holds at most MAX_BYTES."""
    files = []
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                files.append((info.st_mtime, info.st_size, entry.name))
    total = sum(size for _, size, _ in files)
    for _, size, name in sorted(files):
        if total <= MAX_BYTES:
            break
        if name != keep:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=folder)
                total -= size


def _open_folder(state_dir: Path, create: bool) -> int:
    """A descriptor of the cache folder, itself never a symbolic link (whatever one
    points at is not this cache)."""
    path = state_dir / POINTS_CACHE
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir()
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


def _blocks(count: int) -> int:
    return -(-count // BLOCK)


def _body_size(count: int) -> int:
    """Bytes of the columns of `count` points and of their blocks."""
    return 24 * count + 16 * _blocks(count)


def _is_blob_id(blob: str) -> bool:
    return len(blob) in (40, 64) and _NAME_CHARS.issuperset(blob)
