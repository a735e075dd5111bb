"""The run record's JSON: `RunRecord.to_json` and `from_json` are inverses, run.json keeps
the fields and order gitml has always written, an older run.json still reads, and one of
the wrong shape says which field."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.errors import RecordError
from gitml.tracking.model import ArtifactEntry, ChangedFile, RunRecord
from gitml.tracking.record import LISTED_STATUSES, MAX_MS, MetricSummary

texts = st.text(max_size=20)
numbers = st.floats(allow_nan=True, allow_infinity=True)
metric_summaries = st.builds(MetricSummary, last=numbers) | st.builds(
    MetricSummary,  # all the statistics or none: a record's metrics have one or the other
    last=numbers,
    min=numbers,
    max=numbers,
    count=st.integers(0, 10**6),
    last_step=st.integers(-(10**6), 10**6),
)
artifact_entries = st.builds(
    ArtifactEntry,
    path=texts.filter(bool),
    size=st.integers(0, 10**9),
    sha256=st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    link=st.none() | texts,
)
milliseconds = st.integers(0, MAX_MS)
maybe_text = st.none() | texts
records = st.builds(
    RunRecord,
    id=st.from_regex(r"[0-9a-z]{26}", fullmatch=True),
    name=texts,
    experiment=texts,
    status=st.sampled_from(LISTED_STATUSES),
    start_ms=milliseconds,
    format=st.just(1),
    exit_code=st.none() | st.integers(-255, 255),
    command=st.lists(texts, max_size=4),
    cwd=maybe_text,
    entry_point=maybe_text,
    note=texts,
    reproduces=maybe_text,
    params=st.dictionaries(texts, texts, max_size=3),
    tags=st.dictionaries(texts, texts, max_size=3),
    metrics=st.dictionaries(texts, metric_summaries, max_size=3),
    end_ms=st.none() | milliseconds,
    user=maybe_text,
    base=st.none() | st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
    dirty=st.none() | st.booleans(),
    env_manager=maybe_text,
    env_vars=st.dictionaries(texts, texts, max_size=2),
    artifacts=st.lists(artifact_entries, max_size=3),
    skipped=st.fixed_dictionaries({"large": st.lists(texts, max_size=2), "secret": st.just([])}),
    snapshot_lost=st.booleans(),
    commit=st.none() | st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
    damage=maybe_text,
    files_changed=st.lists(st.builds(ChangedFile, st.sampled_from("ADMT"), texts), max_size=3),
)


@given(records)
def test_a_record_reads_back_from_its_json(record):
    data = json.loads(json.dumps(record.to_json()))
    again = RunRecord.from_json(data)
    assert again == record  # as mappings: their JSON forms
    assert again.to_json() == record.to_json()


@given(records)
def test_run_json_holds_what_the_run_says_about_itself(record):
    stored = record.to_json(stored=True)
    assert not {"commit", "damage", "files_changed"} & set(stored)
    assert ("snapshot_lost" in stored) == record.snapshot_lost
    assert list(record.to_json())[: len(STORED_KEYS)] == STORED_KEYS
    again = RunRecord.from_json(stored)
    assert again.to_json(stored=True) == stored


# the order gitml has always written run.json in
STORED_KEYS = (
    "format id name experiment status exit_code command cwd entry_point note reproduces "
    "params tags metrics start_ms end_ms duration_ms user host python platform base branch "
    "dirty env_hash env_manager env_vars artifacts skipped"
).split()


def test_a_run_json_of_an_older_gitml_reads_with_defaults():
    old = {
        "format": 1,
        "id": "01m8d2jfwmx7qwfe7zzw83pw32",
        "name": "baseline",
        "experiment": "main",
        "status": "finished",
        "exit_code": 0,
        "command": ["python", "train.py"],
        "params": {"lr": "0.01"},
        "metrics": {"loss": {"last": "nan", "min": 0.25, "max": 0.5, "count": 2, "last_step": 1}},
        "start_ms": 1795735240607,
        "end_ms": 1795735240784,
        "duration_ms": 177,
        "artifacts": [{"path": "report.json", "size": 5, "sha256": "37b1"}],
    }  # no cwd, tags, env_manager, skipped, …: written before those fields existed
    record = RunRecord.from_json(old)
    assert record.cwd is None and record.tags == {} and record.env_manager == "local"
    assert record.duration_ms == 177 and math.isnan(record.metrics["loss"].last)
    assert record["metrics"]["loss"] == {
        "last": "nan", "min": 0.25, "max": 0.5, "count": 2, "last_step": 1
    }  # fmt: skip
    assert record["artifacts"] == [{"path": "report.json", "size": 5, "sha256": "37b1"}]
    assert record.summary().command == "python train.py"


_METRICS = "has metrics that are not summaries of numbers"
_ARTIFACTS = "has an artifact list that is not one of paths and sizes"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"command": "python train.py"}, "has a command that is not a list of words"),
        ({"params": ["lr"]}, "has params that are not text keys and values"),
        ({"metrics": {"loss": {"last": True}}}, "has metrics that are not summaries of numbers"),
        ({"metrics": {"loss": {"min": 1}}}, "has metrics that are not summaries of numbers"),
        ({"artifacts": [{"size": 1}]}, "has an artifact list that is not one of paths and sizes"),
        ({"start_ms": 1 << 60}, "has a start_ms out of range"),
        ({"exit_code": 1.5}, "has a exit_code that is not a whole number"),
        ({"status": "exploded"}, "has the status 'exploded'"),
        ({"dirty": "yes"}, "has a dirty flag that is not true or false"),
        ({"note": 7}, "has a note that is not text"),
        ({"name": None}, "has no name"),
        ({"metrics": {"loss": {"last": 1, "min": 0}}}, _METRICS),
        ({"artifacts": [{"path": "model.pkl"}]}, _ARTIFACTS),
    ],
)
def test_a_record_of_the_wrong_shape_says_which_field(change, problem):
    data = {"id": "01m8d2jfwmx7qwfe7zzw83pw32", "name": "a", "experiment": "main"}
    data = {**data, "status": "finished", "start_ms": 0, **change}
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(RecordError) as raised:
        RunRecord.from_json(data)
    assert str(raised.value) == problem


def test_a_record_read_as_a_mapping_is_its_json():
    record = RunRecord("01m8d2jfwmx7qwfe7zzw83pw32", "a", "main", "finished", 5, end_ms=7)
    assert dict(record) == record.to_json() and len(record) == len(record.to_json())
    assert record["duration_ms"] == 2 and record.get("nothing") is None
    assert "metrics" in record and json.loads(json.dumps(dict(record)))["id"] == record.id
