"""Fit this repository's unpublished registry events after a remote's.

Two clones that write events for one model before either pushes collide: the
same counter, the same tag name, the same version for two runs. The remote's
events never change, nor do events this repository has pushed anywhere; only
events written here and never pushed (`gitml.registry.pending`) move, and
`plan` decides how, without git:

- A registration whose version the remote holds (for another run) takes the
  next free version; the events written here about that version (promotions,
  unassignments, a deregistration) follow it: their tags are renamed and their
  messages name the new version.
- A registration the remote holds identically (same version, commit and
  artifact) is the same event: the remote's tag takes the place of ours.
- When the remote's counters reach ours, ours are renumbered after every
  counter in use, in their own order: no counter repeats, and an event still
  comes after the one it refers to (a promotion after the registration of its
  version). A version tag's counter is in its message, which is rewritten.
"""

from dataclasses import dataclass, replace

from gitml.registry.events import Event, replay_order, to_event
from gitml.registry.tags import (
    DEREGISTER,
    REGISTER,
    TagName,
    build_message,
    build_tag,
    next_version,
    parse_message,
    semver_key,
)
from gitml.registry.tagstore import RegistryTag


@dataclass(frozen=True)
class Rewrite:
    """How one unpublished event changes."""

    old: RegistryTag
    name: str  # its tag name now (the same when only its message changes)
    message: str | None  # its message now; None: the old one, byte for byte
    counter: int
    old_counter: int
    version: str | None = None  # the version it names now, when that changed
    old_version: str | None = None
    theirs: bool = False  # the remote holds this same registration: its tag replaces ours

    @property
    def renamed(self) -> bool:
        return self.name != self.old.name

    def to_json(self) -> dict:
        return {
            "old": self.old.name,
            "new": self.name,
            "counter": self.counter,
            "old_counter": self.old_counter,
            "version": self.version,
            "old_version": self.old_version,
            "theirs": self.theirs,
        }


@dataclass(frozen=True)
class Plan:
    rewrites: list[Rewrite]
    conflicts: list[str]  # events pushed elsewhere that the remote holds otherwise


def plan(
    local: list[RegistryTag], remote: list[RegistryTag], movable: set[str], taken: set[str]
) -> Plan:
    """How the `movable` events of `local` change to fit after `remote`'s events.

    `taken` is every tag name either side has, registry event or not: no event is
    renamed to one of them (but to the name of a movable event, which moves away).
    """
    theirs = {tag.name: tag for tag in remote}
    conflicts = sorted(
        tag.name
        for tag in local
        if tag.name not in movable and theirs.get(tag.name, tag).sha != tag.sha
    )
    if conflicts:
        return Plan([], conflicts)
    mine = [tag for tag in local if tag.name in movable]
    occupied = (taken - movable) | set(theirs)
    fixed = [*theirs.values(), *(tag for tag in local if tag.name not in movable | theirs.keys())]
    rewrites: list[Rewrite] = []
    for model in sorted({tag.parsed.model for tag in mine}):
        rewrites += _plan_model(
            [tag for tag in mine if tag.parsed.model == model],
            [to_event(tag) for tag in fixed if tag.parsed.model == model],
            occupied,
        )
    return Plan(rewrites, [])


def _plan_model(mine: list[RegistryTag], fixed: list[Event], occupied: set[str]) -> list[Rewrite]:
    tags = {tag.name: tag for tag in mine}
    events = sorted((to_event(tag) for tag in mine), key=replay_order)
    same, moved = _versions(events, fixed, occupied)
    live = [event for event in events if event.tag not in same]
    versions = _named_versions(live, fixed, moved)
    ordered = _after_registrations(live, versions)
    counters = {event.tag: event.counter for event in ordered}
    top = max((event.counter for event in fixed), default=0)
    names = _names(tags, ordered, counters, versions)
    clash = set(names.values()) & occupied or len(set(names.values())) < len(names)
    # A version tag written by another tool has no counter (0): it sorts first and
    # keeps it, like GTO, which orders version tags by time.
    counted = [event for event in ordered if event.counter > 0]
    if ordered != live or any(event.counter <= top for event in counted) or clash:
        counter = top  # a name freed by another of mine may be taken: one transaction
        for event in counted:
            counter += 1
            parsed, version = tags[event.tag].parsed, versions.get(event.tag)
            while parsed.counter is not None and _name(parsed, counter, version) in occupied:
                counter += 1
            counters[event.tag] = counter
        names = _names(tags, ordered, counters, versions)
    rewrites = [
        Rewrite(tags[e.tag], e.tag, None, e.counter, e.counter, theirs=True)
        for e in events
        if e.tag in same
    ]
    for event in ordered:
        tag = tags[event.tag]
        version = versions.get(event.tag)
        counter = counters[event.tag]
        recount = event.kind == REGISTER and tag.parsed.counter is None and counter != event.counter
        message = _message(tag, event, version, counter if recount else None)
        if names[event.tag] != tag.name or message is not None:
            old_version = event.version if version else None
            rewrite = Rewrite(tag, names[event.tag], message, counter, event.counter)
            rewrites.append(replace(rewrite, version=version, old_version=old_version))
    return rewrites


def _named_versions(
    events: list[Event], fixed: list[Event], moved: dict[tuple[str | None, str], str]
) -> dict[str, str]:
    """tag → the version each of my events names now, where that changes. A registration
    moved to a free version takes the events about it along. An event naming a version
    registered on another commit (its own registration deleted by hand, and the run
    registered again) names the version registered on its own commit, if there is one."""
    on_commit: dict[str, list[str]] = {}
    for event in fixed:
        if event.kind == REGISTER and event.version is not None:  # a registration names one
            on_commit.setdefault(event.commit, []).append(event.version)
    for event in events:
        if event.kind == REGISTER and event.version is not None:
            version = moved.get((event.version, event.commit), event.version)
            on_commit.setdefault(event.commit, []).append(version)
    versions: dict[str, str] = {}
    for event in events:
        if event.version is None:  # a deprecation names no version
            continue
        version = moved.get((event.version, event.commit), event.version)
        registered = on_commit.get(event.commit, [version])
        if event.kind != REGISTER and version not in registered:
            version = max(registered, key=semver_key)
        if version != event.version:
            versions[event.tag] = version
    return versions


def _after_registrations(events: list[Event], versions: dict[str, str]) -> list[Event]:
    """`events` (in replay order), each event after the registration of mine it names.
    Only an event whose registration was deleted by hand and written again can come
    before it."""
    index = {event.tag: i for i, event in enumerate(events)}
    registrations = {
        (versions.get(event.tag, event.version), event.commit): index[event.tag]
        for event in events
        if event.kind == REGISTER
    }

    def place(event: Event) -> tuple[int, int, int]:
        own = index[event.tag]
        named = (versions.get(event.tag, event.version), event.commit)
        anchor = registrations.get(named, -1) if event.kind != REGISTER else -1
        return (anchor, 1, own) if anchor > own else (own, 0, own)

    return sorted(events, key=place)


def _versions(
    events: list[Event], fixed: list[Event], occupied: set[str]
) -> tuple[set[str], dict[tuple[str | None, str], str]]:
    """(my registrations the remote holds identically, (version, commit) → the next
    free version for each of mine whose version is taken), in my events' order."""
    registered = {event.version: event for event in fixed if event.kind == REGISTER}
    versions = {event.version for event in fixed if event.kind in (REGISTER, DEREGISTER)}
    same: set[str] = set()
    moved: dict[tuple[str | None, str], str] = {}
    for event in events:
        if event.kind != REGISTER or event.version is None:  # a registration names a version
            continue
        held = registered.get(event.version)
        if held is not None and (held.commit, held.artifact) == (event.commit, event.artifact):
            same.add(event.tag)
            continue
        version = event.version
        while version in versions or _version_tag(event.model, version) in occupied:
            version = next_version(version)
        versions.add(version)
        if version != event.version:
            moved[(event.version, event.commit)] = version
    return same, moved


def _names(
    tags: dict[str, RegistryTag],
    events: list[Event],
    counters: dict[str, int],
    versions: dict[str, str],
) -> dict[str, str]:
    return {
        event.tag: _name(tags[event.tag].parsed, counters[event.tag], versions.get(event.tag))
        for event in events
    }


def _name(parsed: TagName, counter: int, version: str | None) -> str:
    """The tag name of an event with `counter` (when its name holds one) and `version`."""
    return build_tag(
        replace(
            parsed,
            counter=counter if parsed.counter is not None else None,
            version=version if version and parsed.version else parsed.version,
        )
    )


def _version_tag(model: str, version: str) -> str:
    return build_tag(TagName(REGISTER, model, version=version))


def _message(
    tag: RegistryTag, event: Event, version: str | None, counter: int | None
) -> str | None:
    """The event's message naming `version` and holding `counter`; None when neither
    changes (the old message is then kept byte for byte)."""
    if version is None and counter is None:
        return None
    message = parse_message(tag.message)
    if version is not None:
        first, newline, rest = message.text.partition("\n")
        moved = first.replace(f"{event.model} {event.version}", f"{event.model} {version}", 1)
        message = replace(message, text=moved + newline + rest, version=version)
    if counter is not None:
        message = replace(message, counter=counter)
    return build_message(message)
