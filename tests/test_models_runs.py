"""Models logged in runs: runs:/ and models:/ URIs, the registry, and `gitml predict`."""

import json

import pandas as pd
import pytest
import yaml

import gitml
from gitml.errors import ModelError, RunNotFoundError
from tests.models_helpers import COLUMNS, train_sklearn
from tests.utils import assert_fsck_clean, git
from tests.utils import gitml as gitml_cli


@pytest.fixture
def logged(repo_with_commit):
    """A finished run `trained` holding an sklearn model at `clf`; returns (repo, model, X)."""
    model, X = train_sklearn()
    with gitml.start_run(name="trained", repo=repo_with_commit) as run:
        info = gitml.log_model(model, "clf", input_example=X.iloc[:2])
        assert info.model_uri == f"runs:/{run.id}/clf"
        assert info.metadata.run_id == run.id
    return repo_with_commit, model, X


def test_log_model_commits_the_model_folder_in_the_run(logged):
    repo, model, X = logged
    ref = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").strip()
    files = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitml/artifacts/clf").split()
    assert sorted(files) == [
        f".gitml/artifacts/clf/{name}"
        for name in sorted(
            [
                "MLmodel",
                "conda.yaml",
                "input_example.json",
                "linear.npz",
                "model.pkl",
                "python_env.yaml",
                "requirements.txt",
                "serving_input_example.json",
            ]
        )
    ]
    mlmodel = yaml.safe_load(git(repo, "show", f"{ref}:.gitml/artifacts/clf/MLmodel"))
    assert mlmodel["run_id"] == ref.rsplit("/", 1)[1]
    assert mlmodel["artifact_path"] == "clf"
    record = json.loads(git(repo, "show", f"{ref}:.gitml/run.json"))
    assert "clf/MLmodel" in {artifact["path"] for artifact in record["artifacts"]}
    assert_fsck_clean(repo)

    run_id = mlmodel["run_id"]
    expected = model.predict(X).tolist()
    for uri in ("runs:/trained/clf", f"runs:/{run_id}/clf", f"runs:/{run_id[:8]}/clf/"):
        assert gitml.load_model(uri, repo=repo).predict(X).tolist() == expected


def test_a_second_model_under_the_same_name_is_refused(repo_with_commit):
    model, _ = train_sklearn()
    with gitml.start_run(name="twice", repo=repo_with_commit):
        gitml.log_model(model, "m")
        with pytest.raises(ModelError, match="already has a model at 'm'"):
            gitml.log_model(model, "m")


def test_log_model_logs_to_the_run_it_is_given(repo_with_commit):
    """`run=` takes the run explicitly; without it the model goes to the active run."""
    repo = repo_with_commit
    with (
        gitml.start_run(name="outer", repo=repo) as outer,
        gitml.start_run(name="inner", nested=True, repo=repo),
    ):
        given = gitml.log_model(lambda rows: rows, "sub/m", run=outer)
        active = gitml.log_model(lambda rows: rows, "m")
    assert given.model_uri == f"runs:/{outer.id}/sub/m" and given.metadata.run_id == outer.id
    assert active.run_id != outer.id
    assert gitml.load_model("runs:/outer/sub/m", repo=repo).predict([[3.0]]).tolist() == [[3.0]]
    with pytest.raises(ModelError, match="has no model at 'm'"):
        gitml.load_model("runs:/outer/m", repo=repo)
    inner = json.loads(gitml_cli(repo, "show", "inner", "--json").stdout)
    assert "m/MLmodel" in {artifact["path"] for artifact in inner["artifacts"]}


def test_run_uris_that_name_nothing_say_so(logged):
    repo, _, _ = logged
    missing = r"run trained .* has no model at 'nope' \(it has artifacts: clf\)"
    with pytest.raises(ModelError, match=missing):
        gitml.load_model("runs:/trained/nope", repo=repo)
    with pytest.raises(RunNotFoundError, match="no run matches 'ghost'"):
        gitml.load_model("runs:/ghost/clf", repo=repo)
    with pytest.raises(ModelError, match="use runs:/<run>/<path>"):
        gitml.load_model("runs:/trained", repo=repo)


def test_registered_and_promoted_model_loads_by_stage_and_version(logged):
    repo, model, X = logged
    gitml_cli(repo, "model", "register", "churn", "trained")
    gitml_cli(repo, "model", "promote", "churn", "v0.0.1", "production")

    expected = model.predict(X).tolist()
    for uri in ("models:/churn@production", "models:/churn/production", "models:/churn/v0.0.1"):
        assert gitml.load_model(uri, repo=repo).predict(X).tolist() == expected
    out = gitml_cli(repo, "predict", "models:/churn@production", "-i", _csv(repo, X))
    assert json.loads(out.stdout) == {"predictions": expected}
    assert_fsck_clean(repo)


def _csv(repo, X) -> str:
    path = repo / "data" / "input.csv"  # data/ is ignored by the fixture's .gitignore
    path.parent.mkdir(exist_ok=True)
    X.to_csv(path, index=False)
    return str(path)


@pytest.mark.slow
def test_gitml_predict_on_csv_writes_json_or_csv(logged):
    repo, model, X = logged
    source = _csv(repo, X)
    expected = model.predict(X).tolist()

    out = gitml_cli(repo, "predict", "runs:/trained/clf", "-i", source)
    assert json.loads(out.stdout) == {"predictions": expected}

    out = gitml_cli(repo, "predict", "runs:/trained/clf", "-i", source, "-o", "data/out.csv")
    assert out.stderr == f"gitml: {len(X)} predictions written to data/out.csv\n"
    assert pd.read_csv(repo / "data" / "out.csv")["prediction"].tolist() == expected

    gitml_cli(repo, "predict", "runs:/trained/clf", "-i", source, "-o", "data/out.json")
    assert json.loads((repo / "data" / "out.json").read_text()) == {"predictions": expected}

    records = repo / "data" / "records.json"
    records.write_text(X.to_json(orient="records"))
    out = gitml_cli(repo, "predict", "runs:/trained/clf", "-i", str(records))
    assert json.loads(out.stdout) == {"predictions": expected}

    X.to_parquet(repo / "data" / "input.parquet")
    out = gitml_cli(repo, "predict", "runs:/trained/clf", "-i", "data/input.parquet")
    assert json.loads(out.stdout) == {"predictions": expected}


@pytest.mark.slow
def test_gitml_predict_refuses_bad_input_in_one_line(logged):
    repo, _, X = logged
    broken = repo / "data" / "broken.csv"
    broken.parent.mkdir(exist_ok=True)
    X.drop(columns=["b"]).to_csv(broken, index=False)

    out = gitml_cli(
        repo, "predict", "runs:/trained/clf", "-i", str(broken), "-o", "data/o.json", check=False
    )
    assert out.returncode == 1
    assert out.stderr == (
        "gitml: error: input column 'b' is missing; the model's signature expects: "
        f"{', '.join(COLUMNS)}\n"
    )
    assert not (repo / "data" / "o.json").exists()

    out = gitml_cli(repo, "predict", "runs:/trained/clf", "-i", "data/x.txt", check=False)
    assert out.returncode == 1
    assert out.stderr.startswith("gitml: error: data/x.txt: cannot read .txt input; use .csv")

    out = gitml_cli(repo, "predict", "runs:/nobody/clf", "-i", str(broken), check=False)
    assert out.returncode == 1 and "no run matches 'nobody'" in out.stderr
    assert "Traceback" not in out.stderr

    empty = repo / "data" / "empty.csv"
    empty.write_text("")
    out = gitml_cli(repo, "predict", "runs:/trained/clf", "-i", str(empty), check=False)
    assert out.returncode == 1
    assert out.stderr.startswith(f"gitml: error: {empty}: the file cannot be read: ")

    out = gitml_cli(
        repo, "predict", "runs:/trained/clf", "-i", _csv(repo, X), "-o", "nodir/o.json", check=False
    )
    assert out.returncode == 1
    assert out.stderr == (
        "gitml: error: nodir/o.json: the folder nodir does not exist; create it first\n"
    )


def test_a_model_of_the_run_in_progress_loads(repo_with_commit):
    model, X = train_sklearn()
    with gitml.start_run(name="live", repo=repo_with_commit) as run:
        info = gitml.log_model(model, "m", input_example=X.iloc[:2])
        loaded = gitml.load_model(info.model_uri, repo=repo_with_commit)
        assert loaded.predict(X).tolist() == model.predict(X).tolist()
        assert str(loaded.folder).startswith(str(repo_with_commit / ".git" / "gitml"))
        missing = r"run live \(.*\) has no model at 'other' \(it has artifacts: m\)"
        with pytest.raises(ModelError, match=missing):
            gitml.load_model(f"runs:/{run.id}/other", repo=repo_with_commit)
