"""`mlflow.pyfunc` for scripts that `import gitml as mlflow`: `PythonModel`, and saving,
logging and loading models written in plain Python, with MLflow's argument names.

`artifacts=` maps names to local files or folders, or to a `runs:/RUN/PATH` or
`models:/NAME/VERSION` URI of another logged model (or any artifact), which is copied
into the new model; `load_context` finds each as a local path in `context.artifacts`.

A thin facade above the logging API; nothing heavy is imported until a function runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gitml.errors import ModelError
from gitml.models.flavors.pyfunc import PythonModel, PythonModelContext
from gitml.models.load import PyFuncModel

if TYPE_CHECKING:
    from gitml.models.mlmodel import MLModel
    from gitml.models.save import ModelInfo

__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]


def save_model(
    path: str | os.PathLike,
    *,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    code_paths: list[str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
) -> MLModel:
    """Save `python_model` (a `PythonModel`, an object with `predict`, or a function) to
    the new folder `path`; returns its MLmodel."""
    from gitml.models.save import options_from_mlflow, save_with

    _check(python_model, loader_module, data_path)
    options = options_from_mlflow(
        signature,
        input_example,
        pip_requirements,
        extra_pip_requirements,
        code_paths,
        metadata,
        artifacts=artifacts or {},
    )
    return save_with(python_model, path, options)


def log_model(
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
) -> ModelInfo:
    """Log `python_model` into the active run as `<name>/` (MLflow 3's `name`, or MLflow
    2's `artifact_path`; default `model`); `registered_model_name` as in
    `gitml.sklearn.log_model`."""
    from gitml.api import log_model as log

    _check(python_model, loader_module, data_path)
    return log(
        python_model,
        name or artifact_path or "model",
        signature,
        input_example,
        pip_requirements,
        artifacts,
        registered_model_name=registered_model_name,
        code_paths=code_paths,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def load_model(model_uri: str | os.PathLike, suppress_warnings: bool = False) -> PyFuncModel:
    """The model of a folder or URI (`runs:/…`, `models:/…`), of any flavor, saved by
    gitml or by MLflow, as an object whose `predict(data, params=None)` checks the
    input against the signature (`gitml.load_model`)."""
    from gitml.models.load import load_model as load

    return load(model_uri)


def _check(python_model: Any, loader_module: str | None, data_path: str | None) -> None:
    if loader_module is not None or data_path is not None:
        raise ModelError(
            "gitml saves a python_model object, not a loader_module with data_path: wrap "
            "the loading in a PythonModel whose load_context reads the data from an artifact"
        )
    if python_model is None:
        raise ModelError("pass the model as python_model= (a PythonModel or a function)")
