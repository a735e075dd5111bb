"""MLflow's model registry on gitml's tags: MLflow's own client (registry URI `gitml:PATH`)
writes and reads, and `gitml model` and plain `git tag` see the same registry."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import commit_a_few_files, init_repo
from tests.utils import git, gitml, isolated, write

mlflow = pytest.importorskip("mlflow")  # the test extra installs it: never skipped in CI
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

pytestmark = [
    pytest.mark.slow,  # MLflow's import takes seconds
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # MLflow deprecates stages; we map them
]


def make_runs(repo: Path) -> list[str]:
    """Three finished runs (a, b, c), each with the artifact folder `model/`; their ids."""
    write(repo / "model" / "MLmodel", "flavors: {}\n")
    for name in ("a", "b", "c"):
        gitml(repo, "run", "--name", name, "--artifact", "model", "--", "true")
    shutil.rmtree(repo / "model")
    runs = json.loads(gitml(repo, "ls", "--json").stdout)
    return [run["id"] for run in sorted(runs, key=lambda run: run["name"])]


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("home"))
        repo = commit_a_few_files(init_repo(tmp_path_factory.mktemp("seed") / "repo"))
        ids = make_runs(repo)
    return repo, ids


@pytest.fixture
def world(seed, tmp_path):
    """A copy of the seed repository and an MLflow client whose registry is it."""
    repo = tmp_path / "repo"
    shutil.copytree(seed[0], repo, symlinks=True)
    uri = f"gitml:{repo}"
    return repo, seed[1], MlflowClient(tracking_uri=uri, registry_uri=uri)


def model_ls(repo: Path) -> list[dict]:
    return json.loads(gitml(repo, "model", "ls", "--json").stdout)


def test_versions_registered_through_mlflow_are_gto_tags(world):
    repo, (a, b, _), client = world
    created = client.create_registered_model("Wine Model")
    assert created.name == "wine-model"
    first = client.create_model_version("Wine Model", f"runs:/{a}/model", run_id=a)
    second = client.create_model_version("wine_model", f"runs:/{b}/model", run_id=b)
    assert (first.name, first.version, first.run_id) == ("wine-model", "1", a)
    assert (second.version, second.status) == ("2", "READY")
    assert git(repo, "tag", "-l").split() == ["wine-model@v0.0.1", "wine-model@v0.0.2"]
    (model,) = model_ls(repo)
    assert [v["run_id"] for v in model["versions"]] == [b, a]  # highest first
    assert model["versions"][0]["artifact"] == "model"
    uri = client.get_model_version_download_uri("Wine Model", "2")
    assert uri == f"gitml://{repo}/.gitml/runs/{b}/artifacts/model"
    with pytest.raises(MlflowException, match="already exists"):
        client.create_registered_model("WINE MODEL")
    copied = client.copy_model_version("models:/wine-model/2", "Other Model")
    assert (copied.name, copied.version, copied.run_id) == ("other-model", "1", b)
    assert "other-model@v0.0.1" in git(repo, "tag", "-l").split()


def test_stages_move_as_in_mlflow_and_gitml_agrees(world):
    repo, (a, b, c), client = world
    for run in (a, b, c):
        client.create_model_version("wine", f"runs:/{run}/model", run_id=run)
    client.transition_model_version_stage("wine", "1", "Production")
    client.transition_model_version_stage("wine", "2", "Staging")
    client.transition_model_version_stage("wine", "2", "Production", True)  # archive existing
    stages = {v.version: v.current_stage for v in client.search_model_versions("name='wine'")}
    assert stages == {"1": "Archived", "2": "Production", "3": "None"}
    latest = client.get_latest_versions("wine", ["Production", "Staging"])
    assert [(v.version, v.current_stage) for v in latest] == [("2", "Production")]
    (model,) = model_ls(repo)
    assert model["stages"] == {"production": ["v0.0.2"], "archived": ["v0.0.1"]}
    # gitml's own promotion shows in MLflow, case-insensitive
    gitml(repo, "model", "promote", "wine", "v0.0.3", "staging")
    assert client.get_model_version("wine", "3").current_stage == "Staging"
    client.transition_model_version_stage("wine", "3", "None")
    assert "staging" not in model_ls(repo)[0]["stages"]


def test_mlflow_gitml_and_gto_agree_on_what_is_in_each_stage(world):
    repo, (a, b, c), client = world
    for run in (a, b, c):
        client.create_model_version("wine", f"runs:/{run}/model", run_id=run)
    client.transition_model_version_stage("wine", "1", "Production")
    client.transition_model_version_stage("wine", "3", "Staging")
    in_mlflow = {
        v.current_stage.lower(): f"v0.0.{v.version}"
        for v in client.get_latest_versions("wine", ["Production", "Staging"])
    }
    in_gitml = {stage: versions[0] for stage, versions in model_ls(repo)[0]["stages"].items()}
    gto = Path(sys.executable).parent / "gto"  # GTO itself, reading the same tags
    shown = subprocess.run([gto, "show", "--json"], cwd=repo, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    in_gto = json.loads(shown.stdout)["wine"]
    assert in_mlflow == in_gitml == in_gto["stage"] == {"production": "v0.0.1", "staging": "v0.0.3"}
    assert in_gto["version"] == "v0.0.3" and in_gto["registered"]


def test_aliases_are_stages_and_models_uris_resolve(world):
    repo, (a, b, _), client = world
    write(repo / "gitml.yaml", "stages: [staging, production, archived, champion]\n")
    client.create_model_version("clf", f"runs:/{a}/model", run_id=a)
    client.create_model_version("clf", f"runs:/{b}/model", run_id=b)
    client.set_registered_model_alias("clf", "Champion", "1")
    client.set_registered_model_alias("clf", "champion", "2")  # an alias moves
    assert client.get_model_version_by_alias("clf", "CHAMPION").version == "2"
    assert client.get_registered_model("clf").aliases == {"champion": "2"}
    which = json.loads(gitml(repo, "model", "which", "clf@champion", "--json").stdout)
    assert which["run_id"] == b
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    for uri in ("models:/clf@champion", "models:/clf/2"):
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"gitml:{repo}")
            monkeypatch.setenv("MLFLOW_TRACKING_URI", f"gitml:{repo}")
            assert ModelsArtifactRepository.get_underlying_uri(uri).endswith(f"{b}/artifacts/model")
    client.delete_registered_model_alias("clf", "champion")
    assert client.get_registered_model("clf").aliases == {}
    assert "champion" not in model_ls(repo)[0]["stages"]


def test_a_stage_gitml_does_not_allow_is_refused_clearly(world):
    repo, (a, _, _), client = world
    client.create_model_version("clf", f"runs:/{a}/model", run_id=a)
    with pytest.raises(MlflowException, match="unknown stage 'champion': allowed stages are"):
        client.set_registered_model_alias("clf", "champion", "1")
    assert git(repo, "tag", "-l").split() == ["clf@v0.0.1"]


def test_search_filters_and_pages_registered_models(world):
    repo, (a, b, c), client = world
    for name, run in (("alpha", a), ("beta", b), ("gamma", c)):
        client.create_model_version(name, f"runs:/{run}/model", run_id=run)
    assert [m.name for m in client.search_registered_models("name LIKE '%a%'")] == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert [m.name for m in client.search_registered_models("name = 'beta'")] == ["beta"]
    page = client.search_registered_models(max_results=2)
    assert [m.name for m in page] == ["alpha", "beta"] and page.token
    rest = client.search_registered_models(max_results=2, page_token=page.token)
    assert [m.name for m in rest] == ["gamma"] and not rest.token
    assert [(v.name, v.version) for v in client.search_model_versions(f"run_id = '{b}'")] == [
        ("beta", "1")
    ]


def test_deleting_deregisters_and_deprecates(world):
    repo, (a, b, _), client = world
    client.create_model_version("clf", f"runs:/{a}/model", run_id=a)
    client.create_model_version("clf", f"runs:/{b}/model", run_id=b)
    client.delete_model_version("clf", "1")
    with pytest.raises(MlflowException, match="has no version 1"):
        client.get_model_version("clf", "1")
    assert client.get_model_version("clf", "2").run_id == b  # numbers never shift
    client.delete_registered_model("clf")
    assert model_ls(repo) == []
    with pytest.raises(MlflowException, match="not found"):
        client.get_registered_model("clf")


def test_names_and_sources_gitml_cannot_hold_are_refused_and_nothing_is_written(world):
    repo, (a, _, _), client = world
    for call, expected in (
        (lambda: client.create_registered_model("2024"), "cannot be a gitml model name"),
        (lambda: client.create_model_version("mm", "/tmp/model", run_id=a), "names none"),
        (lambda: client.create_model_version("mm", f"runs:/{a}/nothing"), "has no artifact"),
        (lambda: client.create_model_version("mm", "runs:/0123456789abcdef/x"), "no run"),
        (lambda: client.create_registered_model("mm", description="d"), "descriptions"),
        (lambda: client.get_model_version("mm", "one"), "not found"),
    ):
        with pytest.raises(MlflowException, match=expected):
            call()
    assert git(repo, "tag", "-l") == ""


def test_hostile_requests_are_refused_in_one_message_and_write_nothing(world):
    """What a REST client of `mlflow server` may send: paths that climb, names and
    aliases that are options or paths, numbers Python will not convert, bad filters."""
    repo, (a, _, _), client = world
    client.create_model_version("clf", f"runs:/{a}/model", run_id=a)
    before = git(repo, "for-each-ref")
    for call, expected in (
        (lambda: client.create_model_version("clf", f"runs:/{a}/../../etc"), "no artifact"),
        (lambda: client.create_model_version("clf", "runs:/../x/model"), "no run|not found"),
        (lambda: client.create_model_version("-- /", f"runs:/{a}/model"), "model name"),
        (lambda: client.get_model_version("clf", "9" * 5000), "is a number|no version"),
        (lambda: client.set_registered_model_alias("clf", "../prod", "1"), "alias name"),
        (lambda: client.set_registered_model_alias("clf", "-d", "1"), "gitml stage"),
        (lambda: client.search_registered_models("name = "), "filter|Invalid"),
        (lambda: client.search_model_versions(page_token="garbage"), "token|Invalid"),
        (
            lambda: client.create_model_version(
                "clf", f"gitml:///elsewhere/.gitml/runs/{a}/artifacts/model"
            ),
            "another repository",
        ),
    ):
        with pytest.raises(MlflowException, match=expected):
            call()
    assert git(repo, "for-each-ref") == before


def test_a_version_of_a_run_in_progress_is_tagged_when_mlflow_ends_the_run(world):
    """MLflow registers inside the run; the tag is written when the run is committed."""
    repo, _, client = world
    run_id = client.create_run("0", run_name="live").info.run_id
    client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
    version = client.create_model_version("live", f"runs:/{run_id}/model", run_id=run_id)
    assert (version.version, version.status, version.run_id) == ("1", "READY", run_id)
    assert git(repo, "tag", "-l") == ""  # no commit to tag yet
    assert client.get_model_version("live", "1").status_message == "waiting for its run to end"
    with pytest.raises(MlflowException, match="registered when its run ends"):
        client.transition_model_version_stage("live", "1", "Production")
    client.set_terminated(run_id)
    assert git(repo, "tag", "-l").split() == ["live@v0.0.1"]
    assert model_ls(repo)[0]["versions"][0]["run_id"] == run_id
    assert client.get_model_version("live", "1").status_message is None


def test_gitmls_own_end_run_registers_what_mlflow_asked_for(world, monkeypatch):
    repo, _, client = world
    monkeypatch.chdir(repo)
    import gitml as api

    with api.start_run(name="native") as run:
        api.log_text("flavors: {}\n", "model/MLmodel")
        client.create_model_version("native", f"runs:/{run.id}/model", run_id=run.id)
    assert client.get_model_version("native", "1").run_id == run.id
    assert git(repo, "tag", "-l").split() == ["native@v0.0.1"]


ELASTICNET = """\
import mlflow, mlflow.sklearn, numpy as np
from sklearn.linear_model import ElasticNet

X = np.arange(30.0).reshape(10, 3)
with mlflow.start_run():
    model = ElasticNet(alpha=0.1).fit(X, X @ [1.0, 2.0, 3.0])
    mlflow.log_param("alpha", 0.1)
    mlflow.sklearn.log_model(
        model, name="model", registered_model_name="ElasticnetWineModel",
        pip_requirements=["scikit-learn"],
    )
"""


def test_log_model_with_registered_model_name_under_gitml_run(world, monkeypatch):
    """MLflow's elasticnet example under `gitml run` (its requirements given, so that
    MLflow infers none in a child process): its registration waits for the run, becomes
    a tag, and `models:/` URIs load it through MLflow."""
    repo, _, client = world
    write(repo / "train.py", ELASTICNET)
    ran = gitml(repo, "run", "--name", "elastic", "--", "python", "train.py")
    assert "Created version '1' of model 'elasticnetwinemodel'" in ran.stderr
    (model,) = model_ls(repo)
    run = json.loads(gitml(repo, "show", "elastic", "--json").stdout)
    assert model["model"] == "elasticnetwinemodel"
    assert [(v["version"], v["run_id"], v["artifact"]) for v in model["versions"]] == [
        ("v0.0.1", run["id"], "model")
    ]
    client.transition_model_version_stage("ElasticnetWineModel", "1", "Production")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"gitml:{repo}")
    import numpy as np
    from mlflow import pyfunc

    for uri in ("models:/ElasticnetWineModel/Production", "models:/elasticnetwinemodel/1"):
        prediction = pyfunc.load_model(uri).predict(np.ones((1, 3)))
        assert prediction.shape == (1,)
    assert model_ls(repo)[0]["stages"] == {"production": ["v0.0.1"]}
