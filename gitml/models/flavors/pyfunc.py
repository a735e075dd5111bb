"""The plain `python_function` flavor: a `PythonModel`, any object with `predict`, or a callable.

The object is pickled with cloudpickle, so classes and functions defined in the training
script itself travel inside the model. Extra files (`artifacts=`) are copied into the
model folder and handed to `PythonModel.load_context` as local paths.

A `PythonModel` MLflow saved (loader `mlflow.pyfunc.model`) loads here too: its class
derives from MLflow's, so unpickling it needs mlflow installed.
"""

import inspect
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.errors import ModelError
from gitml.models.flavors.common import FlavorSave, add_code_path, inside
from gitml.models.mlmodel import PYFUNC, MLModel

MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"
# how MLflow may compress the pickle (its `python_model_compression`) → the module reading it
_COMPRESSIONS = {"lzma": "lzma", "bzip2": "bz2", "gzip": "gzip"}


@dataclass
class PythonModelContext:
    """What `load_context` gets: `artifacts` maps each name given at save time to a local
    path; `model_config` is MLflow's (a dict, empty unless the MLmodel gives one)."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict = field(default_factory=dict)


class PythonModel:
    """Subclass this for a model written in plain Python.

    `load_context(context)` runs once when the model is loaded (read `context.artifacts`);
    `predict(context, model_input, params=None)` returns the predictions.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Prepare the model from its artifacts; does nothing unless overridden."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict | None = None
    ) -> Any:
        raise NotImplementedError("a PythonModel subclass must define predict")


def matches(model: object) -> bool:
    return isinstance(model, PythonModel) or hasattr(model, "predict") or callable(model)


def kind_of(model: object) -> str:
    if isinstance(model, PythonModel):
        return "python_model"
    return "predict_method" if hasattr(model, "predict") else "callable"


def save(model: Any, folder: Path, artifacts: dict[str, Path] | None = None) -> FlavorSave:
    try:
        import cloudpickle
    except ImportError:
        raise ModelError(
            "saving a python_function model needs cloudpickle: pip install 'gitml[models]'"
        ) from None
    kind = kind_of(model)
    if kind == "python_model" and type(model).predict is PythonModel.predict:
        raise ModelError(f"{type(model).__name__} subclasses PythonModel but defines no predict")
    stored = _copy_artifacts(artifacts or {}, folder)
    pyfunc: dict[str, object] = {"loader_module": __name__, "python_model": MODEL_FILE}
    pyfunc.update(kind=kind, artifacts=stored)
    with open(folder / MODEL_FILE, "wb") as handle:
        cloudpickle.dump(model, handle)
    return FlavorSave(flavor=None, conf={}, pyfunc=pyfunc, packages=["cloudpickle"])


def _copy_artifacts(artifacts: dict[str, Path], folder: Path) -> dict[str, str]:
    """Copy each named file or folder under `artifacts/<name>/`; name → path in the model."""
    from gitml.store.paths import tree_path_problem

    stored = {}
    for name, source_path in artifacts.items():
        problem = tree_path_problem(name) if isinstance(name, str) else "is not text"
        if problem is not None or "/" in name:
            raise ModelError(f"artifact name {name!r} {problem or 'holds a /'}; use a plain name")
        if not source_path.exists():
            raise ModelError(f"artifact {name!r}: {source_path} does not exist")
        target = folder / ARTIFACTS_DIR / name / source_path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source_path.is_dir():
            shutil.copytree(source_path, target)
        else:
            shutil.copyfile(source_path, target)
        stored[name] = target.relative_to(folder).as_posix()
    return stored


class PyfuncPredictor:
    """Calls the user's object the way its kind expects."""

    takes_named_arrays = False  # user code gets DataFrames

    def __init__(self, model, kind: str, context: PythonModelContext):
        self.model = model
        self.kind = kind
        self.context = context
        if kind == "python_model":
            self._takes_context = "context" in inspect.signature(model.predict).parameters
        if kind == "callable":  # params by name or **kwargs, else as a second argument
            self._takes_params = _names_params(model) or _takes_second_argument(model)
            self._params_by_position = not _names_params(model)
        else:
            self._takes_params = _names_params(model.predict)

    def predict(self, data: Any, params: dict | None = None) -> Any:
        """Params reach the model only if it declares them (as MLflow drops them otherwise)."""
        if not self._takes_params:
            params = None
        if self.kind == "callable":
            if params is None:
                return self.model(data)
            return (
                self.model(data, params)
                if self._params_by_position
                else self.model(data, params=params)
            )
        extra = {"params": params} if params is not None else {}
        if self.kind == "python_model" and self._takes_context:
            return self.model.predict(self.context, data, **extra)
        return self.model.predict(data, **extra)


def _takes_second_argument(function) -> bool:
    parameters = _parameters(function)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _names_params(function) -> bool:
    return any(p.name == "params" or p.kind == p.VAR_KEYWORD for p in _parameters(function))


def _parameters(function) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []


def load(folder: Path, metadata: MLModel) -> PyfuncPredictor:
    """The model of a folder gitml saved, or of one MLflow saved from a `PythonModel`."""
    pyfunc = metadata.flavors[PYFUNC]
    if "model_code_path" in pyfunc:
        raise ModelError(
            f"{folder}: the model was saved from code (MLflow's models from code), which "
            "gitml does not load; save the PythonModel object itself"
        )
    path = inside(folder, pyfunc.get("python_model", MODEL_FILE), "python_model")
    compression = pyfunc.get("python_model_compression")
    if compression is not None and compression not in _COMPRESSIONS:
        raise ModelError(f"{folder}: the model is compressed as {compression!r}, unknown here")
    context = PythonModelContext(
        artifacts=_artifact_paths(folder, pyfunc.get("artifacts") or {}),
        model_config=dict(pyfunc.get("model_config") or {}),
    )
    kind = pyfunc.get("kind", "python_model")
    if kind not in ("python_model", "predict_method", "callable"):
        raise ModelError(f"{folder}: the MLmodel's python_function kind {kind!r} is unknown")
    add_code_path(folder, pyfunc)
    model = _unpickle(path, compression)
    if kind == "python_model":
        model.load_context(context)
    return PyfuncPredictor(model, kind, context)


def _artifact_paths(folder: Path, artifacts: object) -> dict[str, str]:
    """name → local path of each artifact; gitml writes `name: path`, MLflow
    `name: {path: …, uri: …}`. Each path is checked to stay inside the folder."""
    if not isinstance(artifacts, dict):
        raise ModelError(f"{folder}: the MLmodel's artifacts are not a mapping")
    paths = {}
    for name, entry in artifacts.items():
        relative = entry.get("path") if isinstance(entry, dict) else entry
        paths[str(name)] = str(inside(folder, relative, f"artifact {str(name)!r}"))
    return paths


def _unpickle(path: Path, compression: str | None) -> Any:
    import importlib
    import pickle

    opener = importlib.import_module(_COMPRESSIONS[compression]).open if compression else open
    with opener(path, "rb") as handle:
        try:
            return pickle.load(handle)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] == "mlflow":
                raise ModelError(
                    f"{path.parent}: the model is an MLflow PythonModel, which needs mlflow "
                    "installed to load (pip install mlflow)"
                ) from None
            raise


def _load_pyfunc(path: str, model_config: dict | None = None) -> Any:
    """MLflow's entry point, for the folders whose MLmodel names this module."""
    from gitml.models.load import mlflow_entry

    return mlflow_entry(path)
