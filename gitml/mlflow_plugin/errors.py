"""gitml's errors as MLflow's: the store and the artifact repository raise
`MlflowException` with the error code MLflow's clients and server expect (a REST
client sees 404 for a run that does not exist, 400 for a malformed filter)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)

from gitml.errors import (
    ArtifactError,
    DocumentError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    FilterSyntaxError,
    GitmlError,
    InvalidValueError,
    ModelExistsError,
    ModelNotFoundError,
    NotARepositoryError,
    RegistryError,
    RunNotFoundError,
    RunStateError,
    UnknownKeyError,
    UnsafePathError,
)

_CODES: list[tuple[tuple[type[GitmlError], ...], int]] = [
    (
        (RunNotFoundError, NotARepositoryError, ModelNotFoundError, ExperimentNotFoundError),
        RESOURCE_DOES_NOT_EXIST,
    ),
    ((ModelExistsError, ExperimentExistsError), RESOURCE_ALREADY_EXISTS),
    ((RunStateError,), INVALID_STATE),
    (
        (InvalidValueError, FilterSyntaxError, UnknownKeyError, ArtifactError, UnsafePathError),
        INVALID_PARAMETER_VALUE,
    ),
    ((DocumentError,), INVALID_PARAMETER_VALUE),
    ((RegistryError,), INVALID_PARAMETER_VALUE),  # a version that exists, a stage it holds
]


def as_mlflow(error: GitmlError) -> MlflowException:
    """The MlflowException saying what `error` says, with the code of its kind."""
    for kinds, code in _CODES:
        if isinstance(error, kinds):
            return MlflowException(f"gitml: {error}", error_code=code)
    return MlflowException(f"gitml: {error}", error_code=INTERNAL_ERROR)


@contextmanager
def mlflow_errors() -> Iterator[None]:
    """Raise any GitmlError of the block as MLflow's exception."""
    try:
        yield
    except GitmlError as error:
        raise as_mlflow(error) from None
