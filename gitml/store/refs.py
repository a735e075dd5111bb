"""Run refs: their names, their creation (create-only) and their listing.

Every listing of runs goes through `iter_run_refs` and the run index
(`gitml.tracking.index`), so that folding old runs into archive commits later
changes one place.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from gitml.errors import GitCommandError, GitmlError, RefBlockedError
from gitml.store.blobs import COMMIT_HEAD, ObjectReader
from gitml.store.gitcmd import RECORD_FORMAT, git_records, run_git
from gitml.store.ids import id_pattern, is_ref_run_id
from gitml.store.repository import Repository, packed_ref_sha

RUNS_PREFIX = "refs/gitml/runs/"
VIEWS_PREFIX = "refs/gitml/views/"  # saved views of `gitml ui` (gitml.ui.views)
# A ref under RUNS_PREFIX whose name is no run id (gitml.store.ids) is no run:
# fetched from a remote, it is left out of every listing.
_PACKED_RUN = rf"(?m)^([0-9a-f]+) {RUNS_PREFIX}({id_pattern()})$"  # compiled on first use
_FIELD = b"\x00"
# A run's commit message carries its summary: a few KiB, a few MiB for a run with
# thousands of params. One longer than this is not read; the run is listed as damaged.
MAX_MESSAGE_BYTES = 8 << 20


class RefExistsError(GitmlError):
    def __init__(self, ref: str):
        self.ref = ref
        super().__init__(f"{ref} already exists; gitml never moves or overwrites it")


# Outside refs/gitml/ on purpose: `gitml remote setup` makes plain `git fetch` bring
# refs/gitml/*, and a `git fetch --prune` would then delete these.
SNAPSHOTS_PREFIX = "refs/gitml-snapshots/"
# Backups `gitml checkout --force` makes: local only, for the same reason.
BACKUPS_PREFIX = "refs/gitml-backups/"


# Archived runs (gitml.tracking.archive): a few refs, each the newest archive commit of
# its bucket; a run goes to the bucket `archive_bucket` gives its id.
ARCHIVE_PREFIX = "refs/gitml/archive/"
ARCHIVE_BUCKETS = 4
_PACKED_ARCHIVE = rf"(?m)^([0-9a-f]{{40,64}}) {ARCHIVE_PREFIX}([0-9]+)$"


def archive_ref(bucket: int) -> str:
    return f"{ARCHIVE_PREFIX}{bucket}"


def archive_bucket(run_id: str) -> int:
    """The bucket of a run: the same on every machine, so that two clones folding the
    same run write it to the same archive ref."""
    return zlib.crc32(run_id.encode()) % ARCHIVE_BUCKETS


def parse_archive_ref(ref: str) -> int | None:
    """The bucket an archive ref names, or None when `ref` is not one."""
    if not ref.startswith(ARCHIVE_PREFIX):
        return None
    bucket = ref[len(ARCHIVE_PREFIX) :]
    if not bucket.isascii() or not bucket.isdigit() or int(bucket) >= ARCHIVE_BUCKETS:
        return None
    return int(bucket) if str(int(bucket)) == bucket else None


def archive_shas(repo: Repository, packed: bytes | None = None) -> dict[str, str]:
    """archive ref → sha of every archive ref: packed-refs' lines (`packed`, the file's
    bytes; read here when None), then loose files, which win as in git."""
    if not files_backend(repo):
        args = ["for-each-ref", "--format=%(refname) %(objectname)", ARCHIVE_PREFIX]
        listing = run_git(args, repo.cwd)
        pairs = (line.split(" ", 1) for line in listing.stdout.decode().splitlines())
        return {ref: sha for ref, sha in pairs if parse_archive_ref(ref) is not None}
    if packed is None:
        packed = packed_refs(repo)
    shas = packed_archive_shas(packed)
    folder = repo.common_dir / ARCHIVE_PREFIX
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
        for entry in entries:
            ref = ARCHIVE_PREFIX + entry.name
            if parse_archive_ref(ref) is not None and entry.is_file():
                with contextlib.suppress(OSError):
                    shas[ref] = _read_loose_sha(entry.path)
    return shas


def packed_archive_shas(packed: bytes) -> dict[str, str]:
    """archive ref → sha of the archive refs among packed-refs' lines."""
    start = packed.find(b" " + ARCHIVE_PREFIX.encode())
    if start < 0:
        return {}
    start = packed.rfind(b"\n", 0, start) + 1
    end = start
    for _ in range(ARCHIVE_BUCKETS + 16):  # git sorts the file: they are next to each other
        end = packed.find(b"\n", end) + 1
        if end == 0:
            end = len(packed)
            break
    block = packed[start:end].decode(errors="replace")
    return {
        archive_ref(int(bucket)): sha
        for sha, bucket in re.findall(_PACKED_ARCHIVE, block)
        if parse_archive_ref(ARCHIVE_PREFIX + bucket) is not None
    }


# An experiment's record (gitml.mlflow_plugin.experiments): one ref per experiment,
# named by its MLflow id.
EXPERIMENTS_PREFIX = "refs/gitml/experiments/"

# A sweep (gitml.sweeps): one ref per sweep, its id made as a run's.
SWEEPS_PREFIX = "refs/gitml/sweeps/"


def sweep_ref(sweep_id: str) -> str:
    return SWEEPS_PREFIX + sweep_id


def parse_sweep_ref(ref: str) -> str | None:
    """The sweep id in a sweep ref name, or None when `ref` is not one."""
    if not ref.startswith(SWEEPS_PREFIX):
        return None
    sweep_id = ref[len(SWEEPS_PREFIX) :]
    return sweep_id if is_ref_run_id(sweep_id) else None


def update_ref(repo: Repository, ref: str, sha: str, old: str, message: str = "gitml") -> None:
    """Move `ref` from `old` to `sha`, through git's own compare-and-swap: refused
    (GitCommandError) when `ref` names anything but `old` by then."""
    run_git(["update-ref", "-m", message, ref, sha, old], repo.cwd)


def run_ref(run_id: str) -> str:
    return RUNS_PREFIX + run_id


def parse_run_ref(ref: str) -> str | None:
    """The run id in a run ref name, or None when `ref` is not one."""
    if not ref.startswith(RUNS_PREFIX):
        return None
    run_id = ref[len(RUNS_PREFIX) :]
    return run_id if is_ref_run_id(run_id) else None


def create_ref(repo: Repository, ref: str, sha: str, message: str = "gitml") -> None:
    """Point `ref` at `sha`, failing if `ref` exists.

    With git's usual "files" ref storage this follows git's own protocol in
    process (an exclusive `<ref>.lock`, a check of the loose file and of
    packed-refs, a rename), which spares starting git on every run; any other
    storage goes through `git update-ref`.
    """
    if not files_backend(repo):
        _create_ref_with_git(repo, ref, sha, message)
        return
    blocker = _ref_above(repo, ref)
    if blocker is not None:
        raise RefBlockedError(ref, blocker)
    path = repo.common_dir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise RefExistsError(ref) from None  # another process is creating it right now
    try:
        if path.exists() or _is_packed(repo, ref):
            raise RefExistsError(ref)
        os.write(fd, f"{sha}\n".encode())
    except BaseException:
        os.close(fd)
        lock.unlink()  # still ours: nobody else can create it while it exists
        raise
    os.close(fd)
    os.rename(lock, path)


def _ref_above(repo: Repository, ref: str) -> str | None:
    """A ref whose name is a folder of `ref`'s (refs/gitml/runs for a run's ref), loose
    or packed: git keeps no ref below another."""
    parts = ref.split("/")
    for end in range(2, len(parts)):
        above = "/".join(parts[:end])
        if (repo.common_dir / above).is_file() or packed_ref_sha(repo, above) is not None:
            return above
    return None


def files_backend(repo: Repository) -> bool:
    """Whether refs are git's usual loose files and packed-refs (not reftable)."""
    from gitml.store.config import repository_extension

    return repository_extension(repo, "refStorage") in (None, "files")


def _is_packed(repo: Repository, ref: str) -> bool:
    return packed_ref_sha(repo, ref) is not None


def _create_ref_with_git(repo: Repository, ref: str, sha: str, message: str) -> None:
    try:
        run_git(["update-ref", "-m", message, ref, sha, ""], repo.cwd)
    except GitCommandError as error:
        if "already exists" in error.stderr:
            raise RefExistsError(ref) from error
        raise


def remove_ref(repo: Repository, ref: str) -> None:
    """Delete `ref` if it exists: in process when it is a loose file (the usual case),
    through git when `git gc` packed it or refs are stored otherwise."""
    if files_backend(repo):
        with contextlib.suppress(FileNotFoundError):
            (repo.common_dir / ref).unlink()
        # a `git pack-refs` under way may have read the loose file before it went: once
        # its packed-refs is in place, the ref is found there
        _wait_for_packing(repo)
        if not _is_packed(repo, ref):
            return
    run_git(["update-ref", "-d", ref], repo.cwd, check=False)


PACKING_WAIT_S = 1.0  # git's own wait for packed-refs.lock (core.packedRefsTimeout)


def _wait_for_packing(repo: Repository) -> None:
    lock = repo.common_dir / "packed-refs.lock"
    deadline = time.monotonic() + PACKING_WAIT_S
    while lock.exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def pack_refs(repo: Repository) -> None:
    """Pack the loose refs into packed-refs, as `git gc` does (their values unchanged);
    nothing when another process is packing them or refs are not files."""
    if files_backend(repo):
        run_git(["pack-refs", "--all"], repo.cwd, check=False)


def break_stale_lock(repo: Repository, ref: str) -> None:
    """Remove `<ref>.lock` left by a writer that was killed between taking it and
    renaming it. Only for a ref no live process can be writing (a run's ref, by the
    process that owns the run's commit)."""
    with contextlib.suppress(FileNotFoundError):
        (repo.common_dir / f"{ref}.lock").unlink()


def snapshot_ref(run_id: str) -> str:
    """Keeps a run's snapshot tree reachable while the run is in progress: without it,
    `git gc --prune=now` would delete the tree, which only the staging folder names."""
    return f"{SNAPSHOTS_PREFIX}{run_id}"


def resolve_ref(repo: Repository, ref: str) -> str | None:
    result = run_git(["rev-parse", "-q", "--verify", ref + "^{commit}"], repo.cwd, check=False)
    return result.stdout.decode().strip() or None


def run_ids(repo: Repository) -> set[str]:
    """Ids of every run ref (see `run_shas`)."""
    return set(run_shas(repo))


def run_shas(repo: Repository) -> dict[str, str]:
    """run id → the sha its ref names, for every run ref, read from the ref files
    without starting git (see `packed_run_shas`, `loose_run_shas`)."""
    if not files_backend(repo):
        return {ref.run_id: ref.sha for ref in list_run_refs(repo, with_messages=False)}
    shas = packed_run_shas(repo)
    shas.update(loose_run_shas(repo))  # a loose ref wins over its packed line, as in git
    return shas


def has_refs(repo: Repository, prefix: str) -> bool:
    """Whether some ref lies under `prefix` (ending in `/`), read from the ref files
    without starting git (any file there counts: a hint for whether to look closer)."""
    if not files_backend(repo):
        found = run_git(["for-each-ref", "--count=1", "--format=%(refname)", prefix], repo.cwd)
        return bool(found.stdout.strip())
    if b" " + prefix.encode() in packed_refs(repo):
        return True
    from gitml.store.walk import walk

    return any(files for _, _, files in walk(repo.common_dir / prefix))


def packed_refs_stamp(repo: Repository) -> str:
    """What changes whenever git rewrites packed-refs (it writes a new file and renames
    it over the old): its inode, size and times; "" when there is none. Taken before
    reading the file, a stamp is never newer than what was read."""
    try:
        info = os.stat(repo.common_dir / "packed-refs")
    except FileNotFoundError:
        return ""
    return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def packed_refs(repo: Repository) -> bytes:
    """The bytes of packed-refs; empty when there is none."""
    try:
        return (repo.common_dir / "packed-refs").read_bytes()
    except FileNotFoundError:
        return b""


def packed_run_shas(repo: Repository) -> dict[str, str]:
    """run id → sha of every run ref in packed-refs."""
    try:
        return _packed_run_shas((repo.common_dir / "packed-refs").read_bytes())
    except FileNotFoundError:
        return {}


RACY_SECONDS = 2  # a folder changed this recently may change again with the same stat data


def loose_runs_stamp(repo: Repository) -> str | None:
    """What changes whenever a loose run ref is created, moved or deleted: the stat data
    of their folder (git, and `create_ref`, write a ref as a new file renamed over the
    old, and delete one by unlinking it: either changes the folder). None when it
    cannot say: a file system's clock ticks in steps, so a change in the same step as
    the last one may leave the same times (git's "racily clean" files), and a folder
    changed in the last RACY_SECONDS is to be read every time; no folder has no stamp
    either (git removes it with its last ref, and one made and removed again would
    leave the same ""). Taken before the folder is listed, a stamp is never newer
    than what was read."""
    try:
        info = os.stat(repo.common_dir / RUNS_PREFIX)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) < RACY_SECONDS * 10**9:
        return None
    return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def loose_run_shas(repo: Repository) -> dict[str, str]:
    """run id → what each loose run ref file says (a sha; a symbolic `ref: …` never
    equals one). At 10,000 runs a `git for-each-ref` costs tens of milliseconds, a
    folder listing and its few small files (git packs refs) a few."""
    shas: dict[str, str] = {}
    folder = repo.common_dir / RUNS_PREFIX  # a folder in it (refs/gitml/runs/x/y) is no run
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
        for entry in entries:
            if is_ref_run_id(entry.name) and entry.is_file():
                with contextlib.suppress(OSError):  # deleted since it was listed
                    shas[entry.name] = _read_loose_sha(entry.path)
    return shas


def _read_loose_sha(path: str) -> str:
    """What a loose ref file says: a sha (a symbolic `ref: …` never equals one, so a
    cache keyed by it is simply read again)."""
    with open(path, "rb") as file:
        return file.read(256).decode(errors="replace").strip()


def _packed_run_shas(packed: bytes) -> dict[str, str]:
    """run id → sha in packed-refs. git writes the file sorted by ref name, so the run
    refs are one block of `<sha> refs/gitml/runs/<id>` lines: cut it out, then split it."""
    marker = b" " + RUNS_PREFIX.encode()
    first = packed.find(marker)
    if first < 0:
        return {}
    start = packed.rfind(b"\n", 0, first) + 1
    end = packed.find(b"\n", packed.rfind(marker) + len(marker))
    block = packed[start : end if end >= 0 else len(packed)].decode(errors="replace")
    # One regex pass over the block keeps only well-formed ids (a foreign ref under
    # refs/gitml/runs/, say), far cheaper than matching ten thousand strings one by one.
    return {run_id: sha for sha, run_id in re.findall(_PACKED_RUN, block)}


def iter_packed_run_shas(repo: Repository) -> Iterator[list[tuple[str, str]]]:
    """(run id, sha) of the run refs in packed-refs, in the file's order (by id), a
    block of the file at a time: at a million runs the file is 60 MB, and its pairs in
    a dict would take several hundred."""
    try:
        file = open(repo.common_dir / "packed-refs", "rb")  # noqa: SIM115
    except FileNotFoundError:
        return
    with file:  # git renames a new file over it: this one stays as it was
        rest = b""
        while block := file.read(1 << 20):
            lines = rest + block
            cut = lines.rfind(b"\n") + 1
            lines, rest = lines[:cut], lines[cut:]
            if pairs := re.findall(_PACKED_RUN, lines.decode(errors="replace")):
                yield [(run_id, sha) for sha, run_id in pairs]
        if pairs := re.findall(_PACKED_RUN, rest.decode(errors="replace")):
            yield [(run_id, sha) for sha, run_id in pairs]


def read_run_refs(objects: ObjectReader, refs: list[tuple[str, str]]) -> Iterator[RunRef]:
    """The RunRef of each (run id, sha) whose object the repository has, its commit
    read through `objects` (one `git cat-file --batch`): `git for-each-ref` holds every
    message it prints until it ends (3.5 GB at a million runs)."""
    answers = objects.read_many([sha for _, sha in refs], MAX_MESSAGE_BYTES + COMMIT_HEAD)
    for (run_id, sha), (_, found) in zip(refs, answers, strict=True):
        if found is None:
            continue  # no such object: git lists no such ref either
        if found.kind != "commit":
            yield RunRef(run_id, sha, "", False, found.kind)
            continue
        message = (found.data or b"").partition(b"\n\n")[2].lstrip(b"\n")
        if found.data is None or len(message) > MAX_MESSAGE_BYTES:
            yield RunRef(run_id, sha, "", True)
        else:  # as for-each-ref gives it: what is no UTF-8 shows as U+FFFD
            yield RunRef(run_id, sha, message.decode(errors="replace"))


class RunRef(NamedTuple):
    run_id: str
    sha: str
    message: str
    oversized: bool = False  # the message is over MAX_MESSAGE_BYTES: left unread
    kind: str = "commit"  # what the ref names; a fetched one may name a tag, tree or blob


def list_run_refs(
    repo: Repository, with_messages: bool = True, run_ids: list[str] | None = None
) -> list[RunRef]:
    """Run refs (all, or those of `run_ids`), newest first (see `iter_run_refs`)."""
    return list(iter_run_refs(repo, with_messages, run_ids))


def iter_run_refs(
    repo: Repository, with_messages: bool = True, run_ids: list[str] | None = None
) -> Iterator[RunRef]:
    """Run refs (all, or those of `run_ids`), newest first, with their commit
    messages when asked: one `git for-each-ref`, read as it comes so that no
    message holds more than MAX_MESSAGE_BYTES in memory, nor all of them at once."""
    fields = ["%(refname)", "%(objectname)"]
    fields += ["%(objecttype)", "%(contents)"] if with_messages else []
    patterns = [RUNS_PREFIX] if run_ids is None else [run_ref(i) for i in run_ids]
    if not patterns:
        return
    args = ["for-each-ref", "--sort=-refname", "--format=" + "%00".join(fields) + RECORD_FORMAT]
    for record, oversized in git_records([*args, *patterns], repo.cwd, MAX_MESSAGE_BYTES):
        parts = record.split(_FIELD, 3)
        run_id = parse_run_ref(parts[0].decode(errors="surrogateescape"))
        if run_id is None or len(parts) < 2:
            continue
        kind = parts[2].decode(errors="replace") if len(parts) > 2 else "commit"
        # text, not bytes to write back: what is no UTF-8 shows as U+FFFD, everywhere;
        # a tag's message is no run's
        readable = len(parts) > 3 and not oversized and kind == "commit"
        message = parts[3].decode(errors="replace") if readable else ""
        yield RunRef(run_id, parts[1].decode(errors="replace"), message, oversized, kind)
