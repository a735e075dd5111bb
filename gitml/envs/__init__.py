"""Environments a run executes in: the current interpreter (`local`), a cached
virtual environment (`venv`) or a conda environment (`conda`), built from the
project's `conda.yaml`. Submodules are imported by the code that needs them."""

from __future__ import annotations  # the logging API's run records name LOCAL: Python 3.8

LOCAL, VENV, CONDA = "local", "venv", "conda"
ENV_MANAGERS = (LOCAL, VENV, CONDA)  # every manager: --env-manager, a project's env_manager
BUILDING_MANAGERS = (VENV, CONDA)  # those that build a cached environment (`gitml env`)
# MLflow's names for a virtual environment (`mlflow run --env-manager virtualenv|uv`)
ENV_MANAGER_ALIASES = {"virtualenv": VENV, "uv": VENV}


def canonical_manager(name: str) -> str:
    """The manager `name` means: itself, or the one an MLflow alias stands for."""
    return ENV_MANAGER_ALIASES.get(name, name)
