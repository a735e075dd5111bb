"""MLflow's shapes of gitml's runs and experiments, for scripts written for MLflow
(`import gitml as mlflow`): `run.info.run_id`, `run.data.metrics`, `experiment.name`.

A `Run` is a run's `RunRecord` seen as MLflow sees it: `.info` and `.data` are
MLflow's, and everything the record offers stays (`run["metrics"]["loss"]["last"]`,
`run.status`, `dict(run)`). An experiment's id is derived from its name
(`gitml.tracking.record.experiment_id`), the id MLflow sees through the `gitml:`
backend too; a run's `artifact_uri` is its `gitml:` artifact location, which
`load_model`, `download_artifacts` and MLflow's client all read.

No mlflow here, and Python 3.8 syntax: the logging API imports it (`active_run().info`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitml.errors import InvalidValueError
from gitml.mlflow_plugin.uri import GitmlUri, build_uri, run_artifact_uri
from gitml.tracking.record import DATASETS_TAG, LOGGED_MODELS_TAG, experiment_id

RUN_NAME_TAG = "mlflow.runName"
ACTIVE = "active"
_STATUSES = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}


def mlflow_status(status: str) -> str:
    """MLflow's status of a gitml status (a damaged run is FAILED)."""
    return _STATUSES.get(status, "FAILED")


@dataclass(frozen=True)
class RunInfo:
    """MLflow's `RunInfo`: `experiment_id` is the id derived from the experiment's name,
    `artifact_uri` the run's `gitml:` artifact location (append `/<path>`)."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None = None
    artifact_uri: str = ""
    user_id: str = ""
    lifecycle_stage: str = ACTIVE

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunData:
    """MLflow's `RunData`: each metric's last value, params and tags as text (the run's
    name as the tag `mlflow.runName`, as MLflow writes it)."""

    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """MLflow's `Experiment`. A gitml experiment is the name its runs are filed under;
    its artifacts are in its runs' commits, so `artifact_location` names the repository."""

    experiment_id: str
    name: str
    artifact_location: str = ""
    lifecycle_stage: str = ACTIVE
    tags: dict = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


def experiment(
    name: str, root: str, created_ms: int | None = None, updated_ms: int | None = None
) -> Experiment:
    """The `Experiment` of name `name` in the repository whose root is `root`."""
    location = build_uri(GitmlUri(path=root))
    return Experiment(experiment_id(name), name, location, ACTIVE, {}, created_ms, updated_ms)


@dataclass(frozen=True)
class Metric:
    """One point of a metric's history, as MLflow's `Metric`."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class FileInfo:
    """An entry of `list_artifacts`: a file (with its size) or a folder."""

    path: str
    is_dir: bool
    file_size: int | None = None


class Run(Mapping):
    """A run as MLflow's `Run` (`.info`, `.data`) and as gitml's record: reading it as a
    mapping, or any other attribute (`run.status`, `run.metrics`), reads the record."""

    def __init__(self, record: Any, root: str, experiment_ids: Mapping | None = None) -> None:
        """`experiment_ids`: the id of each name a renamed experiment has had
        (`client.recorded_experiment_ids`); any other name's id is derived from it."""
        self.record = record
        known = (experiment_ids or {}).get(record.experiment)
        self.info = RunInfo(
            run_id=record.id,
            run_name=record.name,
            experiment_id=known or experiment_id(record.experiment),
            status=mlflow_status(record.status),
            start_time=record.start_ms,
            end_time=record.end_ms,
            artifact_uri=run_artifact_uri(root, record.id),
            user_id=record.user or "",
        )
        tags = {k: v for k, v in record.tags.items() if k not in (DATASETS_TAG, LOGGED_MODELS_TAG)}
        tags[RUN_NAME_TAG] = record.name
        metrics = {key: summary.last for key, summary in record.metrics.items()}
        self.data = RunData(metrics, dict(record.params), tags)

    def __getitem__(self, key: str) -> object:
        return self.record[key]

    def __iter__(self):
        return iter(self.record)

    def __len__(self) -> int:
        return len(self.record)

    def __getattr__(self, name: str) -> Any:
        if name == "record":  # not set yet (copy, pickle)
            raise AttributeError(name)
        return getattr(self.record, name)

    def __repr__(self) -> str:
        return f"<Run {self.info.run_name} ({self.info.run_id}) {self.info.status}>"


@dataclass(frozen=True)
class ModelVersion:
    """MLflow's `ModelVersion`: version N of a registered model is the Nth registered
    (docs/mlflow.md); its stage is MLflow's (Production, Staging, Archived or None), its
    aliases the other gitml stages holding it; its source a `gitml:` artifact URI."""

    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int | None
    current_stage: str
    source: str | None
    run_id: str | None
    user_id: str | None = None
    aliases: list = field(default_factory=list)
    status: str = "READY"
    status_message: str | None = None
    description: str | None = None
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredModel:
    """MLflow's `RegisteredModel`: the latest version in each stage, and its aliases
    (alias → version)."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    latest_versions: list = field(default_factory=list)
    aliases: dict = field(default_factory=dict)
    description: str | None = None
    tags: dict = field(default_factory=dict)


class PagedList(list):
    """A page of results (MLflow's `PagedList`): a list with `token`, None on the last."""

    def __init__(self, items: Iterable = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


def matching_names(found: list, filter_string: str | None) -> list:
    """The experiments (or models) whose name passes `filter_string`: `name OP 'value'` with OP one
    of =, !=, LIKE, ILIKE (MLflow's experiment filters on names)."""
    import re

    if not filter_string or not filter_string.strip():
        return found
    match = re.fullmatch(
        r"\s*(?:attributes\.)?name\s*(=|!=|LIKE|ILIKE)\s*(['\"])(.*)\2\s*",
        filter_string,
        re.IGNORECASE | re.DOTALL,
    )
    if match is None:
        raise InvalidValueError(
            f"filter {filter_string!r} is not `name = 'x'`, `name != 'x'`, `name LIKE 'x%'` "
            "or `name ILIKE 'x%'`: gitml filters experiments and registered models by name"
        )
    op, value = match.group(1).upper(), match.group(3)
    if op in ("=", "!="):
        return [e for e in found if (e.name == value) == (op == "=")]
    from gitml.compare.like import like_matcher

    test = like_matcher(value, ignore_case=op == "ILIKE")
    return [e for e in found if test(e.name)]
