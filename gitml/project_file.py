"""The one reader of project files: `gitml.yaml`, or MLflow's `MLproject` (same fields).

A project names its entry points (a command template with typed parameters),
the environment spec beside the code (`conda_env` or `python_env`), the
default environment manager, the registry stages it allows, which way its
metrics should go and its limits. Every command that needs a project setting
asks this module (`repository_project` for the file at the repository root, the
one whose stages, metric goals and limits hold for the whole repository), which
reads each file once per process while it is unchanged. A malformed file is
an error wherever it is read, never skipped.

This module sits in its own layer, below the domain packages that ask it
(tracking, compare, projects, registry) and above the environments whose
managers it names.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter

from gitml.envs import ENV_MANAGERS, canonical_manager
from gitml.errors import ProjectFileError
from gitml.store.repository import Repository, parse_size

PROJECT_FILES = ("gitml.yaml", "MLproject")
DEFAULT_CONDA_ENV = "conda.yaml"
PARAMETER_TYPES = ("float", "int", "str", "string", "bool", "path", "uri")
# The words a project may use for a metric's goal, and the goal each means.
GOALS = {
    "min": "min",
    "minimize": "min",
    "lower": "min",
    "max": "max",
    "maximize": "max",
    "higher": "max",
}
# Like git config gitml.artifactSizeLimit, gitml.snapshotFileLimit,
# gitml.largeArtifactThreshold, gitml.metricHistoryLimit
LIMITS = (
    "artifact_size",
    "snapshot_file_size",
    "large_artifact_threshold",
    "metric_history_size",
)
_KNOWN_FIELDS = {
    "name",
    "conda_env",
    "python_env",
    "docker_env",
    "env_manager",
    "entry_points",
    "stages",
    "limits",
    "metrics",
    "sweeps",
}
_SWEEP_FIELDS = ("params", "metric", "goal", "trials", "sampler")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str = "string"
    default: str | None = None
    must_exist: bool = True  # only for `path`

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class EntryPoint:
    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """An entry point's search space (`sweeps: {ENTRY: {params: ...}}`): param forms as
    written (their grammar is gitml.sweeps.space's) and the sweep's defaults."""

    entry_point: str
    params: dict[str, str]
    metric: str | None = None
    goal: str | None = None  # min | max
    trials: int | None = None
    sampler: str | None = None


@dataclass(frozen=True)
class Project:
    path: Path  # the project file
    name: str
    entry_points: dict[str, EntryPoint]
    env_spec: Path | None  # conda.yaml or python_env.yaml, None when there is none
    env_manager: str | None = None
    stages: tuple[str, ...] = ()
    limits: dict = field(default_factory=dict)  # as written; checked
    metric_goals: dict[str, str] = field(default_factory=dict)  # metric key → min | max
    sweeps: dict[str, SweepSpec] = field(default_factory=dict)  # entry point → its space

    @property
    def artifact_size(self) -> int | None:
        """`limits.artifact_size` in bytes, when the project sets it."""
        return self.limit("artifact_size")

    def limit(self, name: str) -> int | None:
        """Limit `name` (one of LIMITS) in bytes, when the project sets it."""
        value = self.limits.get(name)
        return None if value is None else parse_size(str(value))

    @property
    def root(self) -> Path:
        return self.path.parent

    def entry_point(self, name: str) -> EntryPoint:
        if name not in self.entry_points:
            known = ", ".join(sorted(self.entry_points)) or "none"
            raise ProjectFileError(
                str(self.path),
                f"no entry point named {name!r} (entry points: {known}); -e also runs a "
                ".py or .sh script of the project folder",
            )
        return self.entry_points[name]


def repository_project(repo: Repository) -> Project | None:
    """The project file at the repository's root (None without one, or in a bare
    repository): its stages, metric goals and limits hold for the whole repository."""
    if repo.root is None:
        return None
    for name in PROJECT_FILES:
        if (repo.root / name).is_file():
            return load_project(repo.root / name)
    return None


def find_project(start: Path, stop: Path | None) -> Project | None:
    """The project file in `start` or its parents up to `stop` (the repository root)."""
    folder = start.resolve()
    stop = stop.resolve() if stop else folder
    while True:
        for name in PROJECT_FILES:
            if (folder / name).is_file():
                return load_project(folder / name)
        if folder == stop or folder.parent == folder or not folder.is_relative_to(stop):
            return None
        folder = folder.parent


def load_project(path: Path) -> Project:
    """The project `path` describes; ProjectFileError naming the file if it is malformed."""
    data = _document(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProjectFileError(str(path), "must be a mapping of fields (name, entry_points, ...)")
    unknown = sorted(set(data) - _KNOWN_FIELDS)
    if unknown:
        raise ProjectFileError(
            str(path),
            f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(_KNOWN_FIELDS))})",
        )
    if "docker_env" in data:
        raise ProjectFileError(
            str(path), "docker_env is not supported; describe the environment with conda_env"
        )
    return Project(
        path=path,
        name=str(data.get("name") or path.parent.name),
        entry_points=_entry_points(path, data.get("entry_points") or {}),
        env_spec=_env_spec(path, data),
        env_manager=_env_manager(path, data.get("env_manager")),
        stages=tuple(_string_list(path, "stages", data.get("stages") or [])),
        limits=_limits(path, data.get("limits") or {}),
        metric_goals=_metric_goals(path, data.get("metrics") or {}),
        sweeps=_sweeps(path, data.get("sweeps") or {}),
    )


# path → (the file's stat when read, its YAML value): a file is parsed again only
# once it changed. What the value means is worked out on every load (a few checks),
# so a conda.yaml created or removed beside it is always seen.
_documents: dict[Path, tuple[tuple, object]] = {}


def _document(path: Path):
    from gitml.documents import load_yaml_file

    try:
        status = os.stat(path)
    except OSError:
        status = None
    stamp = (
        None
        if status is None
        else (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    )
    cached = _documents.get(path)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    data = load_yaml_file(path, ProjectFileError)  # a missing file: one error naming it
    if stamp is not None:
        _documents[path] = (stamp, data)
    return data


def _env_spec(path: Path, data: dict) -> Path | None:
    if data.get("conda_env") and data.get("python_env"):
        raise ProjectFileError(str(path), "has both conda_env and python_env; keep one of them")
    named = data.get("conda_env") or data.get("python_env")
    if named:
        spec = (path.parent / str(named)).resolve()
        if not spec.is_file():
            raise ProjectFileError(str(path), f"environment file {named!r} was not found")
        return spec
    default = path.parent / DEFAULT_CONDA_ENV
    return default.resolve() if default.is_file() else None


def _env_manager(path: Path, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or canonical_manager(value) not in ENV_MANAGERS:
        raise ProjectFileError(
            str(path), f"env_manager is {value!r}; use one of {', '.join(ENV_MANAGERS)}"
        )
    return canonical_manager(value)


def _entry_points(path: Path, raw) -> dict[str, EntryPoint]:
    if not isinstance(raw, dict):
        raise ProjectFileError(str(path), "entry_points must be a mapping of name to entry point")
    points = {}
    for name, body in raw.items():
        if isinstance(body, str):
            body = {"command": body}
        if not isinstance(body, dict) or not isinstance(body.get("command"), str):
            raise ProjectFileError(str(path), f"entry point {name!r} needs a `command` string")
        parameters = _parameters(path, str(name), body.get("parameters") or {})
        _check_template(path, str(name), body["command"], parameters)
        points[str(name)] = EntryPoint(str(name), body["command"], parameters)
    return points


def _parameters(path: Path, entry: str, raw) -> dict[str, Parameter]:
    if not isinstance(raw, dict):
        raise ProjectFileError(str(path), f"parameters of entry point {entry!r} must be a mapping")
    parameters = {}
    for name, spec in raw.items():
        name = str(name)
        if not isinstance(spec, dict):
            spec = {"type": spec} if isinstance(spec, str) else {"default": spec}
        kind = str(spec.get("type", "string"))
        if kind not in PARAMETER_TYPES:
            raise ProjectFileError(
                str(path),
                f"parameter {name!r} of entry point {entry!r} has unknown type {kind!r} "
                f"(types: {', '.join(PARAMETER_TYPES)})",
            )
        default = spec.get("default")
        if isinstance(default, bool):
            default = "true" if default else "false"
        parameters[name] = Parameter(
            name=name,
            type=kind,
            default=None if default is None else str(default),
            must_exist=bool(spec.get("must_exist", True)),
        )
    return parameters


def _check_template(path: Path, entry: str, command: str, parameters: dict) -> None:
    try:
        fields = [name for _, name, _, _ in Formatter().parse(command) if name is not None]
    except ValueError as error:
        raise ProjectFileError(
            str(path), f"command of entry point {entry!r} is not a valid template: {error}"
        ) from None
    for name in fields:
        if name not in parameters:
            raise ProjectFileError(
                str(path),
                f"command of entry point {entry!r} uses {{{name}}}, "
                f"which is not one of its parameters",
            )


def _string_list(path: Path, key: str, value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProjectFileError(str(path), f"{key} must be a list of names")
    return value


def _mapping(path: Path, key: str, value) -> dict:
    if not isinstance(value, dict):
        raise ProjectFileError(str(path), f"{key} must be a mapping")
    return value


def _limits(path: Path, value) -> dict:
    limits = _mapping(path, "limits", value)
    for name, limit in limits.items():
        if name not in LIMITS:
            raise ProjectFileError(
                str(path), f"unknown limit {name!r} (limits: {', '.join(LIMITS)})"
            )
        try:
            size = 0 if isinstance(limit, bool) else parse_size(str(limit))
        except ValueError:
            size = 0
        if size <= 0:
            raise ProjectFileError(
                str(path),
                f"limits.{name} is {limit!r}; set a positive number of bytes, e.g. 20m",
            )
    return limits


def _metric_goals(path: Path, value) -> dict[str, str]:
    """`metrics: {loss: min, acc: {goal: max}}` → {key: min | max}."""
    metrics = _mapping(path, "metrics", value)
    goals = {}
    for key, spec in metrics.items():
        goal = spec.get("goal") if isinstance(spec, dict) and set(spec) == {"goal"} else spec
        if not isinstance(goal, str) or goal.lower() not in GOALS:
            raise ProjectFileError(
                str(path),
                f"metric {str(key)!r} has the goal {goal!r}; use min or max "
                "(or minimize / lower, maximize / higher), e.g. loss: min",
            )
        goals[str(key)] = GOALS[goal.lower()]
    return goals


def _sweeps(path: Path, value) -> dict[str, SweepSpec]:
    """`sweeps: {train: {params: {lr: "loguniform(1e-4, 1e-1)", epochs: 10}, metric: loss,
    goal: min, trials: 20, sampler: tpe}}`, keyed by entry point."""
    sweeps = {}
    for entry, body in _mapping(path, "sweeps", value).items():
        body = _mapping(path, f"sweeps.{entry}", body)
        unknown = sorted(set(body) - set(_SWEEP_FIELDS))
        if unknown:
            raise ProjectFileError(
                str(path),
                f"sweeps.{entry} has unknown field {unknown[0]!r} "
                f"(fields: {', '.join(_SWEEP_FIELDS)})",
            )
        params = {}
        for name, form in _mapping(
            path, f"sweeps.{entry}.params", body.get("params") or {}
        ).items():
            if isinstance(form, bool):
                form = "true" if form else "false"
            if not isinstance(form, str | int | float):
                raise ProjectFileError(
                    str(path),
                    f"sweeps.{entry}.params.{name} must be a value or a form such as "
                    "loguniform(1e-4, 1e-1), choice(3, 5, 7) or range(0, 5)",
                )
            params[str(name)] = str(form)
        goal = body.get("goal")
        if goal is not None and (not isinstance(goal, str) or goal.lower() not in GOALS):
            raise ProjectFileError(str(path), f"sweeps.{entry}.goal is {goal!r}; use min or max")
        trials = body.get("trials")
        if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)):
            raise ProjectFileError(str(path), f"sweeps.{entry}.trials must be a whole number")
        for key in ("metric", "sampler"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise ProjectFileError(str(path), f"sweeps.{entry}.{key} must be a word")
        sweeps[str(entry)] = SweepSpec(
            entry_point=str(entry),
            params=params,
            metric=body.get("metric"),
            goal=GOALS[goal.lower()] if goal else None,
            trials=trials,
            sampler=body.get("sampler"),
        )
    return sweeps
