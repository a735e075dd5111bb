"""Push and fetch runs: move only what the other side lacks.

A push is one `git ls-remote` for `refs/gitml/runs/*` and one atomic,
non-forced `git push` (the remote takes all refs of a push or none). Fetching
every run into a repository that has none is one atomic `git fetch` of the run
pattern; otherwise (and for chosen runs) the remote is listed first, the commits
of the runs missing here are fetched by id and their refs created in one
transaction. Either way local refs all appear or none do, so a failure leaves
nothing half-written, and a run already here never moves: a non-forced fetch
still fast-forwards a ref, so a remote holding a commit on top of a run would
otherwise replace that run's code and record here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from gitml.errors import (
    GitmlError,
    InvalidValueError,
    LargeObjectError,
    LockTimeoutError,
    PartialTransferError,
    PushRejectedError,
    RemoteError,
    RunNotFoundError,
    RunsRefusedError,
)
from gitml.sharing.archives import converge_archives, publish_refspecs
from gitml.sharing.listing import RemoteListing, list_remote, remote_archived_runs
from gitml.sharing.objects import (
    download_archive_objects,
    download_objects,
    upload_archive_objects,
    upload_objects,
)
from gitml.sharing.refspecs import (
    ALL_RUNS,
    ARCHIVES,
    EXPERIMENTS,
    PUSH_BATCH,
    SWEEPS,
    VIEWS,
    batches,
    delete_refspec,
    transfer_refspec,
)
from gitml.sharing.remotes import choose_remote
from gitml.store.gitproc import (
    Progress,
    fetch_as_refs,
    pushed_refs,
    refusal_reason,
    remote_error,
    run_remote_git,
)
from gitml.store.ids import could_be_id_prefix
from gitml.store.refs import (
    ARCHIVE_PREFIX,
    EXPERIMENTS_PREFIX,
    RUNS_PREFIX,
    SWEEPS_PREFIX,
    VIEWS_PREFIX,
    RunRef,
    archive_shas,
    has_refs,
    list_run_refs,
    parse_archive_ref,
    parse_run_ref,
    parse_sweep_ref,
    run_ref,
    run_shas,
    sweep_ref,
)
from gitml.store.refs import run_ids as local_run_ids
from gitml.store.repository import Repository
from gitml.tracking.budgets import remote_live_runs_budget

if TYPE_CHECKING:
    from gitml.registry.listing import RemoteRegistry
    from gitml.tracking.record import RunSummary

# Patterns are compiled where they are used (re keeps them), not when gitml starts.
# Lines of `git fetch --verbose` for run refs (git runs in the C locale).
_NEW_REF = r"(?m)^ \* \[new ref\]\s+(refs/gitml/runs/\S+) ->"
_UP_TO_DATE = r"(?m)^ = \[up to date\]\s+(refs/gitml/runs/\S+) ->"
_ANY_NEW_REF = r"(?m)^ \* \[new ref\]\s+(refs/gitml/\S+)\s+->"  # named the same here
_VIEW_REF = r"refs/gitml/views/([^\s:]+)"
_SWEEP_REF = r"refs/gitml/sweeps/([^\s:]+)"
_EXPERIMENT_REF = r"refs/gitml/experiments/([^\s:]+)"
# Refs that only move forward, sent and fetched after the runs, not forced and not atomic
# (one changed on both sides is left alone): `gitml ui`'s saved views, sweep records,
# experiment records; each with the word that names its kind.
_FORWARD = (
    (VIEWS, VIEWS_PREFIX, "view"),
    (SWEEPS, SWEEPS_PREFIX, "sweep"),
    (EXPERIMENTS, EXPERIMENTS_PREFIX, "experiment"),
)
# how git says it moved one of them not, as it differs: here (fetch), there (push)
_DIFFERING = r"\[rejected\]|\(unable to update local ref\)"
PUBLISH_ATTEMPTS = 5  # pushes of archives refused by another machine's, before giving up
# New runs sent by name in the push that also sends archives (git matches each explicit
# refspec against every local ref); more go by the run pattern, in a push of their own.
_EXPLICIT_RUNS = 64


@dataclass
class PushOptions:
    remote: str | None = None
    runs: list[str] = field(default_factory=list)  # ids, id prefixes or names
    experiment: str | None = None
    since_ms: int | None = None
    dry_run: bool = False
    delete: bool = False  # delete `runs` on the remote instead of sending them


@dataclass
class FetchOptions:
    remote: str | None = None
    runs: list[str] = field(default_factory=list)  # ids or id prefixes on the remote


class RefusedRecord(NamedTuple):
    """A view, sweep or experiment record the remote refused to take, and its reason."""

    kind: str  # "view", "sweep" or "experiment"
    name: str  # the view's name, the sweep's or experiment's id
    reason: str  # git's summary and what the remote said (a hook's own words)

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "reason": self.reason}


@dataclass
class TransferResult:
    remote: str
    runs: list[str] = field(default_factory=list)  # ids pushed, fetched or deleted
    already: int = 0  # selected runs the other side had already
    differing: list[str] = field(default_factory=list)  # same id, another commit: left alone
    differing_views: list[str] = field(default_factory=list)  # changed on both sides: left alone
    differing_sweeps: list[str] = field(default_factory=list)  # the same, for sweep records
    differing_experiments: list[str] = field(default_factory=list)  # and experiment records
    refused_records: list[RefusedRecord] = field(default_factory=list)  # by the remote (push)
    tags: list[str] = field(default_factory=list)  # registry tags moved
    renumbered: dict[str, str] = field(default_factory=dict)  # local tag → its new name
    changes: list = field(default_factory=list)  # local registry events changed (Rewrite)
    objects: int = 0  # objects of large artifacts downloaded (fetch)
    objects_missing: list[str] = field(default_factory=list)  # those no store had, and why
    archives: list[str] = field(default_factory=list)  # archive refs moved (there, or here)
    archives_ignored: list[str] = field(default_factory=list)  # theirs naming no commit
    dry_run: bool = False

    def to_json(self) -> dict:
        return {
            "remote": self.remote,
            "runs": self.runs,
            "already": self.already,
            "differing": self.differing,
            "differing_views": self.differing_views,
            "differing_sweeps": self.differing_sweeps,
            "differing_experiments": self.differing_experiments,
            "refused_records": [record.to_json() for record in self.refused_records],
            "tags": self.tags,
            "renumbered": self.renumbered,
            "registry_changes": [change.to_json() for change in self.changes],
            "objects": self.objects,
            "objects_missing": self.objects_missing,
            "archives": self.archives,
            "archives_ignored": self.archives_ignored,
            "dry_run": self.dry_run,
        }


class RemoteRun(NamedTuple):
    id: str
    sha: str
    local: bool  # here too, on a ref or archived
    archived: bool = False  # in the remote's archive commits only (no run ref there)


def remote_run_shas(repo: Repository, remote: str) -> dict[str, str]:
    """run id → commit sha of every run ref the remote has: one `git ls-remote`."""
    return list_remote(repo, remote).runs


def list_remote_runs(repo: Repository, remote: str | None) -> list[RemoteRun]:
    """The runs a remote has, on a run ref or in its archive commits, newest first,
    without fetching them: no ref moves here (the archive commits it has and this
    repository lacks are fetched by id, to be read)."""
    remote = choose_remote(repo, remote)
    there = list_remote(repo, remote)
    shas = remote_archived_runs(repo, remote, there.archives)
    shas.update(there.runs)  # a run on both tiers: its ref
    here = _here(repo, list(shas))
    return [
        RemoteRun(run_id, shas[run_id], run_id in here, run_id not in there.runs)
        for run_id in sorted(shas, reverse=True)
    ]


def _here(repo: Repository, run_ids: list[str]) -> dict[str, str]:
    """run id → commit of those of `run_ids` this repository has, on a ref or archived."""
    from gitml.tracking.index import open_index

    with open_index(repo) as index:
        archived = index.archived_shas(run_ids)
    return {**archived, **run_shas(repo)}


# push


def push_runs(
    repo: Repository, options: PushOptions, progress: Progress | None = None
) -> TransferResult:
    """Send the selected runs the remote lacks (all new runs by default), then registry tags.

    One `git ls-remote` asks the remote for its runs, archives and registry; one atomic
    `git push` then sends the new run refs, the archive refs the remote lacks and the
    deletion of its refs of runs those archives hold. Past gitml.remoteLiveRuns run refs
    on the remote, the older runs it holds on a ref are folded into archives first, so
    that its run refs stay few (docs/sharing.md#scale)."""
    remote = choose_remote(repo, options.remote)
    if options.delete:
        return _delete_remote_runs(repo, remote, options, progress)
    selected = _runs_to_push(repo, options)
    tagged = _has_registry_tags(repo)
    there = list_remote(repo, remote, registry=tagged)
    if not options.dry_run:
        converge_archives(repo, remote, there.archives, progress)  # theirs are here first
    missing = [ref.run_id for ref in selected if ref.run_id not in there.runs]
    held = _held_here(repo, [*there.runs, *missing]) if there.archives or archive_shas(repo) else {}
    # a run here that the archives here hold too (a fold killed before deleting its ref,
    # or another machine folded it) travels in them: the remote's ref of it is deleted
    shas = {ref.run_id: ref.sha for ref in selected}
    archived = {run_id for run_id in missing if held.get(run_id) == shas[run_id]}
    missing = [run_id for run_id in missing if run_id not in archived]
    result = TransferResult(remote, missing, dry_run=options.dry_run)
    result.already = len(selected) - len(missing)
    result.differing = [r.run_id for r in selected if there.runs.get(r.run_id, r.sha) != r.sha]
    filtered = options.runs or options.experiment is not None or options.since_ms is not None
    refused: dict[str, str] = {}
    if not options.dry_run:
        whole = not (filtered or result.differing or archived)
        new = {run_id: shas[run_id] for run_id in missing}
        refused = _send(repo, remote, there, new, held, whole, progress, result)
    with _runs_reported_on_failure(result):
        if tagged:
            _push_registry_tags(repo, remote, options.dry_run, result, there.registry)
        specs = _forward_refspecs(repo)
        if not options.dry_run and specs:
            _take_rejected(result, _push_forward(repo, remote, specs, progress), remote)
        if refused:
            raise RunsRefusedError(remote, refused, len(result.runs))
    return result


def _send(
    repo: Repository,
    remote: str,
    there: RemoteListing,
    missing: dict[str, str],
    held: dict[str, str],
    whole: bool,
    progress: Progress | None,
    result: TransferResult,
) -> dict[str, str]:
    """Send the runs `missing` (id → commit) and the archives the remote lacks: in one
    atomic push when nothing stands in the way, else the runs first (one at a time once
    the remote refuses one) and the archives after them. `held`: run id → commit of the
    remote's runs the archives here hold. Sets `result.runs` and `result.archives`;
    returns run id → why, for the runs the remote refused."""
    budget = remote_live_runs_budget(repo)
    kept = {i: sha for i, sha in there.runs.items() if held.get(i) != sha}
    folded = _fold_for_remote(repo, kept, len(missing), budget)
    known = None if folded else held  # after a fold, the archives here are asked again
    archives = publish_refspecs(repo, there.archives, there.runs, known)
    deletions = archives.deletions
    run_specs = [transfer_refspec(run_id) for run_id in missing]
    if whole and missing and not (deletions and _deleted_here(repo, deletions)):
        run_specs = [ALL_RUNS]  # git skips what the remote has, in one pass
    specs = [*run_specs, *archives.refspecs, *deletions]
    if not specs:
        return {}
    if len(specs) <= PUSH_BATCH and len(run_specs) <= _EXPLICIT_RUNS:
        try:
            upload_objects(repo, remote, list(missing))
            if archives.moved:
                tips = list(there.archives.values())
                upload_archive_objects(repo, remote, list(archive_shas(repo).values()), tips)
            _push(repo, remote, specs, progress)
        except (LargeObjectError, PushRejectedError):
            pass  # one run the remote refuses, or archives pushed from elsewhere meanwhile
        else:
            result.runs = list(missing)
            gone = {spec.removeprefix(":") for spec in deletions}
            now = {i: sha for i, sha in there.runs.items() if run_ref(i) not in gone}
            folded = _fold_pushed(repo, remote, {**now, **missing}, budget, progress)
            result.archives = sorted({*archives.moved, *folded})
            return {}
    refused = _push_new_runs(repo, remote, list(missing), progress, whole)
    result.runs = [run_id for run_id in missing if run_id not in refused]
    with _runs_reported_on_failure(result):
        their_runs, theirs = (there.runs, there.archives)
        if specs != run_specs:  # archives to send: the remote is asked again (it moved)
            again = list_remote(repo, remote)
            their_runs, theirs = again.runs, again.archives
        result.archives = _publish_archives(repo, remote, theirs, their_runs, progress)
    return refused


def _fold_for_remote(
    repo: Repository, kept: dict[str, str], incoming: int, budget: int
) -> list[str]:
    """When the remote would hold more than `budget` run refs (`kept` and `incoming`
    more), fold the runs it holds on a ref (and this repository too), but the newest of
    them, so that it is left with half the budget; never a run still on its way there,
    so that a run the remote refuses holds back no archive. The runs folded (none when
    another process is folding here right now)."""
    if not kept or len(kept) + incoming <= budget:
        return []
    from gitml.tracking.fold import fold_runs

    try:
        return fold_runs(repo, max(budget // 2 - incoming, 0), among=kept).folded
    except LockTimeoutError:
        return []  # the next push folds them


def _fold_pushed(
    repo: Repository,
    remote: str,
    their_runs: dict[str, str],
    budget: int,
    progress: Progress | None,
) -> list[str]:
    """After a push that left the remote more than `budget` run refs (`their_runs`: more
    new runs than the budget), fold and publish the older of them; the archive refs moved
    there."""
    theirs = archive_shas(repo)  # the remote's now: those just pushed
    if not _fold_for_remote(repo, their_runs, 0, budget):
        return []
    return _publish_archives(repo, remote, theirs, their_runs, progress)


def _deleted_here(repo: Repository, deletions: list[str]) -> bool:
    """Whether a run ref here is among the refs `deletions` delete on the remote (a
    fold killed before it deleted its run refs): the run pattern would then send it
    too, twice one ref in one push."""
    here = run_shas(repo)
    return any(parse_run_ref(spec.removeprefix(":")) in here for spec in deletions)


def _push_new_runs(
    repo: Repository, remote: str, run_ids: list[str], progress: Progress | None, whole: bool
) -> dict[str, str]:
    """Push runs `run_ids`, each after the objects of its large artifacts are in the
    shared store; `whole`: every new run in one refspec. When the remote refuses one (a
    hook, a size limit) or an upload fails, the runs go one at a time, so that the others
    still arrive; returns run id → why, for those that did not."""
    if not run_ids:
        return {}
    try:
        upload_objects(repo, remote, run_ids)
        if whole:
            _push(repo, remote, [ALL_RUNS], progress)
        else:
            for batch in batches(run_ids):
                _push(repo, remote, [transfer_refspec(run_id) for run_id in batch], progress)
        return {}
    except (LargeObjectError, PushRejectedError):
        pass
    refused = {}
    for run_id in run_ids:  # one by one: those sent already are "up to date"
        try:
            upload_objects(repo, remote, [run_id])
            _push(repo, remote, [transfer_refspec(run_id)], progress)
        except PushRejectedError as error:
            refused[run_id] = error.reason
        except LargeObjectError as error:
            refused[run_id] = str(error)
    return refused


def _held_here(repo: Repository, run_ids: list[str]) -> dict[str, str]:
    """run id → commit of those of `run_ids` the archives here hold (a run ref may too)."""
    from gitml.tracking.index import open_index

    with open_index(repo) as index:
        return index.archived_shas(run_ids)


def _publish_archives(
    repo: Repository,
    remote: str,
    theirs: dict[str, str],
    their_runs: dict[str, str],
    progress: Progress | None,
) -> list[str]:
    """Send the archive refs the remote lacks, with the deletion of its run refs whose
    runs they hold, in one atomic push (further deletions, past PUSH_BATCH refspecs, in
    more); when another machine pushed archives meanwhile, converge and try again.
    Returns the archive refs moved on the remote."""
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        converge_archives(repo, remote, theirs, progress)
        archives = publish_refspecs(repo, theirs, their_runs)
        refs, deletions = archives.refspecs, archives.deletions
        if not refs and not deletions:
            return []
        ours = archive_shas(repo)
        upload_archive_objects(repo, remote, list(ours.values()), list(theirs.values()))
        first = deletions[: max(PUSH_BATCH - len(refs), 0)]
        try:
            _push(repo, remote, [*refs, *first], progress)
        except PushRejectedError:
            if attempt == PUBLISH_ATTEMPTS:
                raise
            again = list_remote(repo, remote)
            their_runs, theirs = again.runs, again.archives
            continue
        for batch in batches(deletions[len(first) :]):
            _push(repo, remote, batch, progress)
        return archives.moved
    raise AssertionError("unreachable")


def _push_forward(
    repo: Repository, remote: str, specs: list[str], progress: Progress | None
) -> object:
    """Send the views and sweep records, not forced and not atomic."""
    args = ["push", "--porcelain", "--no-verify", "--progress" if progress else "--quiet"]
    return run_remote_git(
        repo, [*args, "--", remote, *specs], remote, progress=progress, check=False
    )


def _take_rejected(result: TransferResult, done, remote: str) -> None:
    """Views, sweeps and experiment records git did not move. One changed on both sides
    (a fast-forward git could not make) or below whose name this repository holds a ref
    (fetch) is left as it is on each side; one the remote refused (its hook, or a ref
    below its name there, which anyone can push, where git can write neither) is
    reported with the remote's own reason. Any other failure raises."""
    out = done.stdout + done.stderr
    lines = [line for line in out.splitlines() if re.search(_DIFFERING, line)]
    views, sweeps, experiments = (
        sorted({m.group(1) for m in (re.search(pattern, line) for line in lines) if m})
        for pattern in (_VIEW_REF, _SWEEP_REF, _EXPERIMENT_REF)
    )
    refused = [
        RefusedRecord(
            kind, ref.ref.removeprefix(prefix), refusal_reason([ref.summary], done.stderr)
        )
        for ref in pushed_refs(done.stdout)
        if ref.refused and ref.by_the_remote
        for _, prefix, kind in _FORWARD
        if ref.ref.startswith(prefix)
    ]
    if done.status != 0 and not (views or sweeps or experiments or refused):
        raise remote_error(remote, done.stderr)
    result.differing_views, result.differing_sweeps = views, sweeps
    result.differing_experiments = experiments
    result.refused_records = refused


def push_sweep_record(repo: Repository, remote: str | None, sweep_id: str) -> str:
    """Send one sweep's record (and with it the code its trials run), so that workers
    elsewhere can fetch it; the remote's name."""
    remote = choose_remote(repo, remote)
    _push(repo, remote, [f"{sweep_ref(sweep_id)}:{sweep_ref(sweep_id)}"], None)
    return remote


def fetch_sweep_records(repo: Repository, remote: str | None) -> str:
    """Bring the remote's sweep records (not forced: one recorded differently here
    stays as it is); the remote's name."""
    remote = choose_remote(repo, remote)
    args = ["fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no", "--no-prune"]
    done = run_remote_git(
        repo, [*args, "--no-progress", "--", remote, SWEEPS], remote, check=False,
    )  # fmt: skip
    _drop_strays(repo, [SWEEPS_PREFIX])
    _take_rejected(TransferResult(remote), done, remote)
    return remote


def _forward_refspecs(repo: Repository) -> list[str]:
    """The refspecs of the forward-only refs this repository has any of."""
    return [spec for spec, prefix, _ in _FORWARD if has_refs(repo, prefix)]


@contextmanager
def _runs_reported_on_failure(result: TransferResult) -> Iterator[None]:
    """Registry tags move after the runs: an error then (a version registered twice, a
    rejected tag) comes as a PartialTransferError carrying the runs already moved."""
    try:
        yield
    except GitmlError as error:
        raise PartialTransferError(error, result) from error


def _has_registry_tags(repo: Repository) -> bool:
    """Whether this repository has registry tags (git is asked only when it has tags)."""
    if not has_refs(repo, "refs/tags/"):
        return False
    from gitml.registry.tagstore import list_registry_tags

    return bool(list_registry_tags(repo))


def _push_registry_tags(
    repo: Repository, remote: str, dry_run: bool, result, listing: RemoteRegistry | None
) -> None:
    """The registry's own push (`listing`: the remote's registry, listed already)."""
    from gitml.registry.transfer import push_registry_tags

    _take_registry(result, push_registry_tags(repo, remote, dry_run, listing))


def _take_registry(result: TransferResult, moved) -> None:
    """What the registry's transfer did (a `MovedTags`), into `result`."""
    result.tags, result.renumbered, result.changes = moved.names, moved.renumbered, moved.changes


def _runs_to_push(repo: Repository, options: PushOptions) -> list[RunRef]:
    """The run refs selected, newest first (all of them without a filter: read from the
    ref files, no git started)."""
    if not options.runs and options.experiment is None and options.since_ms is None:
        shas = run_shas(repo)
        return [RunRef(run_id, shas[run_id], "") for run_id in sorted(shas, reverse=True)]
    from gitml.sharing.selection import started_ms, summaries

    run_ids = [_committed_run(repo, text).id for text in options.runs] if options.runs else None
    refs = list_run_refs(repo, with_messages=options.experiment is not None, run_ids=run_ids)
    if options.experiment is not None:
        wanted = {s.id for s in summaries(refs) if s.experiment == options.experiment}
        refs = [ref for ref in refs if ref.run_id in wanted]
    if options.since_ms is not None:
        refs = [ref for ref in refs if started_ms(ref) >= options.since_ms]
    return refs


def _committed_run(repo: Repository, text: str) -> RunSummary:
    from gitml.tracking.catalog import resolve
    from gitml.tracking.readers import open_run

    summary = resolve(repo, text)
    with open_run(repo, summary) as reader:
        reader.require_ended("push it")
    return summary


def _delete_remote_runs(
    repo: Repository, remote: str, options: PushOptions, progress: Progress | None
) -> TransferResult:
    if not options.runs:
        raise InvalidValueError("say which runs to delete on the remote: gitml push --delete RUN…")
    on_remote = remote_run_shas(repo, remote)
    run_ids = [_remote_run_id(repo, text, on_remote, remote) for text in options.runs]
    run_ids = list(dict.fromkeys(run_ids))
    if not options.dry_run:
        for batch in batches(run_ids):
            _push(repo, remote, [delete_refspec(run_id) for run_id in batch], progress)
    return TransferResult(remote, run_ids, dry_run=options.dry_run)


def _remote_run_id(repo: Repository, text: str, on_remote: dict[str, str], remote: str) -> str:
    """The remote run `text` names: a local name or id, else a unique id prefix there."""
    from gitml.tracking.catalog import resolve

    try:
        run_id = resolve(repo, text).id
    except RunNotFoundError as error:
        if error.candidates:
            raise  # a name or prefix of several runs here: say so, as `gitml push` does
        run_id = None
    if run_id in on_remote:
        return run_id
    matches = [i for i in on_remote if could_be_id_prefix(text) and i.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise RunNotFoundError(text, sorted(matches))
    raise _not_on_remote(remote, text)


def _not_on_remote(remote: str, text: str) -> RemoteError:
    return RemoteError(
        remote, f"remote '{remote}' has no run matching {text!r} (see gitml ls --remote {remote})"
    )


def _push(repo: Repository, remote: str, refspecs: list[str], progress: Progress | None) -> None:
    """One atomic, non-forced `git push` of `refspecs`; rejected refs raise."""
    args = ["push", "--porcelain", "--no-verify", "--atomic"]
    args += ["--progress"] if progress else ["--quiet"]
    result = run_remote_git(
        repo, [*args, "--", remote, *refspecs], remote, progress=progress, check=False
    )
    if result.status != 0 and "does not support --atomic" in result.stderr:
        args.remove("--atomic")  # an old server: refs still go over one connection
        result = run_remote_git(
            repo, [*args, "--", remote, *refspecs], remote, progress=progress, check=False
        )
    if result.status == 0:
        return
    rejected = [ref for ref in pushed_refs(result.stdout) if ref.refused]
    if rejected:
        reasons = {ref.summary for ref in rejected}
        real = {reason for reason in reasons if "atomic push failed" not in reason} or reasons
        refs = [ref.ref for ref in rejected]
        raise PushRejectedError(remote, refs, refusal_reason(real, result.stderr))
    raise remote_error(remote, result.stderr)


# fetch


def fetch_runs(
    repo: Repository, options: FetchOptions, progress: Progress | None = None
) -> TransferResult:
    """Bring the selected runs (all by default) the repository lacks, then registry tags;
    a run here that differs on the remote (even by a commit on top of it) is left alone.
    The remote is asked once: for its registry alone while the runs come when this
    repository has no runs yet, else for its runs, archives and registry at once."""
    from gitml.registry.transfer import fetch_registry_tags, list_remote_registry

    remote = choose_remote(repo, options.remote)
    archives_before = archive_shas(repo)
    # no run here that git could move
    every = not options.runs and not local_run_ids(repo) and not archives_before
    result = None
    if every:
        from concurrent.futures import ThreadPoolExecutor

        # The remote's registry tags are listed while the runs come: one round trip less.
        with ThreadPoolExecutor(max_workers=1) as pool:
            tag_listing = pool.submit(list_remote_registry, repo, remote)
            result = _fetch_every_run(repo, remote, progress)
            registry = tag_listing.result()
    if result is None:
        there = list_remote(repo, remote, registry=True)
        assert there.registry is not None  # asked for
        registry = there.registry
        result = _fetch_listed(repo, remote, there, options.runs, progress)
    with _runs_reported_on_failure(result):
        moved = download_objects(repo, remote, result.runs)
        archives = archive_shas(repo)
        if archives != archives_before:  # the runs of archives that came: theirs too
            more = download_archive_objects(
                repo, remote, list(archives.values()), list(archives_before.values())
            )
            moved.count += more.count
            moved.missing += more.missing
            result.archives = sorted(ref for ref, sha in archives.items()
                                     if archives_before.get(ref) != sha)  # fmt: skip
        result.objects, result.objects_missing = moved.count, moved.missing
        _take_registry(result, fetch_registry_tags(repo, remote, registry))
        _take_rejected(result, _fetch_forward(repo, remote, progress), remote)
    return result


def _fetch_forward(repo: Repository, remote: str, progress: Progress | None) -> object:
    """The remote's saved views, sweep and experiment records, not forced and not atomic:
    one changed here and there (git rejects it) keeps its local commit, the others arrive."""
    args = ["fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no", "--no-prune"]
    args += ["--progress" if progress else "--no-progress", "--", remote]
    specs = [spec for spec, _, _ in _FORWARD]
    done = run_remote_git(repo, [*args, *specs], remote, progress=progress, check=False)
    _drop_strays(repo, [prefix for _, prefix, _ in _FORWARD])
    return done


def _drop_strays(repo: Repository, prefixes: list[str]) -> None:
    """Refs under `prefixes` (those of the patterns a fetch just brought) that name
    nothing of their kind (no clone writes them; the remote still holds them): one
    *below* a name gitml writes (an archive bucket's ref, a record's), kept, would stop
    git from ever writing that ref here."""
    from gitml.store.gitcmd import git_output

    listed = git_output(["for-each-ref", "--format=%(refname)", *prefixes], repo.cwd)
    _delete_strays(repo, listed.splitlines())


def _delete_strays(repo: Repository, refs: list[str]) -> None:
    """Delete those of `refs` that name nothing of their kind (`_drop_strays`)."""
    from gitml.store.gitcmd import run_git

    strays = [ref for ref in refs if not _names_a_record(ref)]
    if strays:
        commands = "".join(f"delete {ref}\n" for ref in strays)
        run_git(["update-ref", "--stdin"], repo.cwd, input=commands.encode())


def _names_a_record(ref: str) -> bool:
    """A run's id, an archive's bucket, an experiment's id, a sweep's id, or a view's
    name (one level: no `/`)."""
    from gitml.tracking.record import is_experiment_id

    if ref.startswith(RUNS_PREFIX):
        return parse_run_ref(ref) is not None
    if ref.startswith(ARCHIVE_PREFIX):
        return parse_archive_ref(ref) is not None
    if ref.startswith(EXPERIMENTS_PREFIX):
        return is_experiment_id(ref[len(EXPERIMENTS_PREFIX) :])
    if ref.startswith(SWEEPS_PREFIX):
        return parse_sweep_ref(ref) is not None
    return "/" not in ref[len(VIEWS_PREFIX) :]


def _fetch_every_run(repo: Repository, remote: str, progress: Progress | None):
    """One `git fetch` of the run pattern, no listing first, into a repository with no
    runs (git would fast-forward a run already here); with --verbose git names each
    ref (C locale). None when a run differs on the two sides (one made here since:
    the atomic fetch takes nothing): the listed fetch then takes the rest."""
    args = [*_fetch_args(remote, progress, "--verbose"), ALL_RUNS, ARCHIVES]
    done = run_remote_git(repo, args, remote, progress=progress, check=False)
    if done.status != 0:
        if "[rejected]" in done.stderr:
            return None
        raise remote_error(remote, done.stderr)
    # refs named no run or bucket came too (the new ones git names: no listing of them all)
    _delete_strays(repo, re.findall(_ANY_NEW_REF, done.stderr))
    new_refs = re.findall(_NEW_REF, done.stderr)
    fetched = sorted(filter(None, map(parse_run_ref, new_refs)), reverse=True)
    already = [ref for ref in re.findall(_UP_TO_DATE, done.stderr) if parse_run_ref(ref)]
    return TransferResult(remote, fetched, already=len(already))


def _fetch_listed(
    repo: Repository,
    remote: str,
    there: RemoteListing,
    texts: list[str],
    progress: Progress | None,
) -> TransferResult:
    """Fetch the wanted runs (`texts`: ids or prefixes of runs the remote holds, on a
    ref or in its archives; all when empty) missing here: the remote's archives first
    (by id, then merged here: `converge_archives`), then the run refs still missing."""
    on_remote = dict(there.runs)
    if texts:  # a run the remote only holds archived is one to choose too
        archived = remote_archived_runs(repo, remote, there.archives, progress)
        on_remote = {**archived, **on_remote}
    wanted = _remote_selection(on_remote, texts, remote) if texts else list(on_remote)
    before = _here(repo, wanted)
    converged = converge_archives(repo, remote, there.archives, progress)
    here = _here(repo, wanted) if converged.moved else before  # runs the archives hold too
    refs = {run_ref(i): there.runs[i] for i in wanted if i not in here and i in there.runs}
    arrived = [i for i in wanted if i not in before and (i in here or run_ref(i) in refs)]
    result = TransferResult(remote, sorted(arrived, reverse=True))
    result.already = len(wanted) - len(arrived)
    result.archives_ignored = converged.ignored
    result.differing = sorted(i for i in wanted if before.get(i, on_remote[i]) != on_remote[i])
    if refs:
        fetch_as_refs(repo, remote, refs, progress)
    return result


def _fetch_args(remote: str, progress: Progress | None, *options: str) -> list[str]:
    """Atomic (all refs or none), no tags (the registry moves its own), FETCH_HEAD untouched,
    never pruning (with `fetch.prune` set, git would delete the runs not pushed yet)."""
    args = ["fetch", "--atomic", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no"]
    args += ["--no-prune", *options]
    return [*args, "--progress" if progress else "--no-progress", "--", remote]


def _remote_selection(on_remote: dict[str, str], texts: list[str], remote: str) -> list[str]:
    selected = []
    for text in texts:
        matches = [i for i in on_remote if could_be_id_prefix(text) and i.startswith(text)]
        if len(matches) > 1:
            raise RunNotFoundError(text, sorted(matches))
        if not matches:
            raise _not_on_remote(remote, text)
        selected.append(matches[0])
    return list(dict.fromkeys(selected))


def arrived(repo: Repository, run_ids: list[str]) -> list[RunSummary]:
    """Summaries of runs just fetched, on a ref or archived, newest first (for `gitml
    pull`)."""
    if not run_ids:
        return []
    from gitml.tracking.index import open_index

    with open_index(repo) as index:
        found = [index.summary(run_id) for run_id in sorted(run_ids, reverse=True)]
    return [summary for summary in found if summary is not None]
