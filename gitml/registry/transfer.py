"""Move registry tags to and from a remote, renumbering local events that collide.

Two clones that promote a model at the same time both write `<model>#<stage>#N`
with the same N. The second push is rejected (a tag is never overwritten), so
gitml fetches the remote's tags, gives its own unpublished events counters above
the remote's highest (new tags with the same target, tagger and message; the
old local tags are deleted) and pushes again: no event is lost or duplicated,
and the remote's events keep their place before ours. A push first fetches the
remote's new events and renumbers the same way, so a counter the remote used
for another stage is not used twice. Only events never pushed anywhere are
renumbered (`registry.pending`): an event already on another remote keeps its
name.

Version tags carry no counter: the same version registered for two different
runs is a real conflict, reported, never renamed.

Git runs as the user's own executable (`gitml.sharing.gitproc`), so their
credentials and config apply as they do for `git push`.
"""

from dataclasses import dataclass, field, replace

from gitml.errors import PushRejectedError, RegistryConflictError
from gitml.registry.pending import add_pending, pending_events, remove_pending
from gitml.registry.tags import REGISTER, build_tag, parse_tag
from gitml.registry.tagstore import (
    REGISTRY_LOCK,
    TAGS_PREFIX,
    RegistryTag,
    copy_tag,
    delete_tag,
    list_registry_tags,
    list_tag_names,
)
from gitml.sharing.gitproc import ask_remote, fetch_as_refs, remote_error, run_remote_git
from gitml.store.locks import exclusive_lock
from gitml.store.repository import Repository, open_repository

_ATTEMPTS = 5
_PEELED = "^{}"


class MovedTags(list):
    """Names of the registry tags moved; `renumbered` maps each local tag that was
    renumbered to let a transfer through (old name → new name)."""

    def __init__(self, names=(), renumbered: dict[str, str] | None = None):
        super().__init__(names)
        self.renumbered: dict[str, str] = dict(renumbered or {})


@dataclass
class _PushStatus:
    pushed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def push_registry_tags(repo: Repository | str, remote: str, dry_run: bool = False) -> list[str]:
    """Send the registry tags the remote lacks; returns their names (a `MovedTags`).

    One `git ls-remote` says what the remote has. Its events we lack are fetched
    and ours renumbered past them; one atomic `git push` sends the rest. A push
    rejected because another clone pushed meanwhile is retried the same way;
    `result.renumbered` says what was renamed. `dry_run` only reports what would
    be sent (nothing is fetched or renumbered).
    """
    repo = open_repository(repo)
    moved = MovedTags()
    status = _PushStatus()
    on_remote = remote_registry_tags(repo, remote)
    for _ in range(_ATTEMPTS):
        if not dry_run:  # the remote's events first: counters it used are never sent twice
            _record_renumbered(moved, fetch_registry_tags(repo, remote, on_remote).renumbered)
        unsent = [t.name for t in list_registry_tags(repo) if on_remote.get(t.name) != t.sha]
        if not unsent:
            return moved
        status = _push(repo, remote, unsent, dry_run)
        moved.extend(status.pushed)
        if not dry_run:
            with exclusive_lock(repo, REGISTRY_LOCK):
                remove_pending(repo, status.pushed)
        if dry_run or not status.rejected:
            return moved
        known = on_remote
        on_remote = remote_registry_tags(repo, remote)
        if on_remote == known:
            break  # nothing learnt from the remote: retrying would be rejected again
    raise PushRejectedError(remote, status.rejected, "; ".join(sorted(set(status.reasons))))


def _record_renumbered(moved: MovedTags, renumbered: dict[str, str]) -> None:
    """Add renamings to `moved.renumbered`, keyed by each tag's first name."""
    for old, new in renumbered.items():
        first = next((k for k, v in moved.renumbered.items() if v == old), old)
        moved.renumbered[first] = new


def fetch_registry_tags(
    repo: Repository | str, remote: str, on_remote: dict[str, str] | None = None
) -> list[str]:
    """Bring the registry tags the repository lacks; returns their names (a `MovedTags`).

    Local events never pushed whose counters the remote has used meanwhile are
    renumbered first (see `renumbered` on the result). `on_remote` is the
    remote's listing when the caller asked for it already (`remote_registry_tags`).
    """
    repo = open_repository(repo)
    if on_remote is None:
        on_remote = remote_registry_tags(repo, remote)
    if not on_remote:
        return MovedTags()  # nothing to bring, and no counter of ours can clash
    # Held until the remote's tags exist here: a local event written meanwhile would
    # not see their counters.
    with exclusive_lock(repo, REGISTRY_LOCK):
        renumbered = _renumber(repo, remote, on_remote)
        present = list_tag_names(repo)
        missing = sorted(name for name in on_remote if name not in present)
        if missing:
            fetch_as_refs(repo, remote, {TAGS_PREFIX + name: on_remote[name] for name in missing})
    return MovedTags(missing, renumbered)


def remote_registry_tags(repo: Repository, remote: str) -> dict[str, str]:
    """name → tag object sha of the remote's annotated registry tags: one `git ls-remote`
    (the git executable started directly: it only asks)."""
    listing = ask_remote(repo, ["ls-remote", "--tags", "--", remote], remote)
    shas: dict[str, str] = {}
    annotated: set[str] = set()
    for line in listing.splitlines():
        sha, _, ref = line.partition("\t")
        name = ref.removeprefix(TAGS_PREFIX)
        if name.endswith(_PEELED):
            annotated.add(name[: -len(_PEELED)])
        elif parse_tag(name) is not None:
            shas[name] = sha
    return {name: sha for name, sha in shas.items() if name in annotated}


def _push(repo: Repository, remote: str, names: list[str], dry_run: bool) -> _PushStatus:
    refspecs = [f"{TAGS_PREFIX}{name}:{TAGS_PREFIX}{name}" for name in names]
    # Atomic: a rejected event must not let a later one through, or renumbering
    # the rejected one would put it after its successor.
    mode = ["--dry-run"] if dry_run else ["--atomic"]
    # --no-verify: the user's pre-push hooks ran for the push that started this one.
    result = run_remote_git(
        repo,
        ["push", "--porcelain", "--no-verify", *mode, "--", remote, *refspecs],
        remote,
        check=False,
    )
    status = _PushStatus()
    for line in result.stdout.splitlines():
        flag, _, rest = line.partition("\t")
        refspec, _, summary = rest.partition("\t")
        name = refspec.partition(":")[0].removeprefix(TAGS_PREFIX)
        if flag == "*":
            status.pushed.append(name)
        elif flag == "!":
            status.rejected.append(name)
            status.reasons.append(summary.strip())
    if result.status != 0 and not status.rejected:
        raise remote_error(remote, result.stderr)
    return status


def _renumber(repo: Repository, remote: str, on_remote: dict[str, str]) -> dict[str, str]:
    """Give local-only counted events of each model counters above every counter in use."""
    local = list_registry_tags(repo)
    clashing_versions = [
        tag.name
        for tag in local
        if tag.parsed.kind == REGISTER and on_remote.get(tag.name, tag.sha) != tag.sha
    ]
    if clashing_versions:
        raise RegistryConflictError(remote, clashing_versions)
    remote_top: dict[str, int] = {}
    for name in on_remote:
        parsed = parse_tag(name)
        if parsed.counter is not None:
            remote_top[parsed.model] = max(remote_top.get(parsed.model, 0), parsed.counter)
    pending = pending_events(repo)
    unpublished: dict[str, list[RegistryTag]] = {}
    local_top: dict[str, int] = {}
    for tag in local:
        counter = tag.parsed.counter
        if counter is None:
            continue
        local_top[tag.parsed.model] = max(local_top.get(tag.parsed.model, 0), counter)
        if on_remote.get(tag.name) != tag.sha and (pending is None or tag.name in pending):
            unpublished.setdefault(tag.parsed.model, []).append(tag)
    renumbered = {}
    for model, tags in sorted(unpublished.items()):
        tags.sort(key=lambda tag: tag.parsed.counter)
        if tags[0].parsed.counter > remote_top.get(model, 0):
            continue  # already after everything the remote has
        counter = max(remote_top.get(model, 0), local_top[model])
        for tag in tags:
            counter += 1
            new_name = build_tag(replace(tag.parsed, counter=counter))
            copy_tag(repo, tag, new_name)
            add_pending(repo, [new_name])
            delete_tag(repo, tag.name, tag.sha)
            remove_pending(repo, [tag.name])
            renumbered[tag.name] = new_name
    return renumbered
