"""Files of commits read by name, bounded: a blob fetched from a remote may be any size."""

from __future__ import annotations

from dataclasses import dataclass

from gitml.store.gitcmd import run_git
from gitml.store.repository import Repository


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
