"""MLflow's model namespaces for scripts that `import gitml as mlflow`: gitml.sklearn,
gitml.pyfunc, gitml.pytorch and gitml.models, `registered_model_name=`, and a PythonModel
whose artifacts name other logged models by `runs:/` or `models:/` URI."""

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

import gitml
from gitml.errors import ModelError, RegistryError
from gitml.registry.operations import load_registry
from tests.models_helpers import train_sklearn, train_torch
from tests.utils import gitml as gitml_cli

MLFLOW_SCRIPT = """
import sys
from pathlib import Path

import gitml as mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression

X = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [0.5, 1, 1, 0]})
y = [0, 1, 0, 1]
with mlflow.start_run() as run:
    model = LogisticRegression().fit(X, y)
    signature = mlflow.models.infer_signature(X, model.predict(X))
    info = mlflow.sklearn.log_model(
        model, name="model", signature=signature, input_example=X.iloc[:2],
        registered_model_name="wine",
    )
Path("out.json").write_text(json.dumps({
    "uri": info.model_uri,
    "inputs": info.signature.inputs,
    "mlflow_imported": "mlflow" in sys.modules,
}))
"""


def _script(repo, text: str) -> None:
    (repo / "train.py").write_text("import json\n" + textwrap.dedent(text))


def test_an_mlflow_script_logs_and_registers_with_import_gitml_as_mlflow(repo_with_commit):
    repo = repo_with_commit
    _script(repo, MLFLOW_SCRIPT)
    subprocess.run([sys.executable, "train.py"], cwd=repo, check=True)
    out = json.loads((repo / "train.py").with_name("out.json").read_text())
    assert out["inputs"] == [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]
    assert out["mlflow_imported"] is False
    wine = load_registry(repo)["wine"]
    (version,) = wine.versions.values()
    assert version.version == "v0.0.1" and version.artifact == "model"
    assert out["uri"] == f"runs:/{version.run_id}/model"
    loaded = gitml.load_model("models:/wine/latest", repo=repo)
    frame = pd.DataFrame({"a": [1.0, 4.0], "b": [0.5, 0.0]})
    assert loaded.predict(frame).tolist() == loaded.unwrap().predict(frame).tolist()


def test_under_gitml_run_the_wrapper_registers_once_it_commits(repo_with_commit):
    repo = repo_with_commit
    _script(repo, MLFLOW_SCRIPT)
    result = gitml_cli(repo, "run", "--name", "trained", "--", sys.executable, "train.py")
    assert "gitml: registered wine v0.0.1 from run trained (model)" in result.stderr
    (version,) = load_registry(repo)["wine"].versions.values()
    assert json.loads((repo / "out.json").read_text())["uri"] == f"runs:/{version.run_id}/model"

    failing = MLFLOW_SCRIPT + "\nraise SystemExit(3)\n"
    _script(repo, failing)
    result = gitml_cli(repo, "run", "--", sys.executable, "train.py", check=False)
    assert result.returncode == 3
    assert "warning: wine was not registered: run " in result.stderr
    assert "ended failed" in result.stderr
    assert len(load_registry(repo)["wine"].versions) == 1


def test_a_name_the_registry_refuses_is_refused_when_the_model_is_logged(repo_with_commit):
    model, X = train_sklearn()
    with gitml.start_run(repo=repo_with_commit) as run:
        with pytest.raises(RegistryError, match="registered_model_name 'Wine Model' cannot name"):
            gitml.sklearn.log_model(model, name="m", registered_model_name="Wine Model")
        assert not run.has_artifact("m")
    assert load_registry(repo_with_commit) == {}


def test_a_python_model_wraps_other_logged_models_by_uri(repo_with_commit, monkeypatch):
    monkeypatch.chdir(repo_with_commit)
    model, X = train_sklearn()
    with gitml.start_run(name="base"):
        gitml.sklearn.log_model(model, "clf", registered_model_name="churn")
        gitml.log_text("3", "weights/factor.txt")

    class Factor(gitml.pyfunc.PythonModel):
        def load_context(self, context):
            with open(context.artifacts["factor"] + "/factor.txt") as handle:
                self.factor = float(handle.read())

        def predict(self, context, model_input, params=None):
            return model_input["a"] * self.factor

    artifacts = {"by_run": "runs:/base/clf", "by_name": "models:/churn/latest"}
    with gitml.start_run(name="wrapper"):
        info = gitml.pyfunc.log_model(name="combined", python_model=_Sum(), artifacts=artifacts)
        gitml.pyfunc.log_model(
            "scaled", python_model=Factor(), artifacts={"factor": "runs:/base/weights"}
        )
    combined = gitml.pyfunc.load_model(info.model_uri)
    assert combined.predict(X).tolist() == (model.predict(X) * 2).tolist()
    assert (
        gitml.pyfunc.load_model("runs:/wrapper/scaled").predict(X).tolist() == (X["a"] * 3).tolist()
    )
    mlmodel = yaml.safe_load((combined.folder / "MLmodel").read_text())
    stored = mlmodel["flavors"]["python_function"]["artifacts"]
    assert stored == {"by_run": "artifacts/by_run/clf", "by_name": "artifacts/by_name/clf"}
    with gitml.start_run(), pytest.raises(ModelError, match="has no artifact 'nothing'"):
        gitml.pyfunc.log_model("bad", python_model=Factor(), artifacts={"x": "runs:/base/nothing"})


class _Sum(gitml.PythonModel):
    """The sum of the predictions of the models its artifacts hold."""

    def load_context(self, context):
        self.models = [gitml.pyfunc.load_model(path) for path in context.artifacts.values()]

    def predict(self, context, model_input, params=None):
        return sum(model.predict(model_input) for model in self.models)


def test_gitml_models_speaks_mlflow_s_signature_names(tmp_path):
    frame = pd.DataFrame({"a": [1.0], "b": [2]})
    signature = gitml.models.infer_signature(frame, np.array([0.5]), params={"k": 1})
    assert isinstance(signature, gitml.models.ModelSignature)
    assert signature.inputs == [{"name": "a", "type": "double"}, {"name": "b", "type": "long"}]
    assert signature.outputs == {"type": "tensor", "dtype": "float64", "shape": [-1]}
    assert signature.params == [{"name": "k", "type": "long", "default": 1, "shape": None}]
    written = signature.to_dict()
    assert json.loads(written["inputs"])[0] == {"type": "double", "name": "a", "required": True}
    assert gitml.models.ModelSignature.from_dict(written) == signature

    gitml.save_model(lambda rows: rows["a"], tmp_path / "m", signature=signature)
    model = gitml.models.Model.load(tmp_path / "m" / "MLmodel")
    assert model.signature == signature
    assert model.get_input_schema() == signature.inputs


def test_the_namespaces_take_only_their_own_kind_of_model(tmp_path):
    model, _ = train_sklearn()
    with pytest.raises(ModelError, match="gitml.sklearn saves scikit-learn estimators, not a"):
        gitml.sklearn.save_model(lambda rows: rows, tmp_path / "f")
    with pytest.raises(ModelError, match="gitml.pytorch saves torch.nn.Module objects"):
        gitml.pytorch.save_model(model, tmp_path / "p")
    with pytest.raises(ModelError, match="not a loader_module with data_path"):
        gitml.pyfunc.save_model(tmp_path / "l", loader_module="my_loader", data_path="d")
    assert not any((tmp_path / name).exists() for name in ("f", "p", "l"))

    gitml.sklearn.save_model(model, tmp_path / "sk", serialization_format="cloudpickle")
    assert gitml.sklearn.load_model(tmp_path / "sk").coef_.tolist() == model.coef_.tolist()
    mlmodel = yaml.safe_load((tmp_path / "sk" / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"
    with pytest.raises(ModelError, match="as pickle or cloudpickle, not 'skops'"):
        gitml.sklearn.save_model(model, tmp_path / "skops", serialization_format="skops")


@pytest.mark.slow
def test_gitml_pytorch_saves_and_loads_the_module(tmp_path):
    import torch

    net, X = train_torch()
    gitml.pytorch.save_model(net, tmp_path / "net")
    loaded = gitml.pytorch.load_model(tmp_path / "net")
    assert isinstance(loaded, torch.nn.Module) and not loaded.training
    with torch.no_grad():
        assert torch.allclose(loaded(torch.as_tensor(X)), net(torch.as_tensor(X)))


def test_code_paths_travel_with_the_model(tmp_path):
    code = tmp_path / "src" / "namespaces_helpers"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("def twice(x):\n    return x * 2\n")

    def predict(rows):
        from namespaces_helpers import twice

        return twice(rows["a"])

    gitml.pyfunc.save_model(tmp_path / "m", python_model=predict, code_paths=[str(code)])
    assert (tmp_path / "m" / "code" / "namespaces_helpers" / "__init__.py").is_file()
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gitml.pyfunc.load_model(tmp_path / "m").predict(frame).tolist() == [2.0, 4.0]


def test_import_gitml_stays_light_with_the_namespaces():
    code = (
        "import sys, gitml\n"
        "gitml.sklearn, gitml.pyfunc, gitml.pytorch, gitml.models.ModelSignature\n"
        "heavy = ('sklearn', 'torch', 'numpy', 'pandas', 'mlflow', 'dulwich')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
