"""Scripts written for MLflow: `import gitml as mlflow` and MLflow's common calls work."""

import json
import subprocess
import sys

import pytest

import gitml
from gitml.errors import RunStateError
from gitml.tracking.record import experiment_id
from tests.utils import assert_fsck_clean, write
from tests.utils import gitml as gitml_cli


@pytest.fixture(autouse=True)
def no_active_run_left():
    yield
    while gitml.active_run() is not None:
        gitml.end_run("killed")


@pytest.fixture(autouse=True)
def default_experiment():
    yield
    import gitml.api

    gitml.api._experiment = None


def show(repo, run: str) -> dict:
    return json.loads(gitml_cli(repo, "show", run, "--json").stdout)


def test_run_info_set_experiment_and_names_mlflow_allows(repo_with_commit, capsys):
    gitml.set_experiment("sweep")
    with gitml.start_run(run_name="fold 1/a", repo=repo_with_commit) as run:
        info = run.info
        assert (info.run_id, info.run_name) == (run.id, "fold-1-a")
        assert info.experiment_id == experiment_id("sweep")  # MLflow's id, derived from the name
        assert info.status == "RUNNING"
        assert info.artifact_uri == f"gitml://{repo_with_commit}/.gitml/runs/{run.id}/artifacts"
    with gitml.start_run(run_name="fold 1/a", repo=repo_with_commit) as again:
        assert again.name == "fold-1-a-2"  # a script run twice makes two runs
    err = capsys.readouterr().err
    assert "run name 'fold 1/a' is stored as 'fold-1-a'" in err
    assert "run name 'fold 1/a' is stored as 'fold-1-a-2'" in err
    assert show(repo_with_commit, "fold-1-a")["experiment"] == "sweep"


def test_nested_runs_are_children_committed_on_their_own(repo_with_commit):
    with gitml.start_run(run_name="parent", repo=repo_with_commit) as parent:
        gitml.log_param("grid", "small")
        for c in (1, 2):
            with gitml.start_run(run_name=f"child{c}", nested=True, repo=repo_with_commit):
                gitml.log_metric("acc", c / 10)
        gitml.log_metric("best", 0.2)
        with pytest.raises(RunStateError, match="nested=True"):
            gitml.start_run(repo=repo_with_commit)
    for c in (1, 2):
        child = show(repo_with_commit, f"child{c}")
        assert child["tags"] == {"mlflow.parentRunId": parent.id}
        assert child["metrics"]["acc"]["last"] == c / 10
        assert child["status"] == "finished"
    record = show(repo_with_commit, "parent")
    assert record["params"] == {"grid": "small"}
    assert list(record["metrics"]) == ["best"]
    assert_fsck_clean(repo_with_commit)


def test_run_id_attaches_to_a_run_in_progress_never_to_an_ended_one(repo_with_commit):
    run = gitml.start_run(run_name="first", repo=repo_with_commit)
    assert gitml.start_run(run_id=run.id) is run
    gitml.end_run()
    with pytest.raises(RunStateError, match=f"cannot resume run {run.id}"):
        gitml.start_run(run.id, repo=repo_with_commit)  # MLflow's first argument: a run id


def test_search_runs_as_mlflows_dataframe(repo_with_commit):
    for name, experiment, acc in (("a", "x", 0.5), ("b", "y", 0.9), ("c", "z", 0.7)):
        with gitml.start_run(run_name=name, experiment=experiment, repo=repo_with_commit):
            gitml.log_param("lr", acc / 10)
            gitml.log_metric("acc", acc)
    frame = gitml.search_runs(
        experiment_names=["x", "y"],
        order_by=["-metrics.acc"],
        output_format="pandas",
        repo=repo_with_commit,
    )
    assert list(frame["tags.mlflow.runName"]) == ["b", "a"]
    assert list(frame["metrics.acc"]) == [0.9, 0.5]
    assert list(frame["params.lr"]) == ["0.09", "0.05"]
    assert list(frame["status"]) == ["FINISHED", "FINISHED"]
    assert list(frame.columns[:5]) == [
        "run_id",
        "experiment_id",
        "status",
        "start_time",
        "end_time",
    ]
    assert str(frame["start_time"].dt.tz) == "UTC"


def test_log_figure_stores_the_image_and_infer_signature_takes_outputs(repo_with_commit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    with gitml.start_run(run_name="fig", repo=repo_with_commit) as run:
        gitml.log_figure(figure, "plots/curve.png")
    stored = subprocess.run(
        ["git", "cat-file", "blob", f"refs/gitml/runs/{run.id}:.gitml/artifacts/plots/curve.png"],
        cwd=repo_with_commit,
        capture_output=True,
        check=True,
    )
    assert stored.stdout.startswith(b"\x89PNG\r\n")
    signature = gitml.infer_signature(pd.DataFrame({"a": [1.0]}), pd.Series([0], name="y"))
    assert signature == {
        "inputs": [{"name": "a", "type": "double"}],
        "outputs": [{"name": "y", "type": "long"}],
    }


STEPS_UNDER_GITML_RUN = """
import gitml as mlflow
mlflow.start_run(); mlflow.log_metric("loss", 1.0); mlflow.log_metric("loss", 0.5); mlflow.end_run()
mlflow.start_run(); mlflow.log_metric("loss", 0.25); mlflow.end_run()
"""


def test_steps_go_on_when_a_script_restarts_its_run_under_gitml_run(repo_with_commit):
    write(repo_with_commit / "steps.py", STEPS_UNDER_GITML_RUN)
    gitml_cli(repo_with_commit, "run", "--name", "steps", "--", sys.executable, "steps.py")
    out = gitml_cli(repo_with_commit, "metrics", "steps", "loss", "--json").stdout
    points = json.loads(out)["loss"]
    assert [(point["step"], point["value"]) for point in points] == [(0, 1.0), (1, 0.5), (2, 0.25)]


def test_a_script_written_for_mlflow_runs_with_gitml_as_mlflow(repo_with_commit):
    write(
        repo_with_commit / "train.py",
        "import gitml as mlflow\n"
        "mlflow.set_experiment('demo')\n"
        "with mlflow.start_run(run_name='baseline') as run:\n"
        "    mlflow.log_params({'lr': 0.1, 'epochs': 2})\n"
        "    for epoch in range(2):\n"
        "        mlflow.log_metric('loss', 1 / (epoch + 1), step=epoch)\n"
        "    mlflow.set_tag('model', 'linear')\n"
        "    print(run.info.run_id)\n",
    )
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=repo_with_commit, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    record = show(repo_with_commit, "baseline")
    assert record["id"] == done.stdout.strip()
    assert (record["experiment"], record["status"]) == ("demo", "finished")
    assert record["params"] == {"lr": "0.1", "epochs": "2"}


def test_log_model_takes_mlflow_2s_argument_names(repo_with_commit):
    with gitml.start_run(run_name="m", repo=repo_with_commit) as run:
        info = gitml.log_model(lambda frame: frame, artifact_path="clf", pip_requirements=["x==1"])
    assert info.model_uri == f"runs:/{run.id}/clf"
    loaded = gitml.load_model(info.model_uri, repo=repo_with_commit)
    assert loaded.predict([[1.0]]).tolist() == [[1.0]]


def test_attaching_by_id_says_why_it_cannot(repo_with_commit):
    from gitml.errors import RunNotFoundError

    outer = gitml.start_run(run_name="outer", repo=repo_with_commit)
    gitml.start_run(run_name="inner", nested=True, repo=repo_with_commit)
    with pytest.raises(RunStateError, match="a nested run is inside it"):
        gitml.start_run(run_id=outer.id, repo=repo_with_commit)
    with pytest.raises(RunNotFoundError):
        gitml.start_run(run_id="01zzzzzzzzzzzzzzzzzzzzzzzz", repo=repo_with_commit)
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import gitml, time; gitml.start_run(name='elsewhere'); "
            "print(gitml.active_run().id, flush=True); time.sleep(30)",
        ],
        cwd=repo_with_commit,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        elsewhere = other.stdout.readline().strip()
        with pytest.raises(RunStateError, match="in progress in another process"):
            gitml.start_run(run_id=elsewhere, repo=repo_with_commit)
    finally:
        other.kill()
        other.wait()


def test_leaving_a_parents_with_block_ends_the_children_left_open(repo_with_commit):
    with pytest.raises(ValueError), gitml.start_run(run_name="parent", repo=repo_with_commit):
        gitml.start_run(run_name="child", nested=True, repo=repo_with_commit)
        gitml.log_metric("x", 3)
        raise ValueError("diverged")
    assert gitml.active_run() is None
    assert show(repo_with_commit, "child")["status"] == "failed"
    assert show(repo_with_commit, "parent")["status"] == "failed"
