"""`gitml ui` ready before it is asked: the runs listing prepared as the server starts
and spliced as runs come (its gzip too), long metrics parsed ahead of a first view, and
a metric being read waited for rather than read twice."""

import gzip
import json
import threading
import time
import zlib
from pathlib import Path

import pytest

import gitml
from gitml.store.layout import POINTS_CACHE
from gitml.store.repository import open_repository
from gitml.tracking.catalog import list_runs
from gitml.ui import points_cache
from gitml.ui.state import Ui
from gitml.ui.warming import Stopped, Warmer
from gitml.ui.watch import Watcher
from tests.conftest import init_repo, record_three_runs
from tests.ui_helpers import UiServer
from tests.utils import git, isolated

LONG = points_cache.CACHED_FROM
GZIP = {"Accept-Encoding": "gzip"}


def _long_run(repo: Path, name: str) -> str:
    """A run with a metric of LONG points (`big`) and a short one (`a_short`, which
    sorts first); its id."""
    with gitml.start_run(name=name, repo=repo) as run:
        for step in range(10):
            gitml.log_metric("a_short", float(step), step=step)
        for step in range(LONG):
            gitml.log_metric("big", step / 3, step=step)
        return run.id


def _blob(repo: Path, run_id: str, key: str) -> str:
    return git(repo, "rev-parse", f"refs/gitml/runs/{run_id}:.gitml/metrics/{key}.tsv").strip()


def _wait_for(condition, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def quiet(templates, tmp_path_factory):
    """A server over three runs (nothing running), and its first answer to /api/runs,
    asked before anything else."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("warm-home"))
        repo = templates.copy(record_three_runs, tmp_path_factory.mktemp("warm") / "repo")
        server = UiServer(repo)
        try:
            yield server, repo, server.get("/api/runs", GZIP)
        finally:
            server.stop()


def test_the_first_runs_answer_is_the_listing_prepared_at_start(quiet):
    server, _, first = quiet
    assert 'listing;desc="start"' in first.headers["server-timing"]
    assert first.headers["etag"].endswith('-1"')  # the first listing this server made
    assert json.loads(gzip.decompress(first.body))["columns"]["name"] == [
        "gamma",
        "beta",
        "alpha",
    ]


@pytest.mark.slow  # logs 20,000 points, waits for the server to see the run
def test_a_new_run_joins_the_answer_and_its_long_metric_is_parsed_ahead(quiet):
    server, repo, first = quiet
    run_id = _long_run(repo, "long")
    folder = repo / ".git" / "gitml" / POINTS_CACHE
    _wait_for(lambda: (folder / _blob(repo, run_id, "big")).is_file())  # nobody asked
    assert not (folder / _blob(repo, run_id, "a_short")).exists()  # short: not kept
    view = server.get("/api/runs/long/metrics/big?points=100")
    assert 'points;desc="disk"' in view.headers["server-timing"]  # a warm first view
    assert (view.json["count"], view.json["value"][-1]) == (LONG, (LONG - 1) / 3)

    zipped = server.get("/api/runs", GZIP)
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] != first.headers["etag"]
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one gzip member, as browsers read
    plain = reader.decompress(zipped.body)
    assert reader.eof and reader.unused_data == b""
    assert plain == server.get("/api/runs").body
    table = json.loads(plain)
    assert table["columns"]["name"] == ["long", "gamma", "beta", "alpha"]
    assert table["columns"]["metrics.big"] == [(LONG - 1) / 3, None, None, None]
    assert table["columns"]["params.lr"][1:] == ["0.4", "0.2", "0.1"]


@pytest.fixture(scope="module")
def long_repo(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("long-home"))
        repo = init_repo(tmp_path_factory.mktemp("long") / "repo")
        return repo, _long_run(repo, "long")


def test_warming_parses_each_long_metric_once_within_its_budget(long_repo):
    repo, run_id = long_repo
    opened = open_repository(repo)
    runs = list_runs(opened)
    kept = repo / ".git" / "gitml" / POINTS_CACHE / _blob(repo, run_id, "big")
    kept.unlink(missing_ok=True)
    ui = Ui(opened, "token", Watcher(opened))

    ui.stopping.set()  # a server stopping parses nothing more
    with pytest.raises(Stopped):
        Warmer(ui).warm(runs)
    ui.stopping.clear()
    spent = Warmer(ui)  # no budget left
    spent.warm(runs)
    assert (spent.parsed, kept.exists()) == (0, False)

    warmer = Warmer(ui)
    warmer.budget = points_cache.file_size(LONG)
    warmer.warm(runs)
    assert (warmer.parsed, kept.exists()) == (1, True)
    warmer.warm(runs)  # runs looked at already
    another = Warmer(ui)
    another.budget = points_cache.MAX_BYTES
    another.warm(runs)  # in the cache already
    assert (warmer.parsed, another.parsed) == (1, 0)
    assert ui.committed_points(kept.name, lambda: [])[1] == "disk"


def test_a_metric_being_read_is_waited_for_not_read_twice(tmp_path):
    repo = open_repository(init_repo(tmp_path / "repo"))
    ui = Ui(repo, "token", Watcher(repo))
    blob = "ab" * 20
    reading, release = threading.Event(), threading.Event()

    def slow():
        reading.set()
        release.wait(30)
        yield [0, 1], [1.0, 2.0], [10, 20]

    def again():
        raise AssertionError("read a second time")

    found = {}
    first = threading.Thread(target=lambda: found.update(first=ui.committed_points(blob, slow)))
    first.start()
    reading.wait(30)
    second = threading.Thread(target=lambda: found.update(second=ui.committed_points(blob, again)))
    second.start()
    _wait_for(lambda: ui._reading[blob].waiting == 1)
    release.set()
    first.join(30)
    second.join(30)
    (points, source), (same, waited) = found["first"], found["second"]
    assert (source, waited) == ("parsed", "waited")
    assert same is points and list(points.values) == [1.0, 2.0]
    assert ui.committed_points(blob, again)[1] == "memory"
