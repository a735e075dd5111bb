"""Which objects of the local store some run still points to, for `gitml gc --objects`.

Every blob small enough to be a pointer that any ref reaches (run refs, archives,
snapshot refs, branches, tags) is read, through one `git rev-list --objects` and one
`git cat-file --batch`; git streams both, so memory grows with the pointers found, not
with the repository. Runs in progress point from their staging folders.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitml.errors import GitCommandError
from gitml.store.blobs import ObjectReader
from gitml.store.cas.pointer import MAX_POINTER_BYTES, looks_like_pointer, parse_pointer
from gitml.store.gitcmd import git_environment
from gitml.store.repository import Repository


def pointed_objects(repo: Repository, staging_folders: list[Path]) -> set[str]:
    """sha256 of every object a pointer reachable from a ref, or staged under one of
    `staging_folders`, names. Staging folders are read first: a run committed meanwhile
    is then found in one place or the other."""
    found = _staged(staging_folders)
    listing = subprocess.Popen(
        ["git", "rev-list", "--objects", "--all", f"--filter=blob:limit={MAX_POINTER_BYTES}"],
        cwd=repo.cwd,
        env=git_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert listing.stdout is not None  # a pipe
    with ObjectReader(repo) as objects:
        for line in listing.stdout:
            object_id = line.split(b" ", 1)[0].strip().decode()
            blob = objects.read(object_id, MAX_POINTER_BYTES, "blob")
            if blob is not None and blob.data is not None and looks_like_pointer(blob.data):
                pointer = parse_pointer(blob.data)
                if pointer is not None:
                    found.add(pointer.sha256)
    status = listing.wait()
    if status != 0:  # never collect from a partial listing
        raise GitCommandError(["rev-list", "--objects"], "git could not list the objects", status)
    return found


def _staged(folders: list[Path]) -> set[str]:
    found = set()
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size <= MAX_POINTER_BYTES:
                pointer = parse_pointer(path.read_bytes())
                if pointer is not None:
                    found.add(pointer.sha256)
    return found
