"""Snapshot the work tree into a git tree without touching the user's index.

Like `git stash -u`: a copy of the index (so git's stat cache stays valid and
unchanged files are not re-hashed) is updated with every change and every
untracked, non-ignored file, then written as a tree. The user's index, HEAD
and files are only read.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from gitml.errors import ReservedPathError
from gitml.store.gitcmd import git_environment, run_git
from gitml.store.layout import RECORD_DIR
from gitml.store.repository import Repository
from gitml.store.secret_files import SecretRule


@dataclass
class Snapshot:
    tree: str
    skipped_large: list[str] = field(default_factory=list)
    skipped_secret: list[str] = field(default_factory=list)


def snapshot_work_tree(
    repo: Repository, scratch_index: Path, size_limit: int, secrets: SecretRule | None = None
) -> Snapshot:
    """Write the work tree as git sees it (with uncommitted and untracked files) as a tree.

    Untracked files larger than `size_limit` or looking like secrets (`secrets`) are
    left out and reported. `scratch_index` is a path gitml owns; it is removed after.
    """
    secrets = secrets or SecretRule()
    root = str(repo.work_tree)
    user_index = repo.git_dir / "index"
    scratch_index.parent.mkdir(parents=True, exist_ok=True)
    if user_index.exists():
        # copy2 keeps the index's mtime, so git's racy-entry check still re-hashes
        # files changed in the same second as the index was written
        shutil.copy2(user_index, scratch_index)
    env = git_environment({"GIT_INDEX_FILE": str(scratch_index)})
    try:
        _refuse_reserved_dir(root, env)
        snapshot = Snapshot(tree="")
        untracked = run_git(
            ["ls-files", "-z", "--others", "--exclude-standard"], root, env=env
        ).stdout.decode(errors="surrogateescape")
        for path in filter(None, untracked.split("\0")):
            if secrets.is_secret(path):
                snapshot.skipped_secret.append(path)
            elif _size(os.path.join(root, path)) > size_limit:
                snapshot.skipped_large.append(path)
        excluded = snapshot.skipped_secret + snapshot.skipped_large
        pathspec = "\0".join(["."] + [f":(exclude,literal){p}" for p in excluded])
        run_git(
            ["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"],
            root,
            env=env,
            input=pathspec.encode(errors="surrogateescape"),
        )
        snapshot.tree = run_git(["write-tree"], root, env=env).stdout.decode().strip()
        return snapshot
    finally:
        scratch_index.unlink(missing_ok=True)


def _refuse_reserved_dir(root: str, env: dict[str, str]) -> None:
    if not os.path.lexists(os.path.join(root, RECORD_DIR)):
        return
    listed = run_git(
        ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", RECORD_DIR],
        root,
        env=env,
    ).stdout
    if listed:
        raise ReservedPathError(RECORD_DIR + "/")


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
