"""Find the repository a path belongs to, and read HEAD without git libraries."""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import NamedTuple

from gitml.errors import BareRepositoryError, GitCommandError, NotARepositoryError
from gitml.store.gitcmd import git_output
from gitml.store.layout import STATE_DIR


class Repository(NamedTuple):
    """Where a repository's parts live.

    `root` is the work tree (None for a bare repository), `git_dir` the
    per-worktree git folder (HEAD, index), `common_dir` the shared one
    (objects, refs, gitml's local state).
    """

    root: Path | None
    git_dir: Path
    common_dir: Path

    @property
    def state_dir(self) -> Path:
        """gitml's local, non-history state (docs/architecture.md)."""
        return self.common_dir / STATE_DIR

    @property
    def work_tree(self) -> Path:
        if self.root is None:
            raise BareRepositoryError(str(self.git_dir))
        return self.root

    @property
    def cwd(self) -> str:
        return str(self.root or self.git_dir)


def open_repository(path: str | os.PathLike | Repository = ".") -> Repository:
    """The repository holding `path` (a Repository passes through)."""
    if isinstance(path, Repository):
        return path
    start = Path(path).resolve()
    if not start.is_dir():
        raise NotARepositoryError(str(start))
    asked = ["rev-parse", "--is-bare-repository", "--absolute-git-dir", "--git-common-dir"]
    try:
        out = git_output([*asked, "--show-toplevel"], str(start)).splitlines()
    except GitCommandError:
        # Bare, inside .git, or not a repository: ask without the work tree.
        try:
            out = git_output(asked, str(start)).splitlines()
        except GitCommandError as error:
            raise NotARepositoryError(str(start)) from error
    is_bare, git_dir, common_dir = out[0] == "true", Path(out[1]), Path(out[2])
    if not common_dir.is_absolute():
        common_dir = (start / common_dir).resolve()
    if is_bare:
        return Repository(root=None, git_dir=git_dir, common_dir=common_dir)
    # Inside the .git folder of a non-bare repository, use its work tree.
    root = out[3] if len(out) > 3 else str(git_dir.parent)
    return Repository(root=Path(root), git_dir=git_dir, common_dir=common_dir)


def read_head(repo: Repository) -> tuple[str | None, str | None]:
    """(branch name or None when detached, commit sha or None when unborn)."""
    head = (repo.git_dir / "HEAD").read_text().strip()
    if not head.startswith("ref: "):
        return None, head
    ref = head[5:]
    branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else ref
    return branch, resolve_ref_file(repo, ref)


def resolve_ref_file(repo: Repository, ref: str) -> str | None:
    """The sha a ref names, from its loose file or packed-refs; None if absent."""
    for base in (repo.git_dir, repo.common_dir):
        try:
            value = (base / ref).read_text().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        if value.startswith("ref: "):
            return resolve_ref_file(repo, value[5:])
        return value
    return packed_ref_sha(repo, ref)


def packed_ref_sha(repo: Repository, ref: str) -> str | None:
    """The sha packed-refs gives `ref`, or None: a binary search when git wrote the file
    sorted (as its first line says), so that reading HEAD's branch or creating a run's
    ref costs the same at a million runs (a 60 MB file) as at ten."""
    try:
        file = open(repo.common_dir / "packed-refs", "rb")  # noqa: SIM115  # closed below
    except FileNotFoundError:
        return None
    with file:
        if os.fstat(file.fileno()).st_size == 0:
            return None
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            header = data[: data.find(b"\n") + 1]
            wanted = ref.encode(errors="surrogateescape")
            if header.startswith(b"# pack-refs with:") and b" sorted" in header:
                line = _sorted_line(data, wanted)
            else:
                line = _scanned_line(data, wanted)
    return None if line is None else line.partition(b" ")[0].decode(errors="replace")


def _scanned_line(data: mmap.mmap, ref: bytes) -> bytes | None:
    at = data.find(b" " + ref + b"\n")
    while at >= 0:
        start = data.rfind(b"\n", 0, at) + 1
        if data[start : start + 1] not in (b"#", b"^"):
            return data[start:at]
        at = data.find(b" " + ref + b"\n", at + 1)
    return None


def _sorted_line(data: mmap.mmap, ref: bytes) -> bytes | None:
    """The line `<sha> <ref>` of sorted packed-refs lines (each maybe followed by a
    peeled `^<sha>` line, after a `#` header), found by bisection; None if absent."""
    low, high = 0, len(data)
    while low < high:
        middle = (low + high) // 2
        start = data.rfind(b"\n", 0, middle) + 1
        while data[start : start + 1] == b"^" and start > 0:  # peeled: its ref is above
            start = data.rfind(b"\n", 0, start - 1) + 1
        end = data.find(b"\n", start)
        line = data[start : end if end >= 0 else len(data)]
        name = None if line.startswith(b"#") else line.partition(b" ")[2]
        if name is None or name < ref:
            own_end = data.find(b"\n", middle)
            low = len(data) if own_end < 0 else own_end + 1
        elif name > ref:
            high = start
        else:
            return line
    return None


def parse_size(text: str) -> int:
    """git's size syntax: a number with an optional k, m or g suffix."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower()
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def start_auto_gc(repo: Repository) -> None:
    """Start `git gc --auto` in the background, as git's own commands do after writing.

    It packs loose objects and refs once there are many, which keeps listing
    thousands of runs fast; it does nothing (and costs a few ms) otherwise.
    """
    import subprocess

    subprocess.Popen(
        ["git", "gc", "--auto", "--quiet"],
        cwd=repo.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
