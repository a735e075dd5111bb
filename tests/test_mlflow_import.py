"""`gitml import mlflow`: real MLflow stores (a folder and a database, made by MLflow's
client) written into real repositories, read back through gitml's command line."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitml.cli.main import cli as main_cli
from tests.conftest import commit_a_few_files, init_repo
from tests.mlflow_helpers import make_store
from tests.utils import assert_fsck_clean, cli, free_port, git, gitml, isolated, user_state, write

pytestmark = pytest.mark.slow  # each import starts MLflow (seconds)

STAGES = "stages: [staging, production, archived, champion]\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A repository with one commit (copied into each test) and two MLflow stores whose
    run `alpha` names that commit; then a copy of the repository with the folder store
    imported, for the tests that only read."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("home"))
        seed = commit_a_few_files(init_repo(tmp_path_factory.mktemp("seed") / "repo"))
        git(seed, "config", "gitml.artifactSizeLimit", "1k")
        write(seed / "gitml.yaml", STAGES)
        git(seed, "add", "gitml.yaml")
        git(seed, "commit", "-q", "-m", "stages")
        commit = git(seed, "rev-parse", "HEAD").strip()
        stores = tmp_path_factory.mktemp("stores")
        (stores / "files").mkdir()
        (stores / "db").mkdir()
        folder_ids = make_store((stores / "files" / "mlruns").as_uri(), commit, stores / "files")
        db_ids = make_store(f"sqlite:///{stores / 'db' / 'mlflow.db'}", commit, stores / "db")
        imported = tmp_path_factory.mktemp("imported") / "repo"
        shutil.copytree(seed, imported, symlinks=True)
        result = gitml(imported, "import", "mlflow", str(stores / "files" / "mlruns"))
    return {
        "seed": seed,
        "commit": commit,
        "folder": stores / "files" / "mlruns",
        "database": stores / "db" / "mlflow.db",
        "folder_ids": folder_ids,
        "db_ids": db_ids,
        "imported": imported,
        "result": result,
    }


def copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(source, target, symlinks=True)
    return target


def runs_by_name(repo: Path) -> dict:
    listed = json.loads(gitml(repo, "ls", "--all", "--json").stdout)
    return {run["name"]: run for run in listed}


def import_in_process(repo: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    """`gitml import mlflow ARGS` in this process (MLflow imported once, not per test),
    from inside `repo` as a child process would run: a file MLflow wrote to the current
    folder would show in the repository's state."""
    monkeypatch.chdir(repo)
    return cli(repo, "import", "mlflow", *args)


def gitml_state(repo: Path) -> str:
    """Every ref and tag gitml could have written."""
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def test_each_run_keeps_its_values_times_status_and_code(world):
    repo = world["imported"]
    assert world["result"].stdout == "imported 3 runs, 5 registry events\n"
    runs = runs_by_name(repo)
    assert sorted(runs) == ["alpha", "beta", "plain-run"]
    alpha, beta, plain = runs["alpha"], runs["beta"], runs["plain-run"]
    assert (alpha["status"], alpha["experiment"]) == ("finished", "wine")
    assert (alpha["start_ms"], alpha["end_ms"]) == (1_700_000_000_000, 1_700_000_060_000)
    assert alpha["params"] == {"lr": "0.1"}
    assert alpha["metrics"] == {"loss": 0.2}
    assert alpha["tags"]["team"] == "a"
    assert alpha["tags"]["gitml.mlflow.run_id"] == world["folder_ids"]["alpha"]
    assert alpha["base"] == world["commit"]  # MLflow's recorded commit, present here
    assert (beta["status"], beta["base"]) == ("failed", None)  # its commit is not here
    assert (plain["status"], plain["experiment"]) == ("killed", "Default")
    history = json.loads(gitml(repo, "metrics", "alpha", "loss", "--json").stdout)["loss"]
    assert [(p["step"], p["timestamp"]) for p in history] == [
        (step * 10, 1_700_000_001_000 + step) for step in range(5)
    ]
    assert_fsck_clean(repo)


def test_artifacts_up_to_the_size_limit_and_logged_models_come_along(world):
    repo = world["imported"]
    alpha = json.loads(gitml(repo, "show", "alpha", "--json").stdout)
    assert [a["path"] for a in alpha["artifacts"]] == ["model/MLmodel", "notes/readme.txt"]
    beta = json.loads(gitml(repo, "show", "beta", "--json").stdout)
    assert [a["path"] for a in beta["artifacts"]] == ["clf/MLmodel", "clf/model.pkl"]
    assert git(repo, "show", f"{beta['commit']}:.gitml/artifacts/clf/model.pkl") == "weights"
    stderr = world["result"].stderr
    assert "artifact 'big.bin' (4,096 bytes) is over the size limit of 1,024 bytes" in stderr
    assert f"its commit '{'f' * 40}' is not in this repository" in stderr


def test_versions_stages_and_aliases_become_registry_tags(world):
    repo = world["imported"]
    (model,) = json.loads(gitml(repo, "model", "ls", "--json").stdout)
    assert model["model"] == "wine-model"  # MLflow's "Wine Model", mapped
    assert model["latest"] == "v0.0.2"
    assert model["stages"] == {
        "staging": ["v0.0.1"],
        "production": ["v0.0.2"],
        "champion": ["v0.0.2"],
    }
    which = json.loads(gitml(repo, "model", "which", "wine-model@production", "--json").stdout)
    assert (which["run_name"], which["artifact"]) == ("beta", "clf")
    first = json.loads(gitml(repo, "model", "which", "wine-model@v0.0.1", "--json").stdout)
    assert (first["run_name"], first["artifact"]) == ("alpha", "model")
    tags = git(repo, "tag", "-l").split()
    assert "wine-model@v0.0.1" in tags and "wine-model#production#4" in tags


def test_importing_twice_adds_nothing(world, tmp_path, monkeypatch):
    repo = copy(world["imported"], tmp_path)
    before = gitml_state(repo)
    again = import_in_process(repo, monkeypatch, str(world["folder"]))
    assert again.stdout == "imported 0 runs (3 imported before)\n"
    assert gitml_state(repo) == before


def test_a_dry_run_writes_nothing(world, tmp_path, monkeypatch):
    repo = copy(world["seed"], tmp_path)
    before, state = gitml_state(repo), user_state(repo)
    result = import_in_process(repo, monkeypatch, str(world["folder"]), "--dry-run")
    assert result.stdout == "would import 3 runs, 5 registry events\n"
    assert "MLflow run " + world["folder_ids"]["alpha"] + " would be imported" in result.stderr
    assert gitml_state(repo) == before
    assert user_state(repo) == state
    assert not list((repo / ".git" / "gitml").glob("runs/*"))


def test_a_database_is_read_without_being_changed(world, tmp_path):
    repo = copy(world["seed"], tmp_path)
    database = world["database"]
    before = database.read_bytes()
    result = gitml(repo, "import", "mlflow", f"sqlite:///{database}", "--json")
    report = json.loads(result.stdout)
    assert sorted(entry["name"] for entry in report["imported"]) == ["alpha", "beta", "plain-run"]
    assert {entry["mlflow_run_id"] for entry in report["imported"]} == set(
        world["db_ids"][key] for key in ("alpha", "beta", "plain")
    )
    assert database.read_bytes() == before
    assert not (repo / "mlflow.db").exists()  # MLflow's default store was never opened
    (model,) = json.loads(gitml(repo, "model", "ls", "--json").stdout)
    assert model["stages"]["production"] == ["v0.0.2"]
    assert runs_by_name(repo)["alpha"]["base"] == world["commit"]


def test_a_database_naming_artifacts_on_another_host_gets_no_credentials(
    world, tmp_path, monkeypatch
):
    """A hand-made database whose runs' artifacts (beta's logged model too) are at an
    http:// host of its choosing: MLflow sent this machine's MLFLOW_TRACKING_USERNAME and
    _PASSWORD there (as Basic auth) and imported what it answered. Nothing is asked of
    that host now; each run says so in one line, and is imported without them."""
    import http.server
    import sqlite3
    import threading

    asked: list[str] = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(f"{self.path} {self.headers.get('Authorization')}")
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    listener = http.server.HTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    database = tmp_path / "mlflow.db"
    shutil.copyfile(world["database"], database)
    elsewhere = f"http://127.0.0.1:{listener.server_port}/api/2.0/mlflow-artifacts/artifacts/x"
    with sqlite3.connect(database) as db:
        db.execute("UPDATE runs SET artifact_uri = ?", (elsewhere,))
        db.execute("UPDATE logged_models SET artifact_location = ?", (elsewhere,))
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "me")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "secret")
    repo = copy(world["seed"], tmp_path)
    try:
        result = import_in_process(repo, monkeypatch, f"sqlite:///{database}")
    finally:
        listener.shutdown()

    assert asked == []
    assert sorted(runs_by_name(repo)) == ["alpha", "beta", "plain-run"]
    refused = [line for line in result.stderr.splitlines() if "are not read: only" in line]
    assert len(refused) == 4, result.stderr  # three runs and beta's logged model
    assert f"artifacts at {elsewhere!r} are not read" in refused[0]


def test_a_missing_source_is_one_line_and_writes_nothing(world, tmp_path):
    repo = copy(world["seed"], tmp_path)
    before = gitml_state(repo)
    for source, expected in (
        (str(tmp_path / "nowhere"), "is no folder of MLflow runs"),
        (f"sqlite:///{tmp_path / 'nothing.db'}", "names no database file"),
        ("ftp://example.com/mlruns", "gitml imports from an mlruns folder"),
    ):
        result = gitml(repo, "import", "mlflow", source, check=False)
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith("gitml: error: ") and expected in line, line
    assert not (tmp_path / "nothing.db").exists()
    assert gitml_state(repo) == before


def test_without_mlflow_the_error_names_the_extra(world, tmp_path):
    repo = copy(world["seed"], tmp_path)
    fake = write(tmp_path / "fake" / "mlflow" / "__init__.py", "raise ImportError('no mlflow')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent.parent), *_paths()])}
    result = gitml(repo, "import", "mlflow", str(world["folder"]), check=False, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: gitml import mlflow needs mlflow, which is not installed: "
        "pip install 'gitml[mlflow]'\n"
    )


def _paths() -> list[str]:
    """The PYTHONPATH the tests run with (gitml's own tree first)."""
    return [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]


@contextlib.contextmanager
def nested(folder: Path, depth: int) -> Iterator[None]:
    """A file `depth` folders deep in `folder`, for the time of the block: removed after,
    one folder at a time, since pytest's removal of old temporary folders recurses and
    fails on it (pathlib's mkdir recurses too)."""
    deep = folder
    for _ in range(depth):
        deep = deep / "d"
        deep.mkdir()
    write(deep / "f.txt", "deep")
    try:
        yield
    finally:
        (deep / "f.txt").unlink()
        while deep != folder:
            deep.rmdir()
            deep = deep.parent


def test_a_hand_made_folder_cannot_reach_outside_or_blow_up_a_record(world, tmp_path, monkeypatch):
    """A run whose artifact location climbs out of the folder with `..`, an artifact that
    is a link to a file outside, a 100,000-character param and a commit that is an
    option of git's, artifacts nested 1,100 deep (a RecursionError before): the run is
    imported without any of them, each named on stderr."""
    repo = copy(world["seed"], tmp_path)
    mlruns = tmp_path / "mlruns"
    shutil.copytree(world["folder"], mlruns, symlinks=True)
    for meta in mlruns.rglob("meta.yaml"):  # MLflow wrote absolute artifact locations
        meta.write_text(meta.read_text().replace(str(world["folder"]), str(mlruns)))
    secret = write(tmp_path / "outside" / "secret.txt", "private")
    run = next(path.parent for path in mlruns.glob("*/*/meta.yaml") if _names(path, "alpha"))
    meta = run / "meta.yaml"
    climbing = f"{run}/artifacts/../../../../outside"
    meta.write_text(
        "\n".join(
            f"artifact_uri: file://{climbing}" if line.startswith("artifact_uri:") else line
            for line in meta.read_text().splitlines()
        )
        + "\n"
    )
    beta = next(path.parent for path in mlruns.glob("*/*/meta.yaml") if _names(path, "beta"))
    os.symlink(secret, beta / "artifacts" / "leak.txt")
    write(beta / "params" / "huge", "x" * 100_000)
    write(beta / "tags" / "mlflow.source.git.commit", "--output=" + str(tmp_path / "pwned"))

    with nested(beta / "artifacts", 1100):  # deeper than Python's recursion
        result = import_in_process(repo, monkeypatch, str(mlruns))

    runs = runs_by_name(repo)
    assert sorted(runs) == ["alpha", "beta", "plain-run"]
    for name in ("alpha", "beta"):
        shown = json.loads(gitml(repo, "show", name, "--json").stdout)
        assert not any("secret" in a["path"] or "leak" in a["path"] for a in shown["artifacts"])
    assert "huge" not in runs["beta"]["params"] and runs["beta"]["params"]["lr"] == "0.2"
    assert runs["beta"]["base"] is None
    assert not (tmp_path / "pwned").exists()
    assert f"are outside {mlruns}" in result.stderr
    assert "artifact 'leak.txt' is a symbolic link; not followed" in result.stderr
    assert "(199 characters) are nested deeper than 100 levels; not read" in result.stderr
    assert "param 'huge' is longer than 6,000 characters" in result.stderr
    assert "private" not in git(repo, "log", "--all", "-p")


def test_runs_with_records_gitml_cannot_keep_are_left_out_in_one_line_each(
    world, tmp_path, monkeypatch
):
    """A start time past what a run id holds, a name that is a YAML list and metric
    points out of 64 bits: each run or point is left out with one line saying why, and
    the rest is imported (before, a time out of range wrote a damaged run and failed
    with an OverflowError, and a list name failed with a TypeError)."""
    repo = copy(world["seed"], tmp_path)
    mlruns = tmp_path / "mlruns"
    shutil.copytree(world["folder"], mlruns, symlinks=True)
    for meta in mlruns.rglob("meta.yaml"):
        meta.write_text(meta.read_text().replace(str(world["folder"]), str(mlruns)))
    metas = {
        name: next(p for p in mlruns.glob("*/*/meta.yaml") if _names(p, name))
        for name in ("alpha", "beta")
    }
    for name, (field, value) in {
        "alpha": ("start_time", "99999999999999999999"),
        "beta": ("run_name", "[a, b]"),
    }.items():
        meta = metas[name]
        meta.write_text(
            "".join(
                f"{field}: {value}\n" if line.startswith(f"{field}:") else line
                for line in meta.read_text().splitlines(keepends=True)
            )
        )
    plain = next(p.parent for p in mlruns.glob("*/*/meta.yaml") if _names(p, "plain run!"))
    write(
        plain / "metrics" / "acc",
        "1700000200000 0.5 1\n1700000200001 0.75 99999999999999999999\n"
        "99999999999999999999 0.75 3\n",
    )
    plain_id = plain.name

    result = import_in_process(repo, monkeypatch, str(mlruns))

    assert sorted(runs_by_name(repo)) == ["plain-run"]
    left_out = [line for line in result.stderr.splitlines() if line.startswith("gitml: left out: ")]
    ids = world["folder_ids"]
    for run_id, why in [
        (ids["alpha"], "not imported: its start time 99999999999999999999 ms is out of range"),
        (ids["beta"], "not imported: its name is a list, not text"),
        (plain_id, "2 points of metric 'acc' left out: metric 'acc': step 99999999999999999999"),
    ]:
        assert sum(f"left out: MLflow run {run_id}: {why}" in line for line in left_out) == 1
    points = gitml(repo, "metrics", "plain-run", "--json").stdout
    assert '"value": 0.5' in points and "0.75" not in points
    assert_fsck_clean(repo)
    write(plain / "metrics" / "acc", "1700000200000 0.5 x\n")  # MLflow's reader fails

    failed = CliRunner().invoke(main_cli, ["-C", str(repo), "import", "mlflow", str(mlruns)])

    assert failed.exit_code == 1 and failed.stderr.splitlines()[-1] == (
        "gitml: error: cannot read the runs of experiment 0 from "
        f"{mlruns}: ValueError: invalid literal for int() with base 10: 'x'"
    )


def _names(meta: Path, run_name: str) -> bool:
    return f"run_name: {run_name}" in meta.read_text()


def test_a_tracking_server_is_read_through_its_rest_api(world, tmp_path):
    """`mlflow server` on 127.0.0.1 (sqlite, artifacts proxied as mlflow-artifacts:), the
    store filled through it; imported by URL. A URL nobody answers is one line."""
    repo = copy(world["seed"], tmp_path)
    folder = tmp_path / "server"
    folder.mkdir()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--workers", "1"]
        + ["--artifacts-destination", str(folder / "artifacts")],
        cwd=folder,
        # without MLflow's job runner: a process of its own importing MLflow and running
        # schedulers, which made filling the store through the server several times slower
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.3)
        ids = make_store(url, world["commit"], folder)
        result = gitml(repo, "import", "mlflow", url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert result.stdout == "imported 3 runs, 5 registry events\n"
    runs = runs_by_name(repo)
    assert runs["alpha"]["tags"]["gitml.mlflow.run_id"] == ids["alpha"]
    alpha = json.loads(gitml(repo, "show", "alpha", "--json").stdout)
    assert [a["path"] for a in alpha["artifacts"]] == ["model/MLmodel", "notes/readme.txt"]
    beta = json.loads(gitml(repo, "show", "beta", "--json").stdout)
    assert git(repo, "show", f"{beta['commit']}:.gitml/artifacts/clf/model.pkl") == "weights"
    (model,) = json.loads(gitml(repo, "model", "ls", "--json").stdout)
    assert model["stages"]["production"] == ["v0.0.2"]

    gone = gitml(repo, "import", "mlflow", url, check=False)  # the server has stopped
    assert gone.returncode == 1
    (line,) = gone.stderr.splitlines()
    assert line.startswith(f"gitml: error: no MLflow tracking server answers at {url}")
