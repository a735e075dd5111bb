"""Property tests of gitml's grammars: run ids and refs, metric file names, commit trailers.

Each grammar has a build and a parse function that must be exact inverses;
these tests need no git.
"""

import math
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.store.ids import (
    ALPHABET,
    ID_LENGTH,
    MIN_ID_LENGTH,
    could_be_id_prefix,
    is_ref_run_id,
    is_run_id,
    new_run_id,
    run_id_time_ms,
)
from gitml.store.layout import (
    ARTIFACTS_DIR,
    CACHE_DIR,
    ENV_FREEZE_FILE,
    META_FILE,
    OUTPUT_FILE,
    PARAMS_FILE,
    RECORD_ARTIFACTS,
    RECORD_DIR,
    RECORD_METRICS,
    REGISTRY_PENDING_FILE,
    RUN_FILE,
    record_path,
)
from gitml.store.refs import parse_run_ref, run_ref
from gitml.tracking.ids import ADJECTIVES, is_valid_run_name, new_run_name
from gitml.tracking.record import (
    RunSummary,
    build_message,
    filename_to_key,
    key_to_filename,
    parse_message,
    validate_key,
)

MAX_MS = (1 << 48) - 1
milliseconds = st.integers(min_value=0, max_value=MAX_MS)

# Keys as users write them: anything printable, '/', '.', spaces, '%', '=', unicode.
keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=60,
).filter(lambda k: k.strip())
# Values are free text: newlines, '%', '=', ': ' and control characters included.
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
floats = st.floats(allow_nan=True, allow_infinity=True)


# run ids


@given(milliseconds)
def test_run_id_round_trips_its_time(ms):
    run_id = new_run_id(ms)
    assert len(run_id) == ID_LENGTH
    assert set(run_id) <= set(ALPHABET)
    assert is_run_id(run_id)
    assert run_id_time_ms(run_id) == ms


@given(milliseconds, milliseconds)
def test_run_ids_sort_by_time(first, second):
    a, b = new_run_id(first), new_run_id(second)
    if first < second:
        assert a < b
    elif first > second:
        assert a > b
    else:
        assert a[:10] == b[:10]


@pytest.mark.parametrize("ms", [-1, 1 << 48, 10**20])
def test_a_time_a_run_id_cannot_hold_is_refused(ms):
    """A negative time made an id of 'zzzzzzzz…' (of year 10889), a larger one an id
    whose time was another; a time an import read from a hand-made store can be either."""
    with pytest.raises(ValueError, match="a run id holds 0 to 2\\*\\*48-1 milliseconds"):
        new_run_id(ms)


def test_run_ids_made_in_the_same_millisecond_differ():
    ids = {new_run_id(1_700_000_000_000) for _ in range(1000)}
    assert len(ids) == 1000


def test_fresh_run_ids_carry_the_current_time():
    import time

    before = int(time.time() * 1000)
    run_id = new_run_id()
    after = int(time.time() * 1000)
    assert before <= run_id_time_ms(run_id) <= after


@given(st.text(alphabet=ALPHABET, min_size=MIN_ID_LENGTH, max_size=ID_LENGTH))
def test_run_refs_build_and_parse_as_inverses(run_id):
    """Any id of 12 to 26 characters of the alphabet names a run ref (another tool's
    ids too); gitml's own ids are those of 26."""
    assert parse_run_ref(run_ref(run_id)) == run_id
    assert is_ref_run_id(run_id)
    assert is_run_id(run_id) == (len(run_id) == ID_LENGTH)
    assert could_be_id_prefix(run_id)


@given(st.text(max_size=30))
def test_refs_not_named_by_a_run_id_are_no_runs(text):
    well_formed = MIN_ID_LENGTH <= len(text) <= ID_LENGTH and set(text) <= set(ALPHABET)
    assert (parse_run_ref(run_ref(text)) == text) == well_formed
    assert parse_run_ref(run_ref(text) + "\n") is None  # no line end slips through
    assert not is_run_id(new_run_id() + "\n")


# run names


@given(st.randoms(use_true_random=False))
def test_run_names_are_adjective_noun_and_avoid_taken_names(rng):
    taken = {f"{adjective}-fox" for adjective in ADJECTIVES}
    name = new_run_name(taken, rng)
    assert name not in taken
    assert is_valid_run_name(name)
    adjective, noun, *suffix = name.split("-")
    assert adjective in ADJECTIVES
    assert not suffix or suffix[0].isdigit()


def test_run_names_stay_unique_when_pairs_run_short():
    import random

    rng = random.Random(7)
    taken: set[str] = set()
    for _ in range(3000):
        name = new_run_name(taken, rng)
        assert name not in taken
        taken.add(name)


def test_a_run_id_is_not_a_valid_run_name():
    assert not is_valid_run_name(new_run_id())
    assert not is_valid_run_name("has space")
    assert not is_valid_run_name("-leading-dash")
    assert is_valid_run_name("baseline_v2.1")


# metric key <-> file name


@given(keys)
def test_metric_key_file_name_round_trips(key):
    filename = key_to_filename(key)
    assert filename_to_key(filename) == key
    assert filename.endswith(".tsv")
    assert "/" not in filename and "\\" not in filename
    assert not filename.startswith(".")
    assert set(filename) <= set(string.ascii_letters + string.digits + "_-.%")


def test_metric_key_file_names_for_awkward_keys():
    for key in ["train/loss", "a.b", "with space", "ünïcode", "50%", "..", ".hidden", "日本"]:
        assert filename_to_key(key_to_filename(key)) == key
    assert key_to_filename("train/loss") == "train%2Floss.tsv"


@given(st.lists(keys, min_size=2, max_size=5, unique=True))
def test_distinct_metric_keys_get_distinct_file_names(many):
    assert len({key_to_filename(key) for key in many}) == len(many)


@given(keys)
def test_valid_keys_are_accepted(key):
    assert validate_key("param", key) == key


# commit-message trailers


summaries = st.builds(
    RunSummary,
    id=st.builds(new_run_id, milliseconds),
    name=st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True),
    experiment=values.filter(lambda v: v.strip()),
    status=st.sampled_from(["finished", "failed", "killed"]),
    start_ms=milliseconds,
    end_ms=st.none() | milliseconds,
    exit_code=st.none() | st.integers(min_value=-255, max_value=255),
    base=st.none() | st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
    user=values,
    command=values,
    params=st.dictionaries(keys, values, max_size=5),
    metrics=st.dictionaries(keys, floats, max_size=5),
    tags=st.dictionaries(keys, values, max_size=5),
)


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@given(summaries, values)
def test_trailers_round_trip(summary, note):
    parsed = parse_message(build_message(summary, note), sha="abc")
    assert parsed is not None
    assert parsed.sha == "abc"
    assert (parsed.id, parsed.name, parsed.experiment, parsed.status) == (
        summary.id,
        summary.name,
        summary.experiment,
        summary.status,
    )
    assert (parsed.start_ms, parsed.end_ms, parsed.exit_code, parsed.base) == (
        summary.start_ms,
        summary.end_ms,
        summary.exit_code,
        summary.base,
    )
    assert parsed.user == summary.user
    assert parsed.command == summary.command
    assert parsed.params == summary.params
    assert parsed.tags == summary.tags
    assert parsed.metrics.keys() == summary.metrics.keys()
    for key, value in summary.metrics.items():
        assert _same_float(parsed.metrics[key], value)


@given(summaries, values)
def test_message_opens_with_name_and_status(summary, note):
    message = build_message(summary, note)
    assert message.splitlines()[0] == f"{summary.name}: {summary.status}"
    assert "\x00" not in message


def test_trailers_keep_nan_and_infinities():
    summary = RunSummary(
        id=new_run_id(0),
        name="x",
        experiment="main",
        status="finished",
        start_ms=0,
        metrics={"nan": math.nan, "inf": math.inf, "ninf": -math.inf},
    )
    parsed = parse_message(build_message(summary))
    assert math.isnan(parsed.metrics["nan"])
    assert parsed.metrics["inf"] == math.inf
    assert parsed.metrics["ninf"] == -math.inf
    assert parsed.to_json()["metrics"] == {"nan": "nan", "inf": "inf", "ninf": "-inf"}


def test_a_message_without_trailers_is_not_a_run():
    assert parse_message("just a commit\n\nwith a body\n") is None


# where gitml keeps things: one module spells every folder and file name


def test_record_paths_are_built_from_the_layout():
    assert record_path(ARTIFACTS_DIR, "model", "MLmodel") == ".gitml/artifacts/model/MLmodel"
    assert (RECORD_ARTIFACTS, RECORD_METRICS) == (".gitml/artifacts", ".gitml/metrics")
    assert record_path(RUN_FILE) == ".gitml/run.json"


def test_no_module_but_the_layout_spells_where_gitml_keeps_things():
    import ast
    from pathlib import Path

    import gitml

    package = Path(gitml.__file__).parent
    spelled = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "store" / "layout.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and (
                text in (RECORD_DIR, META_FILE, REGISTRY_PENDING_FILE, RUN_FILE, PARAMS_FILE)
                or text in (ENV_FREEZE_FILE, OUTPUT_FILE)
                or text.startswith((RECORD_DIR + "/", CACHE_DIR + "/"))
            ):
                spelled.append(f"{path.relative_to(package)}:{node.lineno}: {text!r}")
    assert spelled == []
