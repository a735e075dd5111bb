"""Deleting runs locally: `gitml rm` and `gitml gc`.

Only refs are deleted, all of them in one git transaction, and archived runs get a
tombstone in their archive (`gitml.tracking.fold.remove_archived`); git's own gc
removes the objects of runs no ref reaches later (an archived run's stay while an
archive commit holds them). Runs on a remote are deleted only by an explicit
`gitml push --delete`.
"""

from dataclasses import dataclass

from gitml.compare.query import find_runs
from gitml.compare.sorting import RunQuery
from gitml.errors import InvalidValueError, RunStateError
from gitml.store.gitcmd import run_git
from gitml.store.refs import run_ref, run_shas
from gitml.store.repository import Repository
from gitml.tracking.catalog import resolve
from gitml.tracking.fold import fold_lease, remove_archived
from gitml.tracking.index import open_index
from gitml.tracking.readers import open_run
from gitml.tracking.record import RunSummary


@dataclass
class GcOptions:
    experiment: str | None = None  # None: every experiment
    status: str | None = None
    filter: str | None = None  # the filter grammar of `gitml ls --filter`
    older_than_ms: int | None = None  # runs started before this time
    keep: int | None = None  # spare the newest N of the selection
    dry_run: bool = False


def remove_runs(repo: Repository, texts: list[str], force: bool = False) -> list[RunSummary]:
    """Delete the runs `texts` name (ids, prefixes, names); all or none."""
    runs = list({run.id: run for run in (resolve(repo, text) for text in texts)}.values())
    for run in runs:
        with open_run(repo, run) as reader:
            reader.require_ended("remove it")
    if not force:
        _refuse_registered(repo, runs)
    delete_run_refs(repo, runs)
    return runs


def select_for_gc(repo: Repository, options: GcOptions) -> list[RunSummary]:
    """The committed runs `gitml gc` would delete, newest first."""
    chosen = (options.status, options.filter, options.older_than_ms, options.keep)
    if all(choice is None for choice in chosen):
        raise InvalidValueError(
            "say which runs to delete: --status, --filter, --older-than and/or --keep N"
        )
    query = RunQuery(options.filter, [], options.experiment, options.status)
    runs = [
        run
        for run in find_runs(repo, query, include_running=False)
        if options.older_than_ms is None or run.start_ms < options.older_than_ms
    ]
    return runs[options.keep :] if options.keep else runs


def collect_garbage(repo: Repository, options: GcOptions) -> list[RunSummary]:
    """Delete the runs `select_for_gc` picks (only report them with `dry_run`).

    Runs registered as model versions are kept: their tags still point at them.
    """
    runs = select_for_gc(repo, options)
    registered = _registered_shas(repo)
    runs = [run for run in runs if run.sha not in registered]
    if not options.dry_run:
        delete_run_refs(repo, runs)
    return runs


def delete_run_refs(repo: Repository, runs: list[RunSummary]) -> None:
    """Delete `runs`: the refs of those on a ref in one transaction, each only if it
    still holds its commit, and those archived by a tombstone in their archive (a run
    caught in both tiers by a fold that was killed goes from both)."""
    if not runs:
        return
    with fold_lease(repo):  # no fold archives one of them meanwhile
        with open_index(repo) as index:
            archived = index.archived_shas(run.id for run in runs)
        tombstones = {run.id: archived[run.id] for run in runs if archived.get(run.id) == run.sha}
        live = run_shas(repo)
        refs = [run for run in runs if run.id not in tombstones or live.get(run.id) == run.sha]
        if refs:
            commands = "".join(f"delete {run_ref(run.id)} {run.sha}\n" for run in refs)
            run_git(["update-ref", "--stdin"], repo.cwd, input=commands.encode())
        remove_archived(repo, tombstones)


def _registered_shas(repo: Repository) -> dict[str, str]:
    """commit sha → one tag that points at it (tags keep a registered run's commit)."""
    out = run_git(
        ["for-each-ref", "--format=%(objectname) %(*objectname) %(refname:short)", "refs/tags"],
        repo.cwd,
    ).stdout.decode(errors="surrogateescape")
    shas: dict[str, str] = {}
    for line in out.splitlines():
        direct, peeled, name = line.split(" ", 2)
        shas.setdefault(peeled or direct, name)
    return shas


def _refuse_registered(repo: Repository, runs: list[RunSummary]) -> None:
    registered = _registered_shas(repo)
    for run in runs:
        if run.sha in registered:
            raise RunStateError(
                f"run {run.name} ({run.id}) is tagged {registered[run.sha]} in the model "
                "registry; deregister it first, or pass --force to delete the run ref anyway"
            )


@dataclass(frozen=True)
class CollectedObject:
    sha256: str
    size: int

    def to_json(self) -> dict:
        return {"sha256": self.sha256, "size": self.size}


def collect_objects(repo: Repository, grace_s: float, dry_run: bool) -> list[CollectedObject]:
    """Remove the objects of `.git/gitml/objects/` that no run points to (see
    `gitml.store.cas.referenced`) and that were not written or used in the last `grace_s`
    seconds (a run being logged may point to one soon), and leftovers of writers killed
    half-way as old; only list them with `dry_run`."""
    import time

    from gitml.store.cas.referenced import pointed_objects
    from gitml.store.cas.stores import local_store
    from gitml.store.layout import TMP_DIR
    from gitml.tracking.staging import runs_dir

    local = local_store(repo)
    kept = pointed_objects(repo, [runs_dir(repo.state_dir), repo.state_dir / TMP_DIR])
    now = time.time()
    collected = []
    for sha256, path in local.objects():
        stat = path.stat()
        if sha256 in kept or now - stat.st_mtime < grace_s:
            continue
        collected.append(CollectedObject(sha256, stat.st_size))
        if not dry_run:
            path.unlink(missing_ok=True)
    for leftover in local.leftovers():
        if not dry_run and now - leftover.stat().st_mtime >= grace_s:
            leftover.unlink(missing_ok=True)
    return collected
