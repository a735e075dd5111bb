"""Read and write git objects in-process with dulwich."""

import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dulwich.object_store import DiskObjectStore, MaxTreeDepthExceeded
from dulwich.objects import Blob, Commit, Tree

from gitml.errors import RunStateError, UnsafePathError
from gitml.store.paths import check_tree_files, destination
from gitml.store.repository import Repository

FILE_MODE = 0o100644
LINK_MODE = 0o120000  # a symbolic link: the blob holds its target
TREE_MODE = stat.S_IFDIR


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def as_bytes(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


class ObjectStore:
    """The repository's object database, opened once per use."""

    def __init__(self, repo: Repository):
        # Level 1 is git's own default for loose objects (core.looseCompression):
        # a 100,000-point metric file compresses 5x faster than at zlib's default.
        self._store = DiskObjectStore(str(repo.common_dir / "objects"), loose_compression_level=1)
        self._objects = repo.common_dir / "objects"

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> "ObjectStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # writing

    def _add(self, obj) -> None:
        """Write a loose object as git does: into a temporary file of this process, then
        renamed into place. An object's name fixes its content, so two processes writing
        the same object at once are harmless, and a crash leaves no `.lock` behind (a
        lock that a killed writer leaves would make `git fsck` complain for ever)."""
        sha = obj.id.decode()
        path = self._objects / sha[:2] / sha[2:]
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True)
        descriptor, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=path.parent)
        with os.fdopen(descriptor, "wb") as file:
            file.write(obj.as_legacy_object(compression_level=1))
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)

    def write_blob(self, data: bytes) -> bytes:
        blob = Blob.from_string(data)
        self._add(blob)
        return blob.id

    def write_tree_of_files(
        self, files: dict[str, bytes], links: frozenset[str] = frozenset()
    ) -> bytes:
        """A tree holding `files` (posix relative path → content), sub-folders included;
        the paths in `links` are symbolic links whose content is their target."""
        nested: dict = {}
        for path, data in files.items():
            node = nested
            *folders, name = path.split("/")
            for folder in folders:
                node = node.setdefault(folder, {})
            node[name] = (LINK_MODE if path in links else FILE_MODE, self.write_blob(data))
        return self._write_nested(nested)

    def _write_nested(self, node: dict) -> bytes:
        tree = Tree()
        for name, child in node.items():
            if isinstance(child, dict):
                tree.add(name.encode(), TREE_MODE, self._write_nested(child))
            else:
                tree.add(name.encode(), *child)
        self._add(tree)
        return tree.id

    def with_entry(self, tree_id: bytes, name: str, subtree_id: bytes) -> bytes:
        """A copy of tree `tree_id` with folder `name` set to `subtree_id`."""
        tree = self._store[tree_id]
        tree.add(name.encode(), TREE_MODE, subtree_id)
        self._add(tree)
        return tree.id

    def write_commit(
        self,
        tree: bytes,
        parents: list[bytes],
        message: str,
        author: Identity,
        when: float | None = None,
    ) -> bytes:
        commit = Commit()
        commit.tree = tree
        commit.parents = parents
        commit.author = commit.committer = author.as_bytes()
        commit.author_time = commit.commit_time = int(when if when is not None else time.time())
        offset = -time.timezone if time.localtime().tm_isdst == 0 else -time.altzone
        commit.author_timezone = commit.commit_timezone = offset
        commit.message = message.encode()
        self._add(commit)
        return commit.id

    # reading

    def has(self, sha: bytes) -> bool:
        return sha in self._store

    def commit(self, sha: bytes) -> Commit:
        """The commit `sha`; a run ref fetched from a remote may name a tag, a tree or
        a blob instead (RunStateError, not an AttributeError further on)."""
        found = self._store[sha]
        if not isinstance(found, Commit):
            kind = found.type_name.decode()
            raise RunStateError(f"{sha.decode()[:12]} is a {kind}, not a commit (a damaged run)")
        return found

    def read_path(self, tree_id: bytes, path: str) -> bytes | None:
        """The content of file `path` in tree `tree_id`, or None."""
        obj = self._lookup(tree_id, path)
        return obj.data if isinstance(obj, Blob) else None

    def list_files(self, tree_id: bytes, path: str = "") -> dict[str, tuple[bytes, int]]:
        """Files under folder `path`: relative path → (blob id, size)."""
        start = self._lookup(tree_id, path) if path else self._store[tree_id]
        if not isinstance(start, Tree):
            return {}
        found: dict[str, tuple[bytes, int]] = {}
        for entry in self._store.iter_tree_contents(start.id):
            found[entry.path.decode(errors="surrogateescape")] = (
                entry.sha,
                len(self._store[entry.sha].data) if _is_file(entry.mode) else 0,
            )
        return found

    def extract(
        self, tree_id: bytes, path: str, root: Path, where: str, name: str = ""
    ) -> list[Path]:
        """Write the file or folder `path` of tree `tree_id` into folder `root`: as
        `root/name`, or, for a folder and no `name`, its content right in `root`.

        The tree may come from a remote: every path is checked, and every destination
        on disk, before anything is written (UnsafePathError names `where` it came
        from). A symbolic link is written as a file holding its target, as before.
        """
        found = self._entry(tree_id, path)
        if found is None:
            return []
        mode, sha = found
        if _is_file(mode):
            files = [(name or path.rsplit("/", 1)[-1], mode, sha)]
        else:
            prefix = f"{name}/" if name else ""
            try:
                files = [
                    (prefix + entry.path.decode(errors="surrogateescape"), entry.mode, entry.sha)
                    for entry in self._store.iter_tree_contents(sha)
                    if _is_file(entry.mode)
                ]
            except MaxTreeDepthExceeded:
                raise UnsafePathError(path, "nests folders deeper than git allows", where) from None
        check_tree_files([(relative, mode) for relative, mode, _ in files], where)
        targets = [destination(root, relative, where) for relative, _, _ in files]
        for target, (_, _, blob) in zip(targets, files, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
            with os.fdopen(os.open(target, flags, 0o644), "wb") as file:
                file.write(self._store[blob].data)
        return targets

    def folder_files(self, tree_id: bytes, path: str) -> dict[str, str]:
        """Files directly in folder `path`: name → blob id (hex); no blob is read."""
        folder = self._lookup(tree_id, path)
        if not isinstance(folder, Tree):
            return {}
        return {
            entry.path.decode(errors="surrogateescape"): entry.sha.decode()
            for entry in folder.iteritems()
            if stat.S_ISREG(entry.mode)
        }

    def tree_entry(self, tree_id: bytes, name: str) -> bytes | None:
        tree = self._store[tree_id]
        try:
            return tree[name.encode()][1]
        except KeyError:
            return None

    def _entry(self, tree_id: bytes, path: str) -> tuple[int, bytes] | None:
        """(mode, sha) of the entry at `path` in tree `tree_id`, or None."""
        *folders, name = path.split("/")
        tree = self._lookup(tree_id, "/".join(folders)) if folders else self._store[tree_id]
        if not isinstance(tree, Tree):
            return None
        try:
            return tree[name.encode(errors="surrogateescape")]
        except KeyError:
            return None

    def _lookup(self, tree_id: bytes, path: str):
        obj = self._store[tree_id]
        for part in Path(path).parts:
            if not isinstance(obj, Tree):
                return None
            try:
                obj = self._store[obj[part.encode()][1]]
            except KeyError:
                return None
        return obj


def _is_file(mode: int) -> bool:
    """A blob: a file or a link (not a folder, nor a submodule, which has no object here)."""
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)
