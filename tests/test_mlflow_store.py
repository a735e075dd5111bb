"""gitml as MLflow's tracking store and artifact repository (gitml/mlflow_plugin), with
real MLflow: its own scripts (quickstart, scikit-learn with a signature and log_model)
run unchanged with MLFLOW_TRACKING_URI=gitml: and under `gitml run`, read back by gitml
and by MlflowClient; `mlflow server` on gitml runs through its REST API; hostile URIs,
filters and values.

MLflow is slow to import: its tests stay in this one module, around module fixtures."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.utils import free_port, git, gitml, isolated, write

QUICKSTART = """\
import mlflow
with mlflow.start_run(run_name="quick start") as run:
    mlflow.log_params({"alpha": 0.5, "solver": "saga"})
    for step in range(5):
        mlflow.log_metric("loss", 1 / (step + 1), step=step)
    mlflow.set_tag("team", "ml")
    with open("notes.txt", "w") as handle:
        handle.write("hello")
    mlflow.log_artifact("notes.txt")
    mlflow.log_dict({"a": 1}, "cfg/config.json")
print(run.info.run_id)
"""

SKLEARN = """\
import mlflow, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True, as_frame=True)
mlflow.set_experiment("iris")
with mlflow.start_run() as run:
    model = LogisticRegression(max_iter=300).fit(X, y)
    mlflow.log_param("max_iter", 300)
    mlflow.log_metric("accuracy", model.score(X, y))
    mlflow.log_input(mlflow.data.from_pandas(X, name="iris"), context="training")
    info = mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(X, model.predict(X)),
        input_example=X.head(3), pip_requirements=["scikit-learn"],
    )
print(json.dumps({"run": run.info.run_id, "model_uri": info.model_uri}))
""".replace("import mlflow, mlflow.sklearn", "import json, mlflow, mlflow.sklearn")

OWN_URI = """\
import mlflow
mlflow.set_tracking_uri("sqlite:///mlflow.db")
with mlflow.start_run():
    mlflow.log_metric("x", 1)
"""


def _python(repo: Path, script: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    write(path / "README.md", "# project\n")
    write(path / ".gitignore", "mlruns/\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    """One repository where MLflow's kind of scripts ran once: quickstart then scikit-learn
    in one script with MLFLOW_TRACKING_URI=gitml:, quickstart under `gitml run`, and a
    script with its own tracking URI under `gitml run`. (repo, facts)"""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("home"))
        repo = _new_repo(tmp_path_factory.mktemp("scripted") / "repo")
        # one process, one import of MLflow: the quickstart, then scikit-learn
        first, *_, last = _python(
            repo, QUICKSTART + SKLEARN, MLFLOW_TRACKING_URI="gitml:"
        ).stdout.splitlines()
        facts = {"quick": first, "sklearn": json.loads(last)}
        write(repo / "quick.py", QUICKSTART)
        write(repo / "own.py", OWN_URI)
        facts["wrapped"] = gitml(repo, "run", "--name", "wrapped", "--", sys.executable, "quick.py")
        facts["own"] = gitml(repo, "run", "--name", "own", "--", sys.executable, "own.py")
        yield repo, facts


def _ls(repo: Path, *args: str) -> list[dict]:
    return json.loads(gitml(repo, "ls", "--json", *args).stdout)


@pytest.mark.slow  # MLflow's scripts, once per module: a minute
def test_a_quickstart_script_logs_a_gitml_run(scripted):
    repo, facts = scripted
    (run,) = _ls(repo, "-e", "Default")
    assert run["id"] == facts["quick"]
    assert run["name"] == "quick-start"  # MLflow's name, as a command line can name it
    assert run["status"] == "finished"
    assert run["params"] == {"alpha": "0.5", "solver": "saga"}
    assert run["metrics"] == {"loss": 0.2}
    assert run["tags"]["team"] == "ml"
    assert git(repo, "rev-parse", f"refs/gitml/runs/{run['id']}").strip() == run["commit"]
    shown = json.loads(gitml(repo, "show", run["id"], "--json").stdout)
    assert sorted(a["path"] for a in shown["artifacts"]) == ["cfg/config.json", "notes.txt"]
    blob = git(repo, "show", f"{run['commit']}:.gitml/artifacts/cfg/config.json")
    assert json.loads(blob) == {"a": 1}
    history = git(repo, "show", f"{run['commit']}:.gitml/metrics/loss.tsv").splitlines()
    assert [line.split("\t")[:2] for line in history][:2] == [["0", "1.0"], ["1", "0.5"]]


@pytest.mark.slow  # MLflow's scripts, once per module: a minute
def test_mlflow_reads_back_what_it_logged(scripted):
    repo, facts = scripted
    client = MlflowClient(f"gitml:{repo}")
    run = client.get_run(facts["quick"])
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == "0"
    assert run.info.run_name == "quick-start"
    assert run.data.params == {"alpha": "0.5", "solver": "saga"}
    assert run.data.metrics == {"loss": 0.2}
    assert run.data.tags["mlflow.runName"] == "quick-start"
    points = client.get_metric_history(facts["quick"], "loss")
    assert [(m.step, m.value) for m in points] == [(s, 1 / (s + 1)) for s in range(5)]
    listed = client.list_artifacts(facts["quick"])
    assert [(f.path, f.is_dir, f.file_size) for f in listed] == [
        ("cfg", True, None),
        ("notes.txt", False, 5),
    ]
    assert [f.path for f in client.list_artifacts(facts["quick"], "cfg")] == ["cfg/config.json"]
    folder = client.download_artifacts(facts["quick"], "cfg", str(repo.parent / "down"))
    assert json.loads(Path(folder, "config.json").read_text()) == {"a": 1}


@pytest.mark.slow  # MLflow's scripts, once per module: a minute
def test_sklearn_log_model_is_stored_in_its_run_and_loads_back(scripted):
    repo, facts = scripted
    run_id = facts["sklearn"]["run"]
    (run,) = _ls(repo, "-e", "iris")
    assert run["id"] == run_id and run["params"] == {"max_iter": "300"}
    assert run["metrics"]["accuracy"] > 0.9  # not logged twice with the model's id
    assert git(repo, "show", f"{run['commit']}:.gitml/metrics/accuracy.tsv").count("\n") == 1
    files = git(repo, "ls-tree", "-r", "--name-only", run["commit"], ".gitml/artifacts/model")
    assert {"MLmodel", "model.skops", "input_example.json"} <= {
        Path(line).name for line in files.splitlines()
    }
    mlflow.set_tracking_uri(f"gitml:{repo}")
    try:
        model_uri = facts["sklearn"]["model_uri"]
        assert model_uri.startswith("models:/m-")
        X = [[5.1, 3.5, 1.4, 0.2]]
        columns = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
        import pandas as pd

        frame = pd.DataFrame(X, columns=columns)
        assert list(mlflow.pyfunc.load_model(model_uri).predict(frame)) == [0]
        assert list(mlflow.sklearn.load_model(f"runs:/{run_id}/model").predict(frame)) == [0]
        model = MlflowClient().get_logged_model(model_uri.removeprefix("models:/"))
        assert (model.source_run_id, model.name, model.status.to_int()) == (run_id, "model", 2)
        iris = mlflow.get_experiment_by_name("iris").experiment_id
        (found,) = mlflow.search_logged_models([iris], output_format="list")
        assert (found.model_id, found.params) == (model.model_id, {"max_iter": "300"})
        inputs = MlflowClient().get_run(run_id).inputs.dataset_inputs
        assert [(i.dataset.name, i.tags[0].value) for i in inputs] == [("iris", "training")]
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.slow  # MLflow's scripts, once per module: a minute
def test_under_gitml_run_mlflow_logs_into_the_recorded_run(scripted):
    repo, facts = scripted
    assert "gitml: warning" not in facts["wrapped"].stderr
    (run,) = [run for run in _ls(repo, "--all") if run["name"] == "wrapped"]
    assert run["status"] == "finished" and run["experiment"] == "main"
    assert run["params"] == {"alpha": "0.5", "solver": "saga"}
    assert run["metrics"] == {"loss": 0.2}
    assert run["command"].endswith("quick.py")
    assert len(_ls(repo, "--all")) == 4  # quick, sklearn, wrapped, own: no run of its own


@pytest.mark.slow  # MLflow's scripts, once per module: a minute
def test_a_script_with_its_own_tracking_uri_keeps_it_and_gitml_says_so_once(scripted):
    repo, facts = scripted
    warnings = [line for line in facts["own"].stderr.splitlines() if "warning" in line]
    assert warnings == [
        "gitml: warning: the command logged with MLflow to mlflow.db, not to this run: it "
        "sets its own tracking URI (mlflow.set_tracking_uri); leave that out to log into gitml"
    ]
    (run,) = [run for run in _ls(repo, "--all") if run["name"] == "own"]
    assert run["metrics"] == {}
    assert (repo / "mlflow.db").is_file()


def test_an_environment_without_gitml_installed_is_lent_the_plugins_entry_points(tmp_path):
    """`gitml run --env-manager venv`: the command's Python sees gitml through a lent
    folder on PYTHONPATH; MLflow finds plugins by entry points, so the folder lends
    those too (read from gitml's installed metadata, as MLflow reads them)."""
    from gitml.envs.activate import gitml_import_folder

    folder = gitml_import_folder()
    assert folder is not None
    seen = subprocess.run(
        [sys.executable, "-S", "-c", SEES_ENTRY_POINTS, str(folder), *GROUPS],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    from importlib.metadata import entry_points

    installed = [
        f"{group}:{point.name}={point.value}"
        for group in GROUPS
        for point in entry_points(group=group)
        if point.name == "gitml"
    ]
    # a folder may be seen twice on the path (an editable install); MLflow keys plugins by name
    assert len(installed) == 3 and set(seen) == set(installed)


GROUPS = ("mlflow.tracking_store", "mlflow.model_registry_store", "mlflow.artifact_repository")


SEES_ENTRY_POINTS = """import sys
folder = sys.argv[1]
sys.path[:] = [folder] + [p for p in sys.path if "site-packages" not in p]
from importlib.metadata import entry_points
for group in sys.argv[2:]:
    for point in entry_points(group=group):
        print(f"{group}:{point.name}={point.value}")
import gitml.mlflow_plugin.entry  # the lent package itself, and nothing installed
assert "mlflow" not in sys.modules
"""


# the store in this process, on a repository of each test's own


@pytest.fixture
def client(tmp_path):
    repo = _new_repo(tmp_path / "repo")
    return MlflowClient(f"gitml://{repo}"), repo


def test_experiments_ids_come_from_names_and_agree_across_clones(client, tmp_path):
    client, repo = client
    assert client.get_experiment("0").name == "Default"
    assert client.get_experiment_by_name("nope") is None
    made = client.create_experiment("churn")
    assert made.isdigit() and client.get_experiment(made).name == "churn"
    assert client.get_experiment_by_name("churn").experiment_id == made
    with pytest.raises(MlflowException, match="already exists"):
        client.create_experiment("churn")
    run = client.create_run(made)
    client.set_terminated(run.info.run_id)
    names = [e.name for e in client.search_experiments(filter_string="name LIKE 'ch%'")]
    assert names == ["churn"]
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gitml/runs/*:refs/gitml/runs/*")
    assert MlflowClient(f"gitml://{clone}").get_experiment_by_name("churn").experiment_id == made
    # ?experiment=NAME files the runs a script starts in MLflow's default experiment
    named = MlflowClient(f"gitml://{repo}?experiment=nightly%20jobs")
    run = named.create_run("0")
    named.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).info.experiment_id == (
        client.get_experiment_by_name("nightly jobs").experiment_id
    )
    assert [r["id"] for r in _ls(repo, "-e", "nightly jobs")] == [run.info.run_id]


def test_runs_log_end_and_are_immutable_once_committed(client):
    client, repo = client
    run_id = client.create_run("0", run_name="first").info.run_id
    assert (repo / ".git" / "gitml" / "runs" / run_id / "meta.json").is_file()
    client.log_batch(
        run_id,
        metrics=[Metric("m", 1.5, 1000, 3)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "x"), RunTag("gone", "y")],
    )
    client.log_param(run_id, "p", "1")  # the same value again is fine, as in MLflow
    with pytest.raises(MlflowException, match="'p' of run .* is '1' already"):
        client.log_param(run_id, "p", "2")
    client.delete_tag(run_id, "gone")
    with pytest.raises(MlflowException, match="No tag with name: 'gone' in run "):
        client.delete_tag(run_id, "gone")
    assert client.get_run(run_id).info.status == "RUNNING"
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
    ended = client.get_run(run_id)
    assert ended.info.status == "FAILED" and ended.info.end_time is not None
    assert ended.data.tags.get("t") == "x" and "gone" not in ended.data.tags
    assert git(repo, "rev-parse", f"refs/gitml/runs/{run_id}").strip()
    with pytest.raises(MlflowException, match="has ended") as error:
        client.log_metric(run_id, "m", 2.0)
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    running = client.create_run("0").info.run_id
    with pytest.raises(MlflowException, match="still running; remove it once it has ended"):
        client.delete_run(running)
    client.delete_run(run_id)  # gitml rm
    assert git(repo, "for-each-ref", "refs/gitml/runs") == ""
    with pytest.raises(MlflowException) as error:
        client.get_run(run_id)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException, match="does not support restoring a run"):
        client.restore_run(run_id)
    with pytest.raises(MlflowException) as error:
        client.get_run("0123456789abcdefghjkmnpqrs")
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_runs_reads_mlflow_filters_and_order_by(client):
    client, _ = client
    ids = []
    for lr, model in [(0.1, "rf"), (0.2, "lr"), (0.3, "rf")]:
        run_id = client.create_run("0").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("acc", lr * 3, 0, 0)],
            params=[Param("lr", str(lr))],
            tags=[RunTag("model", model)],
        )
        client.set_terminated(run_id)
        ids.append(run_id)
    found = client.search_runs(["0"], "tags.model = 'rf' and metrics.acc > 0.5")
    assert [r.info.run_id for r in found] == [ids[2]]
    ordered = client.search_runs(["0"], "attributes.status = 'FINISHED'", order_by=["metrics.acc"])
    assert [r.info.run_id for r in ordered] == ids
    name = client.get_run(ids[1]).info.run_name
    (by_name,) = client.search_runs(["0"], f"tags.mlflow.runName = '{name}'")
    assert by_name.info.run_id == ids[1]
    page = client.search_runs(["0"], max_results=2)
    assert [r.info.run_id for r in page] == ids[:0:-1] and page.token
    assert [r.info.run_id for r in client.search_runs(["0"], page_token=page.token)] == ids[:1]
    assert client.search_runs(["123"]) == []
    unknown_key = client.search_runs(["0"], order_by=["metrics.nowhere DESC"])
    assert [r.info.run_id for r in unknown_key] == ids[::-1]  # sorts nothing, as in MLflow
    by_id = client.search_runs(["0"], "attributes.experiment_id = '0' and params.lr > 0.15")
    assert [r.info.run_id for r in by_id] == ids[:0:-1]
    for bad in ["metrics.acc >", "datasets.name = 'x'", "params.lr = 'a' and (", "x" * 100_000]:
        with pytest.raises(MlflowException, match="gitml: ") as error:
            client.search_runs(["0"], bad)
        assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_artifacts_go_to_the_run_with_gitmls_rules(client, tmp_path):
    client, repo = client
    git(repo, "config", "gitml.artifactSizeLimit", "1k")  # read when a run starts
    run_id = client.create_run("0").info.run_id
    folder = write(tmp_path / "out" / "a.txt", "a").parent
    write(folder / "sub" / "b.txt", "bb")
    write(folder / ".env", "SECRET=1")
    with pytest.warns(UserWarning, match=r"\.env looks like a secret"):
        client.log_artifacts(run_id, str(folder), "plots")
    client.log_artifact(run_id, str(folder / "a.txt"))
    big = write(tmp_path / "big.bin", "x" * 5000)
    with pytest.raises(MlflowException, match="over the limit of 1.0 KiB") as error:
        client.log_artifact(run_id, str(big))
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="in a .git folder"):
        client.log_artifact(run_id, str(repo / ".git" / "HEAD"))
    client.set_terminated(run_id)
    names = git(
        repo, "ls-tree", "-r", "--name-only", f"refs/gitml/runs/{run_id}", ".gitml/artifacts"
    )
    assert names.split() == [
        ".gitml/artifacts/a.txt",
        ".gitml/artifacts/plots/a.txt",
        ".gitml/artifacts/plots/sub/b.txt",
    ]
    assert [f.path for f in client.list_artifacts(run_id, "plots")] == ["plots/a.txt", "plots/sub"]
    local = client.download_artifacts(run_id, "plots/sub/b.txt", str(tmp_path))
    assert Path(local).read_text() == "bb"
    with pytest.raises(MlflowException, match="has ended"):
        client.log_artifact(run_id, str(folder / "a.txt"))


def test_hostile_uris_and_values_are_refused_in_one_message(client, tmp_path):
    client, repo = client
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    for uri, says in [
        ("gitml://host/srv", "names the host"),
        ("gitml:repo%00x", "NUL"),
        ("gitml:repo?branch=x", "unknown option"),
        (f"gitml:{tmp_path / 'nowhere'}", "not a git repository|no such|not"),
    ]:
        with pytest.raises(MlflowException, match=says):
            MlflowClient(uri).search_experiments()
    run_id = client.create_run("0").info.run_id
    root = f"gitml://{repo}/.gitml/runs/{run_id}/artifacts"
    for uri in [f"{root}/../../../../etc", f"{root}/.git/config", f"{root}/a//b"]:
        with pytest.raises(MlflowException, match="artifact path"):
            get_artifact_repository(uri)
    artifacts = get_artifact_repository(root)
    with pytest.raises(MlflowException, match="must be relative and stay inside the run"):
        artifacts.log_artifact(str(write(tmp_path / "x.txt", "x")), "../../escape")
    assert not (repo / ".git" / "gitml" / "escape").exists()
    with pytest.raises(MlflowException, match="longer than 6,000 characters"):
        client.log_param(run_id, "big", "v" * 10_000_000)
    with pytest.raises(MlflowException, match="longer than 8,000 characters"):
        client.set_tag(run_id, "big", "v" * 10_000_000)
    with pytest.raises(MlflowException, match="longer than 250 characters"):
        client.log_metric(run_id, "k" * 300, 1.0)
    # a datasets tag nested too deep for Python's JSON decoder (a fetched run's tags)
    client.set_tag(run_id, "gitml.datasets", "[" * 7_000)
    client.set_terminated(run_id)
    run = client.get_run(run_id)
    assert "big" not in run.data.params and "big" not in run.data.tags
    assert run.inputs.dataset_inputs == []


# mlflow server


@pytest.fixture(scope="module")
def server(scripted, tmp_path_factory):
    """`mlflow server --backend-store-uri gitml:REPO` on 127.0.0.1, started once for the
    module (the scripted repository); its REST API's base URL."""
    repo, _ = scripted
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"gitml:{repo}"]
        + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=tmp_path_factory.mktemp("server"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/api/2.0/mlflow"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_mlflow_server_serves_gitml_runs_over_rest(scripted, server):
    repo, facts = scripted
    found = _post(f"{server}/experiments/search", {"max_results": 10})
    assert {e["name"]: e["experiment_id"] for e in found["experiments"]}["Default"] == "0"
    runs = _post(f"{server}/runs/search", {"experiment_ids": ["0"], "filter": "metrics.loss < 1"})
    (run,) = runs["runs"]
    assert run["info"]["run_id"] == facts["quick"]
    assert {p["key"]: p["value"] for p in run["data"]["params"]}["solver"] == "saga"
    with pytest.raises(urllib.error.HTTPError) as error:
        _post(f"{server}/runs/search", {"experiment_ids": ["0"], "filter": "metrics.loss <"})
    assert error.value.code == 400
    assert json.loads(error.value.read())["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.slow
def test_mlflow_server_serves_the_registry_as_gitml_tags(scripted, server):
    """MLflow's registry REST API on gitml's registry: what it writes, `gitml model ls`
    and plain git see; what gitml writes, it serves."""
    repo, facts = scripted
    run_id, model_uri = facts["sklearn"]["run"], facts["sklearn"]["model_uri"]
    created = _post(f"{server}/registered-models/create", {"name": "Iris Model"})
    assert created["registered_model"]["name"] == "iris-model"
    version = _post(
        f"{server}/model-versions/create",
        {
            "name": "Iris Model",
            "source": model_uri,
            "run_id": run_id,
            "model_id": model_uri.removeprefix("models:/"),  # the server checks source by it
        },
    )["model_version"]
    assert (version["version"], version["run_id"], version["status"]) == ("1", run_id, "READY")
    _post(
        f"{server}/model-versions/transition-stage",
        {"name": "iris-model", "version": "1", "stage": "Production"},
    )
    (listed,) = _get(f"{server}/registered-models/search", filter="name LIKE 'iris%'")[
        "registered_models"
    ]
    assert [(v["version"], v["current_stage"]) for v in listed["latest_versions"]] == [
        ("1", "Production")
    ]
    uri = _get(f"{server}/model-versions/get-download-uri", name="iris-model", version="1")
    assert uri["artifact_uri"].endswith(f"/.gitml/runs/{run_id}/artifacts/model")
    (model,) = json.loads(gitml(repo, "model", "ls", "--json").stdout)
    assert (model["model"], model["stages"]) == ("iris-model", {"production": ["v0.0.1"]})
    assert "iris-model#production#2" in git(repo, "tag", "-l").split()
    gitml(repo, "model", "promote", "iris-model", "v0.0.1", "staging")
    version = _get(f"{server}/model-versions/get", name="iris-model", version="1")
    assert version["model_version"]["current_stage"] == "Production"  # first of the three
    with pytest.raises(urllib.error.HTTPError) as error:
        _get(f"{server}/registered-models/get", name="nothing-here")
    assert error.value.code == 404
    assert json.loads(error.value.read())["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def _get(url: str, **query: str) -> dict:
    with urllib.request.urlopen(f"{url}?{urllib.parse.urlencode(query)}", timeout=30) as answer:
        return json.loads(answer.read())


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())
