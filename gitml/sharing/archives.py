"""Archive refs between repositories (docs/sharing.md#archived-runs): they travel with
the runs, and two machines that folded different runs converge.

A bucket's archive ref here and on a remote are equal, one ahead of the other, or
diverged (both folded since they last agreed). `converge_archives` fetches the
remote's archive commits by id (no ref moves), then moves each local archive ref: to
the remote's commit when that is ahead, nowhere when this one is, and to a new merge
archive commit (its `previous`: both) when they diverged; so this side is then equal
to or ahead of the remote, and a push of it is a fast-forward. What the remote's
archive refs name is checked first: one that names no commit is left alone.

`publish_refspecs` gives what a push then sends: the archive refs that differ, and the
deletion of the remote's run refs of runs the archives hold. The caller pushes them in
one atomic, non-forced push, so the remote never lacks a run from both tiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from gitml.sharing.refspecs import delete_refspec
from gitml.store.gitcmd import run_git
from gitml.store.gitproc import Progress, fetch_objects
from gitml.store.refs import archive_shas, parse_archive_ref
from gitml.store.repository import Repository

# The folding machinery (gitml.tracking.fold, .archive, .index) is imported where archives
# differ: a push or fetch between sides whose archives agree (most of them) needs none of it.


@dataclass
class Converged:
    moved: list[str] = field(default_factory=list)  # local archive refs moved
    merged: list[str] = field(default_factory=list)  # of them, those moved to a merge
    ignored: list[str] = field(default_factory=list)  # remote archive refs naming no commit


def converge_archives(
    repo: Repository, remote: str, theirs: dict[str, str], progress: Progress | None = None
) -> Converged:
    """Bring this side's archive refs level with or ahead of the remote's (`theirs`:
    archive ref → sha, as the remote lists them)."""
    theirs = {ref: sha for ref, sha in theirs.items() if parse_archive_ref(ref) is not None}
    done = Converged()
    if all(archive_shas(repo).get(ref) == sha for ref, sha in theirs.items()):
        return done  # level already (read again under the lease otherwise)
    from gitml.tracking.fold import fold_lease, move_archive_refs

    with fold_lease(repo):
        ours = archive_shas(repo)
        differing = {ref: sha for ref, sha in theirs.items() if ours.get(ref) != sha}
        lacking = [sha for sha in differing.values() if _kind(repo, sha) is None]
        if lacking:
            fetch_objects(repo, remote, lacking, progress)
        moves: dict[str, tuple[str, str | None]] = {}
        for ref, sha in sorted(differing.items()):
            mine = ours.get(ref)
            if _kind(repo, sha) != "commit":
                done.ignored.append(ref)
            elif mine is None or _is_ancestor(repo, mine, sha):
                moves[ref] = (sha, mine)
            elif not _is_ancestor(repo, sha, mine):
                moves[ref] = (_merge(repo, mine, sha), mine)
                done.merged.append(ref)
        move_archive_refs(repo, moves, f"gitml: archives of {remote}")
    done.moved = sorted(moves)
    return done


class Publication(NamedTuple):
    """What a push of the archives sends: `refspecs` (archive refs), `deletions` (of the
    remote's run refs whose runs the archives hold) and `moved`, the archive refs that
    differ there."""

    refspecs: list[str]
    deletions: list[str]
    moved: list[str]


def publish_refspecs(
    repo: Repository,
    theirs: dict[str, str],
    their_runs: dict[str, str],
    archived: dict[str, str] | None = None,
) -> Publication:
    """What to push for the remote to hold this side's archives: `theirs` are the
    remote's archive refs, `their_runs` its run refs (run id → sha). Call after
    `converge_archives`. With deletions, every archive ref goes, those the remote has
    as no-ops: a run ref is then deleted only in the push that lands the archive
    holding its run, whatever the remote holds meanwhile. `archived`: run id → commit
    of the runs of `their_runs` the archives here hold, when the caller knows already."""
    ours = archive_shas(repo)
    moved = [ref for ref, sha in sorted(ours.items()) if theirs.get(ref) != sha]
    if not ours or not their_runs:
        return Publication([f"{ref}:{ref}" for ref in moved], [], moved)
    if archived is None:
        from gitml.tracking.index import open_index

        with open_index(repo) as index:
            archived = index.archived_shas(their_runs)
    gone = [delete_refspec(run_id) for run_id, sha in sorted(their_runs.items())
            if archived.get(run_id) == sha]  # fmt: skip
    sent = sorted(ours) if gone else moved
    return Publication([f"{ref}:{ref}" for ref in sent], gone, moved)


def _merge(repo: Repository, mine: str, theirs: str) -> str:
    """A merge archive commit of two diverged chains of one bucket: no runs of its own."""
    from gitml.store.objects import ObjectStore
    from gitml.tracking.archive import archive_files, archive_message
    from gitml.tracking.fold import commit_times
    from gitml.tracking.identity import user_identity

    previous = [mine, theirs]
    when = max(commit_times(repo, previous).values(), default=0) or None  # see commit_times
    with ObjectStore(repo) as store:
        tree = store.write_tree_of_files(archive_files(previous, [], []))
        message = archive_message(0, 0, merged=True)
        parents = [sha.encode() for sha in previous]
        return store.write_commit(tree, parents, message, user_identity(repo), when).decode()


def _kind(repo: Repository, sha: str) -> str | None:
    """The type of object `sha` here (a listed sha: 40 or 64 hex), None when missing."""
    done = run_git(["cat-file", "-t", sha], repo.cwd, check=False)
    return done.stdout.decode().strip() or None if done.returncode == 0 else None


def _is_ancestor(repo: Repository, older: str, newer: str) -> bool:
    return (
        run_git(["merge-base", "--is-ancestor", older, newer], repo.cwd, check=False).returncode
        == 0
    )
