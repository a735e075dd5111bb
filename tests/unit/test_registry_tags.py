"""The registry grammar (tag names, tag messages, versions, model references and URIs)
without git."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.errors import InvalidValueError, ModelError
from gitml.registry.tags import (
    ASSIGN,
    DEPRECATE,
    DEREGISTER,
    REGISTER,
    UNASSIGN,
    ModelRef,
    TagMessage,
    TagName,
    build_message,
    build_tag,
    bump,
    is_model_uri,
    is_valid_name,
    model_uri,
    normalize_version,
    parse_message,
    parse_model_uri,
    parse_reference,
    parse_tag,
    reference_text,
    semver_key,
)

names = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}(/[a-z0-9-]{1,8}){0,2}[a-z0-9]\Z").filter(
    lambda n: "//" not in n
)
numbers = st.integers(min_value=0, max_value=10_000).map(str)
prerelease = st.lists(
    st.one_of(numbers, st.from_regex(r"\A[a-z-][0-9a-z-]{0,5}\Z")), min_size=1, max_size=3
).map(".".join)
versions = st.builds(
    lambda a, b, c, pre, build: (
        f"v{a}.{b}.{c}" + (f"-{pre}" if pre else "") + (f"+{build}" if build else "")
    ),
    numbers,
    numbers,
    numbers,
    st.none() | prerelease,
    st.none() | st.from_regex(r"\A[0-9a-z-]{1,6}(\.[0-9a-z-]{1,6}){0,2}\Z"),
)
counters = st.integers(min_value=1, max_value=10**9)


@st.composite
def tag_names(draw) -> TagName:
    kind = draw(st.sampled_from([REGISTER, DEREGISTER, ASSIGN, UNASSIGN, DEPRECATE]))
    model = draw(names)
    if kind == REGISTER:
        return TagName(kind, model, version=draw(versions), counter=draw(st.none() | counters))
    if kind == DEREGISTER:
        return TagName(kind, model, version=draw(versions), counter=draw(counters))
    if kind in (ASSIGN, UNASSIGN):
        return TagName(kind, model, stage=draw(names), counter=draw(counters))
    return TagName(kind, model, counter=draw(counters))


@given(tag_names())
def test_build_and_parse_are_inverses(tag):
    assert parse_tag(build_tag(tag)) == tag


@settings(max_examples=60, deadline=None)
@given(tag_names())
def test_tag_names_are_valid_git_ref_names(tag):
    import subprocess

    name = build_tag(tag)
    result = subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"], capture_output=True)
    assert result.returncode == 0, name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("linear@v0.0.1", TagName(REGISTER, "linear", version="v0.0.1")),
        ("linear@v1.2.3!#4", TagName(DEREGISTER, "linear", version="v1.2.3", counter=4)),
        ("linear#production#2", TagName(ASSIGN, "linear", stage="production", counter=2)),
        ("linear#production!#3", TagName(UNASSIGN, "linear", stage="production", counter=3)),
        ("linear@deprecated#5", TagName(DEPRECATE, "linear", counter=5)),
        ("team/clf@v2.0.0-rc.1", TagName(REGISTER, "team/clf", version="v2.0.0-rc.1")),
        ("linear#prod", TagName(ASSIGN, "linear", stage="prod")),  # GTO's simple form
    ],
)
def test_gto_tags_parse(name, expected):
    assert parse_tag(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "v1.0.0",
        "release-1.0",
        "Linear@v1.0.0",  # uppercase
        "l@v1.0.0",  # one character
        "linear@1.0.0",  # no v
        "linear@v1.0",
        "linear@v01.0.0",  # leading zero
        "linear#production#0",
        "linear#production#x",
        "linear#Production#1",
        "linear@deprecated!",
        "team//clf@v1.0.0",
        "team/@v1.0.0",
        "linear@v1.0.0#",
        "linear#production#1#2",
        "linear@latest",
    ],
)
def test_foreign_names_are_not_registry_tags(name):
    assert parse_tag(name) is None


def test_build_refuses_what_it_cannot_parse_back():
    with pytest.raises(ValueError):
        build_tag(TagName(REGISTER, "linear", version="1.0.0"))
    with pytest.raises(ValueError):
        build_tag(TagName(ASSIGN, "Bad Name", stage="prod", counter=1))


@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
        lambda t: "Gitml-" not in t and not t.endswith("\n")
    ),
    run_id=st.none() | st.from_regex(r"\A[0-9a-z]{26}\Z"),
    artifact=st.none() | st.text(min_size=1, max_size=30).filter(lambda t: t.strip() == t),
    version=st.none() | versions,
    counter=st.none() | counters,
    keep_previous=st.booleans(),
)
def test_messages_round_trip(text, run_id, artifact, version, counter, keep_previous):
    message = TagMessage(text, run_id, artifact, version, counter, keep_previous)
    built = build_message(message)
    assert parse_message(built) == message
    assert built.startswith(text)


def test_a_message_without_trailers_is_all_text():
    assert parse_message("Release notes.\n\nSee the wiki.\n") == TagMessage(
        "Release notes.\n\nSee the wiki."
    )
    assert parse_message("x\n\nGitml-Unknown: 1\n").text == "x\n\nGitml-Unknown: 1"


def test_versions_sort_by_semver_precedence():
    ordered = ["v0.0.1", "v0.0.2", "v0.1.0", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-beta.2"]
    ordered += ["v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.10.0", "v10.0.0"]
    assert sorted(reversed(ordered), key=semver_key) == ordered


def test_bump_and_normalize():
    assert bump(None, "patch") == "v0.0.1"
    assert bump(None, "minor") == "v0.1.0"
    assert bump("v1.2.3", "patch") == "v1.2.4"
    assert bump("v1.2.3-rc.1", "minor") == "v1.3.0"
    assert bump("v1.2.3", "major") == "v2.0.0"
    assert normalize_version("1.2.3") == "v1.2.3"
    assert normalize_version("v1.2") is None
    assert is_valid_name("my-model/v2") and not is_valid_name("my_model")


# replay, without git: the order of the tags and their times do not matter


@st.composite
def histories(draw):
    """Tags of one model: versions on distinct commits, then counted events."""
    from gitml.registry.tagstore import RegistryTag

    count = draw(st.integers(min_value=1, max_value=4))
    versions = [f"v0.0.{i + 1}" for i in range(count)]
    commits = {v: f"{i:040x}" for i, v in enumerate(versions)}
    tags = [
        RegistryTag(
            f"linear@{v}",
            TagName(REGISTER, "linear", version=v),
            "0" * 40,
            commits[v],
            "a",
            "e",
            draw(st.integers(0, 10**9)),
            build_message(TagMessage(f"Registered {v}.", version=v, counter=i + 1)),
        )
        for i, v in enumerate(versions)
    ]
    counter = count
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        counter += 1
        kind = draw(st.sampled_from([ASSIGN, ASSIGN, UNASSIGN, DEREGISTER, DEPRECATE]))
        version = draw(st.sampled_from(versions))
        stage = draw(st.sampled_from(["dev", "production"]))
        keep = kind == ASSIGN and draw(st.booleans())
        parsed = TagName(
            kind,
            "linear",
            version=version if kind == DEREGISTER else None,
            stage=stage if kind in (ASSIGN, UNASSIGN) else None,
            counter=counter,
        )
        message = build_message(TagMessage("x", version=version, keep_previous=keep))
        tags.append(
            RegistryTag(
                build_tag(parsed), parsed, "0" * 40, commits[version], "a", "e",
                draw(st.integers(0, 10**9)), message,
            )
        )  # fmt: skip
    return tags


@given(histories(), st.randoms())
def test_replay_depends_on_counters_only(tags, random):
    from gitml.registry.events import replay

    expected = replay(tags)["linear"]
    shuffled = list(tags)
    random.shuffle(shuffled)
    state = replay(shuffled)["linear"]
    assert state.stages == expected.stages
    assert state.deprecated == expected.deprecated
    assert [e.tag for e in state.events] == [e.tag for e in expected.events]
    counted = [e.counter for e in state.events]
    assert counted == sorted(counted)
    # a stage never holds a deregistered version, and holds one version unless kept
    for held in state.stages.values():
        assert all(not state.versions[v].deregistered for v in held)
        assert len(held) == len(set(held))
        assert len(held) <= 1 or any(e.keep_previous for e in state.events)


# model references and URIs: every form parses into one ModelRef

stages = names.filter(lambda stage: stage != "latest")  # `latest` asks for the latest version
run_texts = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z")
artifact_paths = st.from_regex(r"\A[A-Za-z0-9_.-]{1,8}(/[A-Za-z0-9_.-]{1,8}){0,3}\Z")
registry_refs = st.one_of(
    st.builds(ModelRef, names),
    st.builds(lambda model, version: ModelRef(model, version=version), names, versions),
    st.builds(lambda model, stage: ModelRef(model, stage=stage), names, stages),
)
run_refs = st.builds(lambda run, path: ModelRef(run=run, path=path), run_texts, artifact_paths)


@given(registry_refs)
def test_references_build_and_parse_as_inverses(ref):
    text = reference_text(ref)
    assert parse_reference(text) == ref
    assert reference_text(parse_reference(text)) == text


@given(st.one_of(registry_refs, run_refs))
def test_model_uris_build_and_parse_as_inverses(ref):
    uri = model_uri(ref)
    assert is_model_uri(uri)
    assert parse_model_uri(uri) == ref
    assert model_uri(parse_model_uri(uri)) == uri


@given(names, stages, versions)
def test_every_spelling_of_a_reference_names_the_same_model(model, stage, version):
    at_stage, at_version = ModelRef(model, stage=stage), ModelRef(model, version=version)
    assert parse_reference(f"{model}#{stage}") == at_stage
    if "/" not in stage:  # models:/A/B/C is model A/B at C: the last part is the stage
        assert parse_model_uri(f"models:/{model}/{stage}") == at_stage
    assert parse_reference(f"{model}@{version[1:]}") == at_version  # the v is optional
    assert parse_model_uri(f"models:/{model}@{version}") == at_version
    assert parse_model_uri(f"models:/{model}/latest") == parse_reference(f"{model}@latest")


def test_a_tag_name_names_the_version_or_stage_of_a_reference():
    """A registry tag's model and version (or stage) are those its reference names."""
    for tag, reference in (
        ("linear@v1.2.0", "linear@v1.2.0"),
        ("team/clf#prod#3", "team/clf#prod"),
    ):
        parsed, ref = parse_tag(tag), parse_reference(reference)
        assert (parsed.model, parsed.version, parsed.stage) == (ref.model, ref.version, ref.stage)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("linear", InvalidValueError, "'linear' is not a model reference: use NAME@STAGE"),
        ("@prod", InvalidValueError, "is not a model reference"),
        ("linear@", InvalidValueError, "is not a model reference"),
    ],
)
def test_malformed_references_are_one_clear_error(text, error, message):
    with pytest.raises(error, match=message):
        parse_reference(text)


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("models:/linear", InvalidValueError, "names no version or stage"),
        ("models:/", InvalidValueError, "names no version or stage"),
        ("runs:/abc", ModelError, "is not a run model URI: use runs:/<run>/<path>"),
        ("runs://model", ModelError, "is not a run model URI"),
        ("runs:/abc//", ModelError, "is not a run model URI"),
        ("s3://bucket/model", InvalidValueError, "is not a models:/ URI"),
    ],
)
def test_malformed_uris_are_one_clear_error(uri, error, message):
    with pytest.raises(error, match=message):
        parse_model_uri(uri)
    assert is_model_uri(uri) == uri.startswith(("models:/", "runs:/"))
