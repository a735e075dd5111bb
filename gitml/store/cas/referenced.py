"""The pointers runs hold, found in bulk: which objects `gitml push` must upload and
`gitml fetch` download for a set of run commits, and which `gitml gc --objects` must
keep (every ref's).

One `git rev-list --objects` lists the objects the commits reach with their paths
(blobs too large to be a pointer left out by git); the blobs under
`.gitml/artifacts/` are read through one `git cat-file --batch`. Both stream, so time
and memory grow with the objects git lists, in C, not with a process per run.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from gitml.errors import GitCommandError
from gitml.store.blobs import ObjectReader
from gitml.store.cas.pointer import MAX_POINTER_BYTES, Pointer, looks_like_pointer, parse_pointer
from gitml.store.gitcmd import git_environment
from gitml.store.layout import RECORD_ARTIFACTS
from gitml.store.repository import Repository

PREFIX = RECORD_ARTIFACTS + "/"
MAX_RUN_COMMIT_BYTES = 8 << 20  # as a run ref's message is read (gitml.store.refs)


def pointers_in(repo: Repository, commits: list[str] | None) -> dict[str, tuple[str, Pointer]]:
    """sha256 → (artifact path, pointer) of each object a pointer under `.gitml/artifacts/`
    names, in the trees of `commits` (None: of every ref)."""
    import tempfile

    found: dict[str, tuple[str, Pointer]] = {}
    if commits is not None and not commits:
        return found
    args = ["git", "rev-list", "--objects", f"--filter=blob:limit={MAX_POINTER_BYTES + 1}"]
    with tempfile.TemporaryFile() as listed:
        if commits is None:
            args.append("--all")
        else:
            args.append("--stdin")
            listed.write("".join(f"{commit}\n" for commit in commits).encode())
            listed.seek(0)
        walk = subprocess.Popen(
            args,
            cwd=repo.cwd,
            env=git_environment(),
            stdin=listed,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert walk.stdout is not None  # a pipe
        with ObjectReader(repo) as objects:
            for line in walk.stdout:
                object_id, _, path = line.rstrip(b"\n").partition(b" ")
                name = path.decode(errors="surrogateescape")
                if not name.startswith(PREFIX):
                    continue
                blob = objects.read(object_id.decode(), MAX_POINTER_BYTES, "blob")
                if blob is None or blob.data is None or not looks_like_pointer(blob.data):
                    continue
                pointer = parse_pointer(blob.data)
                if pointer is not None:
                    found.setdefault(pointer.sha256, (name[len(PREFIX) :], pointer))
        status = walk.wait()
    if status != 0:  # never act on a partial listing
        raise GitCommandError(["rev-list", "--objects"], "git could not list the objects", status)
    return found


def run_pointers(repo: Repository, commits: list[str]) -> dict[str, tuple[str, Pointer]]:
    """`pointers_in` for run commits: only each one's own `.gitml/artifacts/` folder is
    read (one `git cat-file --batch`), never its code nor the history under it."""
    found: dict[str, tuple[str, Pointer]] = {}
    if not commits:
        return found
    with ObjectReader(repo) as objects:
        for commit_id in dict.fromkeys(commits):
            commit = objects.commit(commit_id, MAX_RUN_COMMIT_BYTES)
            if commit is None:
                continue  # a run ref naming no commit (a damaged run) points to nothing
            folder = _subtree(objects, commit.tree, PREFIX.strip("/").split("/"))
            pending = [("", folder)] if folder else []
            while pending:
                path, tree_id = pending.pop()
                for entry in objects.tree(tree_id) or []:
                    name = path + entry.name
                    if entry.is_tree:
                        pending.append((name + "/", entry.id))
                    elif stat.S_ISREG(entry.mode):
                        blob = objects.read(entry.id, MAX_POINTER_BYTES, "blob")
                        if blob is None or blob.data is None or not looks_like_pointer(blob.data):
                            continue
                        pointer = parse_pointer(blob.data)
                        if pointer is not None:
                            found.setdefault(pointer.sha256, (name, pointer))
    return found


def _subtree(objects: ObjectReader, tree_id: str, names: list[str]) -> str | None:
    """The id of folder `names` (one name a level) in tree `tree_id`, None when none."""
    for name in names:
        entry = next((e for e in objects.tree(tree_id) or [] if e.name == name), None)
        if entry is None or not entry.is_tree:
            return None
        tree_id = entry.id
    return tree_id


def pointed_objects(repo: Repository, staging_folders: list[Path]) -> set[str]:
    """sha256 of every object a pointer reachable from a ref, or staged under one of
    `staging_folders`, names. Staging folders are read first: a run committed meanwhile
    is then found in one place or the other."""
    found = _staged(staging_folders)
    return found | set(pointers_in(repo, None))


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
