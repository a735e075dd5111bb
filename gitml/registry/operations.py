"""Registry operations: each checks the request against the replayed state, then writes one tag.

Register, promote, unassign, deregister and deprecate write annotated tags
(docs/registry.md); list_models, history and which read them back. Each write holds
the registry's lock from reading the state to writing its tag, so events of
one repository get distinct counters and each is checked against the state it
follows. A counted tag whose name is taken anyway (by a tag that is no
registry event) is retried with the next counter.
"""

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from gitml.errors import InvalidValueError, RegistryError, shortened
from gitml.registry.events import Event, ModelState, Version, replay, to_event
from gitml.registry.pending import add_pending, remove_pending
from gitml.registry.stages import check_stage
from gitml.registry.tags import (
    ASSIGN,
    DEPRECATE,
    DEREGISTER,
    NAME_RULE,
    REGISTER,
    UNASSIGN,
    TagMessage,
    TagName,
    build_message,
    build_tag,
    bump,
    is_valid_name,
    normalize_version,
    semver_key,
)
from gitml.registry.tagstore import (
    REGISTRY_LOCK,
    RegistryTag,
    create_tag,
    list_registry_tags,
    tagger_ident,
)
from gitml.store.layout import RECORD_ARTIFACTS
from gitml.store.locks import exclusive_lock
from gitml.store.refs import RefExistsError
from gitml.store.repository import Repository, open_repository
from gitml.tracking.record import RunSummary
from gitml.values import shown

BUMPS = ("patch", "minor", "major")
_ATTEMPTS = 5


@dataclass
class RegisterOptions:
    """How to register: an explicit version or which part to bump, the artifact, a note."""

    version: str | None = None
    bump: str = "patch"
    path: str | None = None
    message: str = ""


@dataclass
class PromoteOptions:
    """A note, whether the stage keeps its other versions, and how to register a new run."""

    message: str = ""
    keep_previous: bool = False
    path: str | None = None
    bump: str = "patch"


def _one_writer_at_a_time(operation):
    @functools.wraps(operation)
    def locked(repo: Repository | str, *args, **kwargs):
        repo = open_repository(repo)
        with exclusive_lock(repo, REGISTRY_LOCK):
            return operation(repo, *args, **kwargs)

    return locked


# reading


def load_registry(repo: Repository | str = ".") -> dict[str, ModelState]:
    """Every model's state, replayed from the registry tags (one git call)."""
    return replay(list_registry_tags(open_repository(repo)))


def load_model(repo: Repository | str, name: str) -> ModelState | None:
    """One model's state, from its tags only; None when it has none."""
    return replay(list_registry_tags(open_repository(repo), name)).get(name)


def find_model(repo: Repository, name: str) -> ModelState:
    """Model `name`'s state; an error naming the models there are when it has no tags."""
    model = load_model(repo, name)
    if model is None:
        known = ", ".join(load_registry(repo)) or "none yet"
        raise RegistryError(f"no model named {shown(name)} in the registry (models: {known})")
    return model


def list_models(repo: Repository | str = ".", include_deprecated: bool = False) -> list[ModelState]:
    """Models sorted by name; deprecated ones only when asked."""
    models = load_registry(repo).values()
    return [m for m in models if include_deprecated or not m.deprecated]


def history(repo: Repository | str, name: str) -> list[Event]:
    """Every event of model `name`, in counter order."""
    return find_model(open_repository(repo), name).events


# writing


@_one_writer_at_a_time
def register(
    repo: Repository | str, name: str, run: str, options: RegisterOptions | None = None
) -> Event:
    """Make RUN's artifact version `options.version` (or the next one) of model NAME."""
    return _register(open_repository(repo), name, run, options)  # opened: a passthrough


def _register(
    repo: Repository, name: str, run: str, options: RegisterOptions | None = None
) -> Event:
    options = options or RegisterOptions()
    _check_name(name)
    if options.bump not in BUMPS:
        raise InvalidValueError(f"bump must be one of {', '.join(BUMPS)}, got {options.bump!r}")
    wanted = _parse_version(options.version) if options.version else None
    summary, commit = _committed_run(repo, run)
    artifact = artifact_path(repo, summary, options.path)
    model = load_model(repo, name) or ModelState(name)
    held = model.version_of_commit(commit)
    if held is not None and not held.deregistered:
        raise RegistryError(
            f"run {summary.name} is already {name} {held.version}; "
            f"promote that version, or register another run"
        )
    version = wanted or bump(_highest_version(model), options.bump)
    if version in model.versions:
        raise RegistryError(
            f"{name} {version} already exists (a version tag is never moved); choose "
            f"another version, e.g. {bump(_highest_version(model), 'patch')}"
        )
    message = TagMessage(
        text=_sentence(f"Registered {name} {version} from run {summary.name}", options.message),
        run_id=summary.id,
        artifact=artifact,
        version=version,
        counter=model.max_counter + 1,
    )
    tag = TagName(REGISTER, name, version=version)
    try:
        return _write(repo, tag, commit, message)
    except RefExistsError:
        raise RegistryError(
            f"tag {build_tag(tag)} already exists (registered just now, or a tag that is no "
            f"registry event); choose another version, e.g. {bump(version, 'patch')}"
        ) from None


@_one_writer_at_a_time
def promote(
    repo: Repository | str, name: str, ref: str, stage: str, options: PromoteOptions | None = None
) -> list[Event]:
    """Assign STAGE to version REF of NAME (REF may also be a run, registered first).

    Returns the events written: the registration (if one was needed) and the assignment.
    """
    repo = open_repository(repo)
    options = options or PromoteOptions()
    _check_name(name)
    check_stage(repo, stage)
    written: list[Event] = []
    model, version = _version_or_run(repo, name, ref, options, written)
    if model.stages.get(stage, [])[:1] == [version.version]:  # the newest assignment
        raise RegistryError(f"{name} {version.version} is already in {stage}")

    def assignment(counter: int) -> tuple[TagName, TagMessage]:
        note = " (the stage keeps its other versions)" if options.keep_previous else ""
        text = f"Promoted {name} {version.version} to {stage}{note}"
        return TagName(ASSIGN, name, stage=stage, counter=counter), TagMessage(
            text=_sentence(text, options.message),
            run_id=version.run_id,
            artifact=version.artifact,
            version=version.version,
            keep_previous=options.keep_previous,
        )

    written.append(_write_counted(repo, model, version.commit, assignment))
    return written


@_one_writer_at_a_time
def unassign(
    repo: Repository | str, name: str, version: str, stage: str, message: str = ""
) -> Event:
    """Take STAGE away from VERSION of NAME."""
    repo = open_repository(repo)
    model = find_model(repo, name)
    held = find_version(model, version)
    if stage not in model.stages:  # a stage the project no longer allows can still be left
        check_stage(repo, stage)
    holders = model.stages.get(stage, [])
    if held.version not in holders:
        now = f"{stage} holds {', '.join(holders)}" if holders else f"no version is in {stage}"
        raise RegistryError(f"{name} {held.version} is not in {stage} ({now})")

    def unassignment(counter: int) -> tuple[TagName, TagMessage]:
        text = f"Removed {name} {held.version} from {stage}"
        return TagName(UNASSIGN, name, stage=stage, counter=counter), TagMessage(
            _sentence(text, message), held.run_id, held.artifact, held.version
        )

    return _write_counted(repo, model, held.commit, unassignment)


@_one_writer_at_a_time
def deregister(repo: Repository | str, name: str, version: str, message: str = "") -> Event:
    """Withdraw VERSION of NAME: it leaves every stage and no longer counts as latest."""
    repo = open_repository(repo)
    model = find_model(repo, name)
    held = find_version(model, version)

    def deregistration(counter: int) -> tuple[TagName, TagMessage]:
        text = f"Deregistered {name} {held.version}"
        tag = TagName(DEREGISTER, name, version=held.version, counter=counter)
        return tag, TagMessage(_sentence(text, message), held.run_id, held.artifact, held.version)

    return _write_counted(repo, model, held.commit, deregistration)


@_one_writer_at_a_time
def deprecate(repo: Repository | str, name: str, message: str = "") -> Event:
    """Mark model NAME deprecated: `ls` hides it until a later event revives it."""
    repo = open_repository(repo)
    model = find_model(repo, name)
    if model.deprecated:
        raise RegistryError(f"model {name} is already deprecated")
    target = model.latest.commit if model.latest else model.events[-1].commit

    def deprecation(counter: int) -> tuple[TagName, TagMessage]:
        tag = TagName(DEPRECATE, name, counter=counter)
        return tag, TagMessage(_sentence(f"Deprecated model {name}", message))

    return _write_counted(repo, model, target, deprecation)


# artifacts


def artifact_path(repo: Repository, summary: RunSummary, wanted: str | None) -> str:
    """The artifact of run `summary` to register, relative to its artifacts folder.

    `wanted` names a file or folder; without it, the run's single logged model
    (a folder holding an MLmodel file) or its single artifact.
    """
    files = _artifact_files(repo, summary)
    if wanted is not None:
        path = wanted.strip().removeprefix("./").removeprefix(RECORD_ARTIFACTS + "/").strip("/")
        if path and (path in files or any(f.startswith(path + "/") for f in files)):
            return path
        raise RegistryError(
            f"run {summary.name} has no artifact {wanted!r} ({_listing(files)}); "
            "give a path as `gitml show` lists it"
        )
    models = sorted({f.rsplit("/", 1)[0] for f in files if f.endswith("/MLmodel")})
    if len(models) == 1:
        return models[0]
    if not models and len(files) == 1:
        return files[0]
    if not files:
        raise RegistryError(
            f"run {summary.name} logged no artifact; log a model or an artifact in the run first"
        )
    choices = models or files
    raise RegistryError(
        f"run {summary.name} has {len(choices)} {'models' if models else 'artifacts'} "
        f"({', '.join(choices[:10])}); choose one with --path"
    )


def _artifact_files(repo: Repository, summary: RunSummary) -> list[str]:
    """Paths under the run's artifacts folder, relative to it."""
    from gitml.tracking.readers import open_run

    with open_run(repo, summary) as reader:
        return sorted(file.path for file in reader.artifact_files())


def _listing(files: list[str]) -> str:
    if not files:
        return "it logged no artifact"
    return f"it has {shortened(files, 10)}"


# helpers


def _check_name(name: str) -> None:
    if not is_valid_name(name):
        raise InvalidValueError(f"model name {shown(name)} is not valid: use {NAME_RULE}")


def _parse_version(text: str) -> str:
    version = normalize_version(text)
    if version is None:
        raise InvalidValueError(
            f"version {shown(text)} is not a semantic version: use vMAJOR.MINOR.PATCH, e.g. v1.2.0"
        )
    return version


def find_version(model: ModelState, text: str) -> Version:
    version = _parse_version(text)
    held = model.versions.get(version)
    if held is None or held.registered is None or held.deregistered:
        live = ", ".join(v.version for v in model.active_versions) or "none"
        state = "was deregistered" if held is not None and held.deregistered else "does not exist"
        raise RegistryError(f"{model.name} {version} {state} (versions: {live})")
    return held


def _highest_version(model: ModelState) -> str | None:
    registered = [v.version for v in model.versions.values() if v.registered]
    return max(registered, key=semver_key, default=None)


def _committed_run(repo: Repository, text: str) -> tuple[RunSummary, str]:
    """The run `text` names and its commit, if it can be registered."""
    from gitml.tracking.readers import open_run

    with open_run(repo, text) as reader:
        reader.require_ended("register it")
        summary = reader.summary
        if summary.damage:
            raise RegistryError(
                f"run {summary.name or summary.id} is damaged ({summary.damage}); "
                "only a run gitml can read can be registered"
            )
        return summary, reader.commit_for("register it")


def _version_or_run(
    repo: Repository, name: str, ref: str, options: PromoteOptions, written: list[Event]
) -> tuple[ModelState, Version]:
    """The model and the version REF names, registering run REF first when it is not one."""
    if normalize_version(ref) is not None:
        model = find_model(repo, name)
        return model, find_version(model, ref)
    _, commit = _committed_run(repo, ref)
    existing = load_model(repo, name)
    held = existing.version_of_commit(commit) if existing else None
    if existing is not None and held is not None and not held.deregistered:
        return existing, held
    event = _register(  # promote holds the registry's lock already
        repo, name, ref, RegisterOptions(bump=options.bump, path=options.path, message="")
    )
    written.append(event)
    assert event.version is not None  # a registration names its version
    model = find_model(repo, name)
    return model, model.versions[event.version]


def _sentence(text: str, note: str) -> str:
    return f"{text}." + (f"\n\n{note.strip()}" if note.strip() else "")


def _write(repo: Repository, tag: TagName, commit: str, message: TagMessage) -> Event:
    name = build_tag(tag)
    text = build_message(message)
    tagger = tagger_ident(repo)
    add_pending(repo, [name])  # first: a crash right after the tag leaves it pending
    try:
        sha = create_tag(repo, name, commit, text, tagger)
    except BaseException:
        remove_pending(repo, [name])  # the name may be another tag's: never renumber that
        raise
    author, _, email = tagger.rpartition(" <")
    return to_event(
        RegistryTag(name, tag, sha, commit, author, email.rstrip(">"), int(time.time()), text)
    )


def _write_counted(
    repo: Repository,
    model: ModelState,
    commit: str,
    make: Callable[[int], tuple[TagName, TagMessage]],
) -> Event:
    """Write the tag `make` builds for the model's next counter. When that name is
    taken (another process was quicker, or a tag that is no registry event holds
    it), take the counter after both and try again."""
    counter = model.max_counter + 1
    for _ in range(_ATTEMPTS):
        tag, message = make(counter)
        try:
            return _write(repo, tag, commit, message)
        except RefExistsError:
            current = find_model(repo, model.name)
            counter = max(current.max_counter, counter) + 1
    raise RegistryError(
        f"could not write an event for {model.name}: its counter kept moving; try again"
    )
