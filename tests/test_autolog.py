"""gitml's own scikit-learn autolog (`gitml.autolog()`, `gitml.sklearn.autolog()`), with no
mlflow involved: each script runs in its own process, as a user's would."""

import json
import subprocess
import sys

from tests.utils import gitml, write

SEARCH = """\
import json, sys, warnings
import gitml as mlflow
mlflow.sklearn.autolog(max_tuning_runs=2)
assert "sklearn.linear_model" not in sys.modules  # patched when it is imported below
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

X, y = load_iris(return_X_y=True)
search = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.001, 0.05, 1]}, cv=3)
search.fit(X, y)
run = mlflow.last_active_run()
model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
assert list(model.predict(X[:3])) == list(search.predict(X[:3]))
with mlflow.start_run(run_name="mine") as mine:
    mlflow.log_param("note", "inside")
    LogisticRegression(C=2.0, max_iter=300).fit(X, y)  # logs into the active run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = LogisticRegression(C=3.0, max_iter=300).fit(X, y)  # C is logged already
    assert fitted.coef_.shape == (3, 4)  # training is never broken by logging
    assert mlflow.active_run() is mine  # the script's run goes on
print(json.dumps({"search": run.info.run_id, "mine": mine.info.run_id,
                  "warnings": [str(w.message) for w in caught]}))
mlflow.sklearn.autolog(disable=True)
LogisticRegression(max_iter=300).fit(X, y)  # logs nothing any more
"""


def show(repo, run: str) -> dict:
    return json.loads(gitml(repo, "show", run, "--json").stdout)


def test_a_grid_search_logs_its_run_its_best_candidate_and_child_runs(repo_with_commit):
    write(repo_with_commit / "search.py", SEARCH)
    done = subprocess.run(
        [sys.executable, "search.py"], cwd=repo_with_commit, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout.splitlines()[-1])
    listed = json.loads(gitml(repo_with_commit, "ls", "--all", "--json").stdout)
    assert len(listed) == 4  # the search, 2 children, "mine": no run per internal fit
    search = show(repo_with_commit, ids["search"])
    assert search["status"] == "finished"
    assert search["params"]["estimator__max_iter"] == "300"
    assert search["params"]["best_C"] == "1" and search["params"]["cv"] == "3"
    assert search["tags"]["estimator_name"] == "GridSearchCV"
    metrics = search["metrics"]
    assert {"best_cv_score", "training_accuracy_score", "training_f1_score"} <= set(metrics)
    assert {"training_log_loss", "training_roc_auc", "training_score"} <= set(metrics)
    assert 0.9 < metrics["training_accuracy_score"]["last"] <= 1
    paths = {a["path"] for a in search["artifacts"]}
    assert {"model/MLmodel", "best_estimator/MLmodel", "cv_results.csv"} <= paths
    children = [r for r in listed if r["tags"].get("mlflow.parentRunId") == ids["search"]]
    ranked = sorted((c["metrics"]["rank_test_score"], c["params"]["C"]) for c in children)
    assert ranked == [(1.0, "1"), (2.0, "0.05")]  # the top 2 of 3 candidates, by rank
    assert {"mean_test_score", "std_test_score", "mean_fit_time"} <= set(children[0]["metrics"])
    mine = show(repo_with_commit, ids["mine"])
    assert mine["params"]["note"] == "inside" and mine["params"]["C"] == "2.0"
    assert "training_score" in mine["metrics"]
    assert any("could not log params" in w and "'C'" in w for w in ids["warnings"])


def test_autolog_of_a_regressor_starts_and_ends_its_own_run(repo_with_commit):
    script = (
        "import gitml\n"
        "gitml.autolog(log_models=False)\n"
        "from sklearn.linear_model import Ridge\n"
        "Ridge(alpha=0.5).fit([[0.0], [1.0], [2.0], [3.0]], [0.0, 1.0, 2.1, 2.9])\n"
        "assert gitml.active_run() is None\n"
        "run = gitml.last_active_run()\n"
        "print(run.info.status, sorted(run.data.metrics), run.data.params['alpha'])\n"
        "print([a['path'] for a in run['artifacts']])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo_with_commit, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "FINISHED ['training_mean_absolute_error', 'training_mean_squared_error', "
        "'training_r2_score', 'training_root_mean_squared_error', 'training_score'] 0.5",
        "[]",  # log_models=False
    ]
