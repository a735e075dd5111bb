"""Files of commits read by name, bounded: a blob fetched from a remote may be any size.

`read_blobs` reads small files whole, up to a limit; `BlobReader` reads a blob of any
size a block at a time (dulwich, or `git cat-file -p` read whole, would hold all of a
metric file of millions of points in memory).
"""

from __future__ import annotations

import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from gitml.errors import GitCommandError
from gitml.store.gitcmd import git_environment, run_git
from gitml.store.repository import Repository

BLOCK = 1 << 20  # bytes BlobReader hands out at once


@dataclass(frozen=True)
class BlobRead:
    """A blob's size, and its content when it is within the limit it was read with."""

    size: int
    data: bytes | None


def read_blobs(repo: Repository, names: list[str], limit: int) -> list[BlobRead | None]:
    """The `<commit>:<path>` blobs `names`, in order; None for a missing one (or one that
    is no file). One `git cat-file --batch-check` learns the sizes, then one `--batch`
    reads the blobs of at most `limit` bytes: a larger one is never read."""
    request = "".join(name + "\n" for name in names).encode(errors="surrogateescape")
    checked = run_git(
        ["cat-file", "--batch-check=%(objecttype) %(objectsize)"], repo.cwd, input=request
    ).stdout.split(b"\n")
    sizes: list[int | None] = []
    for line in checked[: len(names)]:
        kind, _, size = line.partition(b" ")
        sizes.append(int(size) if kind == b"blob" and size.isdigit() else None)
    wanted = [
        name for name, size in zip(names, sizes, strict=True) if size is not None and size <= limit
    ]
    contents = iter(_contents(repo, wanted))
    found: list[BlobRead | None] = []
    for size in sizes:
        if size is None:
            found.append(None)
        else:
            found.append(BlobRead(size, next(contents) if size <= limit else None))
    return found


def _contents(repo: Repository, names: list[str]) -> list[bytes]:
    if not names:
        return []
    request = "".join(name + "\n" for name in names).encode(errors="surrogateescape")
    out = run_git(["cat-file", "--batch"], repo.cwd, input=request).stdout
    found = []
    position = 0
    for _ in names:
        end = out.index(b"\n", position)
        size = int(out[position:end].rsplit(b" ", 1)[1])
        position = end + 1
        found.append(out[position : position + size])
        position += size + 1
    return found


class BlobReader:
    """`with BlobReader(repo) as reader: for block in reader.blocks(sha): ...`; read each
    blob to its end (or close the reader) before asking for the next.

    A loose object is inflated here as it is read. A packed one comes from one
    `git cat-file --batch`, told to stream blobs over 1 MiB (git otherwise builds any
    packed blob under core.bigFileThreshold, 512 MiB, whole in memory) through a small
    pack window (else the pages it maps add up to the packed size). A blob stored as a
    delta of another is still built whole by git."""

    def __init__(self, repo: Repository):
        self._objects = repo.common_dir / "objects"
        self._cwd = repo.cwd
        self._process: subprocess.Popen | None = None

    def blocks(self, sha: str) -> Iterator[bytes]:
        """The content of blob `sha` (hex), in order, in blocks of at most BLOCK bytes."""
        try:
            loose = open(self._objects / sha[:2] / sha[2:], "rb")  # noqa: SIM115
        except FileNotFoundError:
            yield from self._packed(sha)
            return
        with loose:
            yield from _inflate(loose, sha)

    def _packed(self, sha: str) -> Iterator[bytes]:
        if self._process is None:
            self._process = subprocess.Popen(
                ["git", *_STREAMING, "cat-file", "--batch"],
                cwd=self._cwd,
                env=git_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        stdin, stdout = self._process.stdin, self._process.stdout
        try:
            stdin.write(sha.encode() + b"\n")
            stdin.flush()
        except BrokenPipeError:  # git is gone; not our own output closing
            raise GitCommandError(["cat-file", "--batch", sha], "git exited", 1) from None
        header = stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitCommandError(["cat-file", "--batch", sha], f"no blob {sha}", 1)
        remaining = int(header[2])
        while remaining:
            block = stdout.read(min(BLOCK, remaining))
            if not block:
                raise GitCommandError(["cat-file", "--batch", sha], "git stopped early", 1)
            remaining -= len(block)
            yield block
        stdout.read(1)  # the newline after each object

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            self._process.stdout.close()
            self._process.kill()  # it may be writing a blob nobody will read
            self._process.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_STREAMING = [
    "-c",
    "core.bigFileThreshold=1m",
    "-c",
    "core.packedGitWindowSize=1m",
    "-c",
    "core.packedGitLimit=8m",
]


def _inflate(file, sha: str) -> Iterator[bytes]:
    """The content of a loose blob: zlib of `blob <size>`, a NUL, then the content."""
    pieces = _inflated(file)
    head = b""
    for piece in pieces:
        head += piece
        if b"\0" in head or len(head) > 64:
            break
    kind, nul, start = head.partition(b"\0")
    if not nul or not kind.startswith(b"blob "):
        raise GitCommandError(["cat-file", sha], f"no readable blob {sha}", 1)
    if start:
        yield start
    yield from pieces


def _inflated(file) -> Iterator[bytes]:
    """What zlib data in `file` inflates to, at most BLOCK bytes at a time."""
    inflater = zlib.decompressobj()
    try:
        while data := inflater.unconsumed_tail or file.read(BLOCK // 4):
            if piece := inflater.decompress(data, BLOCK):
                yield piece
        if rest := inflater.flush():
            yield rest
    except zlib.error as error:
        raise GitCommandError(
            ["cat-file"], f"damaged loose object {file.name}: {error}", 1
        ) from None
