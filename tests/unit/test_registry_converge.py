"""`converge.plan` without git: two clones share a history, each goes on alone, and
the local one's unpublished events are fitted after the remote's.

Property: whatever both wrote, after the plan no counter repeats, no version is
registered twice, every promotion names a version registered on its commit before
it, the local events keep their order, and the remote's events are untouched.
"""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.registry.converge import plan
from gitml.registry.events import replay, to_event
from gitml.registry.tags import (
    ASSIGN,
    REGISTER,
    TagMessage,
    TagName,
    build_message,
    build_tag,
    bump,
    parse_message,
    parse_tag,
    semver_key,
)
from gitml.registry.tagstore import RegistryTag

MODEL = "linear"
STAGES = ("dev", "production")


def _tag(name: str, commit: str, message: TagMessage, time: int) -> RegistryTag:
    text = build_message(message)
    sha = hashlib.sha1(f"{name}\n{commit}\n{text}".encode()).hexdigest()
    return RegistryTag(name, parse_tag(name), sha, commit, "Tester", "t@example.com", time, text)


def write(history: list[RegistryTag], steps: list[tuple[str, int]], who: str, time: int) -> None:
    """Append the events a clone writes, seeing `history` (as gitml's operations do)."""
    for step, pick in steps:
        events = [to_event(tag) for tag in history]
        counter = max((event.counter for event in events), default=0) + 1
        versions = [event for event in events if event.kind == REGISTER]
        if step == "register" or not versions:
            top = max((event.version for event in versions), key=semver_key, default=None)
            version, commit = bump(top, "patch"), f"{who}{counter:038d}"
            message = TagMessage(
                f"Registered {MODEL} {version} from run {who}.",
                run_id=commit[:12],
                artifact="model.txt",
                version=version,
                counter=counter,
            )
            history.append(_tag(f"{MODEL}@{version}", commit, message, time))
            continue
        held = versions[pick % len(versions)]
        stage = STAGES[pick % len(STAGES)]
        message = TagMessage(
            f"Promoted {MODEL} {held.version} to {stage}.",
            run_id=held.run_id,
            artifact=held.artifact,
            version=held.version,
        )
        name = build_tag(TagName(ASSIGN, MODEL, stage=stage, counter=counter))
        history.append(_tag(name, held.commit, message, time))


def rewritten(tag: RegistryTag, name: str, message: str | None) -> RegistryTag:
    text = tag.message if message is None else message
    sha = hashlib.sha1(f"{name}\n{tag.commit}\n{text}".encode()).hexdigest()
    return RegistryTag(name, parse_tag(name), sha, tag.commit, tag.tagger, tag.email, 1, text)


steps = st.lists(st.tuples(st.sampled_from(["register", "promote"]), st.integers(0, 9)))


@settings(max_examples=150, deadline=None)
@given(shared=steps, theirs=steps, mine=steps)
def test_unpublished_events_fit_after_the_remotes(shared, theirs, mine):
    base: list[RegistryTag] = []
    write(base, shared, "a", 1)
    remote, local = list(base), list(base)
    write(remote, theirs, "b", 2)
    write(local, mine, "c", 3)
    movable = {tag.name for tag in local[len(base) :]}

    result = plan(local, remote, movable, {tag.name for tag in local + remote})

    assert result.conflicts == []
    assert all(rewrite.old.name in movable for rewrite in result.rewrites)  # theirs untouched
    changed = {rewrite.old.name: rewrite for rewrite in result.rewrites}
    mine_after = []
    for tag in local[len(base) :]:
        rewrite = changed.get(tag.name)
        if rewrite is None:
            mine_after.append(tag)
        elif not rewrite.theirs:
            mine_after.append(rewritten(tag, rewrite.name, rewrite.message))
    merged = remote + mine_after
    names = [tag.name for tag in merged]
    assert len(names) == len(set(names))
    events = [to_event(tag) for tag in merged]
    counters = [event.counter for event in events]
    assert len(counters) == len(set(counters)), sorted(counters)
    mine_counters = [to_event(tag).counter for tag in mine_after]
    assert mine_counters == sorted(mine_counters)  # their own order
    registered = {event.version: event for event in events if event.kind == REGISTER}
    assert len(registered) == sum(event.kind == REGISTER for event in events)
    for event in events:
        if event.kind == ASSIGN:
            registration = registered[event.version]
            assert registration.commit == event.commit
            assert registration.counter < event.counter
            text = parse_message(merged[names.index(event.tag)].message).text
            assert text.startswith(f"Promoted {MODEL} {event.version} to ")
    named = {event.tag: event.version for event in events}
    replayed = replay(merged).get(MODEL)
    for event in replayed.events if replayed else []:
        assert event.version == named[event.tag]  # the version its message names
