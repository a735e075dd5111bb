"""gitml.metricHistoryLimit: one metric's history, in bytes of its file, that gitml
writes and reads. git compresses a repetitive history a thousandfold, so a remote can
send a run whose 32 MB metric file is some 32 KB on the wire: every reader learns the
file's size from git before reading it and refuses one over the limit in one line,
and the writer never grows a history past it.

The limit is made small through git config here (1 MiB), rather than writing 64 MiB.
"""

import json
import subprocess
from pathlib import Path

import pytest

from gitml.errors import MetricTooLargeError
from gitml.store.blobs import ObjectReader
from gitml.store.layout import POINTS_CACHE
from gitml.store.repository import open_repository
from gitml.tracking.catalog import list_runs
from gitml.ui import points_cache
from gitml.ui.state import Ui
from gitml.ui.warming import Warmer
from gitml.ui.watch import Watcher
from tests.conftest import commit_a_few_files, init_repo
from tests.hostile.test_resource_limits import (
    bounded,
    bounded_python,
    one_line_error,
    peak_memory_mib,
    replace_record,
)
from tests.ui_helpers import UiServer
from tests.utils import git, gitml, isolated, write

LINES = 4_000_000
HOSTILE = b"0\t1.0\t0\n" * LINES  # 32,000,000 bytes; git stores it in some 32 KB
HOSTILE_SIZE = f"{len(HOSTILE):,} bytes"
MEMORY_BOUND_MIB = 100  # reading it took 14 s and gigabytes of points


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """Runs `small` and `big` (each logged `acc` and `loss` three times); `big`'s loss
    then swapped for HOSTILE, packed as a fetch brings it; the limit 1 MiB."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("home"))
        repo = commit_a_few_files(init_repo(tmp_path_factory.mktemp("limit") / "repo"))
        write(
            repo / "curve.py",
            "import gitml\nfor step in range(3):\n"
            "    gitml.log_metrics({'acc': step / 4, 'loss': 1 / (step + 1)}, step=step)\n",
        )
        git(repo, "add", "curve.py")
        git(repo, "commit", "-q", "-m", "curve")
        for name in ("small", "big"):
            gitml(repo, "run", "--name", name, "--", "python", "curve.py")
        runs = {run["name"]: run["id"] for run in json.loads(gitml(repo, "ls", "--json").stdout)}
        replace_record(repo, runs["big"], ".gitml/metrics/loss.tsv", HOSTILE)
        ref = f"refs/gitml/runs/{runs['big']}"
        record = json.loads(git(repo, "show", f"{ref}:.gitml/run.json"))
        record["metrics"]["loss"]["count"] = LINES  # what makes `gitml ui` parse it ahead
        replace_record(repo, runs["big"], ".gitml/run.json", json.dumps(record).encode())
        git(repo, "repack", "-adq")
        git(repo, "config", "gitml.metricHistoryLimit", "1m")
        yield repo


def refusal(result: subprocess.CompletedProcess) -> str:
    line = one_line_error(result)
    for words in ("run big (", "metric 'loss'", HOSTILE_SIZE, "gitml.metricHistoryLimit"):
        assert words in line, line
    return line


def test_metrics_refuses_a_history_over_the_limit_in_bounded_memory(repo, tmp_path):
    code, peak = peak_memory_mib(repo, tmp_path / "out.txt", "metrics", "big", "loss")
    assert code != 0 and peak < MEMORY_BOUND_MIB, (code, peak)
    refusal(bounded(repo, "metrics", "big", "loss"))


@pytest.mark.parametrize("form", ["--csv", "--json", None])
def test_every_metric_of_a_run_is_refused_before_any_is_written(repo, form):
    """`acc` comes before `loss`: nothing of it is written when `loss` is refused."""
    result = bounded(repo, "metrics", "big", *([form] if form else []))
    refusal(result)
    assert result.stdout == ""


def test_plot_refuses_a_history_over_the_limit(repo):
    refusal(bounded(repo, "plot", "loss", "small", "big"))


def test_what_needs_only_last_values_still_reads_the_run(repo):
    for args in (("ls",), ("show", "big"), ("diff", "small", "big"), ("compare", "small", "big")):
        result = bounded(repo, *args)
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
    assert "loss" in bounded(repo, "show", "big").stdout
    acc = bounded(repo, "metrics", "big", "acc", "--csv").stdout.splitlines()
    assert [line.split(",")[:3] for line in acc[1:]] == [
        ["acc", "0", "0.0"],
        ["acc", "1", "0.25"],
        ["acc", "2", "0.5"],
    ]


def test_a_history_within_the_limit_reads(repo):
    result = bounded(repo, "metrics", "small", "loss", "--csv")
    assert result.returncode == 0, result.stderr
    assert [line.split(",")[:3] for line in result.stdout.splitlines()[1:]] == [
        ["loss", "0", "1.0"],
        ["loss", "1", "0.5"],
        ["loss", "2", "0.3333333333333333"],
    ]


def test_the_ui_answers_that_metric_with_an_error_and_shows_the_rest(repo):
    server = UiServer(repo)
    try:
        refused = server.get("/api/runs/big/metrics/loss")
        assert refused.status == 400, refused.body[:500]
        message = refused.json["error"]["message"]
        assert "metric 'loss'" in message and HOSTILE_SIZE in message, message
        assert "gitml.metricHistoryLimit" in message
        for path in ("/api/runs/big/metrics/acc", "/api/runs/small/metrics/loss"):
            answer = server.get(path)
            assert answer.status == 200 and answer.json["count"] == 3, (path, answer.body[:500])
        assert server.get("/api/runs").status == 200
    finally:
        server.stop()


def test_the_ui_does_not_parse_a_history_over_the_limit_ahead(repo):
    """A record that claims 20,000 points or more has its history parsed as the server
    starts, with no request at all: one over the limit is left for a request to refuse."""
    opened = open_repository(repo)
    ui = Ui(opened, "token", Watcher(opened))
    warmer = Warmer(ui)
    warmer.budget = points_cache.MAX_BYTES
    warmer.warm(list_runs(opened))
    assert warmer.parsed == 0 and len(warmer.looked_at) == 2
    assert not (repo / ".git" / "gitml" / POINTS_CACHE).is_dir() or not any(
        (repo / ".git" / "gitml" / POINTS_CACHE).iterdir()
    )


def test_mlflow_clients_refuse_a_history_over_the_limit(repo):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from gitml.client import MlflowClient as NativeClient

    runs = {run["name"]: run["id"] for run in json.loads(gitml(repo, "ls", "--json").stdout)}
    client = MlflowClient(f"gitml://{repo}")
    with pytest.raises(MlflowException, match="gitml.metricHistoryLimit") as refused:
        client.get_metric_history(runs["big"], "loss")
    assert HOSTILE_SIZE in str(refused.value)
    assert [m.value for m in client.get_metric_history(runs["big"], "acc")] == [0, 0.25, 0.5]
    native = NativeClient(f"gitml://{repo}")
    with pytest.raises(MetricTooLargeError, match=HOSTILE_SIZE):
        native.get_metric_history(runs["big"], "loss")
    assert len(native.get_metric_history(runs["small"], "loss")) == 3


def test_object_reader_learns_a_blob_size_before_reading_it(repo):
    """A loose blob's size is in its header, a packed one's in git's answer: over the
    limit, nothing of it is read (and the reader goes on to the next request)."""
    loose = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=b"1\t2\t3\n" * 1000,
        capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    packed = git(repo, "rev-parse", "refs/heads/main:curve.py").strip()
    with ObjectReader(open_repository(repo)) as objects:
        assert objects.sized_blocks(loose, 5999) == (6000, None)
        size, blocks = objects.sized_blocks(loose, 6000)
        assert size == 6000 and b"".join(blocks or ()) == b"1\t2\t3\n" * 1000
        curve = (repo / "curve.py").read_bytes()
        assert objects.sized_blocks(packed, len(curve) - 1) == (len(curve), None)
        assert b"".join(objects.sized_blocks(packed)[1] or ()) == curve
        assert objects.sizes([loose, packed, "0" * 40, "HEAD"]) == {
            loose: 6000,
            packed: len(curve),
        }


def test_log_metric_refuses_to_grow_a_history_past_the_limit(repo, monkeypatch):
    """A point that would grow the file past the limit is refused in one error; the
    points before it stay, and the committed run reads."""
    code = (
        "import gitml\n"
        "with gitml.start_run(name='capped'):\n"
        "    for step in range(1000):\n"
        "        try:\n"
        "            gitml.log_metric('loss', 0.5, step=step, timestamp=1)\n"
        "        except gitml.errors.MetricTooLargeError as error:\n"
        "            print(step, error)\n"
        "            break\n"
    )
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "gitml.metricHistoryLimit")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "1k")
    result = bounded_python(repo, code)
    assert result.returncode == 0, result.stderr
    step, message = result.stdout.split(" ", 1)
    # each line is "<step>\t0.5\t1\n": 8 bytes to step 9, 9 to 99, then 10: steps 0 to
    # 112 take 10 * 8 + 90 * 9 + 13 * 10 = 1,020 bytes, and step 113 would pass 1,024
    assert int(step) == 113
    assert "run capped (" in message and "metric 'loss' would grow to 1,030 bytes" in message
    assert "gitml.metricHistoryLimit (1,024 bytes)" in message
    points = bounded(repo, "metrics", "capped", "loss", "--csv").stdout.splitlines()
    assert len(points) == 1 + int(step)


def test_an_imported_history_is_cut_at_the_limit_in_one_line(repo, monkeypatch):
    """`gitml import mlflow` of a metric that passes the limit keeps the points within
    it and says in one line that the rest was left out, reading no further (the source
    here never ends)."""
    import itertools

    import gitml
    from gitml import api
    from gitml.mlflow_plugin.importer import _log_history

    class EndlessSource:
        def metric_points(self, info, key):
            return ((0.5, step, 1) for step in itertools.count())

    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "gitml.metricHistoryLimit")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "100")
    skipped: list[str] = []
    with gitml.start_run(name="imported", repo=repo):
        _log_history(EndlessSource(), api._run().staging, None, "loss", skipped, "run x")
    (line,) = skipped
    assert line.startswith("run x: the rest of metric 'loss' left out: run imported (")
    assert "gitml.metricHistoryLimit (100 bytes)" in line
    assert len(bounded(repo, "metrics", "imported", "loss", "--csv").stdout.splitlines()) == 13


def test_the_stores_history_is_read_a_page_at_a_time(repo, monkeypatch):
    """MLflow's server asks a page at a time: a page of a long history (within a limit
    raised for it) is made of its own points only, the history read no further."""
    from gitml.mlflow_plugin.tracking_store import GitmlTrackingStore

    runs = {run["name"]: run["id"] for run in json.loads(gitml(repo, "ls", "--json").stdout)}
    store = GitmlTrackingStore(f"gitml://{repo}")
    first = store.get_metric_history(runs["small"], "loss", max_results=2)
    assert [m.step for m in first] == [0, 1] and first.token
    rest = store.get_metric_history(runs["small"], "loss", max_results=2, page_token=first.token)
    assert [m.step for m in rest] == [2] and rest.token is None
    assert [m.step for m in store.get_metric_history(runs["small"], "loss")] == [0, 1, 2]

    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "gitml.metricHistoryLimit")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "64m")
    page = store.get_metric_history(runs["big"], "loss", max_results=1000)
    assert len(page) == 1000 and page.token
    after = store.get_metric_history(runs["big"], "loss", max_results=5, page_token=page.token)
    assert len(after) == 5 and after.token
