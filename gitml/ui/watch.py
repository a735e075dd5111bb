"""Cheap fingerprints of what changes while the server runs: run refs, runs in progress,
registry tags. `GET /api/events` compares them once a second; the runs table is cached
under them.

Nothing here reads a commit or a metric: run refs are one folder and `packed-refs`
(their modification times change whenever a ref is created, moved or deleted, since
git writes a ref by renaming a new file into place), a run in progress is its staging
folder's files (their sizes and times grow as it logs).
"""

from __future__ import annotations

import os
from pathlib import Path

from gitml.store.refs import ARCHIVE_PREFIX, RUNS_PREFIX, archive_shas, run_shas
from gitml.store.repository import Repository
from gitml.tracking.staging import runs_dir

Stamp = tuple


def _stat(path: Path) -> Stamp:
    try:
        found = os.stat(path)
    except OSError:
        return ()
    return (found.st_mtime_ns, found.st_size, found.st_ino)


def _uses_files(repo: Repository) -> bool:
    from gitml.store.config import repository_extension

    return repository_extension(repo, "refStorage") in (None, "files")


class Watcher:
    """The fingerprints of one repository (which ref storage it uses is read once)."""

    def __init__(self, repo: Repository):
        self.repo = repo
        self.files = _uses_files(repo)

    def run_refs(self) -> Stamp:
        """Changes when a run ref is created, moved or deleted."""
        common = self.repo.common_dir
        if not self.files:  # another ref storage: ask git
            shas = {**run_shas(self.repo), **archive_shas(self.repo)}
            return tuple(sorted(shas.items()))
        folders = (common / RUNS_PREFIX, common / ARCHIVE_PREFIX)
        return (_stat(common / "packed-refs"), *map(_stat, folders))

    def tags(self) -> Stamp:
        """Changes when a tag (a registry event) is written or removed."""
        common = self.repo.common_dir
        if not self.files:
            from gitml.store.gitcmd import run_git

            listing = run_git(["for-each-ref", "refs/tags/"], self.repo.cwd, check=False)
            return (listing.stdout,)
        return (_stat(common / "packed-refs"), *_folder_stamps(common / "refs" / "tags"))

    def running(self) -> dict[str, Stamp]:
        """run id → fingerprint of each run in progress (its staging folder's files)."""
        found: dict[str, Stamp] = {}
        try:
            entries = list(os.scandir(runs_dir(self.repo.state_dir)))
        except OSError:
            return found
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                found[entry.name] = tuple(_folder_stamps(Path(entry.path), depth=2))
        return found

    def runs(self) -> Stamp:
        """Changes when any run is added, removed, moved, or logs something."""
        return (self.run_refs(), tuple(sorted(self.running().items())))


def _folder_stamps(folder: Path, depth: int = 3) -> list[Stamp]:
    """(name, size, mtime) of the files in `folder` and its sub-folders down to `depth`."""
    stamps: list[Stamp] = [_stat(folder)]
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return stamps
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if depth > 1:
                    stamps.append((entry.name, *_folder_stamps(Path(entry.path), depth - 1)))
            else:
                found = entry.stat(follow_symlinks=False)
                stamps.append((entry.name, found.st_size, found.st_mtime_ns))
        except OSError:
            continue
    return stamps
