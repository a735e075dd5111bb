"""Folding old runs into archive commits, and removing archived runs.

`fold_runs` keeps the newest runs on a ref each and folds the others into archive
commits (`gitml.tracking.archive`), one chain per bucket. It runs in two steps, each
one git transaction with old values: first the archive refs move to their new commits,
then the folded run refs are deleted. A run is therefore never missing from both
tiers: killed between the steps, a fold leaves some runs in both (listed once, the run
ref winning), and the next fold only deletes their refs.

One folder at a time: a lease, `.git/gitml/locks/fold.lock`, held by an flock (the
kernel drops it when its holder dies, even by `kill -9`, so a dead folder's lease is
simply taken over), and `fold.lease` beside it saying who holds it (pid, start time).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from gitml.errors import GitCommandError, InvalidValueError, LockTimeoutError
from gitml.store.blobs import ObjectReader
from gitml.store.gitcmd import run_git
from gitml.store.layout import LOCKS_DIR
from gitml.store.locks import exclusive_lock
from gitml.store.refs import (
    ARCHIVE_BUCKETS,
    archive_bucket,
    archive_ref,
    archive_shas,
    read_run_refs,
    run_ref,
    run_shas,
)
from gitml.store.repository import Repository
from gitml.tracking.archive import (
    MAX_RUNS,
    FoldedRun,
    archive_files,
    archive_message,
    archive_parents,
)
from gitml.tracking.budgets import live_runs_budget
from gitml.tracking.identity import user_identity
from gitml.tracking.index import open_index

LEASE = "fold"
LEASE_FILE = "fold.lease"  # beside the lock: who holds it
WAIT_SECONDS = 30.0
_FOLD_BATCH = MAX_RUNS * ARCHIVE_BUCKETS  # runs whose messages are held at once


@dataclass
class FoldResult:
    folded: list[str] = field(default_factory=list)  # run ids archived now
    archives: dict[str, str] = field(default_factory=dict)  # archive ref → its new commit
    problems: list[tuple[str, list[str]]] = field(default_factory=list)  # archives, what's wrong

    def to_json(self) -> dict:
        return {
            "folded": len(self.folded),
            "archives": self.archives,
            "problems": [{"archive": sha, "problems": why} for sha, why in self.problems],
        }


@contextlib.contextmanager
def fold_lease(repo: Repository, timeout: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the one lease of folding and removing archived runs (see the docstring)."""
    with exclusive_lock(repo, LEASE, timeout):
        holder = repo.state_dir / LOCKS_DIR / LEASE_FILE
        holder.write_text(f"{os.getpid()} {int(time.time())}\n")
        yield


def over_budget(repo: Repository) -> bool:
    """Whether the run refs are more than gitml.liveRuns (InvalidValueError when that
    setting is no positive number)."""
    budget = live_runs_budget(repo)
    with open_index(repo) as index:
        return index.live_count() > budget


def fold_if_over_budget(repo: Repository, timeout: float = 0.0) -> FoldResult | None:
    """Fold down to half the budget once the run refs are over it; None when they are
    not, or when another process kept the lease of folding for `timeout` seconds (it
    folds them). The budget is checked again holding the lease: a fold that ended
    meanwhile may have brought the runs under it."""
    if not over_budget(repo):
        return None
    try:
        with fold_lease(repo, timeout):
            if not over_budget(repo):
                return None
            return _fold_holding_lease(repo, live_runs_budget(repo) // 2)
    except LockTimeoutError:
        return None


def fold_runs(
    repo: Repository,
    keep: int,
    timeout: float = WAIT_SECONDS,
    among: dict[str, str] | None = None,
) -> FoldResult:
    """Fold every run ref but the newest `keep` into archive commits; with `among`
    (run id → commit), only the runs whose ref names that commit, but the newest `keep`
    of them (`gitml push`: the runs a remote holds on a ref)."""
    if keep < 0:
        raise InvalidValueError(f"--keep is {keep}; give a number of runs, 0 or more")
    with fold_lease(repo, timeout):
        return _fold_holding_lease(repo, keep, among)


def _fold_holding_lease(
    repo: Repository, keep: int, among: dict[str, str] | None = None
) -> FoldResult:
    with open_index(repo) as index:
        beyond = dict(index.live_beyond(keep, among))
        archived = index.archived_shas(beyond)
    # a run both archived and on its ref (a fold killed between its steps): its ref goes
    done = {run_id: sha for run_id, sha in beyond.items() if archived.get(run_id) == sha}
    now = run_shas(repo)
    wanted = [  # not archived yet, and still on that commit
        (run_id, sha)
        for run_id, sha in sorted(beyond.items())
        if run_id not in archived and now.get(run_id) == sha
    ]
    result = FoldResult()
    before = archive_shas(repo)
    tips = dict(before)
    with ObjectReader(repo) as objects:
        for start in range(0, len(wanted), _FOLD_BATCH):  # their messages a batch at a time
            folding = _folded_runs(objects, wanted[start : start + _FOLD_BATCH])
            moved = write_archives(repo, folding, [], tips)
            tips.update((ref, new) for ref, (new, _) in moved.items())
            result.folded += [run.id for run in folding]
            done.update((run.id, run.sha) for run in folding)
    moves = {ref: (new, before.get(ref)) for ref, new in tips.items() if new != before.get(ref)}
    move_archive_refs(repo, moves, "gitml: fold runs")
    delete_run_refs(repo, done)
    result.archives = {ref: new for ref, (new, _) in moves.items()}
    with open_index(repo) as index:
        result.problems = index.archive_problems()
    return result


def remove_archived(repo: Repository, runs: dict[str, str]) -> None:
    """Remove archived runs (run id → commit): tombstones in a new archive commit. Call
    it holding `fold_lease`, so that no fold archives a run being removed meanwhile."""
    if runs:
        moves = write_archives(repo, [], sorted(runs.items()))
        move_archive_refs(repo, moves, "gitml: remove archived runs")


def _folded_runs(objects: ObjectReader, wanted: list[tuple[str, str]]) -> list[FoldedRun]:
    """The runs of `wanted` (id, sha) with their messages; a run whose ref names no
    commit, or whose message is too long to read, stays on its ref."""
    return [
        FoldedRun(ref.run_id, ref.sha, ref.message)
        for ref in read_run_refs(objects, wanted)
        if ref.kind == "commit" and not ref.oversized
    ]


def write_archives(
    repo: Repository,
    runs: list[FoldedRun],
    removed: list[tuple[str, str]],
    tips: dict[str, str] | None = None,
) -> dict[str, tuple[str, str | None]]:
    """Write archive commits holding `runs` (in their buckets) or the tombstones of
    `removed` (in the bucket of each), after `tips` (archive ref → commit; the archive
    refs' commits when None); archive ref → (its new commit, the one it follows or
    None). No ref moves here."""
    if not runs and not removed:
        return {}
    from gitml.store.objects import ObjectStore

    folded: dict[int, list[FoldedRun]] = defaultdict(list)
    for run in runs:
        folded[archive_bucket(run.id)].append(run)
    gone: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for item in removed:
        gone[archive_bucket(item[0])].append(item)
    if tips is None:
        tips = archive_shas(repo)
    author = user_identity(repo)
    moves: dict[str, tuple[str, str | None]] = {}
    buckets = sorted(folded.keys() | gone.keys())
    times = commit_times(repo, [*(run.sha for run in runs), *tips.values()])
    with ObjectStore(repo) as store:
        for bucket in buckets:
            ref = archive_ref(bucket)
            old = tips.get(ref)
            tip = old
            batches: list[tuple[list[FoldedRun], list[tuple[str, str]]]] = [
                (folded[bucket][i : i + MAX_RUNS], [])
                for i in range(0, len(folded[bucket]), MAX_RUNS)
            ]
            batches += [
                ([], gone[bucket][i : i + MAX_RUNS]) for i in range(0, len(gone[bucket]), MAX_RUNS)
            ]
            for chunk, tombstones in batches:
                previous = [tip] if tip else []
                tree = store.write_tree_of_files(archive_files(previous, chunk, tombstones))
                parents = archive_parents(previous, chunk)
                message = archive_message(len(chunk), len(tombstones))
                when = max((times.get(sha, 0) for sha in parents), default=0) or None
                tip = store.write_commit(
                    tree, [p.encode() for p in parents], message, author, when
                ).decode()
                if when is not None:
                    times[tip] = when
            assert tip is not None
            moves[ref] = (tip, old)
    return moves


def commit_times(repo: Repository, shas: list[str]) -> dict[str, int]:
    """sha → committer time of the commits `shas` (one `git log`).

    An archive commit is dated as its newest parent, not now: git's walks go newest
    first, and one that meets an archive commit reads every parent it has. Every
    `git push` to a remote checks what it brings against all the remote's refs
    (receive-pack's `rev-list --not --all`), and stops a few commits past the newest
    of them; dated now, the archive commits would be those few, and reading their
    thousands of parents would cost the user's push more than the run refs folded."""
    if not shas:
        return {}
    args = ["log", "--no-walk=unsorted", "--stdin", "--format=%H %ct"]
    wanted = "".join(f"{sha}\n" for sha in shas).encode()
    listing = run_git(args, repo.cwd, input=wanted, check=False)  # a time missing: now
    times = {}
    for line in listing.stdout.decode().splitlines():
        sha, _, when = line.partition(" ")
        if when.isdigit():
            times[sha] = int(when)
    return times


def move_archive_refs(
    repo: Repository, moves: dict[str, tuple[str, str | None]], message: str
) -> None:
    """Move archive refs (ref → (new, old or None)) in one git transaction; refused
    (GitCommandError) when one no longer names its old commit."""
    if not moves:
        return
    lines = "".join(
        f"update {ref} {new} {old or '0' * len(new)}\n" for ref, (new, old) in moves.items()
    )
    run_git(["update-ref", "-m", message, "--stdin"], repo.cwd, input=lines.encode())


def delete_run_refs(repo: Repository, runs: dict[str, str]) -> None:
    """Delete run refs (id → the commit each must still name) in one git transaction;
    when one changed meanwhile (`gitml rm` deleted it), those still as they were."""
    try:
        _delete_refs(repo, runs)
    except GitCommandError:
        now = run_shas(repo)
        _delete_refs(repo, {run_id: sha for run_id, sha in runs.items() if now.get(run_id) == sha})


def _delete_refs(repo: Repository, runs: dict[str, str]) -> None:
    if runs:
        lines = "".join(f"delete {run_ref(run_id)} {sha}\n" for run_id, sha in runs.items())
        run_git(["update-ref", "--stdin"], repo.cwd, input=lines.encode())
