"""Find the repository a path belongs to, and read HEAD without git libraries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitml.errors import BareRepositoryError, GitCommandError, NotARepositoryError
from gitml.store.gitcmd import git_output
from gitml.store.layout import STATE_DIR


@dataclass(frozen=True)
class Repository:
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
    try:
        packed = (repo.common_dir / "packed-refs").read_text()
    except FileNotFoundError:
        return None
    for line in packed.splitlines():
        if line.endswith(" " + ref) and not line.startswith(("#", "^")):
            return line.split(" ", 1)[0]
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
