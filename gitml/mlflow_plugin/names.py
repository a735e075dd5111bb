"""MLflow's model names, stages and aliases as gitml registry names (docs/mlflow.md).

MLflow allows any model name ("Wine Model", "ElasticnetWineModel"); gitml's registry
grammar (`gitml.registry.tags`) takes lowercase letters, digits, '-' and '/'. A name
is mapped, the same way everywhere (the registry store and `gitml import mlflow`):
lowercased, every run of other characters made one '-', '-' trimmed from both ends.
What still breaks the grammar (a name starting with a digit, one character) is
refused with the rule. MLflow stages and aliases are gitml stages, case-insensitive.
"""

import re

from gitml.errors import InvalidValueError
from gitml.registry.tags import NAME_RULE, is_valid_name
from gitml.values import shown

_OTHER = re.compile(r"[^a-z0-9/]+")
NO_STAGE = "none"  # MLflow's stage of a version in no stage


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
