"""Reading a run's artifacts out: listing them (`gitml artifacts ls`) and writing one
to a folder (`gitml artifacts get`, `gitml model get`, the model cache).

A run's files may come from a remote: every path is checked, and every destination on
disk, before anything is written (UnsafePathError names `where` they came from).
"""

import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from gitml.errors import ArtifactError, InvalidValueError
from gitml.store.cas.folder import FolderStore
from gitml.store.cas.stores import local_store
from gitml.store.layout import ARTIFACTS_DIR
from gitml.store.paths import check_tree_files, destination, tree_path_problem
from gitml.store.repository import Repository
from gitml.tracking.model import ArtifactEntry, StoredFile
from gitml.tracking.readers import RunReader

GIT_STORE = "git"  # an artifact whose bytes are a blob of the run's own tree
MAX_LINK_BYTES = 4096  # a link target longer than any system takes is read as no link


@dataclass(frozen=True)
class ListedArtifact:
    """An artifact as the run holds it: its path, size and sha256 (those of the target's
    text for a symbolic link), and where its bytes are stored: `git` (a blob of the run's
    tree), else, stored by content, the shared store, and whether this repository holds
    a copy (`here`)."""

    entry: ArtifactEntry
    store: str = GIT_STORE
    here: bool = True

    def to_json(self) -> dict:
        return {**self.entry.to_json(), "store": self.store, "here": self.here}


def artifact_path(path: str) -> str:
    """An artifact path a user typed, without a trailing `/`; InvalidValueError when it
    could name nothing in a run (absolute, `..`, empty parts)."""
    trimmed = path.rstrip("/")
    problem = tree_path_problem(trimmed) if path else None
    if problem is not None:
        raise InvalidValueError(f"artifact path {path!r} {problem}")
    return trimmed


def list_artifacts(repo: Repository, reader: RunReader, path: str = "") -> list[ListedArtifact]:
    """The artifacts of the run `reader` reads (all, or the file or folder `path`), by
    path; each file's bytes are read, a block at a time, for its size and sha256 (those
    of a file stored by content come from its pointer). ArtifactError when `path` names
    none."""
    local = local_store(repo)
    listed = [_listed(reader, file, local) for file in _files(reader, path)]
    return sorted(listed, key=lambda item: item.entry.path)


def _listed(reader: RunReader, file: StoredFile, local: FolderStore) -> ListedArtifact:
    pointer = None if file.link else reader.stored_by_content(f"{ARTIFACTS_DIR}/{file.path}")
    if pointer is not None:  # its size and sha256 are the pointer's: nothing is downloaded
        entry = ArtifactEntry(file.path, pointer.size, pointer.sha256, None, pointer.store)
        return ListedArtifact(entry, pointer.store, local.has(pointer.sha256))
    digest, size = hashlib.sha256(), 0
    for block in reader.file_blocks(f"{ARTIFACTS_DIR}/{file.path}") or ():
        digest.update(block)
        size += len(block)
    link = None
    if file.link:
        link = os.fsdecode(reader.read_file(f"{ARTIFACTS_DIR}/{file.path}", MAX_LINK_BYTES) or b"")
    return ListedArtifact(ArtifactEntry(file.path, size, digest.hexdigest(), link))


def _files(reader: RunReader, path: str) -> list[StoredFile]:
    files = reader.artifact_files(path)
    if path and not files:
        raise ArtifactError(
            f"{reader.label} holds no artifact {path!r}; list them with "
            f"`gitml artifacts ls {reader.summary.id[:12]}`"
        )
    return files


def download(reader: RunReader, path: str, out_dir: Path, force: bool) -> list[Path]:
    """Write the artifact file or folder `path` of the run into `out_dir`, named like it
    (its last part): `gitml artifacts get`. Links that stay inside `out_dir` are written
    as links; existing files are replaced only with `force`. Returns the files written."""
    _files(reader, path)
    check_out_dir(out_dir)
    name = path.rsplit("/", 1)[-1]
    return write_artifact(reader, path, out_dir, reader.label, name, force=force, links=True)


def check_out_dir(out_dir: Path) -> None:
    """Refuse, before writing anything, a folder that cannot be made: a file stands
    where it, or a folder on the way to it, would be."""
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InvalidValueError(
                    f"cannot write into {out_dir}: {folder} is a file, not a folder"
                )
            return


def write_artifact(
    reader: RunReader,
    path: str,
    root: Path,
    where: str,
    name: str = "",
    *,
    force: bool = True,
    links: bool = False,
) -> list[Path]:
    """Write the artifact file or folder `path` of the run `reader` reads into folder
    `root`: as `root/name`, or, for a folder and no `name`, its content right in `root`.
    Returns the files written; none when the run has no artifact `path`.

    A symbolic link is written as a file holding its target, or, with `links`, as a
    link when its target stays inside `root` (see `_stays_inside`). Without `force`,
    a file already there is refused before anything is written."""
    files = reader.artifact_files(path)
    if len(files) == 1 and files[0].path == path:  # a file
        planned = [(name or path.rsplit("/", 1)[-1], files[0])]
    else:
        prefix = f"{name}/" if name else ""
        planned = [(prefix + file.path[len(path) + 1 :], file) for file in files]
    check_tree_files([(relative, file.mode) for relative, file in planned], where)
    targets = [destination(root, relative, where) for relative, _ in planned]
    if not force:
        existing = [target for target in targets if os.path.lexists(target)]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise ArtifactError(
                f"{existing[0]}{more} already exists; pass --force to replace it "
                "(nothing was written)"
            )
    stored_by_content = {}
    for _, file in planned:  # large artifacts are downloaded (and checked) before any write
        pointer = None if file.link else reader.stored_by_content(f"{ARTIFACTS_DIR}/{file.path}")
        if pointer is not None:
            reader.file_blocks(f"{ARTIFACTS_DIR}/{file.path}")
            stored_by_content[file.path] = pointer.sha256
    linked = {relative for relative, file in planned if file.link} if links else set()
    for target, (relative, file) in zip(targets, planned, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        stored = f"{ARTIFACTS_DIR}/{file.path}"
        if relative in linked:
            link = os.fsdecode(reader.read_file(stored, MAX_LINK_BYTES) or b"")
            if _stays_inside(relative, link, linked):
                if os.path.lexists(target):
                    os.unlink(target)
                os.symlink(link, target)
                continue
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            if file.path in stored_by_content:  # copied by the kernel from the local store
                local_store(reader.repo).copy_to(stored_by_content[file.path], out.fileno())
                continue
            for block in reader.file_blocks(stored) or ():
                out.write(block)
    return targets


def _stays_inside(relative: str, link: str, linked: set[str]) -> bool:
    """Whether the link at `relative` (a path in the folder written to) with target
    `link` leads to a place inside that folder: relative, never above it, and never
    through another link written (whose own target would make `..` climb elsewhere)."""
    if not link or "\x00" in link or link.startswith("/"):
        return False
    parts: list[str] = relative.split("/")[:-1]
    steps = link.split("/")
    for index, step in enumerate(steps):
        if step in ("", "."):
            continue
        if step == "..":
            if not parts:
                return False
            parts.pop()
        else:
            parts.append(step)
            if index < len(steps) - 1 and posixpath.join(*parts) in linked:
                return False
    return True
