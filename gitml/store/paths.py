"""Paths read from git trees, checked before they become file paths.

A run or a registry tag fetched from a remote is hostile: its tree may hold
entries named `..`, `.git` or `/etc`, or a symbolic link with a file "beneath"
it. Every place that turns a tree path into a file path goes through
`check_tree_path` (the rules git's own `verify_path` applies before it reads a
tree into its index), `check_tree_files` (no file beneath a link or a file, no
path twice) and `destination` (no existing link on the way, nothing outside the
target folder).

Files only, no git and no dulwich: the logging API imports `is_git_name`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from gitml.errors import UnsafePathError

# Characters HFS+ ignores in file names, so ".g\u200cit" is ".git" there and git refuses it.
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


def is_git_name(name: str) -> bool:
    """A path part git refuses in a tree: `.git` in any case, and the spellings that
    mean `.git` on NTFS (`.git.`, `.git `, `git~1`) and HFS+ (with ignored characters)."""
    folded = name.translate(_HFS_IGNORED).lower()
    return folded.rstrip(". ") == ".git" or folded == "git~1"


def tree_path_problem(path: str) -> str | None:
    """What makes `path` unfit to name a file inside a folder, or None."""
    if not path:
        return "is empty"
    if "\x00" in path:
        return "holds a NUL byte"
    if path.startswith("/"):
        return "is absolute"
    for part in path.split("/"):
        if not part:
            return "has an empty part"
        if part in (".", ".."):
            return f"has a {part!r} part"
        if is_git_name(part):
            return f"has a {part!r} part (git's own folder)"
    return None


def check_tree_path(path: str, where: str) -> list[str]:
    """The parts of `path`, a posix path relative to a folder; UnsafePathError (naming
    `where` the path came from) when it could lead elsewhere."""
    problem = tree_path_problem(path)
    if problem is not None:
        raise UnsafePathError(path, problem, where)
    return path.split("/")


def check_tree_files(entries: Iterable[tuple[str, int]], where: str) -> None:
    """Check the (path, mode) of every file and link of a tree: each path is safe,
    none appears twice, and none lies beneath another entry (a link `m` and a file
    `m/x` would make writing `m/x` follow the link)."""
    seen: dict[str, int] = {}
    for path, mode in entries:
        check_tree_path(path, where)
        if path in seen:
            raise UnsafePathError(path, "appears twice", where)
        seen[path] = mode
    for path in seen:
        parts = path.split("/")
        for end in range(1, len(parts)):
            above = "/".join(parts[:end])
            if above in seen:
                kind = "symbolic link" if stat.S_ISLNK(seen[above]) else "file"
                raise UnsafePathError(path, f"lies beneath the {kind} {above!r}", where)


def destination(root: Path, path: str, where: str) -> Path:
    """Where the tree path `path` goes inside folder `root`: the path is checked, and
    no part of it on disk may be a symbolic link (nor may the file itself), so that
    writing there never leaves `root`."""
    parts = check_tree_path(path, where)
    target = Path(root)
    for index, part in enumerate(parts):
        target = target / part
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            break  # nothing further down exists yet: nothing to follow
        if stat.S_ISLNK(mode):
            raise UnsafePathError(
                path, f"would be written through the symbolic link {target}", where
            )
        if index < len(parts) - 1 and not stat.S_ISDIR(mode):
            raise UnsafePathError(path, f"lies beneath {target}, which is not a folder", where)
        if index == len(parts) - 1 and stat.S_ISDIR(mode):
            raise UnsafePathError(path, f"names {target}, which is a folder", where)
    return Path(root).joinpath(*parts)
