"""The `gitml:` tracking store's API beyond runs, with real MLflow in this process:
experiments' own record (tags, delete and restore, rename) that travels with gitml
push and fetch, MLflow 3's logged models found by search_logged_models, and MLflow's
async logging on the store from many threads.

MLflow is slow to import: one repository for the module, each test with runs and
experiments of its own."""

import os
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

from gitml.mlflow_plugin.tracking_store import GitmlTrackingStore
from tests.conftest import commit_a_few_files, init_repo
from tests.utils import isolated


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
