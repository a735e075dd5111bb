"""Choose and prepare the environment a run executes in."""

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gitml.envs import ENV_MANAGERS, LOCAL, VENV
from gitml.envs.activate import Activation
from gitml.envs.spec import EnvSpec
from gitml.errors import EnvironmentBuildError, InvalidValueError


@dataclass(frozen=True)
class PreparedEnv:
    activation: Activation
    built: bool = False  # True when this call created the environment
    notes: list[str] = field(default_factory=list)  # warnings for the user


def prepare_environment(
    manager: str,
    spec: EnvSpec | None,
    on_build: Callable[[str], None] | None = None,
    command: list[str] | None = None,
    cwd: Path | None = None,
) -> PreparedEnv:
    """The environment for `spec` under `manager`, built when it is not cached.

    `on_build(message)` is called before a build starts (builds can take minutes).
    `command` (run in `cwd`) is what will run: the local manager checks the Python it
    uses, not gitml's own.
    """
    if manager not in ENV_MANAGERS:
        raise InvalidValueError(f"env manager {manager!r}: use one of {', '.join(ENV_MANAGERS)}")
    if manager == LOCAL:
        if spec is None:
            return PreparedEnv(Activation.local())
        from gitml.envs.local import check_local
        from gitml.envs.packages import interpreter_for

        python = interpreter_for(command, None, cwd) if command else sys.executable
        return PreparedEnv(Activation.local(), False, check_local(spec, python))
    if spec is None:
        raise EnvironmentBuildError(
            f"--env-manager {manager} needs an environment spec: add a conda.yaml beside "
            "the code (or name one with conda_env in gitml.yaml / MLproject)"
        )
    if manager == VENV:
        from gitml.envs.venv import ensure_venv

        return PreparedEnv(*ensure_venv(spec, on_build))
    from gitml.envs.conda import ensure_conda

    return PreparedEnv(*ensure_conda(spec, on_build))
