"""One run record: `get_run`, `gitml show --json` and `gitml ls --json` speak the same
fields for a run while it runs and after it ends."""

import json

import pytest

import gitml
from tests.unit.test_run_record import STORED_KEYS
from tests.utils import cli, git


@pytest.fixture(autouse=True)
def no_active_run_left():
    yield
    if gitml.active_run() is not None:
        gitml.end_run("killed")


def shown(repo, run: str) -> dict:
    return json.loads(cli(repo, "show", "--json", run).stdout)


def listed(repo) -> list[dict]:
    return json.loads(cli(repo, "ls", "--json").stdout)


def test_a_run_has_the_same_fields_while_it_runs_and_after_it_ends(repo_with_commit):
    repo = repo_with_commit
    with gitml.start_run(name="live", params={"a": 1}, tags={"t": "x"}, repo=repo):
        gitml.log_metric("m", 3)
        gitml.log_text("hello", "notes/hello.txt")
        running = gitml.get_run("live", repo=repo)
        running_shown = shown(repo, "live")
        running_row = listed(repo)[0]
    ended = gitml.get_run("live", repo=repo)
    ended_shown = shown(repo, "live")
    ended_row = listed(repo)[0]

    assert running["status"] == "running" and ended["status"] == "finished"
    assert list(running) == list(ended)  # the same keys, in the same order
    assert dict(running) == running_shown and dict(ended) == ended_shown
    assert running["metrics"]["m"].keys() == ended["metrics"]["m"].keys()
    assert running["artifacts"] == ended["artifacts"]  # sizes and sha256 while running too
    assert running["artifacts"][0]["path"] == "notes/hello.txt"
    assert running["command"] == ended["command"]  # a list of words both times
    assert running["commit"] is None and ended["commit"] == ended_row["commit"]
    # ls rows: the summary part of the record, under the same names
    assert list(running_row) == list(ended_row)
    assert set(ended_row) <= set(ended)
    for key in ("id", "name", "experiment", "status", "params", "tags", "start_ms", "base"):
        assert ended_row[key] == ended[key]
    assert ended_row["metrics"] == {"m": ended["metrics"]["m"]["last"]}
    stored = json.loads(git(repo, "show", f"{ended['commit']}:.gitml/run.json"))
    assert list(stored) == STORED_KEYS
    assert stored == {key: ended[key] for key in STORED_KEYS}
