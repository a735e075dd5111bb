"""Move registry tags to and from a remote, fitting local unpublished events after the remote's.

Two clones that write events for one model at the same time collide: the same
counter, the same tag name, the same version for two runs. Whenever gitml
fetches the registry, and before it sends it, it brings the remote's events
and fits this repository's unpublished events after them
(`gitml.registry.converge`): a version the remote took moves to the next free
one with the events about it, counters move past every counter in use. The
remote's events, and events already pushed anywhere, are never rewritten.

Every push of registry tags also moves one ref of the remote,
`refs/gitml-registry/last-push`, on the lease of the value it had when the
events were fitted: of two clones pushing at once, the remote takes one push;
the other is refused whole (pushes are atomic), fetches, fits again and
retries. So two pushes can never both add the same counter under different
names (`linear#staging#3` and `linear#production#3`). The ref lies outside
`refs/gitml/`, so no fetch refspec of gitml's (`gitml remote setup`) brings it.

Git runs as the user's own executable (`gitml.store.gitproc`), so their
credentials and config apply as they do for `git push`.
"""

from dataclasses import dataclass, field, replace

from gitml.errors import PushRejectedError, RegistryConflictError
from gitml.registry.converge import Rewrite, plan
from gitml.registry.listing import (
    LAST_PUSH_REF,
    PATTERNS,
    RemoteRegistry,
    parse_registry_listing,
)
from gitml.registry.pending import add_pending, pending_events, remove_pending
from gitml.registry.tagstore import (
    REGISTRY_LOCK,
    TAGS_PREFIX,
    list_registry_tags,
    list_tag_names,
    present_objects,
    read_tags,
    renamed_tags,
    update_tags,
)
from gitml.store.gitproc import (
    ask_remote,
    fetch_objects,
    pushed_refs,
    refusal_reason,
    remote_error,
    run_remote_git,
)
from gitml.store.locks import exclusive_lock
from gitml.store.repository import Repository, open_repository

_ATTEMPTS = 8
# A push waits for the other gitml commands of this repository that write the registry,
# and they for it: long enough for a push over a slow network.
_PUSH_LOCK_SECONDS = 300.0


@dataclass
class MovedTags:
    """The registry tags a transfer moved (`names`). `changes` says how local events
    changed to let the transfer through (each from its first form to its last);
    `renumbered` maps the old name of each renamed one to its new name."""

    names: list[str] = field(default_factory=list)
    changes: list[Rewrite] = field(default_factory=list)

    @property
    def renumbered(self) -> dict[str, str]:
        return {change.old.name: change.name for change in self.changes if change.renamed}

    def record(self, changes: list[Rewrite]) -> None:
        """Add `changes`; an event changed again keeps one change, from its first form."""
        for change in changes:
            earlier = next((c for c in self.changes if c.name == change.old.name), None)
            if earlier is None or earlier.theirs:
                self.changes.append(change)
                continue
            self.changes.remove(earlier)
            self.changes.append(
                replace(
                    change,
                    old=earlier.old,
                    old_counter=earlier.old_counter,
                    version=change.version or earlier.version,
                    old_version=earlier.old_version or change.old_version,
                )
            )


@dataclass
class _PushStatus:
    pushed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    stderr: str = ""  # git's, with what the remote said (a hook's reason)


def push_registry_tags(
    repo: Repository | str,
    remote: str,
    dry_run: bool = False,
    listing: RemoteRegistry | None = None,
) -> MovedTags:
    """Send the registry tags the remote lacks; returns their names.

    The remote's events we lack are fetched and ours fitted after them, then one
    atomic `git push` sends ours. A push refused because another clone pushed
    meanwhile is retried the same way; `result.changes` says what changed here.
    The registry's lock is held throughout, so that no other command of this
    repository renames an event while it is on its way. `dry_run` only reports
    what would be sent (nothing is fetched or changed). `listing` is the remote's,
    when the caller asked for it already: the first attempt uses it (a stale one is
    refused by the remote's lease, and the next attempt lists the remote again).
    """
    repo = open_repository(repo)
    if dry_run:
        unsent = _unsent(repo, listing or list_remote_registry(repo, remote))
        return MovedTags(_push(repo, remote, unsent, None).pushed if unsent else [])
    moved = MovedTags()
    status = _PushStatus()
    known = None
    with exclusive_lock(repo, REGISTRY_LOCK, timeout=_PUSH_LOCK_SECONDS):
        for attempt in range(_ATTEMPTS):
            if listing is None or attempt > 0:
                listing = list_remote_registry(repo, remote)
            if listing == known:
                break  # nothing learnt from the remote: retrying would be refused again
            known = listing
            arrived, changes = _converge(repo, remote, listing)
            moved.record(changes)
            unsent = _unsent(repo, listing)
            if not unsent:
                return moved
            status = _push(repo, remote, unsent, listing)
            remove_pending(repo, status.pushed)
            moved.names.extend(status.pushed)
            if not status.rejected:
                return moved
    changed = len(moved.changes)
    raise PushRejectedError(
        remote,
        status.rejected,
        refusal_reason(status.reasons, status.stderr),
        f"{changed} unpublished registry event{'s' if changed != 1 else ''} changed here to "
        "fit after the remote's; retry `gitml push`"
        if changed
        else None,
    )


def fetch_registry_tags(
    repo: Repository | str, remote: str, listing: RemoteRegistry | None = None
) -> MovedTags:
    """Bring the registry tags the repository lacks; returns their names.

    Local events never pushed are fitted after the remote's first (see `changes`
    on the result). `listing` is the remote's, when the caller asked for it already
    (`list_remote_registry`): an older listing is safe, as events pushed since have
    left the pending list under the same lock.
    """
    repo = open_repository(repo)
    if listing is None:
        listing = list_remote_registry(repo, remote)
    if not listing.tags:
        return MovedTags()  # nothing to bring, and no event of ours can clash
    with exclusive_lock(repo, REGISTRY_LOCK):
        arrived, changes = _converge(repo, remote, listing)
    moved = MovedTags(arrived)
    moved.record(changes)
    return moved


def list_remote_registry(repo: Repository, remote: str) -> RemoteRegistry:
    """The remote's registry tags and last push: one `git ls-remote` (the git executable
    started directly: it only asks)."""
    out = ask_remote(repo, ["ls-remote", "--", remote, *PATTERNS], remote)
    pairs = (line.partition("\t") for line in out.splitlines())
    return parse_registry_listing([(sha, ref) for sha, _, ref in pairs])


def _unsent(repo: Repository, listing: RemoteRegistry) -> dict[str, str]:
    """name → tag object of the local registry tags the remote lacks."""
    return {
        tag.name: tag.sha
        for tag in list_registry_tags(repo)
        if listing.tags.get(tag.name) != tag.sha
    }


def _converge(
    repo: Repository, remote: str, listing: RemoteRegistry
) -> tuple[list[str], list[Rewrite]]:
    """Fit the local unpublished events after the remote's, then create the remote's
    tags this repository lacks; (names that arrived, how local events changed).
    The caller holds the registry's lock."""
    local = list_registry_tags(repo)
    here = {tag.name: tag.sha for tag in local}
    unknown = {name: sha for name, sha in listing.tags.items() if here.get(name) != sha}
    absent = set(unknown.values()) - present_objects(repo, unknown.values())
    if absent:
        fetch_objects(repo, remote, absent)
    remote_tags = [tag for tag in local if listing.tags.get(tag.name) == tag.sha]
    remote_tags += read_tags(repo, unknown)
    pending = pending_events(repo)
    movable = {
        tag.name
        for tag in local
        if listing.tags.get(tag.name) != tag.sha and (pending is None or tag.name in pending)
    }
    if pending is None:  # events of an older gitml: from now on, the list says
        add_pending(repo, sorted(movable))
    else:
        remove_pending(repo, [name for name in pending if listing.tags.get(name) == here.get(name)])
    names = list_tag_names(repo)
    result = plan(local, remote_tags, movable, names | listing.names)
    if result.conflicts:
        raise RegistryConflictError(remote, result.conflicts)
    updates: dict[str, tuple[str | None, str | None]] = {}
    _rename(repo, result.rewrites, updates)
    vacated = {name for name, (new, _) in updates.items() if new is None}
    arrived = sorted(name for name in unknown if name not in names or name in vacated)
    for name in arrived:
        updates[name] = (unknown[name], updates.get(name, (None, None))[1])
    new_names = [rewrite.name for rewrite in result.rewrites if not rewrite.theirs]
    add_pending(repo, new_names)  # first: a crash right after leaves them pending
    update_tags(repo, updates)
    remove_pending(repo, sorted(set(r.old.name for r in result.rewrites) - set(new_names)))
    return arrived, result.rewrites


def _rename(
    repo: Repository, rewrites: list[Rewrite], updates: dict[str, tuple[str | None, str | None]]
) -> None:
    """Write the tag objects of `rewrites` and note the ref changes they need: each old
    name deleted, each new one created (or, when it was another old name, updated)."""
    for rewrite in rewrites:
        updates[rewrite.old.name] = (None, rewrite.old.sha)
    writing = [r for r in rewrites if not r.theirs]
    shas = renamed_tags(repo, [(r.old, r.name, r.message) for r in writing])
    for rewrite, sha in zip(writing, shas, strict=True):
        updates[rewrite.name] = (sha, updates.get(rewrite.name, (None, None))[1])


def _push(
    repo: Repository, remote: str, tags: dict[str, str], listing: RemoteRegistry | None
) -> _PushStatus:
    """One atomic push of `tags` (name → tag object); with `listing` (None: a dry run),
    LAST_PUSH_REF moves too, to one of them, on the lease of the value the listing saw."""
    refspecs = [f"{TAGS_PREFIX}{name}:{TAGS_PREFIX}{name}" for name in tags]
    if listing is None:
        mode = ["--dry-run"]
    else:
        # Atomic: a refused event must not let a later one through, or renumbering
        # the refused one would put it after its successor.
        mode = ["--atomic", f"--force-with-lease={LAST_PUSH_REF}:{listing.last_push or ''}"]
        refspecs.append(f"{max(tags.values())}:{LAST_PUSH_REF}")
    # --no-verify: the user's pre-push hooks ran for the push that started this one.
    result = run_remote_git(
        repo,
        ["push", "--porcelain", "--no-verify", *mode, "--", remote, *refspecs],
        remote,
        check=False,
    )
    status = _PushStatus(stderr=result.stderr)
    for pushed in pushed_refs(result.stdout):
        ref = pushed.ref
        name = ref.removeprefix(TAGS_PREFIX)
        if pushed.refused:
            status.rejected.append(name if ref.startswith(TAGS_PREFIX) else ref)
            status.reasons.append(pushed.summary)
        elif pushed.flag == "*" and ref.startswith(TAGS_PREFIX):
            status.pushed.append(name)
    if result.status != 0 and not status.rejected:
        raise remote_error(remote, result.stderr)
    return status
