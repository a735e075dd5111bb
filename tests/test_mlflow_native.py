"""`import gitml as mlflow` speaks MLflow's shapes with no mlflow involved: runs with
`.info` and `.data`, experiments with MLflow's ids, `MlflowClient`, the tracking URI,
tables, images and datasets."""

import io
import json
import sys
from pathlib import Path

import pytest

import gitml as mlflow
from gitml import api, client
from gitml.errors import (
    ArtifactError,
    InvalidValueError,
    RunNotFoundError,
    RunStateError,
)
from gitml.tracking.record import experiment_id
from tests.conftest import init_repo
from tests.utils import git
from tests.utils import gitml as gitml_cli


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """Each test starts as a new script would: no run, experiment or tracking URI set."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(api, "_experiment", None)
    monkeypatch.setattr(api, "_last_run", None)
    monkeypatch.setattr(api, "_repositories", {})
    monkeypatch.setattr(client, "_tracking_uri", None)
    monkeypatch.setattr(client, "_set_experiments", {})
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run("killed")


@pytest.fixture
def here(repo_with_commit, monkeypatch):
    monkeypatch.chdir(repo_with_commit)
    return repo_with_commit


def test_runs_read_back_with_mlflows_info_and_data_and_as_gitmls_record(here):
    experiment = mlflow.set_experiment("wine")
    assert (experiment.name, experiment.experiment_id) == ("wine", experiment_id("wine"))
    assert mlflow.get_experiment_by_name("wine").experiment_id == experiment.experiment_id
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_params({"alpha": 0.5, "l1": 0.1})
        mlflow.log_metric("rmse", 0.8)
        mlflow.log_metric("rmse", 0.7, step=1)
        mlflow.set_tag("team", "ml")
        uri = mlflow.get_artifact_uri("model")
    assert uri == f"gitml://{here}/.gitml/runs/{run.info.run_id}/artifacts/model"
    last = mlflow.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "FINISHED"
    assert last.info.experiment_id == experiment.experiment_id
    assert last.info.artifact_uri == uri.rsplit("/", 1)[0]
    assert last.info.end_time >= last.info.start_time
    assert last.data.params == {"alpha": "0.5", "l1": "0.1"}
    assert last.data.metrics == {"rmse": 0.7}
    assert last.data.tags == {"team": "ml", "mlflow.runName": "first"}
    assert last["metrics"]["rmse"]["last"] == 0.7  # gitml's record, as before
    assert last.status == "finished" and dict(last)["name"] == "first"
    assert mlflow.get_run(run.info.run_id).data.metrics == {"rmse": 0.7}
    found = [e.name for e in mlflow.search_experiments(filter_string="name LIKE 'w%'")]
    assert found == ["wine"]
    assert mlflow.get_experiment(experiment.experiment_id).name == "wine"


def test_experiment_ids_are_the_ones_mlflow_sees_through_the_gitml_backend(here):
    from mlflow import MlflowClient as RealClient

    mlflow.set_experiment("iris")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.9)
    real = RealClient(tracking_uri=f"gitml:{here}")
    seen = real.get_run(run.info.run_id)
    ours = mlflow.get_run(run.info.run_id)
    assert seen.info.experiment_id == ours.info.experiment_id == experiment_id("iris")
    assert seen.info.artifact_uri == ours.info.artifact_uri
    assert real.get_experiment_by_name("iris").experiment_id == ours.info.experiment_id
    with mlflow.start_run(experiment_id=ours.info.experiment_id) as again:  # by id too
        pass
    assert mlflow.get_run(again.info.run_id)["experiment"] == "iris"
    with pytest.raises(InvalidValueError, match="no experiment has the id '12345'"):
        mlflow.set_experiment(experiment_id="12345")


def test_a_param_keeps_its_first_value_as_in_mlflow(here):
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        assert mlflow.log_param("lr", "0.1") == "0.1"  # the same value again is fine
        with pytest.raises(InvalidValueError, match="'lr' of run .* is '0.1' already"):
            mlflow.log_param("lr", 0.2)
        with pytest.raises(InvalidValueError, match="cannot become '3'"):
            mlflow.log_params({"epochs": 5, "lr": 3})
    assert mlflow.get_run(run.info.run_id).data.params == {"lr": "0.1"}  # nothing of the batch


def test_search_runs_is_mlflows_dataframe_or_a_list_without_pandas(here, monkeypatch):
    for name, acc in (("a", 0.5), ("b", 0.9)):
        with mlflow.start_run(run_name=name):
            mlflow.log_param("lr", acc / 10)
            mlflow.log_metric("acc", acc)
    frame = mlflow.search_runs(order_by=["metrics.acc DESC"])
    assert list(frame["tags.mlflow.runName"]) == ["b", "a"]
    assert list(frame["params.lr"]) == ["0.09", "0.05"]
    assert list(frame["status"]) == ["FINISHED", "FINISHED"]
    assert set(frame["experiment_id"]) == {experiment_id("main")}
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    listed = mlflow.search_runs(filter_string="metrics.acc > 0.6")
    assert [run["name"] for run in listed] == ["b"]


def test_the_tracking_uri_is_a_gitml_uri_and_chooses_the_repository(here, tmp_path):
    other = init_repo(tmp_path / "other")
    assert mlflow.get_tracking_uri() == "gitml:"
    mlflow.set_tracking_uri(f"gitml:{other}?experiment=elsewhere")
    assert mlflow.get_tracking_uri() == f"gitml:{other}?experiment=elsewhere"
    with mlflow.start_run(run_name="away"):
        mlflow.log_metric("m", 1)
    shown = json.loads(gitml_cli(other, "show", "away", "--json").stdout)
    assert shown["experiment"] == "elsewhere"
    assert git(here, "for-each-ref", "refs/gitml/runs") == ""  # nothing in the first one
    for bad, why in (
        ("sqlite:///mlflow.db", "its tracking URI is gitml:"),
        ("http://127.0.0.1:5000", "its tracking URI is gitml:"),
        ("./mlruns", "its tracking URI is gitml:"),
        ("gitml://host/repo", "names the host 'host'"),
        (f"gitml://{other}/.gitml/runs/{'0' * 26}/artifacts", "names a run's artifacts"),
    ):
        with pytest.raises(InvalidValueError, match=why):
            mlflow.set_tracking_uri(bad)
    assert mlflow.get_tracking_uri() == f"gitml:{other}?experiment=elsewhere"  # unchanged


def test_mlflow_tracking_uri_of_gitml_run_is_read_and_another_scheme_ignored(here, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "gitml:sub")
    assert mlflow.get_tracking_uri() == "gitml:sub"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    assert mlflow.get_tracking_uri() == "gitml:"


def test_the_client_logs_reads_and_deletes_runs(here, tmp_path):
    assert mlflow.tracking.MlflowClient is mlflow.MlflowClient is mlflow.client.MlflowClient
    c = mlflow.tracking.MlflowClient()
    exp_id = c.create_experiment("batch")
    assert c.get_experiment(exp_id).name == "batch"
    with pytest.raises(InvalidValueError, match="already exists"):
        c.create_experiment("batch")
    run = c.create_run(exp_id, run_name="by-client", tags={"k": "v"})
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    entities = mlflow.entities
    c.log_batch(
        run_id,
        metrics=[entities.Metric("loss", 0.5, 1000, 0), entities.Metric("loss", 0.25, 2000, 1)],
        params=[entities.Param("p", "1")],
        tags=[entities.RunTag("t", "x")],
    )
    c.log_metric(run_id, "acc", 0.75)
    c.log_param(run_id, "p", "1")
    with pytest.raises(InvalidValueError, match="cannot become '2'"):
        c.log_param(run_id, "p", 2)
    (here / "notes.txt").write_text("hello")
    c.log_artifact(run_id, str(here / "notes.txt"), "docs")
    c.log_dict(run_id, {"a": 1}, "d/conf.json")
    c.set_terminated(run_id)
    with pytest.raises(RunStateError, match="has ended"):
        c.log_metric(run_id, "late", 1)
    done = c.get_run(run_id)
    assert (done.info.status, done.data.params, done.data.tags["t"]) == (
        "FINISHED",
        {"p": "1"},
        "x",
    )
    history = c.get_metric_history(run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [(0, 0.5, 1000), (1, 0.25, 2000)]
    assert [(f.path, f.is_dir) for f in c.list_artifacts(run_id)] == [("d", True), ("docs", True)]
    assert [f.path for f in c.list_artifacts(run_id, "docs")] == ["docs/notes.txt"]
    written = c.download_artifacts(run_id, "docs/notes.txt", str(tmp_path / "out"))
    assert written == str(tmp_path / "out" / "docs" / "notes.txt")
    assert Path(written).read_text() == "hello"
    everything = c.download_artifacts(run_id, "", str(tmp_path / "all"))
    assert json.loads((tmp_path / "all" / "d" / "conf.json").read_text()) == {"a": 1}
    assert everything == str(tmp_path / "all")
    found = c.search_runs([exp_id], "metrics.acc > 0.5", order_by=["start_time DESC"])
    assert [r.info.run_id for r in found] == [run_id] and found.token is None
    assert c.search_runs(["424242"]) == []
    c.delete_run(run_id)
    with pytest.raises(RunNotFoundError):
        c.get_run(run_id)


def test_the_client_refuses_what_gitml_cannot_do(here):
    c = mlflow.MlflowClient()
    run = c.create_run("0")
    assert mlflow.get_run(run.info.run_id)["experiment"] == "Default"  # MLflow's "0"
    with pytest.raises(RunStateError):
        c.delete_run(run.info.run_id)  # in progress
    with pytest.raises(InvalidValueError, match="is not `name = 'x'`"):
        c.search_experiments(filter_string="tags.x = 'y'")
    with pytest.raises(InvalidValueError, match="its tracking URI is gitml:"):
        mlflow.MlflowClient(tracking_uri="databricks")
    with pytest.raises(ArtifactError, match="artifact path .../x. must be relative"):
        c.log_dict(run.info.run_id, {}, "../x")
    c.set_terminated(run.info.run_id, "KILLED")
    assert c.get_run(run.info.run_id).info.status == "KILLED"


def test_log_table_adds_rows_as_mlflow_does(here):
    import pandas as pd

    with mlflow.start_run() as run:
        mlflow.log_table({"q": ["a", "b"], "score": [1, 2]}, "eval/table.json")
        mlflow.log_table(pd.DataFrame({"q": ["c"], "extra": [0.5]}), "eval/table.json")
        with pytest.raises(InvalidValueError, match="name the file \\*.json"):
            mlflow.log_table({"q": [1]}, "t.csv")
        with pytest.raises(InvalidValueError, match="every column of the dict"):
            mlflow.log_table({"q": [1], "r": [1, 2]}, "t.json")
        with pytest.raises(ArtifactError):
            mlflow.log_table({"q": [1]}, "../t.json")
        mlflow.log_text("[" * 100_000, "deep.json")  # nested past any parser's stack
        with pytest.raises(InvalidValueError, match="deep.json is there already and is no table"):
            mlflow.log_table({"q": [1]}, "deep.json")
        mlflow.set_tag("gitml.datasets", "[" * 7_000)
        mlflow.log_input({"name": "after"})  # the damaged tag is started anew
    ref = f"refs/gitml/runs/{run.info.run_id}"
    table = json.loads(git(here, "show", f"{ref}:.gitml/artifacts/eval/table.json"))
    assert table == {
        "columns": ["q", "score", "extra"],
        "data": [["a", 1, None], ["b", 2, None], ["c", None, 0.5]],
    }
    logged = json.loads(mlflow.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"])
    assert logged == [{"path": "eval/table.json", "type": "table"}]
    datasets = json.loads(mlflow.get_run(run.info.run_id)["tags"]["gitml.datasets"])
    assert datasets == [{"name": "after", "tags": {}}]


def test_log_image_writes_pngs_of_arrays_without_pillow(here, monkeypatch):
    import numpy as np
    import PIL.PngImagePlugin  # noqa: F401 (loaded before Pillow is hidden below)
    from PIL import Image

    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 1] = (255, 0, 10)
    with mlflow.start_run() as run, monkeypatch.context() as hidden:
        hidden.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
        mlflow.log_image(rgb, "img/rgb.png")
        mlflow.log_image(np.full((2, 2), 0.5), key="val/gray", step=3)
        for bad, why in (
            (np.zeros((2, 2, 2)), "C 1, 3 or 4"),
            (np.full((2, 2), 2.0), "floats has values in \\[0, 1\\]"),
            (np.full((2, 2), 300), "integers has values in \\[0, 255\\]"),
        ):
            with pytest.raises(InvalidValueError, match=why):
                mlflow.log_image(bad, "bad.png")
        with pytest.raises(InvalidValueError, match="Pillow"):
            mlflow.log_image(rgb, "x.jpg")
    ref = f"refs/gitml/runs/{run.info.run_id}"
    blob = git_bytes(here, f"{ref}:.gitml/artifacts/img/rgb.png")
    pixels = np.asarray(Image.open(io.BytesIO(blob)))
    assert pixels.shape == (2, 3, 3) and tuple(pixels[0, 1]) == (255, 0, 10)
    (keyed,) = mlflow.MlflowClient().list_artifacts(run.info.run_id, "images")
    assert keyed.path.startswith("images/val#gray%step%3%timestamp%")
    blob = git_bytes(here, f"{ref}:.gitml/artifacts/{keyed.path}")
    assert np.asarray(Image.open(io.BytesIO(blob))).tolist() == [[128, 128], [128, 128]]


def test_log_input_records_datasets_in_the_backends_tag(here):
    import pandas as pd

    with mlflow.start_run() as run:
        mlflow.log_input(pd.DataFrame({"x": [1, 2]}), context="training")
        mlflow.log_input({"name": "wine", "digest": "abc", "source": "s3://b/wine.csv"})
        with pytest.raises(InvalidValueError, match="log_input takes"):
            mlflow.log_input(42)
    kept = json.loads(mlflow.get_run(run.info.run_id)["tags"]["gitml.datasets"])
    assert kept[0]["name"] == "dataset" and len(kept[0]["digest"]) == 8
    assert kept[0]["tags"] == {"mlflow.data.context": "training"}
    assert kept[1] == {"name": "wine", "digest": "abc", "source": "s3://b/wine.csv", "tags": {}}
    assert "gitml.datasets" not in mlflow.get_run(run.info.run_id).data.tags


def test_delete_run_is_gitml_rm(here):
    with mlflow.start_run() as run, pytest.raises(RunStateError, match="still running"):
        mlflow.delete_run(run.info.run_id)
    mlflow.delete_run(run.info.run_id)
    assert git(here, "for-each-ref", "refs/gitml/runs") == ""


def git_bytes(repo, spec: str) -> bytes:
    import subprocess

    return subprocess.run(
        ["git", "cat-file", "blob", spec], cwd=repo, capture_output=True, check=True
    ).stdout


def test_the_client_registers_versions_stages_and_aliases_as_registry_tags(here):
    from gitml.errors import ModelExistsError, ModelNotFoundError, RegistryError

    c = mlflow.MlflowClient()
    runs = []
    for _ in range(2):
        with mlflow.start_run() as run:
            mlflow.log_text("flavors: {}\n", "model/MLmodel")
        runs.append(run.info.run_id)
    assert c.create_registered_model("Wine Model").name == "wine-model"
    with pytest.raises(ModelExistsError):
        c.create_registered_model("wine model")
    assert c.get_registered_model("Wine Model").latest_versions == []
    first = c.create_model_version("Wine Model", f"runs:/{runs[0]}/model", run_id=runs[0])
    second = c.create_model_version(
        "Wine Model", f"gitml://{here}/.gitml/runs/{runs[1]}/artifacts/model"
    )
    assert (first.version, second.version, first.current_stage) == ("1", "2", "None")
    assert c.get_model_version_download_uri("wine-model", 2) == second.source
    c.transition_model_version_stage("Wine Model", 1, "Production")
    c.transition_model_version_stage("Wine Model", "2", "staging")
    latest = {v.current_stage: v.version for v in c.get_latest_versions("Wine Model")}
    assert latest == {"Production": "1", "Staging": "2"}
    assert [v.version for v in c.get_latest_versions("Wine Model", ["production"])] == ["1"]
    c.transition_model_version_stage("Wine Model", 2, "Production", archive_existing_versions=True)
    assert c.get_model_version("Wine Model", 1).current_stage == "Archived"
    c.set_registered_model_alias("Wine Model", "Dev", 1)
    assert c.get_model_version_by_alias("Wine Model", "dev").version == "1"
    assert c.get_registered_model("Wine Model").aliases == {"dev": "1"}
    assert [m.name for m in c.search_registered_models("name LIKE 'wine%'")] == ["wine-model"]
    # gitml's own registry and MLflow's numbers agree
    shown = json.loads(gitml_cli(here, "model", "ls", "--json").stdout)
    assert shown[0]["stages"] == {
        "production": ["v0.0.2"],
        "archived": ["v0.0.1"],
        "dev": ["v0.0.1"],
    }
    c.delete_registered_model_alias("Wine Model", "dev")
    with pytest.raises(ModelNotFoundError, match="no version with alias 'dev'"):
        c.get_model_version_by_alias("Wine Model", "dev")
    with pytest.raises(ModelNotFoundError, match=r"has no version 3 \(versions: 1, 2\)"):
        c.get_model_version("Wine Model", 3)
    with pytest.raises(RegistryError, match="no MLflow stage"):
        c.transition_model_version_stage("Wine Model", 1, "Prod")
    for source in [
        "s3://bucket/model",
        f"runs:/{runs[0]}",
        "gitml:///elsewhere/.gitml/runs/x/artifacts/m",
    ]:
        with pytest.raises((RegistryError, InvalidValueError)):
            c.create_model_version("Wine Model", source)
    with pytest.raises(RegistryError, match="does not keep tags"):
        c.create_model_version("Wine Model", f"runs:/{runs[0]}/model", tags={"k": "v"})
    assert len(c.search_model_versions("name = 'wine-model'")) == 2


def test_experiment_tags_delete_restore_and_rename_write_the_experiments_record(here):
    from gitml.errors import ExperimentExistsError, ExperimentNotFoundError

    c = mlflow.MlflowClient()
    mlflow.set_experiment("churn")
    mlflow.set_experiment_tags({"owner": "ana", "team": "ml"})
    with mlflow.start_run() as run:
        pass
    churn = experiment_id("churn")
    assert c.get_experiment(churn).tags == {"owner": "ana", "team": "ml"}
    c.delete_experiment_tag(churn, "owner")
    with pytest.raises(ExperimentNotFoundError, match="No tag with name: 'owner'"):
        c.delete_experiment_tag(churn, "owner")
    c.rename_experiment(churn, "churn v2")
    with pytest.raises(ExperimentExistsError, match="already exists"):
        c.create_experiment("churn")  # the name it had stays its own
    assert c.get_run(run.info.run_id).info.experiment_id == churn
    mlflow.delete_experiment(churn)
    assert [e.name for e in c.search_experiments(view_type=2)] == ["churn v2"]
    assert "churn v2" not in [e.name for e in mlflow.search_experiments()]
    with pytest.raises(RunStateError, match="is deleted"):
        c.set_experiment_tag(churn, "k", "v")
    c.restore_experiment(churn)
    assert c.get_experiment(churn).lifecycle_stage == "active"
    assert git(here, "for-each-ref", "--format=%(refname)", "refs/gitml/experiments").split() == [
        f"refs/gitml/experiments/{churn}"
    ]
    with pytest.raises(InvalidValueError, match="cannot be deleted"):
        c.delete_experiment("0")
