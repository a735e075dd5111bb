"""Which files an artifact path stands for, and which a run must never store.

A run's tree must stay one that `git fsck` (and so every remote with
`receive.fsckObjects`, GitHub's included) accepts, and hold only what the user
meant to store:

- nothing from a `.git` folder: the repository's own is refused, a nested
  repository's (or the one `--artifact .` would sweep up) is left out of a
  folder, and no stored name may have a `.git` part (fsck: hasDotgit);
- nothing from outside the repository through a symbolic link: inside a
  folder, a link that leads out is stored as a link, as git stores one;
- no file named like a secret (`gitml.store.secret_files`), unless the user allowed
  it: left out of a folder (and reported), refused as a file;
- never half a folder: sizes are checked before the first file is copied.

Files only, no git: the logging API uses this too and must stay light.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitml.errors import ArtifactError
from gitml.store.paths import is_git_name
from gitml.store.walk import walk

if TYPE_CHECKING:
    from gitml.tracking.staging import Staging


@dataclass(frozen=True)
class FolderEntry:
    """One thing to store from a folder: a file's bytes, or a link (`link`: its target)."""

    name: str  # posix path relative to the folder
    path: Path
    link: str | None = None


def check_source(path: Path, shown: str, git_dirs: Sequence[Path], root: Path | None) -> Path:
    """`path` resolved (symbolic links followed). Refused: a path in a `.git` folder or
    in one of `git_dirs`, and, when `root` is given, a path outside it."""
    resolved = path.absolute().resolve()
    if in_git_folder(resolved, git_dirs):
        raise ArtifactError(
            f"artifact {shown!r} is in a .git folder, which a run never stores "
            "(git itself refuses such trees); choose a file or folder outside .git"
        )
    if root is not None and not is_within(resolved, root):
        raise ArtifactError(
            f"artifact {shown!r} is outside the repository ({root}); "
            "write it inside the work tree or log it from the script"
        )
    return resolved


def is_within(path: Path, folder: Path) -> bool:
    """`path` is `folder` or below it (compared as written, as `Path.is_relative_to`
    does; that method is missing before Python 3.9, where a script may run this)."""
    return path == folder or folder in path.parents


def in_git_folder(resolved: Path, git_dirs: Sequence[Path] = ()) -> bool:
    return any(map(is_git_name, resolved.parts)) or any(
        is_within(resolved, folder) for folder in git_dirs
    )


def folder_entries(folder: Path, inside: Sequence[Path]) -> list[FolderEntry]:
    """What storing `folder` stores, sorted by name.

    `.git` files and folders are left out. A symbolic link is followed when it
    leads to a file within one of `inside` (and in no `.git` folder); any other
    link (leading out, to a folder, or nowhere) is stored as the link itself.
    """
    entries = []
    for top, folders, files in walk(folder):  # does not descend into linked folders
        here = Path(top)
        folders[:] = [name for name in folders if not is_git_name(name)]
        for name in [*files, *(f for f in folders if (here / f).is_symlink())]:
            if is_git_name(name):
                continue
            path = here / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink() and not _leads_to_file_inside(path, inside):
                entries.append(FolderEntry(relative, path, os.readlink(path)))
            elif path.is_file():
                entries.append(FolderEntry(relative, path))
        folders[:] = [name for name in folders if not (here / name).is_symlink()]
    return sorted(entries, key=lambda entry: entry.name)


def _leads_to_file_inside(link: Path, inside: Sequence[Path]) -> bool:
    target = link.resolve()
    return (
        target.is_file()
        and not in_git_folder(target)
        and any(is_within(target, folder) for folder in inside)
    )


def store_folder(
    staging: Staging, folder: Path, prefix: str | None, inside: Sequence[Path], shown: str
) -> list[str]:
    """Store what `folder_entries` finds under `folder` (`shown` to the user) in the run,
    as `prefix/<name>`: all of it or nothing. Files named like secrets (the run's rule, see
    `gitml.store.secret_files`) are left out; their names are returned. A file over the
    size limit refuses the whole folder, before anything is stored."""
    secrets = staging.secrets
    kept, left_out = [], []
    for entry in folder_entries(folder, inside):
        name = f"{prefix.rstrip('/')}/{entry.name}" if prefix else entry.name
        if secrets.is_secret(name) or secrets.is_secret(str(entry.path.resolve())):
            left_out.append(name)
        else:
            kept.append((name, entry))
    sizes = [(name, _stored_size(entry)) for name, entry in kept]
    staging.check_sizes(sizes, whole=shown)
    stored: list[str] = []
    try:
        for name, entry in kept:
            if entry.link is None:
                staging.add_artifact_file(entry.path, name)
            else:
                staging.add_artifact_link(name, entry.link)
            stored.append(name)
    except (OSError, ArtifactError) as error:
        staging.remove_artifacts(stored)
        if isinstance(error, ArtifactError):
            raise
        raise ArtifactError(
            f"artifact {shown!r}: cannot read {error.filename}: "
            f"{error.strerror}; nothing of it was stored"
        ) from None
    return left_out


def _stored_size(entry: FolderEntry) -> int:
    if entry.link is not None:
        return len(os.fsencode(entry.link))
    try:
        return entry.path.stat().st_size
    except OSError:
        return 0  # gone or unreadable: reported when it is copied
