"""`mlflow.sklearn` for scripts that `import gitml as mlflow`: save, log and load
scikit-learn models as gitml does (`gitml.save_model`, `gitml.log_model`,
`gitml.load_model`), with MLflow's argument names, and `autolog`
(`gitml.autologging.sklearn`).

A thin facade above the logging API; nothing heavy is imported until a function runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gitml.autologging.sklearn import autolog as autolog  # MLflow's gitml.sklearn.autolog
from gitml.errors import ModelError

if TYPE_CHECKING:
    from gitml.models.mlmodel import MLModel
    from gitml.models.save import ModelInfo


def save_model(
    sk_model: Any,
    path: str | os.PathLike,
    *,
    code_paths: list[str] | None = None,
    serialization_format: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict | None = None,
) -> MLModel:
    """Save a scikit-learn estimator or pipeline to the new folder `path`; returns its
    MLmodel. `serialization_format` is `pickle` (the default) or `cloudpickle`."""
    from gitml.models.save import options_from_mlflow, save_with

    _check(sk_model)
    options = options_from_mlflow(
        signature,
        input_example,
        pip_requirements,
        extra_pip_requirements,
        code_paths,
        metadata,
        predict_fn=pyfunc_predict_fn,
        serialization_format=serialization_format or "pickle",
    )
    return save_with(sk_model, path, options)


def log_model(
    sk_model: Any,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    code_paths: list[str] | None = None,
    serialization_format: str | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict | None = None,
) -> ModelInfo:
    """Log a scikit-learn estimator into the active run as `<name>/` (MLflow 3's `name`,
    or MLflow 2's `artifact_path`; default `model`). With `registered_model_name` it
    becomes that model's next version once the run is committed
    (`await_registration_for` is accepted and has nothing to wait for)."""
    from gitml.api import log_model as log

    _check(sk_model)
    return log(
        sk_model,
        name or artifact_path or "model",
        signature,
        input_example,
        pip_requirements,
        predict_fn=pyfunc_predict_fn,
        registered_model_name=registered_model_name,
        code_paths=code_paths,
        extra_pip_requirements=extra_pip_requirements,
        serialization_format=serialization_format,
        metadata=metadata,
    )


def load_model(model_uri: str | os.PathLike) -> Any:
    """The scikit-learn estimator itself (not a wrapper) of a model folder or URI
    (`runs:/…`, `models:/…`), saved by gitml or by MLflow."""
    from gitml.models.load import load_model as load

    return load(model_uri).unwrap()


def _check(sk_model: Any) -> None:
    from gitml.models.flavors import sklearn

    if not sklearn.matches(sk_model):
        kind = f"{type(sk_model).__module__}.{type(sk_model).__name__}"
        raise ModelError(f"gitml.sklearn saves scikit-learn estimators, not a {kind}")
