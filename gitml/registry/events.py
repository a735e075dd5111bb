"""Registry state, derived by replaying events in the order of their `#N` counters.

Nothing about the registry is stored anywhere but in its tags (docs/registry.md):
which version a stage holds is worked out here every time, from the events.
Git's one-second tag timestamps only break ties between events that carry
the same counter (two machines' version tags, say).
"""

from dataclasses import dataclass, field, replace

from gitml.registry.tags import (
    ASSIGN,
    DEPRECATE,
    DEREGISTER,
    REGISTER,
    UNASSIGN,
    parse_message,
    semver_key,
)
from gitml.registry.tagstore import RegistryTag

_KIND_ORDER = {REGISTER: 0, ASSIGN: 1, UNASSIGN: 1, DEREGISTER: 2, DEPRECATE: 3}


@dataclass(frozen=True)
class Event:
    """One registry event: what happened, to which version and stage, by whom."""

    tag: str
    kind: str
    model: str
    version: str | None
    stage: str | None
    counter: int
    commit: str
    run_id: str | None
    artifact: str | None
    keep_previous: bool
    author: str
    email: str
    time: int
    message: str

    def to_json(self) -> dict:
        return {
            "tag": self.tag,
            "event": self.kind,
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "counter": self.counter,
            "commit": self.commit,
            "run_id": self.run_id,
            "artifact": self.artifact,
            "author": self.author,
            "email": self.email,
            "time": self.time,
            "message": self.message,
        }


@dataclass
class Version:
    """A registered version: the run commit it names and the artifact in it."""

    version: str
    commit: str
    run_id: str | None
    artifact: str | None
    registered: Event | None
    deregistered: bool = False

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "commit": self.commit,
            "run_id": self.run_id,
            "artifact": self.artifact,
            "deregistered": self.deregistered,
        }


@dataclass
class ModelState:
    """A model after replay: its versions, its stages, its events in order."""

    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    stages: dict[str, list[str]] = field(default_factory=dict)  # newest assignment first
    deprecated: bool = False
    events: list[Event] = field(default_factory=list)

    @property
    def max_counter(self) -> int:
        return max((event.counter for event in self.events), default=0)

    @property
    def active_versions(self) -> list[Version]:
        """Versions not deregistered, highest first."""
        live = [v for v in self.versions.values() if not v.deregistered and v.registered]
        return sorted(live, key=lambda v: semver_key(v.version), reverse=True)

    @property
    def latest(self) -> Version | None:
        active = self.active_versions
        return active[0] if active else None

    def registered_in_order(self) -> list[Version]:
        """Every version registered (deregistered ones too), in the order of their
        registrations: MLflow's version N of the model is the Nth (docs/mlflow.md)."""
        made = [v for v in self.versions.values() if v.registered is not None]
        return sorted(made, key=lambda v: replay_order(v.registered))  # type: ignore[arg-type]

    def version_of_commit(self, commit: str, hint: str | None = None) -> Version | None:
        """The registered version naming `commit`: `hint` if it does, else the
        highest one not deregistered, else the highest one."""
        held = self.versions.get(hint) if hint else None
        if held is not None and held.commit == commit and held.registered:
            return held
        named = [v for v in self.versions.values() if v.commit == commit and v.registered]
        named.sort(key=lambda v: (not v.deregistered, semver_key(v.version)), reverse=True)
        return named[0] if named else None

    def to_json(self) -> dict:
        latest = self.latest
        return {
            "model": self.name,
            "latest": latest.version if latest else None,
            "stages": {stage: list(held) for stage, held in self.stages.items() if held},
            "deprecated": self.deprecated,
            "versions": [v.to_json() for v in self.active_versions],
        }


def to_event(tag: RegistryTag) -> Event:
    parsed = tag.parsed
    message = parse_message(tag.message)
    counter = parsed.counter if parsed.counter is not None else (message.counter or 0)
    return Event(
        tag=tag.name,
        kind=parsed.kind,
        model=parsed.model,
        version=parsed.version or message.version,
        stage=parsed.stage,
        counter=counter,
        commit=tag.commit,
        run_id=message.run_id,
        artifact=message.artifact,
        keep_previous=message.keep_previous,
        author=tag.tagger,
        email=tag.email,
        time=tag.time,
        message=message.text,
    )


def replay(tags: list[RegistryTag]) -> dict[str, ModelState]:
    """Every model's state, from its tags; models sorted by name."""
    by_model: dict[str, list[Event]] = {}
    for tag in tags:
        event = to_event(tag)
        by_model.setdefault(event.model, []).append(event)
    return {name: replay_model(name, by_model[name]) for name in sorted(by_model)}


def replay_order(event: Event) -> tuple:
    """The sort key of replay: the counter; for one counter, the kind, time and name."""
    return (event.counter, _KIND_ORDER[event.kind], event.time, event.tag)


def replay_model(name: str, events: list[Event]) -> ModelState:
    ordered = sorted(events, key=replay_order)
    model = ModelState(name)
    # Versions first: an assignment names its version through the commit it
    # points at, whatever the order the version tag itself sorts in.
    for event in ordered:
        if event.kind == REGISTER and event.version is not None:  # a version tag names one
            model.versions[event.version] = Version(
                event.version, event.commit, event.run_id, event.artifact, event
            )
    resolved = []
    for event in ordered:
        if event.kind in (ASSIGN, UNASSIGN):
            version = model.version_of_commit(event.commit, hint=event.version)
            # A tool may assign a commit it never registered (GTO does): the
            # commit then stands for the version.
            label = version.version if version else event.commit
            if version is None and label not in model.versions:
                model.versions[label] = Version(label, event.commit, event.run_id, None, None)
            if event.version != label:
                event = replace(event, version=label)
        resolved.append(event)
        _apply(model, event)
    model.events = resolved
    return model


def _apply(model: ModelState, event: Event) -> None:
    if event.kind == DEPRECATE:
        model.deprecated = True
        return
    model.deprecated = False
    if event.kind == DEREGISTER:
        if event.version in model.versions:
            model.versions[event.version].deregistered = True
        for held in model.stages.values():
            if event.version in held:
                held.remove(event.version)
    elif event.kind == ASSIGN and event.stage is not None and event.version is not None:
        held = model.stages.setdefault(event.stage, [])
        if model.versions[event.version].deregistered:
            return  # another clone promoted it concurrently: a withdrawn version stays out
        if event.version in held:
            held.remove(event.version)
        if not event.keep_previous:
            held.clear()
        held.insert(0, event.version)
    elif event.kind == UNASSIGN and event.stage is not None:
        held = model.stages.get(event.stage, [])
        if event.version in held:
            held.remove(event.version)
