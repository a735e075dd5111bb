"""Objects of the repository read through one `git cat-file --batch` process.

The one way gitml reads committed runs (and the commits registry tags name): commits,
trees and blobs, asked for by id only, so no path from a fetched tree ever reaches
git. A blob of any size can be read a block at a time (dulwich, or `git cat-file -p`
read whole, would hold all of a metric file of millions of points in memory), and a
read with a limit never reads what is over it: a blob fetched from a remote may be any
size.

A blob read a block at a time is inflated here when it is a loose object; a packed one
comes from git, told to stream blobs over 1 MiB (git otherwise builds any packed blob
under core.bigFileThreshold, 512 MiB, whole in memory) through a small pack window
(else the pages it maps add up to the packed size). A blob stored as a delta of
another is still built whole by git.
"""

from __future__ import annotations

import contextlib
import re
import stat
import subprocess
import threading
import zlib
from collections.abc import Iterator
from typing import IO, NamedTuple

from gitml.errors import GitCommandError
from gitml.store.gitcmd import git_environment
from gitml.store.repository import Repository

BLOCK = 1 << 20  # bytes `blocks` hands out at once
MAX_TREE_BYTES = 64 << 20  # a tree object over this is not read (some 1.5M entries)
COMMIT_HEAD = 64 << 10  # of a commit too large to read, the bytes read for its tree
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class StoredObject(NamedTuple):
    """An object's type and size, and its content when it is within the limit it was
    read with."""

    kind: str  # blob, tree, commit, tag
    size: int
    data: bytes | None


class TreeEntry(NamedTuple):
    name: str  # as git stores it; bytes that are no UTF-8 kept as surrogate escapes
    mode: int
    id: str

    @property
    def is_tree(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        """A blob: a file or a symbolic link (not a folder, nor a submodule)."""
        return stat.S_ISREG(self.mode) or stat.S_ISLNK(self.mode)


class CommitObject(NamedTuple):
    tree: str
    parents: list[str]
    message: bytes | None  # None when the commit was over the limit it was read with


class _CatFile(NamedTuple):
    """The `git cat-file --batch` an ObjectReader talks to, and its two pipes."""

    process: subprocess.Popen
    stdin: IO[bytes]
    stdout: IO[bytes]


class ObjectReader:
    """`with ObjectReader(repo) as objects: objects.commit(sha).tree ...`; git starts
    with the first request. Read the blocks of one blob to their end before the next
    request, or the reader starts git again (cheap: a few ms)."""

    def __init__(self, repo: Repository):
        self._objects = repo.common_dir / "objects"
        self._cwd = repo.cwd
        self._git: _CatFile | None = None
        self._unread = 0  # bytes of the last object's content not read yet

    # requests

    def read(
        self, object_id: str, limit: int | None = None, kind: str | None = None
    ) -> StoredObject | None:
        """Object `object_id`, its content unread when it is over `limit` bytes; None
        when the repository does not have it, or when it is not of `kind`."""
        found = self._ask(object_id)
        if found is None:
            return None
        found_kind, size = found
        if kind is not None and found_kind != kind:
            self._discard()
            return None
        if limit is not None and size > limit:
            self._discard()
            return StoredObject(found_kind, size, None)
        return StoredObject(found_kind, size, self._content(size))

    def blocks(self, blob_id: str) -> Iterator[bytes]:
        """The content of blob `blob_id` in blocks of at most BLOCK bytes."""
        yield from self.sized_blocks(blob_id)[1] or ()

    def sized_blocks(
        self, blob_id: str, limit: int | None = None
    ) -> tuple[int, Iterator[bytes] | None]:
        """The size of blob `blob_id`, learnt before any of its content is read, and its
        content in blocks of at most BLOCK bytes; None, unread, when it is over `limit`
        bytes (a blob fetched from a remote may inflate a thousandfold).
        GitCommandError when the repository has no such blob."""
        if _OBJECT_ID.fullmatch(blob_id):
            try:
                loose = open(self._objects / blob_id[:2] / blob_id[2:], "rb")  # noqa: SIM115
            except FileNotFoundError:
                pass
            else:
                try:
                    size, start, pieces = _loose_head(loose, blob_id)
                except BaseException:
                    loose.close()
                    raise
                if limit is not None and size > limit:
                    loose.close()
                    return size, None
                return size, _loose_rest(loose, start, pieces)
        found = self._ask(blob_id)
        if found is None or found[0] != "blob":
            self._stop()
            raise GitCommandError(["cat-file", "--batch", blob_id], f"no blob {blob_id}", 1)
        if limit is not None and found[1] > limit:
            self._discard()
            return found[1], None
        return found[1], self._streamed(blob_id)

    def _streamed(self, blob_id: str) -> Iterator[bytes]:
        """The content of the blob just asked for, as git writes it."""
        stdout = self._output()
        while self._unread:
            block = stdout.read(min(BLOCK, self._unread))
            if not block:
                self._stop()
                raise GitCommandError(["cat-file", "--batch", blob_id], "git stopped early", 1)
            self._unread -= len(block)
            yield block
        stdout.read(1)  # the newline after each object

    def sizes(self, object_ids: list[str]) -> dict[str, int]:
        """The size of each of `object_ids` the repository has, none of their content
        read (one `git cat-file --batch-check`)."""
        asked = [object_id for object_id in object_ids if _OBJECT_ID.fullmatch(object_id)]
        if not asked:
            return {}
        done = subprocess.run(
            ["git", "cat-file", "--batch-check"],
            cwd=self._cwd,
            env=git_environment(),
            input="".join(f"{object_id}\n" for object_id in asked).encode(),
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise GitCommandError(["cat-file", "--batch-check"], message, done.returncode)
        found = {}
        for line in done.stdout.splitlines():
            fields = line.decode(errors="replace").split()
            if len(fields) == 3 and fields[2].isdigit():  # else "<id> missing"
                found[fields[0]] = int(fields[2])
        return found

    def commit(self, commit_id: str, message_limit: int | None = None) -> CommitObject | None:
        """Commit `commit_id`: its tree, parents and message (None when the commit is over
        `message_limit` bytes: only its head is read); None when it is missing, no
        commit, or malformed."""
        found = self._ask(commit_id)
        if found is None:
            return None
        kind, size = found
        if kind != "commit":
            self._discard()
            return None
        if message_limit is None or size <= message_limit:
            data = self._content(size)
        else:
            data = self._output().read(min(COMMIT_HEAD, size))
            self._stop()
        head, separator, message = data.partition(b"\n\n")
        tree, parents = None, []
        for line in head.split(b"\n"):
            name, _, value = line.partition(b" ")
            if name == b"tree":
                tree = value.decode("ascii", "replace")
            elif name == b"parent":
                parents.append(value.decode("ascii", "replace"))
        if tree is None or not _OBJECT_ID.fullmatch(tree):
            return None
        whole = message_limit is None or size <= message_limit
        return CommitObject(tree, parents, message if whole and separator else None)

    def read_many(
        self, object_ids: list[str], limit: int
    ) -> Iterator[tuple[str, StoredObject | None]]:
        """(id, object) of each of `object_ids` in turn, as `read` gives it (its content
        unread when over `limit` bytes; None when missing). They are asked all at once,
        a thread writing the ids while this reads the answers: a round trip per object
        costs more than reading it (a run index of a million runs reads each run's
        commit). Read them to the end, or the reader starts git again."""
        if self._unread:
            self._stop()
        asked = [object_id for object_id in object_ids if _OBJECT_ID.fullmatch(object_id)]
        git = self._start()
        writer = threading.Thread(target=_write_ids, args=(git.stdin, asked), daemon=True)
        writer.start()
        done = False
        try:
            for object_id in object_ids:
                if not _OBJECT_ID.fullmatch(object_id):
                    yield object_id, None  # only ids: no name from a fetched tree
                    continue
                header = git.stdout.readline().split()
                if not header:
                    raise GitCommandError(["cat-file", "--batch"], "git stopped early", 1)
                if len(header) != 3:  # "<id> missing"
                    yield object_id, None
                    continue
                kind, size = header[1].decode(), int(header[2])
                self._unread = size
                if size > limit:
                    self._skip(size)
                    yield object_id, StoredObject(kind, size, None)
                else:
                    yield object_id, StoredObject(kind, size, self._content(size))
            done = True
        finally:
            if not done:  # answers left unread: this git's output is out of step
                git.process.kill()  # first: the writer may be waiting for git to read
            writer.join()
            if not done:
                self._stop()

    def _skip(self, size: int) -> None:
        """Read past the content of the object being answered, a block at a time."""
        stdout = self._output()
        left = size + 1  # and the newline after it
        while left:
            block = stdout.read(min(BLOCK, left))
            if not block:
                self._stop()
                raise GitCommandError(["cat-file", "--batch"], "git stopped early", 1)
            left -= len(block)
        self._unread = 0

    def tree(self, tree_id: str) -> list[TreeEntry] | None:
        """The entries of tree `tree_id`; None when it is missing, no tree, too large,
        or malformed (a tree written by hand and fetched)."""
        found = self.read(tree_id, MAX_TREE_BYTES, "tree")
        if found is None or found.data is None:
            return None
        return parse_tree(found.data, len(tree_id) // 2)

    # the process

    def _ask(self, object_id: str) -> tuple[str, int] | None:
        if not _OBJECT_ID.fullmatch(object_id):
            return None  # only ids: no name from a fetched tree reaches git
        if self._unread:
            self._stop()  # the blocks of the last blob were left unread
        git = self._start()
        try:
            git.stdin.write(object_id.encode() + b"\n")
            git.stdin.flush()
        except BrokenPipeError:
            self._stop()
            raise GitCommandError(["cat-file", "--batch"], "git exited", 1) from None
        header = git.stdout.readline().split()
        if len(header) != 3:  # "<id> missing"
            return None
        self._unread = int(header[2])
        return header[1].decode(), self._unread

    def _content(self, size: int) -> bytes:
        data = self._output().read(size + 1)[:size]  # and the newline after it
        self._unread = 0
        if len(data) != size:
            self._stop()
            raise GitCommandError(["cat-file", "--batch"], "git stopped early", 1)
        return data

    def _discard(self) -> None:
        """Skip the content of the object just asked for: read when small, else by
        starting git again (a blob fetched from a remote may be gigabytes)."""
        if self._unread > BLOCK:
            self._stop()
        else:
            self._content(self._unread)

    def _start(self) -> _CatFile:
        if self._git is None:
            process = subprocess.Popen(
                ["git", *_STREAMING, "cat-file", "--batch"],
                cwd=self._cwd,
                env=git_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert process.stdin is not None and process.stdout is not None  # both are pipes
            self._git = _CatFile(process, process.stdin, process.stdout)
        return self._git

    def _output(self) -> IO[bytes]:
        """What git writes, while it answers the request just made."""
        if self._git is None:
            raise GitCommandError(["cat-file", "--batch"], "git is not running", 1)
        return self._git.stdout

    def _stop(self) -> None:
        git, self._git, self._unread = self._git, None, 0
        if git is not None:
            with contextlib.suppress(OSError):  # ids left unwritten when git was stopped
                git.stdin.close()
            git.stdout.close()
            git.process.kill()  # it may be writing an object nobody will read
            git.process.wait()

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _write_ids(stdin: IO[bytes], object_ids: list[str]) -> None:
    """`read_many`'s writer: every id, then a flush (git answers each line as it comes)."""
    try:
        stdin.write("".join(f"{object_id}\n" for object_id in object_ids).encode())
        stdin.flush()
    except (BrokenPipeError, ValueError):  # git stopped (or was stopped): the reader says
        pass


def parse_tree(data: bytes, id_bytes: int) -> list[TreeEntry] | None:
    """The entries of a raw tree object (`<octal mode> <name>\\0<binary id>` each); None
    when it is malformed."""
    entries = []
    position = 0
    try:
        while position < len(data):
            space = data.index(b" ", position)
            end = data.index(b"\0", space)
            object_id = data[end + 1 : end + 1 + id_bytes]
            if len(object_id) != id_bytes:
                return None
            name = data[space + 1 : end].decode(errors="surrogateescape")
            entries.append(TreeEntry(name, int(data[position:space], 8), object_id.hex()))
            position = end + 1 + id_bytes
    except ValueError:
        return None
    return entries


_STREAMING = [
    "-c",
    "core.bigFileThreshold=1m",
    "-c",
    "core.packedGitWindowSize=1m",
    "-c",
    "core.packedGitLimit=8m",
]


def _loose_head(file, blob_id: str) -> tuple[int, bytes, Iterator[bytes]]:
    """A loose blob's size (zlib of `blob <size>`, a NUL, then the content), the start
    of its content inflated with the header, and the pieces that follow."""
    pieces = _inflated(file)
    head = b""
    for piece in pieces:
        head += piece
        if b"\0" in head or len(head) > 64:
            break
    kind, nul, start = head.partition(b"\0")
    size = kind[5:]
    if not nul or not kind.startswith(b"blob ") or not (size.isascii() and size.isdigit()):
        raise GitCommandError(["cat-file", blob_id], f"no readable blob {blob_id}", 1)
    return int(size), start, pieces


def _loose_rest(file, start: bytes, pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The content of a loose blob after its header (see `_loose_head`); closes `file`."""
    with file:
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
