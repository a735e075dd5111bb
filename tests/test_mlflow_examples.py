"""MLflow-style example scripts (our own, of the kinds MLflow's examples are) run
unchanged but for their import line: with `import gitml as mlflow` and no mlflow in
play, and with real `import mlflow` on the `gitml:` backend, plain and under `gitml run`;
then read back with gitml's command line and both clients.

The examples of one test run one after the other in one process (each prints its own
RESULT line), so MLflow and scikit-learn are imported once per test, not once per
example. tests/test_mlflow_store.py runs a scikit-learn log_model with a signature with
real MLflow; here real MLflow runs the quickstart, the pyfunc and autolog."""

import json
import os
import subprocess
import sys

import pytest

from tests.utils import gitml, write

GITML = "import gitml as mlflow\n"
MLFLOW = "import mlflow\n"

QUICKSTART = """\
mlflow.set_experiment("quickstart")
with mlflow.start_run(run_name="quick") as run:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_params({"l1_ratio": 0.1, "epochs": 3})
    for epoch in range(3):
        mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    mlflow.set_tag("stage", "demo")
    mlflow.log_text("hello", "notes.txt")
    mlflow.log_dict({"a": 1}, "config.json")
run = mlflow.get_run(run.info.run_id)
client = mlflow.tracking.MlflowClient()
history = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
same_experiment = client.get_experiment_by_name("quickstart").experiment_id
print("RESULT quickstart", run.info.run_id, run.info.status, run.data.metrics["loss"],
      run.data.params["alpha"], history, same_experiment == run.info.experiment_id)
"""

SIGNATURE = """\
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)
with mlflow.start_run() as run:
    model = ElasticNet(alpha=0.05, l1_ratio=0.5).fit(X_train, y_train)
    mlflow.log_params({"alpha": 0.05, "l1_ratio": 0.5})
    mlflow.log_metric("rmse", mean_squared_error(y_test, model.predict(X_test)) ** 0.5)
    signature = mlflow.models.infer_signature(X_train, model.predict(X_train))
    info = mlflow.sklearn.log_model(
        model, name="model", signature=signature, input_example=X_train.head(3)
    )
loaded = mlflow.pyfunc.load_model(info.model_uri)
same = list(loaded.predict(X_test.head(3)).round(6)) == list(model.predict(X_test.head(3)).round(6))
print("RESULT signature", run.info.run_id, same)
"""

AUTOLOG = """\
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

mlflow.autolog()
X, y = load_iris(return_X_y=True)
search = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.05, 1]}, cv=3)
search.fit(X, y)
run = mlflow.last_active_run()
print("RESULT autolog", run.info.run_id, run.data.metrics["best_cv_score"] > 0.8,
      "training_accuracy_score" in run.data.metrics, run.data.params["best_C"])
"""

PYFUNC = """\
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
classifier = LogisticRegression(max_iter=300).fit(X, y)


class Confident(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.inner = mlflow.sklearn.load_model(context.artifacts["inner"])

    def predict(self, context, model_input, params=None):
        return self.inner.predict_proba(model_input).max(axis=1) > 0.9


# the requirements are given, as MLflow's custom-model examples give their conda_env
with mlflow.start_run() as run:
    mlflow.sklearn.log_model(classifier, name="inner", pip_requirements=["scikit-learn"])
    mlflow.pyfunc.log_model(
        name="wrapped",
        python_model=Confident(),
        artifacts={"inner": f"runs:/{run.info.run_id}/inner"},
        pip_requirements=["scikit-learn"],
    )
wrapped = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/wrapped")
expected = classifier.predict_proba(X[:5]).max(axis=1) > 0.9
print("RESULT pyfunc", run.info.run_id, list(wrapped.predict(X[:5])) == list(expected))
"""


def run_examples(repo, first_line: str, *bodies: str, wrap: bool = False) -> dict[str, list[str]]:
    """Run the examples one after the other in one script; each one's RESULT line as
    {example: [run id, the rest]}."""
    write(repo / "examples.py", first_line + "".join(bodies))
    env = {**os.environ, "MLFLOW_TRACKING_URI": "gitml:"} if first_line == MLFLOW else None
    if wrap:
        done = gitml(repo, "run", "--", sys.executable, "examples.py")
    else:
        done = subprocess.run(
            [sys.executable, "examples.py"], cwd=repo, capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr
    results = [
        line.split(" ", 3)[1:] for line in done.stdout.splitlines() if line.startswith("RESULT ")
    ]
    assert len(results) == len(bodies), done.stdout
    return {name: rest for name, *rest in results}


def show(repo, run: str) -> dict:
    return json.loads(gitml(repo, "show", run, "--json").stdout)


@pytest.mark.slow  # scikit-learn's import and four examples
def test_examples_run_with_gitml_as_mlflow_and_read_back_with_gitml(repo_with_commit):
    repo = repo_with_commit
    # autolog last: it patches every fit after it
    results = run_examples(repo, GITML, QUICKSTART, SIGNATURE, PYFUNC, AUTOLOG)
    run_id, rest = results["quickstart"]
    assert rest == "FINISHED 0.3333333333333333 0.5 [1.0, 0.5, 0.3333333333333333] True"
    record = show(repo, run_id)
    assert (record["name"], record["experiment"]) == ("quick", "quickstart")
    assert record["params"] == {"alpha": "0.5", "l1_ratio": "0.1", "epochs": "3"}
    signature_run, same = results["signature"]
    assert same == "True"
    gitml(repo, "artifacts", "get", signature_run, "model/MLmodel", "-o", str(repo.parent / "out"))
    assert '"name": "bmi"' in (repo.parent / "out" / "MLmodel").read_text()  # MLflow's JSON
    autolog_run, rest = results["autolog"]
    assert rest == "True True 1"
    children = json.loads(
        gitml(
            repo, "ls", "--all", "--json", "--filter", f"tags.mlflow.parentRunId = '{autolog_run}'"
        ).stdout
    )
    assert len(children) == 2
    pyfunc_run, same = results["pyfunc"]
    assert same == "True"
    assert "alpha" in gitml(repo, "diff", run_id, signature_run).stdout  # both have an alpha
    listed = gitml(repo, "ls", "--all").stdout
    assert "quick" in listed


@pytest.mark.slow
def test_examples_run_with_real_mlflow_on_the_gitml_backend(repo_with_commit):
    from mlflow import MlflowClient

    repo = repo_with_commit
    results = run_examples(repo, MLFLOW, QUICKSTART, PYFUNC)
    run_id, rest = results["quickstart"]
    assert rest == "FINISHED 0.3333333333333333 0.5 [1.0, 0.5, 0.3333333333333333] True"
    assert show(repo, run_id)["params"] == {"alpha": "0.5", "l1_ratio": "0.1", "epochs": "3"}
    pyfunc_run, same = results["pyfunc"]
    assert same == "True"
    assert {"inner/MLmodel", "wrapped/MLmodel"} <= {
        a["path"] for a in show(repo, pyfunc_run)["artifacts"]
    }
    client = MlflowClient(tracking_uri=f"gitml:{repo}")
    seen = client.get_run(run_id)
    assert seen.data.params == {"alpha": "0.5", "l1_ratio": "0.1", "epochs": "3"}
    assert seen.data.metrics == {"loss": 1 / 3} and seen.data.tags["stage"] == "demo"
    import gitml as native

    ours = native.MlflowClient(tracking_uri=f"gitml:{repo}").get_run(run_id)
    assert (ours.info.experiment_id, ours.info.artifact_uri) == (
        seen.info.experiment_id,
        seen.info.artifact_uri,
    )


@pytest.mark.slow
def test_an_unchanged_mlflow_autolog_script_under_gitml_run_logs_into_its_run(repo_with_commit):
    """The one example here where MLflow infers its models' requirements (a child process
    each), as it does under `gitml run`."""
    repo = repo_with_commit
    run_id, rest = run_examples(repo, MLFLOW, AUTOLOG, wrap=True)["autolog"]
    assert rest == "True True 1"
    (wrapped,) = [
        r for r in json.loads(gitml(repo, "ls", "--all", "--json").stdout) if r["id"] == run_id
    ]
    record = show(repo, run_id)
    assert record["command"][-1] == "examples.py"  # the run gitml run recorded
    assert "best_cv_score" in record["metrics"] and "training_accuracy_score" in record["metrics"]
    assert {"model/MLmodel", "best_estimator/MLmodel"} <= {a["path"] for a in record["artifacts"]}
    assert wrapped["status"] == "finished"
