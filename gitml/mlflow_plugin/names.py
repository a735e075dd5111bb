"""MLflow's model names, stages and aliases as gitml registry names (docs/mlflow.md).

MLflow allows any model name ("Wine Model", "ElasticnetWineModel"); gitml's registry
grammar (`gitml.registry.tags`) takes lowercase letters, digits, '-' and '/'. A name
is mapped, the same way everywhere (the registry store and `gitml import mlflow`):
lowercased, every run of other characters made one '-', '-' trimmed from both ends.
What still breaks the grammar (a name starting with a digit, one character) is
refused with the rule. MLflow stages and aliases are gitml stages, case-insensitive.
"""

import re

from gitml.errors import ArtifactError, InvalidValueError, ModelNotFoundError
from gitml.registry.tags import NAME_RULE, is_valid_name
from gitml.values import shown

_OTHER = re.compile(r"[^a-z0-9/]+")
NO_STAGE = "none"  # MLflow's stage of a version in no stage
_LOGGED_MODEL = "m-"  # MLflow 3 logged model ids: m-<run id>-<hex of the artifact folder>


def model_name(mlflow_name: str) -> str:
    """The gitml model an MLflow model name stands for ("Wine Model" -> "wine-model")."""
    mapped = _OTHER.sub("-", str(mlflow_name).lower()).strip("-")
    if not is_valid_name(mapped):
        raise InvalidValueError(
            f"model name {shown(str(mlflow_name))} cannot be a gitml model name even "
            f"lowercased, with '-' for other characters: use {NAME_RULE}"
        )
    return mapped


def stage_name(mlflow_stage: str) -> str:
    """The gitml stage of an MLflow stage or alias ("Production" -> "production")."""
    mapped = str(mlflow_stage).lower()
    if not is_valid_name(mapped):
        raise InvalidValueError(
            f"stage or alias {shown(str(mlflow_stage))} cannot be a gitml stage: use {NAME_RULE}"
        )
    return mapped


def logged_model_id(run_id: str, folder: str) -> str:
    """The id of the logged model that is artifact folder `folder` of run `run_id`."""
    return f"{_LOGGED_MODEL}{run_id}-{folder.encode().hex()}"


def parse_logged_model_id(text: str) -> tuple[str, str]:
    """(run id, artifact folder) of a logged model's id; ModelNotFoundError when `text`
    is no such id (`logged_model_id`'s inverse)."""
    from gitml.store.ids import is_ref_run_id
    from gitml.tracking.staging import check_artifact_name

    run_id, _, encoded = str(text).removeprefix(_LOGGED_MODEL).partition("-")
    try:
        folder = bytes.fromhex(encoded).decode()
        if str(text).startswith(_LOGGED_MODEL) and folder and is_ref_run_id(run_id):
            return run_id, check_artifact_name(folder)
    except (ValueError, ArtifactError):  # not hex, not UTF-8, no artifact name
        pass
    raise ModelNotFoundError(f"no logged model has the id {shown(str(text))}")
