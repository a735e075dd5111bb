"""The plain `python_function` flavor: a `PythonModel`, any object with `predict`, or a callable.

The object is pickled with cloudpickle, so classes and functions defined in the training
script itself travel inside the model. Extra files (`artifacts=`) are copied into the
model folder and handed to `PythonModel.load_context` as local paths.
"""

import inspect
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.errors import ModelError
from gitml.models.flavors.common import FlavorSave

MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


@dataclass
class PythonModelContext:
    """What `load_context` gets: `artifacts` maps each name given at save time to a local path."""

    artifacts: dict[str, str] = field(default_factory=dict)


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


def save(model: Any, folder: Path, artifacts: dict[str, str] | None = None) -> FlavorSave:
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
    with open(folder / MODEL_FILE, "wb") as handle:
        cloudpickle.dump(model, handle)
    return FlavorSave(
        flavor=None,
        conf={},
        pyfunc={
            "loader_module": __name__,
            "python_model": MODEL_FILE,
            "kind": kind,
            "artifacts": stored,
        },
        packages=["cloudpickle"],
    )


def _copy_artifacts(artifacts: dict[str, str], folder: Path) -> dict[str, str]:
    """Copy each named file or folder under `artifacts/<name>/`; name → path in the model."""
    stored = {}
    for name, source in artifacts.items():
        source_path = Path(source)
        if not source_path.exists():
            raise ModelError(f"artifact {name!r}: {source} does not exist")
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


def load(folder: Path, pyfunc: dict) -> PyfuncPredictor:
    import pickle

    with open(folder / pyfunc.get("python_model", MODEL_FILE), "rb") as handle:
        model = pickle.load(handle)
    context = PythonModelContext(
        artifacts={name: str(folder / path) for name, path in pyfunc.get("artifacts", {}).items()}
    )
    kind = pyfunc.get("kind", "python_model")
    if kind == "python_model":
        model.load_context(context)
    return PyfuncPredictor(model, kind, context)
