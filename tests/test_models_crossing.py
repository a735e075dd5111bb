"""Model folders cross between MLflow and gitml, both ways, with MLflow itself installed:
folders MLflow saves load, predict and serve in gitml; folders gitml saves load and
predict the same in `mlflow.pyfunc.load_model` and `mlflow models serve`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gitml
from tests.models_helpers import COLUMNS, Server, split_payload, train_sklearn, train_torch
from tests.utils import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
# Requirements given to MLflow's save_model: it would otherwise infer them in a child
# process that imports MLflow and loads the model again (seconds each). What the folder
# holds is MLflow's either way; tests/test_mlflow_examples.py lets MLflow infer them.
SKLEARN = ["scikit-learn"]


@pytest.fixture(scope="module")
def mlflow():
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    return mlflow


@pytest.fixture(scope="module")
def sklearn_model():
    return train_sklearn()


@pytest.mark.parametrize("form", ["skops", "pickle", "cloudpickle"])
def test_sklearn_folders_mlflow_saved_predict_the_same_in_gitml(
    mlflow, sklearn_model, tmp_path, form
):
    model, X = sklearn_model
    mlflow.sklearn.save_model(
        model,
        tmp_path / "m",
        serialization_format=form,
        input_example=X.iloc[:2],
        pip_requirements=SKLEARN,
    )
    loaded = gitml.load_model(tmp_path / "m")
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    assert loaded.predict(X[["c", "b", "a"]]).tolist() == model.predict(X).tolist()
    assert loaded.signature["inputs"] == [{"name": c, "type": "double"} for c in COLUMNS]
    assert type(loaded.unwrap()) is type(model)
    assert loaded.unwrap().coef_.tolist() == model.coef_.tolist()


def test_an_mlflow_predict_proba_folder_answers_probabilities(mlflow, sklearn_model, tmp_path):
    model, X = sklearn_model
    mlflow.sklearn.save_model(
        model, tmp_path / "m", pyfunc_predict_fn="predict_proba", pip_requirements=SKLEARN
    )
    loaded = gitml.load_model(tmp_path / "m")
    assert np.allclose(loaded.predict(X), model.predict_proba(X))


@pytest.mark.slow
def test_gitml_predict_and_serve_an_mlflow_folder(mlflow, sklearn_model, tmp_path):
    model, X = sklearn_model
    mlflow.sklearn.save_model(
        model, tmp_path / "m", input_example=X.iloc[:2], pip_requirements=SKLEARN
    )
    request = (tmp_path / "m" / "serving_input_example.json").read_text()
    (tmp_path / "in.json").write_text(request)
    predicted = subprocess.run(
        [sys.executable, "-m", "gitml", "predict", "-m", "m", "-i", "in.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(predicted.stdout) == {"predictions": model.predict(X.iloc[:2]).tolist()}
    with Server(str(tmp_path / "m"), tmp_path) as server:
        status, answer = server.request("POST", "/invocations", split_payload(X))
    assert (status, answer) == (200, {"predictions": model.predict(X).tolist()})


def test_a_python_model_mlflow_saved_with_artifacts_and_code_loads_in_gitml(mlflow, tmp_path):
    code = tmp_path / "src"
    code.mkdir()
    (code / "crossing_scaling.py").write_text("def scaled(x, factor):\n    return x * factor\n")
    (tmp_path / "factor.txt").write_text("2.5")

    class Scaler(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.factor = float(Path(context.artifacts["factor"]).read_text())

        def predict(self, context, model_input, params=None):
            from crossing_scaling import scaled

            return scaled(model_input["a"], self.factor * (params or {}).get("k", 1.0))

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]})
    mlflow.pyfunc.save_model(
        tmp_path / "m",
        python_model=Scaler(),
        artifacts={"factor": str(tmp_path / "factor.txt")},
        code_paths=[str(code / "crossing_scaling.py")],
        signature=mlflow.models.infer_signature(frame, params={"k": 1.0}),
        pip_requirements=["pandas"],
    )
    assert "crossing_scaling" not in sys.modules
    loaded = gitml.load_model(tmp_path / "m")
    assert loaded.predict(frame).tolist() == [2.5, 5.0]
    assert loaded.predict(frame, params={"k": 2.0}).tolist() == [5.0, 10.0]
    assert str(tmp_path / "m" / "code") in sys.path


@pytest.mark.slow
def test_pytorch_folders_mlflow_saved_predict_the_same_in_gitml(mlflow, tmp_path):
    import mlflow.pytorch
    import torch

    net, X = train_torch()
    with torch.no_grad():
        expected = net(torch.as_tensor(X)).numpy()
    given = {"pip_requirements": ["torch"]}
    mlflow.pytorch.save_model(net, tmp_path / "pt2", input_example=X[:4], **given)  # the default
    mlflow.pytorch.save_model(net, tmp_path / "pickled", serialization_format="pickle", **given)
    for name in ("pt2", "pickled"):
        loaded = gitml.load_model(tmp_path / name)
        assert np.allclose(loaded.predict(X), expected, atol=1e-6), name


def _python_model_class():
    class Weighted(gitml.PythonModel):
        def load_context(self, context):
            self.weight = float(Path(context.artifacts["weight"]).read_text())

        def predict(self, context, model_input, params=None):
            return (model_input["a"] * self.weight + params["shift"]).to_numpy()

    return Weighted


def test_gitml_saved_folders_predict_the_same_in_mlflow(mlflow, sklearn_model, tmp_path):
    model, X = sklearn_model
    gitml.save_model(model, tmp_path / "sk", input_example=X.iloc[:2])
    gitml.save_model(model, tmp_path / "proba", predict_fn="predict_proba")
    gitml.save_model(model, tmp_path / "decision", predict_fn="decision_function")
    (tmp_path / "weight.txt").write_text("3")
    gitml.save_model(
        _python_model_class()(),
        tmp_path / "py",
        artifacts={"weight": str(tmp_path / "weight.txt")},
        input_example=(X.iloc[:2], {"shift": 1.0}),
    )
    expected = {
        "sk": model.predict(X),
        "proba": model.predict_proba(X),
        "decision": model.decision_function(X),
        "py": X["a"].to_numpy() * 3 + 1.0,
    }
    for name, wanted in expected.items():
        theirs = mlflow.pyfunc.load_model(str(tmp_path / name)).predict(X)
        ours = gitml.load_model(tmp_path / name).predict(X)
        assert np.allclose(theirs, wanted) and np.allclose(ours, wanted), name
    shifted = mlflow.pyfunc.load_model(str(tmp_path / "py")).predict(X, params={"shift": 2.0})
    assert np.allclose(shifted, expected["py"] + 1.0)

    read = mlflow.models.Model.load(str(tmp_path / "sk"))
    assert read.signature.inputs.input_names() == COLUMNS
    example = read.load_input_example(str(tmp_path / "sk"))
    assert example.to_numpy().tolist() == X.iloc[:2].to_numpy().tolist()


@pytest.mark.slow
def test_a_gitml_pytorch_folder_predicts_the_same_in_mlflow(mlflow, tmp_path):
    net, X = train_torch()
    gitml.save_model(net, tmp_path / "net", input_example=X[:2])
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "net")).predict(X)
    assert np.allclose(theirs, gitml.load_model(tmp_path / "net").predict(X))


@pytest.mark.slow
def test_mlflow_models_serve_answers_a_gitml_model(tmp_path, sklearn_model):
    """MLflow's own server, in this environment (`--env-manager local`), imports gitml's
    loader for a PythonModel gitml saved."""
    _, X = sklearn_model
    (tmp_path / "weight.txt").write_text("3")
    gitml.save_model(
        _python_model_class()(),
        tmp_path / "py",
        artifacts={"weight": str(tmp_path / "weight.txt")},
        input_example=(X.iloc[:2], {"shift": 1.0}),
    )
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(tmp_path / "py")]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_for_ping(server, port)
        request = json.loads((tmp_path / "py" / "serving_input_example.json").read_text())
        status, answer = _post(port, request)
        assert status == 200
        assert answer == {"predictions": (X["a"].iloc[:2] * 3 + 1.0).tolist()}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_for_ping(server: subprocess.Popen, port: int) -> None:
    import http.client

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mlflow models serve exited: {server.stderr.read().decode()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("mlflow models serve did not answer /ping within 180 s")


def _post(port: int, body: dict) -> tuple[int, dict]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/invocations", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())
