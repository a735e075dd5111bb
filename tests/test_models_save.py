"""Saving and loading models as folders: sklearn, pytorch, python_function; signatures."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

import gitml
from gitml.errors import ModelError, ModelInputError
from tests.models_helpers import COLUMNS, train_sklearn, train_torch


def test_sklearn_model_round_trips_with_its_mlmodel_and_environment(tmp_path):
    from importlib.metadata import version

    model, X = train_sklearn()
    metadata = gitml.save_model(model, tmp_path / "m", input_example=X.iloc[:2])

    folder = tmp_path / "m"
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert mlmodel["flavors"]["sklearn"]["sklearn_version"] == version("scikit-learn")
    assert mlmodel["python_version"] == ".".join(map(str, sys.version_info[:3]))
    columns = [{"type": "double", "name": c, "required": True} for c in COLUMNS]
    assert mlmodel["signature"] == {"inputs": json.dumps(columns), "outputs": None, "params": None}
    assert mlmodel["model_uuid"] == metadata.model_uuid and len(metadata.model_uuid) == 32
    assert mlmodel["utc_time_created"] and mlmodel["run_id"] is None
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={version('scikit-learn')}" in requirements
    assert f"numpy=={version('numpy')}" in requirements
    conda = yaml.safe_load((folder / "conda.yaml").read_text())
    assert conda["dependencies"][0] == f"python={mlmodel['python_version']}"
    assert conda["dependencies"][2] == {"pip": requirements}
    example = json.loads((folder / "input_example.json").read_text())
    assert example == {"columns": COLUMNS, "data": X.iloc[:2].to_numpy().tolist()}
    request = json.loads((folder / "serving_input_example.json").read_text())
    assert request == {"dataframe_split": example}
    assert mlmodel["saved_input_example_info"] == {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }
    python_env = yaml.safe_load((folder / "python_env.yaml").read_text())
    assert python_env["python"] == mlmodel["python_version"]
    assert python_env["dependencies"] == ["-r requirements.txt"]

    loaded = gitml.load_model(folder)
    expected = model.predict(X).tolist()
    assert loaded.predict(X).tolist() == expected
    assert loaded.predict(X.to_dict(orient="records")).tolist() == expected
    assert loaded.predict({c: X[c].tolist() for c in COLUMNS}).tolist() == expected
    assert loaded.predict(X.to_numpy()).tolist() == expected
    assert loaded.predict(X[["c", "a", "b"]]).tolist() == expected  # columns by name
    assert loaded.unwrap().coef_.tolist() == model.coef_.tolist()


def test_signature_errors_name_the_column(tmp_path):
    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "m", input_example=X.iloc[:2])
    loaded = gitml.load_model(tmp_path / "m")

    with pytest.raises(ModelInputError, match=r"input column 'b' is missing; .*expects: a, b, c"):
        loaded.predict(X.drop(columns=["b"]))
    bad = X.iloc[:2].assign(c=["x", "y"])
    wrong = r"input column 'c' has text \('x'\) values but the model's signature expects double"
    with pytest.raises(ModelInputError, match=wrong):
        loaded.predict(bad)
    with pytest.raises(ModelInputError, match=r"expects 3 named columns .*shape \[2, 2\]"):
        loaded.predict(np.zeros((2, 2)))
    # integers widen to the declared double
    assert loaded.predict(pd.DataFrame({"a": [3], "b": [-3], "c": [0]})).tolist() == [1]


def test_saving_into_a_non_empty_folder_is_refused_and_writes_nothing(tmp_path):
    model, _ = train_sklearn()
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ModelError, match="already exists and is not empty"):
        gitml.save_model(model, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


class Scaler(gitml.PythonModel):
    """Multiplies the input by a factor read from an artifact file."""

    def load_context(self, context):
        with open(context.artifacts["factor"]) as handle:
            self.factor = float(handle.read())

    def predict(self, context, model_input, params=None):
        offset = (params or {}).get("offset", 0)
        return model_input.to_numpy().sum(axis=1) * self.factor + offset


class WithPredict:
    def predict(self, frame):
        return frame["a"] * 2


def test_python_function_models_of_each_kind(tmp_path):
    factor = tmp_path / "factor.txt"
    factor.write_text("10")
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.0]})

    example = (frame, {"offset": 0})  # declares the param `offset`, default 0
    gitml.save_model(
        Scaler(), tmp_path / "scaler", artifacts={"factor": str(factor)}, input_example=example
    )
    factor.write_text("99")  # the model keeps its own copy
    scaler = gitml.load_model(tmp_path / "scaler")
    assert scaler.predict(frame).tolist() == [15.0, 20.0]
    assert scaler.predict(frame, params={"offset": 1}).tolist() == [16.0, 21.0]
    assert (tmp_path / "scaler" / "artifacts" / "factor" / "factor.txt").read_text() == "10"

    gitml.save_model(WithPredict(), tmp_path / "obj")
    assert gitml.load_model(tmp_path / "obj").predict(frame).tolist() == [2.0, 4.0]

    gitml.save_model(
        lambda x: np.asarray(x).sum(axis=1), tmp_path / "fn", requirements=["tinypkg>=1.0", "numpy"]
    )
    assert gitml.load_model(tmp_path / "fn").predict([[1, 2], [3, 4]]).tolist() == [3, 7]
    from importlib.metadata import version

    assert (tmp_path / "fn" / "requirements.txt").read_text().splitlines() == [
        f"cloudpickle=={version('cloudpickle')}",
        "tinypkg>=1.0",
        f"numpy=={version('numpy')}",
    ]


@pytest.mark.slow
def test_pytorch_model_round_trips_as_state_dict_and_architecture(tmp_path):
    from importlib.metadata import version

    import torch

    model, X = train_torch()
    gitml.save_model(model, tmp_path / "net", input_example=X[:2])

    mlmodel = yaml.safe_load((tmp_path / "net" / "MLmodel").read_text())
    assert mlmodel["flavors"]["pytorch"]["pytorch_version"] == version("torch")
    tensor = {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}
    assert json.loads(mlmodel["signature"]["inputs"]) == [tensor]
    weights = torch.load(tmp_path / "net" / "state_dict.pt", weights_only=True)
    assert set(weights) == {"hidden.weight", "hidden.bias", "out.weight", "out.bias"}

    loaded = gitml.load_model(tmp_path / "net")
    with torch.no_grad():
        expected = model(torch.as_tensor(X)).numpy()
    assert np.allclose(loaded.predict(X), expected)
    assert np.allclose(loaded.predict(X.astype("float64").tolist()), expected, atol=1e-6)
    with pytest.raises(ModelInputError, match=r"shape \[2, 4\] but .*expects \[-1, 3\]"):
        loaded.predict(np.zeros((2, 4), dtype="float32"))


def test_a_model_that_does_not_load_says_why(tmp_path):
    model, _ = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    (tmp_path / "m" / "linear.npz").write_bytes(b"not numbers")
    with pytest.raises(ModelError, match="the model failed to load: "):
        gitml.load_model(tmp_path / "m")
    (tmp_path / "m" / "linear.npz").unlink()  # the pickled estimator is used instead
    (tmp_path / "m" / "model.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match="the model failed to load: UnpicklingError"):
        gitml.load_model(tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("python_version: 3.", "python_version: 2."))
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    with pytest.raises(ModelError, match=rf"saved with Python 2\.\d+; this is Python {here}\)"):
        gitml.load_model(tmp_path / "m")
    with pytest.raises(ModelError, match="has no MLmodel file"):
        gitml.load_model(tmp_path)
    with pytest.raises(ModelError, match="neither a model folder nor a model URI"):
        gitml.load_model(tmp_path / "missing")
    with pytest.raises(ModelError, match="cannot save a builtins.int"):
        gitml.save_model(3, tmp_path / "int")


def test_import_gitml_stays_light():
    code = (
        "import sys, gitml\n"
        "gitml.load_model, gitml.save_model, gitml.log_model, gitml.PythonModel\n"
        "heavy = ('numpy', 'pandas', 'sklearn', 'torch', 'dulwich', 'yaml', 'uvicorn')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert {"log_model", "save_model", "load_model", "PythonModel"} <= set(gitml.__all__)


def test_numeric_requests_give_each_flavor_what_it_takes(tmp_path):
    """Numeric `dataframe_split` rows skip pandas where a model takes arrays; same answers."""
    from gitml.models.inputs import parse_payload

    def split(columns, rows):
        return parse_payload({"dataframe_split": {"columns": columns, "data": rows}})[0]

    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "named", input_example=X.iloc[:2])
    named = gitml.load_model(tmp_path / "named")
    rows = X.values.tolist()
    assert named.predict(split(COLUMNS, rows)).tolist() == model.predict(X).tolist()
    shuffled = X[["c", "a", "b"]]
    assert named.predict(split(["c", "a", "b"], shuffled.values.tolist())).tolist() == (
        model.predict(X).tolist()
    )
    with pytest.raises(ModelInputError, match="input column 'c' is missing"):
        named.predict(split(["a", "b"], X[["a", "b"]].values.tolist()))

    bare = type(model)().fit(X.to_numpy(), model.predict(X))  # fitted without names
    gitml.save_model(bare, tmp_path / "bare")
    assert gitml.load_model(tmp_path / "bare").predict(split(["x", "y", "z"], rows)).tolist() == (
        bare.predict(X.to_numpy()).tolist()
    )

    net, features = train_torch()
    gitml.save_model(net, tmp_path / "net", input_example=features[:2])
    out = gitml.load_model(tmp_path / "net").predict(split(COLUMNS, features.tolist()))
    assert out.shape == (len(features), 1)

    gitml.save_model(lambda frame: [type(frame).__name__], tmp_path / "fn")
    assert gitml.load_model(tmp_path / "fn").predict(split(COLUMNS, rows[:1])) == ["DataFrame"]


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ({"inputs": "junk"}, "the signature inputs: not valid JSON"),
        ({"inputs": None}, "the signature's inputs must be a list of"),
        ({"inputs": [{"name": "a", "type": "decimal"}]}, "column 'a' has type 'decimal'"),
        ({"inputs": {"type": "tensor", "dtype": "floaty", "shape": [-1]}}, "not a numpy dtype"),
    ],
)
def test_a_bad_signature_is_refused_at_save_time_and_writes_nothing(tmp_path, signature, message):
    with pytest.raises(ModelError, match=message):
        gitml.save_model(lambda frame: frame, tmp_path / "m", signature=signature)
    assert not (tmp_path / "m").exists()


def test_params_reach_a_plain_function_only_if_it_takes_them(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    declared = (frame, {"k": 1})  # the signature declares `k`
    gitml.save_model(lambda df: df["a"] * 2, tmp_path / "one", input_example=declared)
    gitml.save_model(
        lambda df, params: df["a"] * params["k"], tmp_path / "two", input_example=declared
    )
    gitml.save_model(
        lambda df, *, params=None: df["a"] + params["k"], tmp_path / "named", input_example=declared
    )
    gitml.save_model(lambda df, params=None: params, tmp_path / "undeclared")

    assert gitml.load_model(tmp_path / "one").predict(frame, params={"k": 5}).tolist() == [2, 4]
    assert gitml.load_model(tmp_path / "two").predict(frame, params={"k": 5}).tolist() == [5, 10]
    assert gitml.load_model(tmp_path / "named").predict(frame, params={"k": 5}).tolist() == [6, 7]
    assert gitml.load_model(tmp_path / "two").predict(frame).tolist() == [1, 2]  # the default
    with pytest.warns(UserWarning, match="params 'k' are not declared in the model's signature"):
        assert gitml.load_model(tmp_path / "undeclared").predict(frame, params={"k": 5}) is None


def test_folders_gitml_wrote_before_mlflow_s_layout_still_load(tmp_path):
    """Earlier gitml wrote its own loader names, the signature as YAML lists and the
    example as a scoring request; those folders load and check input as before."""
    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    old = {
        "artifact_path": None,
        "flavors": {
            "python_function": {
                "loader_module": "gitml.models.flavors.sklearn",
                "model_path": "model.pkl",
                "predict_fn": "predict",
                "env": {"conda": "conda.yaml", "pip": "requirements.txt"},
                "python_version": "3.11.7",
            },
            "sklearn": {"pickled_model": "model.pkl", "serialization_format": "pickle"},
        },
        "gitml_version": "0.1.0",
        "python_version": "3.11.7",
        "run_id": None,
        "signature": {"inputs": [{"name": c, "type": "double"} for c in COLUMNS]},
        "saved_input_example_info": {"artifact_path": "input_example.json"},
    }
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(old, sort_keys=False))
    loaded = gitml.load_model(tmp_path / "m")
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    with pytest.raises(ModelInputError, match="input column 'b' is missing"):
        loaded.predict(X.drop(columns=["b"]))

    gitml.save_model(lambda rows: rows.sum(axis=1), tmp_path / "fn")
    mlmodel = yaml.safe_load((tmp_path / "fn" / "MLmodel").read_text())
    mlmodel["signature"] = {"inputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 2]}}
    (tmp_path / "fn" / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    assert gitml.load_model(tmp_path / "fn").predict([[1, 2]]).tolist() == [3.0]
    with pytest.raises(ModelInputError, match=r"shape \[1, 3\] but .*expects \[-1, 2\]"):
        gitml.load_model(tmp_path / "fn").predict([[1, 2, 3]])


def test_mlflow_signatures_with_optional_and_nested_columns(tmp_path):
    """MLflow's `required: false` columns may be left out; its array, object and map
    columns are read as `any`: present, their values passed on as they are."""
    columns = [
        {"type": "double", "name": "a", "required": True},
        {"type": "long", "name": "b", "required": False},
        {"type": "array", "items": {"type": "string"}, "name": "tags", "required": True},
    ]
    signature = {"inputs": json.dumps(columns), "outputs": None, "params": None}
    gitml.save_model(lambda rows: list(rows.columns), tmp_path / "m", signature=signature)
    loaded = gitml.load_model(tmp_path / "m")
    assert loaded.signature["inputs"][2] == {"name": "tags", "type": "any"}
    full = pd.DataFrame({"tags": [["x"], []], "b": [1, 2], "a": [1.0, 2.0]})
    assert loaded.predict(full) == ["a", "b", "tags"]
    assert loaded.predict(full.drop(columns=["b"])) == ["a", "tags"]
    with pytest.raises(ModelInputError, match="input column 'tags' is missing"):
        loaded.predict(full.drop(columns=["tags"]))
    with pytest.raises(ModelInputError, match="input column 'b' has text"):
        loaded.predict(full.assign(b=["x", "y"]))
