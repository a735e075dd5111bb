"""Launching a run: `gitml run` is one call of `launch`, `gitml rerun` another
(`gitml.projects.rerun`), and every launch goes through the same steps: plan what
runs (the command given, or an entry point of the project file with checked params)
and prepare the environment it runs in; check the command; start the run; run the
command; commit the run.

Everything before the run starts is checked first, so bad input or an environment
that cannot be built leaves no run behind. A launch never prints: it tells its
caller what happens through `Progress`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitml.envs import BUILDING_MANAGERS, LOCAL, VENV
from gitml.envs.activate import Activation
from gitml.envs.spec import EnvSpec
from gitml.errors import InvalidValueError
from gitml.store.repository import Repository

if TYPE_CHECKING:
    from gitml.project_file import Project
    from gitml.tracking.run import RunOptions
    from gitml.tracking.runner import CommandResult

DEFAULT_ENTRY_POINT = "main"


def _say_nothing(_message: str) -> None:
    pass


@dataclass(frozen=True)
class Progress:
    """What a launch tells its caller as it goes: `note` what happens (an environment
    being built, the run started), `warning` what the user should know (files left
    out of the snapshot, an environment that differs from its spec)."""

    note: Callable[[str], None] = _say_nothing
    warning: Callable[[str], None] = _say_nothing


SILENT = Progress()


@dataclass
class Recording:
    """How a launched run is recorded, beyond what it runs."""

    name: str | None = None  # None: a new adjective-noun name
    experiment: str | None = None  # None: the branch's
    tags: dict[str, str] = field(default_factory=dict)
    note: str = ""
    artifacts: list[str] = field(default_factory=list)  # written by the command, kept after it
    allow_secrets: list[str] = field(default_factory=list)  # with gitml.allowSecrets
    reproduces: str | None = None  # the id of the run a rerun runs again


@dataclass
class LaunchRequest:
    """A run to launch: a command, or else an entry point of the project file, with
    its params; paths (artifacts) are relative to `directory`."""

    command: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    entry_point: str | None = None  # a declared one, or a .py / .sh script of the project
    project: str | None = None  # `gitml run PATH`: the project folder, relative to directory
    env_manager: str | None = None  # None: the project's, else local
    directory: Path | None = None  # where gitml was started (-C); default: the current folder
    recording: Recording = field(default_factory=Recording)


@dataclass
class Launch:
    """What a launch runs, decided and checked: the plan of a new run or of a rerun."""

    command: list[str]
    params: dict[str, str]
    entry_point: str | None
    activation: Activation
    spec: EnvSpec | None
    cwd: Path | None = None  # None: gitml's own working folder

    def run_options(self, recording: Recording) -> RunOptions:
        """The RunOptions of the run this launch records."""
        from gitml.tracking.run import RunOptions

        return RunOptions(
            name=recording.name,
            experiment=recording.experiment,
            params=self.params,
            tags=recording.tags,
            note=recording.note,
            command=self.command,
            entry_point=self.entry_point,
            reproduces=recording.reproduces,
            cwd=self.cwd,
            allow_secrets=recording.allow_secrets,
            env_manager=self.activation.manager,
            env_spec=self.spec.path if self.spec else None,
            env_spec_name=self.spec.record_name if self.spec else "conda.yaml",
            env_hash=self.spec.hash if self.spec else None,
        )


def launch(repo: Repository, request: LaunchRequest, progress: Progress = SILENT) -> CommandResult:
    """Launch the run `request` asks for, in the work tree, and return once it is committed."""
    from gitml.tracking.run import secret_rule
    from gitml.tracking.runner import check_artifact_paths

    recording = request.recording
    secrets = secret_rule(repo, recording.allow_secrets)
    artifacts = check_artifact_paths(repo, recording.artifacts, secrets, request.directory)
    planned = plan_launch(repo, request, progress)
    return launch_planned(repo, planned, recording, artifacts, progress)


def launch_planned(
    repo: Repository,
    planned: Launch,
    recording: Recording,
    artifacts: list[Path],
    progress: Progress = SILENT,
) -> CommandResult:
    """Check the planned command, start the run, run the command and commit the run;
    `artifacts` (checked already) are stored once the command has ended."""
    from gitml.tracking.run import start_run
    from gitml.tracking.runner import check_command, execute, start_command
    from gitml.tracking.staging import size_text

    command = planned.command
    check_command(command, planned.activation.search_path, planned.cwd)
    started = start_run(repo, planned.run_options(recording))
    child = start_command(repo, started, command, planned.activation, planned.cwd)
    meta = started.staging.meta
    for path in started.snapshot.skipped_large:
        limit = size_text(meta["snapshot_limit"])
        progress.warning(
            f"{path} is over the snapshot file limit of {limit} and was left out of the "
            "snapshot (git config gitml.snapshotFileLimit raises it)"
        )
    for path in started.snapshot.skipped_secret:
        progress.warning(f"{path} looks like a secret and was left out of the snapshot")
    progress.note(f"run {meta['name']} ({meta['id']}) started: {shlex.join(command)}")
    result = execute(repo, started, command, artifacts, planned.activation, planned.cwd, child)
    if result.fold.warning is not None:
        progress.warning(result.fold.warning)
    if result.fold.folded:  # in the foreground (gitml.autoFoldDetach false)
        progress.note(f"{result.fold.folded} older runs folded into archive commits")
    return result


def plan_launch(repo: Repository, request: LaunchRequest, progress: Progress = SILENT) -> Launch:
    """Resolve the command, params and environment; build the environment if needed."""
    from gitml.project_file import find_project
    from gitml.projects.entry import project_folder

    directory = (request.directory or Path.cwd()).absolute()
    if request.command and request.entry_point:
        raise InvalidValueError("give an entry point (-e) or a command after `--`, not both")
    if request.command and request.project is not None:
        raise InvalidValueError(
            "give a project folder (gitml run PATH) or a command after `--`, not both"
        )
    folder = None
    if request.project is not None:  # its own project file, never one of a parent folder
        folder = project_folder(repo, request.project, directory)
        project = find_project(folder, folder)
    else:
        project = find_project(directory, repo.work_tree)
    # A command runs where gitml was started (`gitml -C DIR`: in DIR, as git does).
    command, params, entry_name = list(request.command), dict(request.params), None
    cwd = directory if request.directory is not None else None
    if not command:
        command, params, entry_name, cwd = _entry_command(project, folder, request, directory)
    spec_path = _spec_path(repo, project, folder)
    manager = request.env_manager or (project.env_manager if project else None) or LOCAL
    activation, spec = prepare(manager, spec_path, command, cwd, progress)
    return Launch(command, params, entry_name, activation, spec, cwd)


def _entry_command(
    project: Project | None, folder: Path | None, request: LaunchRequest, directory: Path
) -> tuple[list[str], dict[str, str], str, Path]:
    """(command, params, entry point, folder to run in) for the entry point `request`
    names: the project file's, else a .py or .sh script of the project folder."""
    from gitml.projects.entry import is_script, script_command
    from gitml.projects.params import render_command, resolve_params

    name = request.entry_point or DEFAULT_ENTRY_POINT
    if project is not None and (name in project.entry_points or not is_script(name)):
        entry = project.entry_point(name)
        params = resolve_params(entry, request.params, directory)
        return render_command(entry, params), params, entry.name, project.root
    if is_script(name):
        root = project.root if project else folder or directory
        command, params = script_command(root, name, request.params, directory)
        return command, params, name, root
    if folder is not None:
        raise InvalidValueError(
            f"{request.project}: no gitml.yaml or MLproject in this folder; name a .py or .sh "
            f"script of it to run (gitml run {request.project} -e train.py) or add a project file"
        )
    raise InvalidValueError(
        "no command given: put it after `--`, e.g. gitml run -- python train.py, name a "
        "script (gitml run -e train.py), or describe entry points in a gitml.yaml or "
        "MLproject file"
    )


def prepare(
    manager: str,
    spec_path: Path | None,
    command: list[str],
    cwd: Path | None,
    progress: Progress,
) -> tuple[Activation, EnvSpec | None]:
    """The environment `spec_path` describes under `manager`, built when it is not
    cached; what the caller should know about it goes to `progress`."""
    from gitml.envs.manager import prepare_environment
    from gitml.envs.spec import read_spec

    spec = read_spec(spec_path) if spec_path else None
    prepared = prepare_environment(manager, spec, progress.note, command or None, cwd)
    for note in prepared.notes:
        progress.warning(note)
    if prepared.built:
        progress.note(f"built environment {prepared.activation.prefix}")
    return prepared.activation, spec


def _spec_path(repo: Repository, project, folder: Path | None) -> Path | None:
    """The project's spec; without a project file, conda.yaml in the project folder
    (`gitml run PATH`, as MLflow reads it) or at the repository root."""
    from gitml.project_file import DEFAULT_CONDA_ENV

    if project is not None:
        return project.env_spec
    default = (folder or repo.work_tree) / DEFAULT_CONDA_ENV
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
