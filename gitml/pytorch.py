"""`mlflow.pytorch` for scripts that `import gitml as mlflow`: save, log and load
`torch.nn.Module`s as gitml does (the weights as a state dict, read back without running
code, plus the architecture), with MLflow's argument names.

A thin facade above the logging API; torch is imported only by a function that needs it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gitml.errors import ModelError

if TYPE_CHECKING:
    from gitml.models.mlmodel import MLModel
    from gitml.models.save import ModelInfo


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike,
    *,
    code_paths: list[str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict | None = None,
) -> MLModel:
    """Save a `torch.nn.Module` to the new folder `path`; returns its MLmodel."""
    from gitml.models.save import options_from_mlflow, save_with

    _check(pytorch_model)
    options = options_from_mlflow(
        signature, input_example, pip_requirements, extra_pip_requirements, code_paths, metadata
    )
    return save_with(pytorch_model, path, options)


def log_model(
    pytorch_model: Any,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict | None = None,
) -> ModelInfo:
    """Log a `torch.nn.Module` into the active run as `<name>/` (MLflow 3's `name`, or
    MLflow 2's `artifact_path`; default `model`); `registered_model_name` as in
    `gitml.sklearn.log_model`."""
    from gitml.api import log_model as log

    _check(pytorch_model)
    return log(
        pytorch_model,
        name or artifact_path or "model",
        signature,
        input_example,
        pip_requirements,
        registered_model_name=registered_model_name,
        code_paths=code_paths,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def load_model(model_uri: str | os.PathLike) -> Any:
    """The `torch.nn.Module` itself, in eval mode, of a model folder or URI, saved by
    gitml or by MLflow."""
    from gitml.models.load import load_model as load

    return load(model_uri).unwrap()


def _check(pytorch_model: Any) -> None:
    from gitml.models.flavors import pytorch

    if not pytorch.matches(pytorch_model):
        kind = f"{type(pytorch_model).__module__}.{type(pytorch_model).__name__}"
        raise ModelError(f"gitml.pytorch saves torch.nn.Module objects, not a {kind}")
