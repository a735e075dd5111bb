"""The `gitml:` tracking store's API beyond runs, with real MLflow in this process:
experiments' own record (tags, delete and restore, rename) that travels with gitml
push and fetch, MLflow 3's logged models found by search_logged_models, and MLflow's
async logging on the store from many threads.

MLflow is slow to import: one repository for the module, each test with runs and
experiments of its own."""

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from gitml.client import MlflowClient as NativeClient
from gitml.errors import RunStateError
from gitml.mlflow_plugin.tracking_store import GitmlTrackingStore
from gitml.store.repository import open_repository
from gitml.tracking.fold import fold_lease
from tests.conftest import commit_a_few_files, init_repo
from tests.utils import git, gitml, isolated, wait_until, write_runs_fast


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("home"))
        yield commit_a_few_files(init_repo(tmp_path_factory.mktemp("api") / "repo"))


@pytest.fixture(scope="module")
def client(repo):
    return MlflowClient(f"gitml://{repo}")


def _open_files_under(folder: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


# async logging


def test_async_logging_lands_every_point_in_the_run(client):
    run_id = client.create_run("0").info.run_id
    pending = [client.log_metric(run_id, "loss", 1 / (i + 1), step=i, synchronous=False)
               for i in range(100)]  # fmt: skip
    pending.append(client.log_param(run_id, "lr", "0.1", synchronous=False))
    pending.append(client.set_tag(run_id, "team", "ml", synchronous=False))
    for operation in pending:
        operation.wait()
    client.set_terminated(run_id)
    run = client.get_run(run_id)
    steps = sorted(m.step for m in client.get_metric_history(run_id, "loss"))
    assert steps == list(range(100))  # in the order the queue's workers wrote them
    assert run.data.params == {"lr": "0.1"} and run.data.tags["team"] == "ml"


def test_async_refusals_say_mlflows_words(client):
    """Scripts and MLflow's own tests match on MLflow's wording of these two refusals."""
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", "1")
    changed = client.log_param(run_id, "lr", "2", synchronous=False)
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):
        changed.wait()
    text = client.log_metric(run_id, "loss", "high", synchronous=False)  # type: ignore[arg-type]
    with pytest.raises(MlflowException, match="Please specify value as a valid double"):
        text.wait()
    client.set_terminated(run_id)
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "1"} and run.data.metrics == {}


def test_datasets_are_kept_even_over_a_datasets_tag_set_by_hand(client):
    from mlflow.entities import Dataset, DatasetInput

    run_id = client.create_run("0").info.run_id
    client.set_tag(run_id, "gitml.datasets", "{not json")  # by hand: started anew
    wine = Dataset("wine", "d1", "local", "wine.csv", schema="x" * 9000)
    client.log_inputs(run_id, [DatasetInput(wine)])
    client.set_terminated(run_id)
    (kept,) = client.get_run(run_id).inputs.dataset_inputs
    assert (kept.dataset.name, kept.dataset.digest) == ("wine", "d1")
    assert kept.dataset.schema is None  # past a tag's length, the schema is left out


def test_log_batch_from_many_threads_at_once_keeps_one_staging(repo, client):
    """What MLflow's async queue does: up to 10 workers call log_batch together, on a
    store that has not met the run yet (three runs: a race shows in one at least)."""
    for _ in range(3):
        run_id = client.create_run("0").info.run_id
        store = GitmlTrackingStore(f"gitml://{repo}")
        start = threading.Barrier(12)
        refused = []

        def log(n: int, run_id=run_id, store=store, start=start, refused=refused) -> None:
            start.wait()
            store.log_batch(run_id, [Metric(f"m{n}", n, 0, 0)], [], [])
            try:
                store.log_batch(run_id, [], [Param("seed", str(n))], [])
            except MlflowException as error:
                refused.append(str(error))

        threads = [threading.Thread(target=log, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store.update_run_info(run_id, "FINISHED", None, None)
        run = client.get_run(run_id)
        assert sorted(run.data.metrics) == sorted(f"m{n}" for n in range(12))
        assert len(refused) == 11 and all("cannot become" in text for text in refused)
        assert run.data.params["seed"] in {str(n) for n in range(12)}
        assert _open_files_under(repo / ".git" / "gitml" / "runs") == []


def test_a_run_the_store_ends_past_the_budget_folds_older_runs_in_the_background(tmp_path):
    """As `gitml run` does (tests/test_runs_autofold.py): the store's update_run_info
    returns before the fold, which a detached process does."""
    repo = commit_a_few_files(init_repo(tmp_path / "repo"))
    write_runs_fast(repo, 8, lambda i: {})
    git(repo, "config", "gitml.liveRuns", "8")
    client = MlflowClient(f"gitml://{repo}")
    run_id = client.create_run("0").info.run_id

    def live() -> int:
        return len(git(repo, "for-each-ref", "refs/gitml/runs/").splitlines())

    with fold_lease(open_repository(repo), timeout=0):  # no fold goes before this ends
        client.set_terminated(run_id)
        assert live() == 9
    wait_until(lambda: live() == 4, "the background fold")
    assert client.get_run(run_id).info.status == "FINISHED"


# logged models (MLflow 3)


@pytest.fixture(scope="module")
def fluent(repo):
    """MLflow's fluent API on the module's repository (its tracking URI put back after)."""
    import mlflow

    before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(f"gitml://{repo}")
    yield mlflow
    mlflow.set_tracking_uri(before)


def test_logged_models_are_searchable_with_their_params_tags_and_metrics(client, fluent, tmp_path):
    """MLflow 3's logged-model calls, as `log_model` makes them (create, artifacts,
    finalize); test_mlflow_store.py searches the model a real sklearn log_model saved."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    experiment = client.create_experiment("models")
    with fluent.start_run(experiment_id=experiment) as run:
        fluent.log_param("alpha", "0.5")
        fluent.log_metric("rmse", 0.25)
        info = client.create_logged_model(
            experiment, "model", run.info.run_id, tags={"team": "ml"},
            params={"kind": "linear", "alpha": "0.5"},
        )  # fmt: skip
        client.log_model_artifacts(info.model_id, str(folder))
        client.finalize_logged_model(info.model_id, "READY")
        pending = client.create_logged_model(experiment, "later", run.info.run_id)
        client.set_logged_model_tags(pending.model_id, {"note": "not saved"})
        client.finalize_logged_model(pending.model_id, "FAILED")
    found = fluent.search_logged_models([experiment], output_format="list")
    assert sorted((m.name, m.status.name) for m in found) == [
        ("later", "FAILED"),
        ("model", "READY"),
    ]
    model = client.get_logged_model(info.model_id)
    assert model.params == {"alpha": "0.5", "kind": "linear"} and model.tags["team"] == "ml"
    assert [(m.key, m.value) for m in model.metrics] == [("rmse", 0.25)]
    assert model.source_run_id == run.info.run_id and model.experiment_id == experiment
    assert client.get_logged_model(pending.model_id).tags["note"] == "not saved"
    # MLflow's filter, order and pages
    (linear,) = fluent.search_logged_models(
        [experiment], "params.kind = 'linear' and metrics.rmse < 0.5", output_format="list"
    )
    assert linear.model_id == info.model_id
    page = client.search_logged_models([experiment], order_by=[{"field_name": "name"}],
                                       max_results=1)  # fmt: skip
    assert [m.name for m in page] == ["later"] and page.token
    rest = client.search_logged_models([experiment], order_by=[{"field_name": "name"}],
                                       page_token=page.token)  # fmt: skip
    assert [m.name for m in rest] == ["model"]
    assert fluent.search_logged_models(["123"], output_format="list") == []
    # the run is a commit now: the registry's versions are accepted (its tags hold
    # them), anything else is refused
    client.set_logged_model_tags(info.model_id, {"mlflow.modelVersions": "[]"})
    with pytest.raises(MlflowException, match="has ended"):
        client.set_logged_model_tags(info.model_id, {"k": "v"})
    with pytest.raises(MlflowException, match="does not support deleting a logged model"):
        client.delete_logged_model(info.model_id)
    assert "gitml.logged_models" not in client.get_run(run.info.run_id).data.tags


def test_a_logged_model_id_naming_no_model_is_not_found(client):
    from gitml.mlflow_plugin.names import logged_model_id

    run_id = client.create_run("0").info.run_id
    client.set_terminated(run_id)
    for text in [logged_model_id(run_id, "nothing"), f"m-{run_id}-zz", "m-../../x-6161", "m-"]:
        with pytest.raises(MlflowException) as error:
            client.get_logged_model(text)
        assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# experiments' own record


@pytest.mark.slow  # gitml push and fetch to a bare remote: seconds
def test_experiment_tags_rename_delete_and_restore_travel_with_push_and_fetch(
    repo, client, tmp_path
):
    from mlflow.entities import ViewType

    experiment = client.create_experiment("churn", tags={"owner": "ana"})
    client.set_experiment_tag(experiment, "team", "ml")
    client.delete_experiment_tag(experiment, "owner")
    with pytest.raises(MlflowException) as error:
        client.delete_experiment_tag(experiment, "owner")
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    first = client.create_run(experiment).info.run_id
    client.set_terminated(first)
    client.rename_experiment(experiment, "churn v2")
    renamed = client.get_experiment(experiment)
    assert (renamed.name, renamed.tags) == ("churn v2", {"team": "ml"})
    assert client.get_experiment_by_name("churn") is None
    assert client.get_experiment_by_name("churn v2").experiment_id == experiment
    second = client.create_run(experiment).info.run_id
    client.set_terminated(second)
    assert client.get_run(first).info.experiment_id == experiment  # filed under "churn"
    assert [r["id"] for r in _ls(repo, "-e", "churn v2")] == [second]
    assert {r.info.run_id for r in client.search_runs([experiment])} == {first, second}
    for taken in ["Default", "churn"]:
        other = client.create_experiment(f"other {taken}")
        with pytest.raises(MlflowException) as error:
            client.rename_experiment(other, taken)
        assert error.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.delete_experiment(experiment)
    assert experiment not in [e.experiment_id for e in client.search_experiments()]
    (deleted,) = client.search_experiments(ViewType.DELETED_ONLY)
    assert (deleted.experiment_id, deleted.lifecycle_stage) == (experiment, "deleted")
    assert client.search_runs([experiment]) == []
    gone = client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)
    assert {(r.info.run_id, r.info.lifecycle_stage) for r in gone} == {
        (first, "deleted"), (second, "deleted"),
    }  # fmt: skip
    with pytest.raises(MlflowException, match="is deleted; restore it first"):
        client.create_run(experiment)
    with pytest.raises(MlflowException, match="cannot be deleted"):
        client.delete_experiment("0")
    native = NativeClient(f"gitml://{repo}")  # gitml's own, no mlflow: the same record
    assert native.get_experiment(experiment).lifecycle_stage == "deleted"
    assert {r.info.experiment_id for r in native.search_runs([experiment])} == {experiment}
    assert len(native.search_runs([experiment])) == 2
    with pytest.raises(RunStateError, match="is deleted"):
        native.create_run(experiment)

    # the record is pushed and fetched with the runs
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    gitml(repo, "push", "origin")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "remote", "set-url", "origin", str(remote))
    gitml(clone, "fetch", "origin")
    there = MlflowClient(f"gitml://{clone}")
    assert there.get_experiment(experiment).lifecycle_stage == "deleted"
    there.restore_experiment(experiment)
    restored = there.get_experiment(experiment)
    assert (restored.name, restored.tags, restored.lifecycle_stage) == (
        "churn v2", {"team": "ml"}, "active",
    )  # fmt: skip
    assert {r.info.run_id for r in there.search_runs([experiment])} == {first, second}
    assert client.get_experiment(experiment).lifecycle_stage == "deleted"  # until fetched


def test_a_hostile_experiment_record_is_left_out(repo, client):
    from gitml.mlflow_plugin.experiments import experiment_id

    git(
        repo,
        "update-ref",
        "refs/gitml/experiments/1",
        _git_in(repo, "not a record", "hash-object", "-w", "--stdin"),
    )
    liar = json.dumps({"format": 1, "id": "2", "names": ["Default"], "lifecycle": "deleted",
                       "tags": {}, "created_ms": 0})  # fmt: skip
    git(repo, "update-ref", "refs/gitml/experiments/2", _record(repo, liar))
    long = json.dumps({"format": 1, "id": experiment_id("x"), "names": ["x"],
                       "lifecycle": "active", "tags": {"k": "v" * 9000},
                       "created_ms": 0})  # fmt: skip
    git(repo, "update-ref", f"refs/gitml/experiments/{experiment_id('x')}", _record(repo, long))
    deep = '{"format": 1, "names": ' + "[" * 100_000 + "]" * 100_000 + "}"
    git(repo, "update-ref", "refs/gitml/experiments/3", _record(repo, deep))
    names = {e.name: e.lifecycle_stage for e in client.search_experiments()}
    assert names["Default"] == "active" and "x" not in names
    assert client.get_experiment("0").lifecycle_stage == "active"
    for ref in ["1", "2", "3", experiment_id("x")]:
        git(repo, "update-ref", "-d", f"refs/gitml/experiments/{ref}")


def _git_in(repo: Path, text: str, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _record(repo: Path, text: str) -> str:
    """A commit whose tree holds `text` as experiment.json."""
    blob = _git_in(repo, text, "hash-object", "-w", "--stdin")
    tree = _git_in(repo, f"100644 blob {blob}\texperiment.json\n", "mktree")
    return git(repo, "commit-tree", tree, "-m", "record").strip()


def _ls(repo: Path, *args: str) -> list[dict]:
    return json.loads(gitml(repo, "ls", "--json", *args).stdout)


def test_a_renamed_experiment_id_finds_its_runs_under_every_name(repo, client):
    """A renamed experiment keeps its id and its runs keep the name they were filed
    under: an id asked by experiment_ids, or compared in a filter (=, !=, IN, NOT IN),
    finds the runs of every name, through the gitml: store and gitml's own API."""
    import gitml

    experiment = client.create_experiment("renamed ids")
    other = client.create_experiment("renamed ids other")
    runs = {}
    for name in ["before", "after"]:
        runs[name] = client.create_run(experiment, run_name=name).info.run_id
        client.set_terminated(runs[name])
        if name == "before":
            client.rename_experiment(experiment, "renamed ids v2")
    runs["other"] = client.create_run(other, run_name="other").info.run_id
    client.set_terminated(runs["other"])
    mine, both = {runs["before"], runs["after"]}, [experiment, other]
    native = NativeClient(f"gitml://{repo}")
    for search in (client.search_runs, native.search_runs):
        assert {r.info.run_id for r in search([experiment])} == mine
        for text, wanted in [
            (f"attributes.experiment_id = '{experiment}'", mine),
            (f"attributes.experiment_id != '{experiment}'", {runs["other"]}),
            (f"attributes.experiment_id IN ('{experiment}', '{other}')", set(runs.values())),
            (f"attributes.experiment_id NOT IN ('{experiment}')", {runs["other"]}),
        ]:
            assert {r.info.run_id for r in search(both, text)} == wanted, (search, text)
    found = gitml.search_runs(experiment_ids=[experiment], repo=repo, output_format="list")
    assert {run["id"] for run in found} == mine
    text = f"attributes.experiment_id = '{experiment}'"
    found = gitml.search_runs(filter=text, repo=repo, output_format="list")
    assert {run["id"] for run in found} == mine


# search_runs as MLflow's own store answers it


def _same_runs_in(client: MlflowClient, experiment: str) -> None:
    """16 runs, in order, each 2 params, up to 3 metrics (ties among them, one missing
    on some runs) and a tag."""
    for i in range(16):
        run_id = client.create_run(experiment, run_name=f"r{i}", start_time=1_000 + i).info.run_id
        metrics = {"acc": (i % 7) / 10, "loss": 1 / (i + 1)}
        if i % 4:
            metrics["f1"] = (i % 5) / 10
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, 0, 0) for key, value in metrics.items()],
            params=[Param("model", ("rf", "lr", "svm")[i % 3]), Param("depth", str(i % 5))],
            tags=[RunTag("team", "ab"[i % 2])],
        )
        client.set_terminated(run_id)


def _shown(run) -> tuple:
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    data = (run.data.params, run.data.metrics, tags)
    return run.info.run_name, run.info.status, data


@pytest.mark.slow  # MLflow's sqlite store migrates its database first: seconds
def test_search_runs_agrees_with_mlflows_sqlite_store_on_the_same_runs(client, tmp_path):
    """The same runs logged through the gitml: store and MLflow's sqlite store: each
    search (filters, order_by with ties and missing values, max_results, every page
    through page_token) finds the same runs in the same order with the same data."""

    sqlite = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    stores = {}
    for name, store in [("gitml", client), ("sqlite", sqlite)]:
        experiment = store.create_experiment("same runs")
        _same_runs_in(store, experiment)
        stores[name] = (store, experiment)
    searches = [
        ("metrics.acc > 0.3 and params.model = 'rf'", ["metrics.loss DESC"], 1000),
        ("", ["metrics.acc DESC"], 1),  # the best run (ties: the newest)
        ("params.model = 'rf'", ["metrics.acc DESC"], 3),
        ("params.model = 'lr'", ["metrics.f1 DESC"], 5),  # f1 missing on some: last
        ("params.model != 'lr'", ["metrics.f1 ASC"], 1000),
        ("", ["params.model ASC", "metrics.acc DESC"], 1000),
        ("params.model != 'lr' and tags.team = 'a'", ["metrics.acc ASC", "metrics.loss ASC"], 1000),
        ("tags.team = 'b' and metrics.loss < 0.2", ["attributes.start_time ASC"], 1000),
        ("params.depth = '3' and metrics.acc <= 0.4", [], 1000),
        ("attributes.run_name LIKE 'r1%'", ["attributes.run_name DESC"], 1000),
        ("", [], 1000),
    ]
    for text, order, most in searches:
        found = {}
        for name, (store, experiment) in stores.items():
            runs = store.search_runs([experiment], text, max_results=most, order_by=order)
            found[name] = [_shown(run) for run in runs]
        assert found["gitml"] == found["sqlite"], (text, order, most)
        assert found["gitml"], (text, order)  # each search finds something
    for order in ([], ["metrics.acc DESC"], ["params.model ASC"]):
        pages = {}
        for name, (store, experiment) in stores.items():
            pages[name], token = [], None
            while True:
                page = store.search_runs([experiment], max_results=5, order_by=order,
                                         page_token=token)  # fmt: skip
                pages[name].append([run.info.run_name for run in page])
                token = page.token
                if not token:
                    break
        assert pages["gitml"] == pages["sqlite"], order
        assert [len(page) for page in pages["gitml"]] == [5, 5, 5, 1]


def test_a_hostile_page_token_is_refused_in_one_line_and_a_far_one_finds_nothing(client):
    """A page token comes from anyone calling `mlflow server`: one that is no object,
    holds no number, a negative one or one past any float is refused as MLflow's words
    say; an offset past every run (past SQLite's integers too) is an empty last page."""
    import base64

    def token(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    for bad in ["%%%", "é", token("[1]"), token('{"offset": -3}'), token('{"offset": 1e999}'),
                token('{"offset": "x"}'), token("nothing")]:  # fmt: skip
        with pytest.raises(MlflowException, match="Invalid page token") as error:
            client.search_runs(["0"], page_token=bad)
        assert error.value.error_code == "INVALID_PARAMETER_VALUE", bad
    far = client.search_runs(["0"], page_token=token(json.dumps({"offset": 10**30})))
    assert list(far) == [] and far.token is None
