"""`gitml checkout`: a run's code into the work tree, never losing bytes no commit holds.

`git restore --source=<run> --worktree` writes the code, and replaces more than the
files that differ: an ignored file in the way, a whole folder where the run has a
file, a file or a symbolic link where the run has a folder, a link where the run has
a file (never writing through it). So checkout first lists every file and link on
disk that the restore would replace or remove (`plan_checkout`). Those whose bytes
HEAD does not hold are at risk: checkout refuses, naming them, or (forced) first
saves them in a backup commit that really holds them — ignored files, files named
like secrets and files over the size limit included. A backup never leaves the
repository: it lives under `refs/gitml-backups/`, which no refspec of gitml moves
(outside `refs/gitml/`, so a pruning `git fetch` of runs never deletes it).

HEAD, the branch, the index and the stash never change.
"""

import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitml.errors import (
    CheckoutConflictError,
    GitCommandError,
    NestedRepositoryError,
    RunStateError,
)
from gitml.store.gitcmd import git_environment, run_git
from gitml.store.layout import TMP_DIR
from gitml.store.refs import BACKUPS_PREFIX
from gitml.store.repository import Repository, read_head
from gitml.store.snapshot import Snapshot
from gitml.store.walk import walk
from gitml.tracking.reproduce import CODE_PATHSPEC, check_code_paths, commit_message
from gitml.tracking.sides import Side

_LINK = "120000"
_GITLINK = "160000"

Entries = dict[str, tuple[str, str]]  # path -> (mode, object id)


@dataclass
class CheckoutResult:
    source: str  # the commit whose code is now in the work tree
    changed: list[str]  # paths written or removed
    backup_ref: str | None = None  # where the replaced files were saved
    saved: list[str] = field(default_factory=list)  # the replaced files no commit holds


@dataclass
class CheckoutPlan:
    """What restoring a commit's code would do to the work tree."""

    written: set[str]  # paths the restore writes or removes
    replaced: set[str]  # files and links on disk it replaces or removes
    at_risk: dict[str, str]  # replaced paths HEAD does not hold -> why (for the message)
    current: Snapshot


def checkout_code(repo: Repository, side: Side, force: bool = False) -> CheckoutResult:
    """Write the code of a run (or commit) into the work tree; HEAD does not move."""
    where = f"run {side.run.name} ({side.run.id})" if side.run else side.label
    check_code_paths(repo, side.commit, where)
    plan = plan_checkout(repo, side.commit)
    changed = sorted(plan.written | plan.replaced)
    if not changed:
        return CheckoutResult(side.commit, [])
    at_risk = sorted(plan.at_risk)
    backup = None
    if at_risk:
        if not force:
            raise CheckoutConflictError([_shown(path, plan.at_risk[path]) for path in at_risk])
        extra = [path for path in at_risk if plan.at_risk[path] != "uncommitted"]
        backup = save_backup(repo, plan.current.tree, at_risk, extra, side.label)
    run_git(["restore", f"--source={side.commit}", "--worktree", *CODE_PATHSPEC], repo.cwd)
    return CheckoutResult(side.commit, changed, backup, at_risk)


def _shown(path: str, why: str) -> str:
    return path if why == "uncommitted" else f"{path} ({why})"


def plan_checkout(repo: Repository, source: str) -> CheckoutPlan:
    """Compare the work tree (its snapshot, then the disk where the snapshot does not
    look) with `source`. Only paths where they differ are looked at: git computes the
    differences, so a large tree costs two `git diff-tree` calls, not a stat per file."""
    from gitml.store.snapshot import snapshot_work_tree
    from gitml.tracking.limits import run_limits

    scratch = repo.state_dir / TMP_DIR / f"index-checkout-{time.time_ns()}"
    current = snapshot_work_tree(repo, scratch, run_limits(repo).snapshot_file)
    differing = _tree_diff(repo, current.tree, source, CODE_PATHSPEC)
    snapshot = {path: now for path, (status, now, _) in differing.items() if status != "A"}
    disk = _Disk(repo.work_tree, _algorithm(current.tree))
    written: set[str] = set()
    replaced: set[str] = set()
    tracked: set[str] | None = None
    for path, (status, now, wanted) in differing.items():
        if _GITLINK in (now[0], wanted[0]):
            continue  # git restore leaves a submodule's folder alone
        if status == "D":  # the run lacks it: restore removes it if it is tracked
            tracked = _index_paths(repo) if tracked is None else tracked
            if path in tracked:
                written.add(path)
                replaced.add(path)
            continue
        written.add(path)
        if status != "A":  # the file on disk differs from the run's
            if now[1] != wanted[1] or _is_link(now) != _is_link(wanted):
                replaced.add(path)
            continue  # else only the executable bit changes
        blocker = disk.blocker(path)  # not in the snapshot: look at the disk
        kind = None if blocker else disk.kind(path)
        if blocker:
            replaced.add(blocker)  # a file or link where the run has a folder
        elif kind == "dir":
            replaced.update(disk.files_under(path))  # a folder where the run has a file
        elif kind is not None:  # ignored, named like a secret, or large
            on_disk = disk.blob(path)
            if on_disk is None or on_disk[1] != wanted[1] or _is_link(on_disk) != _is_link(wanted):
                replaced.add(path)
    at_risk = {
        path: _why(path, snapshot, current)
        for path in _not_held_by_head(repo, disk, current.tree, snapshot, replaced)
    }
    return CheckoutPlan(written, replaced, at_risk, current)


def _not_held_by_head(
    repo: Repository, disk: "_Disk", tree: str, snapshot: Entries, paths: set[str]
) -> list[str]:
    """The `paths` whose bytes on disk HEAD's commit does not hold."""
    head = read_head(repo)[1]
    if not paths or head is None:
        return sorted(paths)
    only = ["--", *(f":(literal){path}" for path in sorted(paths))] if len(paths) < 100 else []
    changes = _tree_diff(repo, head, tree, only)
    lost = []
    for path in paths:
        status, in_head, _ = changes.get(path, ("", ("", ""), ("", "")))
        if status == "D":  # HEAD has it, the snapshot does not: compare with the disk
            on_disk = disk.blob(path)
            held = (
                on_disk is not None
                and on_disk[1] == in_head[1]
                and _is_link(on_disk) == _is_link(in_head)
            )
        else:  # unchanged since HEAD when in the snapshot; else HEAD never had it
            held = not status and path in snapshot
        if not held:
            lost.append(path)
    return sorted(lost)


def _why(path: str, snapshot: Entries, current: Snapshot) -> str:
    if path in current.skipped_secret:
        return "named like a secret"
    if path in current.skipped_large:
        return "over the size limit"
    return "uncommitted" if path in snapshot else "ignored"


Change = tuple[str, tuple[str, str], tuple[str, str]]  # status, (mode, id) before, after


def _tree_diff(repo: Repository, old: str, new: str, pathspec: list[str]) -> dict[str, Change]:
    """Every path whose file differs between two trees: A added, D deleted, M or T
    changed (mode, object id of each side; zeros on the side that lacks it)."""
    out = run_git(
        ["diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", old, new, *pathspec],
        repo.cwd,
    ).stdout.decode(errors="surrogateescape")
    fields = out.split("\0")
    changes = {}
    for header, path in zip(fields[0::2], fields[1::2], strict=False):
        if not header.startswith(":"):
            continue
        old_mode, new_mode, old_id, new_id, status = header[1:].split(" ")
        changes[path] = (status[0], (old_mode, old_id), (new_mode, new_id))
    return changes


def _index_paths(repo: Repository) -> set[str]:
    out = run_git(["ls-files", "-z", "--full-name"], repo.cwd).stdout
    return {path for path in out.decode(errors="surrogateescape").split("\0") if path}


def _is_link(entry: tuple[str, str]) -> bool:
    return entry[0] == _LINK


def _algorithm(object_id: str) -> str:
    return "sha1" if len(object_id) == 40 else "sha256"


class _Disk:
    """The work tree as `lstat` sees it (links never followed), asked path by path."""

    def __init__(self, root: Path, algorithm: str):
        self.root = str(root)
        self.algorithm = algorithm
        self._kinds: dict[str, str | None] = {}

    def _full(self, path: str) -> str:
        return os.path.join(self.root, path)

    def kind(self, path: str) -> str | None:
        """ "dir", "file", "link", "other", or None when nothing is there."""
        if path not in self._kinds:
            try:
                mode = os.lstat(self._full(path)).st_mode
            except (FileNotFoundError, NotADirectoryError):
                kind = None
            else:
                kind = (
                    "link"
                    if stat.S_ISLNK(mode)
                    else "dir"
                    if stat.S_ISDIR(mode)
                    else "file"
                    if stat.S_ISREG(mode)
                    else "other"
                )
            self._kinds[path] = kind
        return self._kinds[path]

    def blocker(self, path: str) -> str | None:
        """The first leading folder of `path` that is on disk as something else than a
        folder (a file, or a link, even to a folder): git removes it to make the folder."""
        parts = path.split("/")
        for end in range(1, len(parts)):
            prefix = "/".join(parts[:end])
            kind = self.kind(prefix)
            if kind is None:
                return None
            if kind != "dir":
                return prefix
        return None

    def files_under(self, folder: str) -> list[str]:
        """Files and links under `folder` (git removes it whole); a repository inside is
        refused, as nothing could save it whole."""
        found = []
        for top, folders, files in walk(self._full(folder)):
            here = Path(top).relative_to(self.root).as_posix()
            if ".git" in folders or ".git" in files:
                raise NestedRepositoryError(folder, here)
            links = [name for name in folders if os.path.islink(os.path.join(top, name))]
            folders[:] = [name for name in folders if name not in links]
            for name in files + links:
                path = f"{here}/{name}"
                if self.kind(path) in ("file", "link"):
                    found.append(path)
        return found

    def blob(self, path: str) -> tuple[str, str] | None:
        """(mode, blob id) of a file or link as git would store it (without filters),
        None when it cannot be read: then it counts as differing from everything."""
        full = self._full(path)
        digest = hashlib.new(self.algorithm)
        try:
            if self.kind(path) == "link":
                data = os.fsencode(os.readlink(full))
                digest.update(b"blob %d\0" % len(data) + data)
                return _LINK, digest.hexdigest()
            if self.kind(path) != "file":
                return None
            with open(full, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                digest.update(b"blob %d\0" % size)
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                executable = os.fstat(handle.fileno()).st_mode & 0o100
        except OSError:
            return None
        return ("100755" if executable else "100644"), digest.hexdigest()


def save_backup(repo: Repository, tree: str, paths: list[str], extra: list[str], label: str) -> str:
    """A commit of the work tree (`tree`, its snapshot) plus the files of `extra` that no
    snapshot takes (ignored, named like secrets, large), under refs/gitml-backups/<UTC
    time>. Refused, with nothing changed, unless it holds every one of `paths`."""
    if extra:
        tree = _with_files(repo, tree, extra)
    listed = run_git(["ls-tree", "-r", "-z", "--name-only", "--full-tree", tree], repo.cwd)
    held = set(listed.stdout.decode(errors="surrogateescape").split("\0"))
    missing = [path for path in paths if path not in held]
    if missing:
        raise RunStateError(
            f"could not save {', '.join(missing)} in a backup; nothing was changed. "
            "Move these files away and check out again"
        )
    head = read_head(repo)[1]
    parents = ["-p", head] if head else []
    message = commit_message(f"gitml: work tree before restoring {label}\n")
    sha = run_git(["commit-tree", tree, *parents, "-F", "-"], repo.cwd, input=message)
    sha = sha.stdout.decode().strip()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(100):
        ref = BACKUPS_PREFIX + stamp + (f"-{attempt}" if attempt else "")
        try:
            run_git(["update-ref", "-m", "gitml checkout backup", ref, sha, ""], repo.cwd)
            return ref
        except GitCommandError:
            continue
    raise RunStateError(f"could not name a backup ref under {BACKUPS_PREFIX}")


def _with_files(repo: Repository, tree: str, paths: list[str]) -> str:
    """`tree` with `paths` added from the work tree, ignore rules overridden (`add -f`)."""
    scratch = repo.state_dir / TMP_DIR / f"index-backup-{time.time_ns()}"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    env = git_environment({"GIT_INDEX_FILE": str(scratch)})
    try:
        run_git(["read-tree", tree], repo.cwd, env=env)
        pathspec = "\0".join(f":(literal){path}" for path in paths)
        run_git(
            ["add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul"],
            repo.cwd,
            env=env,
            input=pathspec.encode(errors="surrogateescape"),
        )
        return run_git(["write-tree"], repo.cwd, env=env).stdout.decode().strip()
    finally:
        scratch.unlink(missing_ok=True)
