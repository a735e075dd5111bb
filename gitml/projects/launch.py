"""What `gitml run` will execute: the command (given, or an entry point of the
project file with checked params) and the environment it runs in.

Everything here happens before the run starts, so bad input or an
environment that cannot be built leaves no run behind.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gitml.envs import BUILDING_MANAGERS, LOCAL, VENV
from gitml.envs.activate import Activation
from gitml.envs.spec import EnvSpec
from gitml.errors import InvalidValueError
from gitml.store.repository import Repository

DEFAULT_ENTRY_POINT = "main"


@dataclass
class LaunchRequest:
    command: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    entry_point: str | None = None
    env_manager: str | None = None  # None: the project's, else local
    directory: Path | None = None  # where gitml was started (-C), for the project file
    on_build: Callable[[str], None] | None = None  # told before an environment is built


@dataclass
class Launch:
    command: list[str]
    params: dict[str, str]
    entry_point: str | None
    activation: Activation
    spec: EnvSpec | None
    cwd: Path | None = None  # None: gitml's own working folder
    notes: list[str] = field(default_factory=list)
    built: bool = False

    def env_options(self) -> dict:
        """The RunOptions fields that record this environment."""
        return env_options(self.activation, self.spec)


@dataclass
class RecordedEnv:
    """The environment a recorded run asked for, prepared again for a rerun."""

    activation: Activation
    spec: EnvSpec | None
    notes: list[str] = field(default_factory=list)
    built: bool = False

    def env_options(self) -> dict:
        return env_options(self.activation, self.spec)


def env_options(activation: Activation, spec: EnvSpec | None) -> dict:
    return {
        "env_manager": activation.manager,
        "env_spec": spec.path if spec else None,
        "env_spec_name": spec.record_name if spec else "conda.yaml",
        "env_hash": spec.hash if spec else None,
    }


def plan_launch(repo: Repository, request: LaunchRequest) -> Launch:
    """Resolve the command, params and environment; build the environment if needed."""
    from gitml.envs.manager import prepare_environment
    from gitml.envs.spec import read_spec
    from gitml.project_file import find_project
    from gitml.projects.params import render_command, resolve_params

    directory = (request.directory or Path.cwd()).absolute()
    project = find_project(directory, repo.work_tree)
    if request.command and request.entry_point:
        raise InvalidValueError("give an entry point (-e) or a command after `--`, not both")
    # A command runs where gitml was started (`gitml -C DIR`: in DIR, as git does).
    command, params, entry_name = list(request.command), dict(request.params), None
    cwd = directory if request.directory is not None else None
    if not command:
        if project is None:
            raise InvalidValueError(
                "no command given: put it after `--`, e.g. gitml run -- python train.py, "
                "or describe entry points in a gitml.yaml or MLproject file"
            )
        entry = project.entry_point(request.entry_point or DEFAULT_ENTRY_POINT)
        params = resolve_params(entry, params, directory)
        command, entry_name, cwd = render_command(entry, params), entry.name, project.root
    spec_path = _spec_path(repo, project)
    spec = read_spec(spec_path) if spec_path else None
    manager = request.env_manager or (project.env_manager if project else None) or LOCAL
    prepared = prepare_environment(manager, spec, request.on_build, command, cwd)
    return Launch(
        command=command,
        params=params,
        entry_point=entry_name,
        activation=prepared.activation,
        spec=spec,
        cwd=cwd,
        notes=prepared.notes,
        built=prepared.built,
    )


def _spec_path(repo: Repository, project) -> Path | None:
    if project is not None:
        return project.env_spec
    default = repo.work_tree / "conda.yaml"
    return default if default.is_file() else None


def find_spec(directory: Path, explicit: Path | None = None) -> EnvSpec:
    """The spec `gitml env` commands work on: `explicit`, else the project's
    conda_env / python_env, else conda.yaml in `directory` or the repository root."""
    from gitml.envs.spec import read_spec
    from gitml.errors import ProjectFileError
    from gitml.project_file import DEFAULT_CONDA_ENV, find_project

    if explicit is not None:
        if not explicit.is_file():
            raise ProjectFileError(str(explicit), "environment file not found")
        return read_spec(explicit)
    directory = directory.absolute()
    top = next((p for p in [directory, *directory.parents] if (p / ".git").exists()), None)
    project = find_project(directory, top)
    candidates = [project.env_spec] if project and project.env_spec else []
    candidates += [directory / DEFAULT_CONDA_ENV] + ([top / DEFAULT_CONDA_ENV] if top else [])
    for path in candidates:
        if path.is_file():
            return read_spec(path)
    raise ProjectFileError(
        str(directory / DEFAULT_CONDA_ENV),
        "no environment spec here; write one (`gitml env export > conda.yaml`) or pass --file",
    )


def default_env_manager(directory: Path) -> str:
    """The project's env_manager when it builds environments, else venv."""
    from gitml.project_file import find_project

    directory = directory.absolute()
    top = next((p for p in [directory, *directory.parents] if (p / ".git").exists()), None)
    project = find_project(directory, top)
    if project and project.env_manager in BUILDING_MANAGERS:
        return project.env_manager
    return VENV


RECORDED_SPECS = ("conda.yaml", "python_env.yaml")


def recorded_environment(repo: Repository, commit: str, record: dict, folder: Path) -> RecordedEnv:
    """Prepare the environment a run recorded: its spec file (`.gitml/env/`) under its
    env manager, rebuilt when it is no longer cached. The spec is written to `folder`."""
    from gitml.envs.manager import prepare_environment
    from gitml.envs.spec import read_spec
    from gitml.store.gitcmd import run_git
    from gitml.tracking.record import RECORD_DIR

    spec = None
    for name in RECORDED_SPECS:
        shown = run_git(["show", f"{commit}:{RECORD_DIR}/env/{name}"], repo.cwd, check=False)
        if shown.returncode == 0:
            path = folder / name
            path.write_bytes(shown.stdout)
            spec = read_spec(path)
            break
    manager = record.get("env_manager") or LOCAL
    prepared = prepare_environment(manager, spec, None, record.get("command") or None)
    return RecordedEnv(prepared.activation, spec, prepared.notes, prepared.built)
