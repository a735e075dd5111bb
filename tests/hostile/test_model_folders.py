"""Model folders from someone else: whatever their MLmodel file says, gitml imports only
its own flavor loaders, reads only files inside the folder, and refuses an oversized
signature, each before any of the model is unpickled."""

import json
import os
import pickle
import subprocess
import sys

import pytest
import yaml

import gitml
from gitml.errors import ModelError


class _Bomb:
    """Unpickling it makes the folder `marker`: proof that the model was loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _mlflow_folder(folder, marker, pyfunc=None, signature=None, flavors=None) -> None:
    """A folder in MLflow's sklearn layout whose model.pkl runs `_Bomb` when unpickled."""
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(_Bomb(str(marker))))
    conf = {"loader_module": "mlflow.sklearn", "model_path": "model.pkl", **(pyfunc or {})}
    mlmodel = {
        "flavors": {"python_function": conf, "sklearn": {"serialization_format": "pickle"}},
        "signature": signature,
        **(flavors or {}),
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def test_the_bomb_goes_off_when_the_folder_is_loaded(tmp_path):
    """The fixture's own check: a well-formed folder does unpickle its model."""
    _mlflow_folder(tmp_path / "m", tmp_path / "ran")
    with pytest.raises(ModelError):
        gitml.load_model(tmp_path / "m")  # os.mkdir returns None, no estimator
    assert (tmp_path / "ran").is_dir()


def test_a_loader_outside_the_flavors_is_refused_and_nothing_is_imported(tmp_path, monkeypatch):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "evil_loader.py").write_text(f"import os\nos.mkdir({str(tmp_path / 'ran')!r})\n")
    monkeypatch.syspath_prepend(str(modules))
    for index, loader in enumerate(("evil_loader", "os", ["mlflow.sklearn"])):
        _mlflow_folder(tmp_path / f"m{index}", tmp_path / "ran", {"loader_module": loader})
        with pytest.raises(ModelError, match="which gitml does not load .*nothing of it"):
            gitml.load_model(tmp_path / f"m{index}")
    assert "evil_loader" not in sys.modules
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    ("pyfunc", "message"),
    [
        ({"model_path": "../outside.pkl"}, r"model_path '\.\./outside\.pkl' has a '\.\.' part"),
        ({"model_path": "/etc/passwd"}, "model_path '/etc/passwd' is absolute"),
        ({"model_path": "link.pkl"}, "leads out of the folder through a symbolic link"),
        ({"code": "../modules"}, r"code folder '\.\./modules' has a '\.\.' part"),
        ({"model_path": {"a": 1}}, "model_path is not a path"),
    ],
)
def test_paths_that_leave_the_folder_are_refused_before_loading(tmp_path, pyfunc, message):
    (tmp_path / "outside.pkl").write_bytes(pickle.dumps(_Bomb(str(tmp_path / "ran"))))
    _mlflow_folder(tmp_path / "m", tmp_path / "ran", pyfunc)
    (tmp_path / "m" / "link.pkl").symlink_to(tmp_path / "outside.pkl")
    with pytest.raises(ModelError, match=message):
        gitml.load_model(tmp_path / "m")
    assert not (tmp_path / "ran").exists()


def test_python_model_artifacts_that_leave_the_folder_are_refused(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "python_model.pkl").write_bytes(pickle.dumps(_Bomb(str(tmp_path / "ran"))))
    pyfunc = {
        "loader_module": "mlflow.pyfunc.model",
        "python_model": "python_model.pkl",
        "artifacts": {"data": {"path": "../../secrets", "uri": "x"}},
    }
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": pyfunc}}))
    with pytest.raises(ModelError, match=r"artifact 'data' '\.\./\.\./secrets' has a '\.\.' part"):
        gitml.load_model(folder)
    assert not (tmp_path / "ran").exists()


def test_a_huge_or_malformed_signature_is_refused_before_loading(tmp_path):
    columns = [{"type": "double", "name": f"c{i}", "required": True} for i in range(80_000)]
    huge = json.dumps(columns)
    assert len(huge) > 4 << 20
    cases = [
        ({"inputs": huge}, r"signature inputs is [\d,]+ characters of JSON; gitml reads at most"),
        ({"inputs": "[" * 5000 + "]" * 5000}, "nested more than 100 levels deep"),
        ({"inputs": '[{"type": "decimal", "name": "a"}]'}, "column 'a' has type 'decimal'"),
        ({"inputs": '{"not": "a list"}'}, "signature inputs is not a list of column or tensor"),
        ({"params": '[{"name": "k", "type": "double", "default": "x"}]'}, "default is wrong"),
        (["inputs"], "signature is not a mapping"),
    ]
    for index, (signature, message) in enumerate(cases):
        folder = tmp_path / f"m{index}"
        _mlflow_folder(folder, tmp_path / "ran", signature=signature)
        with pytest.raises(ModelError, match=message):
            gitml.load_model(folder)
    assert not (tmp_path / "ran").exists()


def test_a_pytorch_folder_naming_another_pickle_module_is_refused(tmp_path):
    folder = tmp_path / "m"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "model.pth").write_bytes(pickle.dumps(_Bomb(str(tmp_path / "ran"))))
    (folder / "data" / "pickle_module_info.txt").write_text("evil_pickle")
    pyfunc = {"loader_module": "mlflow.pytorch", "data": "data"}
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": pyfunc}}))
    with pytest.raises(ModelError, match="names the pickle module 'evil_pickle'; gitml reads"):
        gitml.load_model(folder)
    assert not (tmp_path / "ran").exists()


def test_gitml_predict_says_it_in_one_line(tmp_path):
    _mlflow_folder(tmp_path / "m", tmp_path / "ran", {"loader_module": "subprocess"})
    (tmp_path / "in.json").write_text(json.dumps({"inputs": [[1.0]]}))
    result = subprocess.run(
        [sys.executable, "-m", "gitml", "predict", "-m", str(tmp_path / "m")]
        + ["-i", str(tmp_path / "in.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("gitml: error: ") and result.stderr.count("\n") == 1
    assert "names the loader 'subprocess', which gitml does not load" in result.stderr
    assert not (tmp_path / "ran").exists()
