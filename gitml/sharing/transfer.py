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

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from gitml.errors import (
    GitmlError,
    InvalidValueError,
    LargeObjectError,
    PartialTransferError,
    PushRejectedError,
    RemoteError,
    RunNotFoundError,
    RunsRefusedError,
)
from gitml.sharing.archives import converge_archives, publish_refspecs
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
from gitml.sharing.selection import started_ms, summaries
from gitml.store.gitcmd import run_git
from gitml.store.gitproc import (
    Progress,
    ask_remote,
    fetch_as_refs,
    remote_error,
    remote_messages,
    run_remote_git,
)
from gitml.store.ids import could_be_id_prefix
from gitml.store.refs import (
    ARCHIVE_PREFIX,
    EXPERIMENTS_PREFIX,
    RUNS_PREFIX,
    SWEEPS_PREFIX,
    VIEWS_PREFIX,
    archive_shas,
    list_run_refs,
    parse_archive_ref,
    parse_run_ref,
    run_ref,
    run_shas,
    sweep_ref,
)
from gitml.store.refs import run_ids as local_run_ids
from gitml.store.repository import Repository
from gitml.tracking.catalog import resolve
from gitml.tracking.index import open_index
from gitml.tracking.readers import open_run
from gitml.tracking.record import RunSummary

# Lines of `git fetch --verbose` for run refs (git runs in the C locale).
_NEW_REF = re.compile(r"^ \* \[new ref\]\s+(refs/gitml/runs/\S+) ->", re.MULTILINE)
_VIEW_REF = re.compile(r"refs/gitml/views/([^\s:]+)")
_SWEEP_REF = re.compile(r"refs/gitml/sweeps/([^\s:]+)")
_EXPERIMENT_REF = re.compile(r"refs/gitml/experiments/([^\s:]+)")
# Refs that only move forward, sent and fetched after the runs, not forced and not atomic
# (one changed on both sides is left alone): `gitml ui`'s saved views, sweep records,
# experiment records.
_FORWARD = ((VIEWS, VIEWS_PREFIX), (SWEEPS, SWEEPS_PREFIX), (EXPERIMENTS, EXPERIMENTS_PREFIX))
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
PUBLISH_ATTEMPTS = 5  # pushes of archives refused by another machine's, before giving up
_UP_TO_DATE = re.compile(r"^ = \[up to date\]\s+(refs/gitml/runs/\S+) ->", re.MULTILINE)


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


@dataclass
class TransferResult:
    remote: str
    runs: list[str] = field(default_factory=list)  # ids pushed, fetched or deleted
    already: int = 0  # selected runs the other side had already
    differing: list[str] = field(default_factory=list)  # same id, another commit: left alone
    differing_views: list[str] = field(default_factory=list)  # changed on both sides: left alone
    differing_sweeps: list[str] = field(default_factory=list)  # the same, for sweep records
    differing_experiments: list[str] = field(default_factory=list)  # and experiment records
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
            "tags": self.tags,
            "renumbered": self.renumbered,
            "registry_changes": [change.to_json() for change in self.changes],
            "objects": self.objects,
            "objects_missing": self.objects_missing,
            "archives": self.archives,
            "archives_ignored": self.archives_ignored,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class RemoteRun:
    id: str
    sha: str
    local: bool


def remote_run_shas(repo: Repository, remote: str) -> dict[str, str]:
    """run id → commit sha of every run ref the remote has: one `git ls-remote`."""
    return remote_refs(repo, remote)[0]


def remote_refs(repo: Repository, remote: str) -> tuple[dict[str, str], dict[str, str]]:
    """(run id → sha of every run ref, archive ref → sha of every archive ref) of the
    remote: one `git ls-remote`."""
    patterns = [RUNS_PREFIX + "*", ARCHIVE_PREFIX + "*"]
    listing = ask_remote(repo, ["ls-remote", "--refs", "--", remote, *patterns], remote)
    runs, archives = {}, {}
    for line in listing.splitlines():
        sha, _, ref = line.partition("\t")
        if not _SHA.fullmatch(sha):
            continue
        run_id = parse_run_ref(ref)
        if run_id:
            runs[run_id] = sha
        elif parse_archive_ref(ref) is not None:
            archives[ref] = sha
    return runs, archives


def list_remote_runs(repo: Repository, remote: str | None) -> list[RemoteRun]:
    """The runs a remote has, newest first, without fetching them."""
    remote = choose_remote(repo, remote)
    local = {ref.run_id for ref in list_run_refs(repo, with_messages=False)}
    shas = remote_run_shas(repo, remote)
    return [RemoteRun(i, shas[i], i in local) for i in sorted(shas, reverse=True)]


# push


def push_runs(
    repo: Repository, options: PushOptions, progress: Progress | None = None
) -> TransferResult:
    """Send the selected runs the remote lacks (all new runs by default), then registry tags."""
    remote = choose_remote(repo, options.remote)
    if options.delete:
        return _delete_remote_runs(repo, remote, options, progress)
    selected = _runs_to_push(repo, options)
    on_remote, their_archives = remote_refs(repo, remote)
    missing = [ref.run_id for ref in selected if ref.run_id not in on_remote]
    archived = _archived_here(repo, missing) if their_archives or archive_shas(repo) else set()
    missing = [run_id for run_id in missing if run_id not in archived]  # they go archived
    result = TransferResult(remote, missing, dry_run=options.dry_run)
    result.already = len(selected) - len(missing)
    result.differing = [r.run_id for r in selected if on_remote.get(r.run_id, r.sha) != r.sha]
    filtered = options.runs or options.experiment is not None or options.since_ms is not None
    refused: dict[str, str] = {}
    if missing and not options.dry_run:
        whole = not (filtered or result.differing or archived)
        refused = _push_new_runs(repo, remote, missing, progress, whole)
        result.runs = [run_id for run_id in missing if run_id not in refused]
    with _runs_reported_on_failure(result):
        if not options.dry_run and (their_archives or archive_shas(repo)):
            result.archives = _publish_archives(repo, remote, their_archives, on_remote, progress)
        _push_registry_tags(repo, remote, options.dry_run, result)
        specs = _forward_refspecs(repo)
        if not options.dry_run and specs:
            _take_rejected(result, _push_forward(repo, remote, specs, progress), remote)
        if refused:
            raise RunsRefusedError(remote, refused, len(result.runs))
    return result


def _push_new_runs(
    repo: Repository, remote: str, run_ids: list[str], progress: Progress | None, whole: bool
) -> dict[str, str]:
    """Push runs `run_ids`, each after the objects of its large artifacts are in the
    shared store; `whole`: every new run in one refspec. When the remote refuses one (a
    hook, a size limit) or an upload fails, the runs go one at a time, so that the others
    still arrive; returns run id → why, for those that did not."""
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


def _archived_here(repo: Repository, run_ids: list[str]) -> set[str]:
    """Those of `run_ids` (run refs here) the archives here hold too (a fold was killed
    before deleting their refs, or another machine folded them): they travel in the
    archives, and the remote's refs of them are deleted, so they are not sent as refs."""
    local = dict(run_shas(repo))
    with open_index(repo) as index:
        archived = index.archived_shas(run_ids)
    return {run_id for run_id, sha in archived.items() if local.get(run_id) == sha}


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
        refs, deletions = publish_refspecs(repo, theirs, their_runs)
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
            their_runs, theirs = remote_refs(repo, remote)
            continue
        for batch in batches(deletions[len(first) :]):
            _push(repo, remote, batch, progress)
        return [spec.partition(":")[0] for spec in refs]
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
    """Views and sweeps git refused to move (a fast-forward it could not make: changed on
    both sides, they are left as they are); any other failure raises."""
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "[rejected]" in line]
    views = sorted({m.group(1) for m in map(_VIEW_REF.search, lines) if m})
    sweeps = sorted({m.group(1) for m in map(_SWEEP_REF.search, lines) if m})
    experiments = sorted({m.group(1) for m in map(_EXPERIMENT_REF.search, lines) if m})
    if done.status != 0 and not (views or sweeps or experiments):
        raise remote_error(remote, done.stderr)
    result.differing_views, result.differing_sweeps = views, sweeps
    result.differing_experiments = experiments


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
        repo, [*args, "--no-progress", "--", remote, SWEEPS], remote, through_gitpython=False,
        check=False,
    )  # fmt: skip
    _take_rejected(TransferResult(remote), done, remote)
    return remote


def _forward_refspecs(repo: Repository) -> list[str]:
    """The refspecs of the forward-only refs this repository has any of."""
    prefixes = [prefix for _, prefix in _FORWARD]
    listing = run_git(["for-each-ref", "--format=%(refname)", *prefixes], repo.cwd)
    refs = listing.stdout.decode().splitlines()
    return [spec for spec, prefix in _FORWARD if any(ref.startswith(prefix) for ref in refs)]


@contextmanager
def _runs_reported_on_failure(result: TransferResult) -> Iterator[None]:
    """Registry tags move after the runs: an error then (a version registered twice, a
    rejected tag) comes as a PartialTransferError carrying the runs already moved."""
    try:
        yield
    except GitmlError as error:
        raise PartialTransferError(error, result) from error


def _push_registry_tags(repo: Repository, remote: str, dry_run: bool, result) -> None:
    """The registry's own push, skipped (with its remote listing) when there are no tags."""
    from gitml.registry.tagstore import list_registry_tags
    from gitml.registry.transfer import push_registry_tags

    if list_registry_tags(repo):
        _take_registry(result, push_registry_tags(repo, remote, dry_run))


def _take_registry(result: TransferResult, moved) -> None:
    """What the registry's transfer did (a `MovedTags`), into `result`."""
    result.tags, result.renumbered, result.changes = moved.names, moved.renumbered, moved.changes


def _runs_to_push(repo: Repository, options: PushOptions):
    run_ids = [_committed_run(repo, text).id for text in options.runs] if options.runs else None
    refs = list_run_refs(repo, with_messages=options.experiment is not None, run_ids=run_ids)
    if options.experiment is not None:
        wanted = {s.id for s in summaries(refs) if s.experiment == options.experiment}
        refs = [ref for ref in refs if ref.run_id in wanted]
    if options.since_ms is not None:
        refs = [ref for ref in refs if started_ms(ref) >= options.since_ms]
    return refs


def _committed_run(repo: Repository, text: str) -> RunSummary:
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
    rejected = [line.split("\t") for line in result.stdout.splitlines() if line.startswith("!")]
    if rejected:
        refs = [fields[1].partition(":")[2] for fields in rejected if len(fields) > 2]
        reasons = {fields[2] for fields in rejected if len(fields) > 2}
        real = sorted(r for r in reasons if "atomic push failed" not in r) or sorted(reasons)
        said = remote_messages(result.stderr)
        because = f" (the remote said: {' / '.join(said)})" if said else ""
        raise PushRejectedError(remote, refs, "; ".join(real) + because)
    raise remote_error(remote, result.stderr)


# fetch


def fetch_runs(
    repo: Repository, options: FetchOptions, progress: Progress | None = None
) -> TransferResult:
    """Bring the selected runs (all by default) the repository lacks, then registry tags;
    a run here that differs on the remote (even by a commit on top of it) is left alone."""
    from gitml.registry.transfer import fetch_registry_tags, list_remote_registry

    remote = choose_remote(repo, options.remote)
    archives_before = archive_shas(repo)
    # The remote's registry tags are listed while the runs come: one round trip less.
    with ThreadPoolExecutor(max_workers=1) as pool:
        tag_listing = pool.submit(list_remote_registry, repo, remote)
        # no run here that git could move
        every = not options.runs and not local_run_ids(repo) and not archive_shas(repo)
        result = _fetch_every_run(repo, remote, progress) if every else None
        if result is None:
            result = _fetch_listed(repo, remote, options.runs, progress)
        on_remote = tag_listing.result()
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
        _take_registry(result, fetch_registry_tags(repo, remote, on_remote))
        _take_rejected(result, _fetch_forward(repo, remote, progress), remote)
    return result


def _fetch_forward(repo: Repository, remote: str, progress: Progress | None) -> object:
    """The remote's saved views and sweep records, not forced and not atomic: one
    changed here and there (git rejects it) keeps its local commit, the others arrive."""
    args = ["fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no", "--no-prune"]
    args += ["--progress" if progress else "--no-progress", "--", remote]
    specs = [spec for spec, _ in _FORWARD]
    return run_remote_git(
        repo, [*args, *specs], remote, progress=progress, check=False, through_gitpython=False
    )


def _fetch_every_run(repo: Repository, remote: str, progress: Progress | None):
    """One `git fetch` of the run pattern, no listing first, into a repository with no
    runs (git would fast-forward a run already here); with --verbose git names each
    ref (C locale). None when a run differs on the two sides (one made here since:
    the atomic fetch takes nothing): the listed fetch then takes the rest."""
    args = [*_fetch_args(remote, progress, "--verbose"), ALL_RUNS, ARCHIVES]
    done = run_remote_git(
        repo, args, remote, progress=progress, check=False, through_gitpython=False
    )
    if done.status != 0:
        if "[rejected]" in done.stderr:
            return None
        raise remote_error(remote, done.stderr)
    # refs under refs/gitml/runs/ that are named no run id came too, but are no runs
    fetched = sorted(filter(None, map(parse_run_ref, _NEW_REF.findall(done.stderr))), reverse=True)
    already = [ref for ref in _UP_TO_DATE.findall(done.stderr) if parse_run_ref(ref)]
    return TransferResult(remote, fetched, already=len(already))


def _fetch_listed(
    repo: Repository, remote: str, texts: list[str], progress: Progress | None
) -> TransferResult:
    """Ask the remote which runs it has, then fetch the wanted ones missing here."""
    on_remote, their_archives = remote_refs(repo, remote)
    wanted = _remote_selection(on_remote, texts, remote) if texts else on_remote
    converged = converge_archives(repo, remote, their_archives, progress)
    local = {ref.run_id: ref.sha for ref in list_run_refs(repo, with_messages=False)}
    with open_index(repo) as index:  # runs the archives hold are here too
        local = {**index.archived_shas(wanted), **local}
    missing = sorted((i for i in wanted if i not in local), reverse=True)
    result = TransferResult(remote, missing, already=len(wanted) - len(missing))
    if converged.ignored:
        result.archives_ignored = converged.ignored
    result.differing = sorted(i for i in wanted if local.get(i, on_remote[i]) != on_remote[i])
    if missing:
        refs = {run_ref(run_id): on_remote[run_id] for run_id in missing}
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
    """Summaries of runs just fetched, newest first (for `gitml pull`)."""
    if not run_ids:
        return []
    return summaries(list_run_refs(repo, with_messages=True, run_ids=run_ids))
