"""MLflow's `MlflowClient` on gitml runs, with no mlflow installed (`import gitml as
mlflow; mlflow.tracking.MlflowClient()`), and the tracking URI the API logs to.

The client names runs by id and experiments by MLflow's ids (derived from their names,
`gitml.tracking.record.experiment_id`), and answers with MLflow's shapes
(`gitml.entities`). A run it creates is a gitml run in progress, committed by
`set_terminated`. The tracking URI is a `gitml:` URI (`gitml.mlflow_plugin.uri`);
any other is refused, since gitml logs into a git repository.

Python 3.8 syntax at import: the logging API reads the tracking URI through it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gitml.entities import (
    Experiment,
    FileInfo,
    Metric,
    PagedList,
    Run,
    experiment,
    matching_names,
)
from gitml.errors import InvalidValueError, RunStateError
from gitml.mlflow_plugin.uri import parse_uri, repository_folder
from gitml.registry_client import RegistryMethods

if TYPE_CHECKING:
    from gitml.store.repository import Repository
    from gitml.tracking.staging import Staging

_tracking_uri: str | None = None  # set_tracking_uri's, for this process
_set_experiments: dict = {}  # name → ms: experiments set_experiment named here, with no run yet


def set_tracking_uri(uri: Any) -> None:
    """Where runs are logged and read from now on: a `gitml:` URI (`gitml:`, `gitml:PATH`,
    `gitml:///ABS`, `…?experiment=NAME`); anything else is an InvalidValueError."""
    global _tracking_uri
    _tracking_uri = check_tracking_uri(os.fspath(uri) if isinstance(uri, os.PathLike) else uri)


def check_tracking_uri(text: Any) -> str:
    """`text` if it is a `gitml:` URI naming a repository; InvalidValueError otherwise."""
    if not isinstance(text, str) or not text.startswith("gitml:"):
        raise InvalidValueError(
            f"gitml logs into a git repository, so its tracking URI is gitml:, gitml:PATH "
            f"or gitml:///ABS, not {text!r}; to log into another MLflow store, use mlflow "
            "itself"
        )
    if parse_uri(text).run_id is not None:
        raise InvalidValueError(
            f"{text!r} names a run's artifacts, not a repository; write gitml:PATH"
        )
    return text


def get_tracking_uri() -> str:
    """The tracking URI: set_tracking_uri's, else `MLFLOW_TRACKING_URI` when it is a
    `gitml:` URI (as under `gitml run`), else `gitml:` (the repository of the current
    folder)."""
    if _tracking_uri is not None:
        return _tracking_uri
    env = os.environ.get("MLFLOW_TRACKING_URI", "")
    return env if env.startswith("gitml:") else "gitml:"


def tracking_folder(uri: str | None = None) -> str:
    """The folder a tracking URI (default: the current one) names."""
    return repository_folder(parse_uri(uri or get_tracking_uri()).path)


def uri_experiment() -> str | None:
    """The experiment the tracking URI names for new runs (`?experiment=NAME`), if any."""
    return parse_uri(get_tracking_uri()).experiment


def note_experiment(name: str) -> None:
    """Remember that this process chose experiment `name` (set_experiment), so it is
    listed before any run is filed under it, as MLflow lists a created one."""
    import time

    _set_experiments.setdefault(name, int(time.time() * 1000))


class MlflowClient(RegistryMethods):
    """MLflow's client on the repository a `gitml:` tracking URI names (default: the
    current tracking URI); its registry methods are `gitml.registry_client`'s."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None):
        self._tracking_uri = check_tracking_uri(tracking_uri or get_tracking_uri())
        if registry_uri is not None and registry_uri != self._tracking_uri:
            check_tracking_uri(registry_uri)
            if tracking_folder(registry_uri) != tracking_folder(self._tracking_uri):
                raise InvalidValueError(
                    "gitml's registry is the tracking repository's own: give one gitml: URI"
                )
        from gitml.store.repository import open_repository

        self.repo: Repository = open_repository(tracking_folder(self._tracking_uri))
        self._stagings: dict = {}  # run id → Staging of runs in progress logged to here

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    # experiments

    def _experiments(self) -> list:
        return list_experiments(self.repo)

    def search_experiments(
        self,
        view_type: int = 1,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Experiments, newest first (`order_by=["name"]` and `["name DESC"]` too);
        `filter_string` compares the name (`name = 'x'`, `name LIKE 'x%'`, `!=`, `ILIKE`);
        `view_type` as MLflow's ViewType: 1 active ones, 2 deleted ones, 3 all."""
        shown = {1: ("active",), 2: ("deleted",)}.get(view_type, ("active", "deleted"))
        found = [e for e in self._experiments() if e.lifecycle_stage in shown]
        found = _ordered(matching_names(found, filter_string), order_by)
        return PagedList(found[:max_results] if max_results else found)

    def get_experiment(self, experiment_id: str) -> Experiment:
        from gitml.errors import ExperimentNotFoundError

        for found in self._experiments():
            if found.experiment_id == str(experiment_id):
                return found
        raise ExperimentNotFoundError(f"no experiment has the id {experiment_id!r}")

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return next((e for e in self._experiments() if e.name == name), None)

    def create_experiment(self, name: str, artifact_location: Any = None, tags: Any = None) -> str:
        """Record experiment `name` (no run yet) with `tags`; its id."""
        from gitml.mlflow_plugin.experiments import create_experiment

        if artifact_location:
            raise InvalidValueError(
                "an experiment's artifacts live in its runs' commits; create it without "
                "an artifact location"
            )
        from gitml.mlflow_plugin import experiments as exps

        exps.check_free(exps.experiments(self.repo, self._runs()), name)
        return create_experiment(self.repo, name, dict(tags or {}))

    def _runs(self) -> list:
        from gitml.tracking.catalog import list_runs

        return list_runs(self.repo)

    def _recorded(self, experiment_id: str, active: bool = True):
        """The experiment of id `experiment_id` with its record (deleted ones refused
        when `active`)."""
        from gitml.mlflow_plugin import experiments as exps

        listed = exps.experiments(self.repo, self._runs())
        named = {e.name for e in listed}  # and those set_experiment named here, no run yet
        listed += [
            exps.Experiment(n, ms, ms) for n, ms in _set_experiments.items() if n not in named
        ]
        return (exps.active if active else exps.find)(listed, experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        """Tag experiment `experiment_id` (its record, pushed and fetched with runs)."""
        from gitml.mlflow_plugin.experiments import set_tag

        set_tag(self.repo, self._recorded(experiment_id), key, str(value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        from gitml.mlflow_plugin.experiments import delete_tag

        delete_tag(self.repo, self._recorded(experiment_id), key)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment deleted: its runs stay; restore_experiment undoes it."""
        from gitml.mlflow_plugin.experiments import delete

        delete(self.repo, self._recorded(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        from gitml.mlflow_plugin.experiments import restore

        restore(self.repo, self._recorded(experiment_id, active=False))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """The experiment keeps its id and runs; runs started in it from now on are
        filed under `new_name`."""
        from gitml.mlflow_plugin import experiments as exps

        experiment = self._recorded(experiment_id)
        exps.check_free(exps.experiments(self.repo, self._runs()), new_name, experiment)
        exps.rename(self.repo, experiment, new_name)

    def experiment_name(self, experiment_id: str) -> str:
        """The name of the experiment of id `experiment_id`."""
        return self.get_experiment(experiment_id).name

    # runs

    def get_run(self, run_id: str) -> Run:
        """The run of id `run_id` (a name or a unique prefix resolves too)."""
        from gitml.tracking.readers import read_record

        return Run(
            read_record(self.repo, run_id), self.repo.cwd, recorded_experiment_ids(self.repo)
        )

    def search_runs(
        self,
        experiment_ids: Any = None,
        filter_string: str = "",
        run_view_type: int = 1,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Runs of the experiments `experiment_ids` (one id or a list; all when None),
        filtered and ordered by gitml's grammar (MLflow's is a subset); newest first."""
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        ids = recorded_experiment_ids(self.repo)
        names = None
        if experiment_ids:
            wanted = {str(e) for e in experiment_ids}
            names = [e.name for e in self._experiments() if e.experiment_id in wanted]
            names += [name for name, found in ids.items() if found in wanted and name not in names]
            if not names:
                return PagedList()
        text = mlflow_filter(self.repo, filter_string)
        return PagedList(
            Run(record, self.repo.cwd, ids)
            for record in find_records(self.repo, text, order_by, names, max_results)
        )

    def create_run(
        self,
        experiment_id: str | None = None,
        start_time: int | None = None,
        tags: dict | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Start a gitml run in experiment `experiment_id` (MLflow's "0" is "Default");
        it is committed by `set_terminated`."""
        import sys

        from gitml.tracking.ids import as_run_name
        from gitml.tracking.record import MLFLOW_DEFAULT_EXPERIMENT, validate_pairs
        from gitml.tracking.run import RunOptions, start_run

        name = MLFLOW_DEFAULT_EXPERIMENT
        if experiment_id not in (None, "0", 0):
            chosen = self.get_experiment(str(experiment_id))
            if chosen.lifecycle_stage != "active":
                raise RunStateError(
                    f"experiment {chosen.name!r} is deleted; restore it before starting runs in it"
                )
            name = chosen.name
        options = RunOptions(
            name=as_run_name(run_name),
            experiment=name,
            tags=validate_pairs("tag", dict(tags or {})),
            command=list(getattr(sys, "orig_argv", sys.argv)),
            number_if_taken=True,
        )
        staging = start_run(self.repo, options).staging
        self._stagings[staging.meta["id"]] = staging
        return self.get_run(staging.meta["id"])

    def _staging(self, run_id: str) -> Staging:
        """The staging folder of run `run_id`, in progress; RunStateError once it ended."""
        from gitml.store.layout import META_FILE
        from gitml.tracking.staging import Staging, runs_dir

        staging = self._stagings.get(run_id)
        if staging is not None and staging.path.is_dir():
            return staging
        path = runs_dir(self.repo.state_dir) / str(run_id)
        if "/" not in str(run_id) and (path / META_FILE).is_file():
            staging = self._stagings[run_id] = Staging(path)
            return staging
        self.get_run(run_id)  # RunNotFoundError when there is no such run
        raise RunStateError(
            f"run {run_id} has ended, and an ended run is a commit, never changed; log to a new run"
        )

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        """Log param `key`; one logged already keeps its value (another is an error)."""
        log_params_once(self._staging(run_id), {key: value})
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        self._staging(run_id).log_metric(key, value, step or 0, timestamp)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self._staging(run_id).set_tag(key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        staging = self._staging(run_id)
        if key not in staging.read().tags:
            raise InvalidValueError(f"No tag with name: {key!r} in run {run_id}")
        staging.delete_tag(key)

    def log_batch(
        self, run_id: str, metrics: Iterable = (), params: Iterable = (), tags: Iterable = ()
    ) -> None:
        """MLflow's batch: metrics, params and tags as objects with `key` and `value`
        (and `step`, `timestamp`), MLflow's entities or gitml's."""
        staging = self._staging(run_id)
        log_params_once(staging, {p.key: p.value for p in params})
        for metric in metrics:
            staging.log_metric(
                metric.key,
                metric.value,
                getattr(metric, "step", 0) or 0,
                getattr(metric, "timestamp", None),
            )
        for tag in tags:
            staging.set_tag(tag.key, tag.value)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End run `run_id` (FINISHED unless `status` says FAILED or KILLED) and commit
        it; the run `gitml run` records gets the status, and gitml run commits it."""
        end_staging(self.repo, self._staging(run_id), status or "FINISHED")
        self._stagings.pop(run_id, None)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        from gitml.tracking.readers import open_run

        with open_run(self.repo, run_id) as reader:
            found = reader.record().id
            return [
                Metric(key, value, ms, step, found)
                for steps, values, times in reader.metric_points(key)
                for step, value, ms in zip(steps, values, times, strict=True)
            ]

    def delete_run(self, run_id: str) -> None:
        """`gitml rm`: the run's ref is deleted; a run in progress, or one a registry tag
        points at, is refused."""
        from gitml.sharing.cleanup import remove_runs

        remove_runs(self.repo, [run_id])

    # artifacts

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly under `path` among the run's artifacts."""
        from gitml.tracking.readers import open_run
        from gitml.tracking.staging import check_artifact_name

        folder = check_artifact_name(path.strip("/")) if path and path.strip("/") else ""
        with open_run(self.repo, run_id) as reader:
            entries = reader.record().artifacts
        prefix = f"{folder}/" if folder else ""
        found: dict = {}
        for entry in entries:
            if not entry.path.startswith(prefix):
                continue
            child, slash, _ = entry.path[len(prefix) :].partition("/")
            name = prefix + child
            found[name] = FileInfo(name, True, None) if slash else FileInfo(name, False, entry.size)
        return [found[name] for name in sorted(found)]

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Write the run's artifact `path` (a file or folder) under `dst_path` (default: a
        new temporary folder); the local path of what was written."""
        return download(self.repo, run_id, path, dst_path)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        from pathlib import Path

        from gitml.errors import ArtifactError
        from gitml.tracking.artifacts import check_source

        source = Path(local_path)
        if not source.is_file():
            raise ArtifactError(f"artifact {str(local_path)!r} is not a file")
        git_dirs = [self.repo.git_dir.resolve(), self.repo.common_dir.resolve()]
        check_source(source, str(local_path), git_dirs, None)
        name = f"{artifact_path.rstrip('/')}/{source.name}" if artifact_path else source.name
        self._staging(run_id).add_artifact_file(source, name)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._staging(run_id).add_artifact_bytes(artifact_file, text.encode())

    def log_dict(self, run_id: str, dictionary: dict, artifact_file: str) -> None:
        import json

        text = json.dumps(dictionary, indent=2, ensure_ascii=False)
        self._staging(run_id).add_artifact_bytes(artifact_file, text.encode())


def recorded_experiment_ids(repo: Repository) -> dict[str, str]:
    """The experiment id of each name an experiment record holds (a renamed
    experiment's runs are its own whatever name they were filed under)."""
    from gitml.mlflow_plugin.experiments import name_owners, read_records

    return {name: owner.id for name, owner in name_owners(read_records(repo)).items()}


def mlflow_filter(repo: Repository, text: str | None) -> str | None:
    """An MLflow filter in gitml's grammar, with an experiment id standing for every name
    its experiment's runs are filed under (`gitml.mlflow_plugin.filters`)."""
    if not text:
        return None
    from gitml.mlflow_plugin.experiments import id_names
    from gitml.mlflow_plugin.filters import gitml_filter

    return gitml_filter(text, id_names(repo)) or None


def list_experiments(repo: Repository) -> list[Experiment]:
    """Every experiment of `repo` (`gitml.mlflow_plugin.experiments`), deleted ones too,
    and those this process named in set_experiment."""
    from dataclasses import replace

    from gitml.mlflow_plugin.experiments import experiments
    from gitml.tracking.catalog import list_runs

    found = {e.name: e for e in experiments(repo, list_runs(repo))}
    root = repo.cwd
    shown = [
        replace(
            experiment(e.name, root, e.created_ms, e.updated_ms),
            experiment_id=e.id,  # a renamed experiment keeps its first name's
            lifecycle_stage=e.lifecycle,
            tags=dict(e.tags),
        )
        for e in found.values()
    ]
    shown += [experiment(n, root, ms, ms) for n, ms in _set_experiments.items() if n not in found]
    return shown


def find_records(
    repo: Repository,
    filter_text: str | None,
    order_by: list[str] | None,
    experiments: list[str] | None,
    max_results: int | None,
) -> list:
    """Records (from their summaries) of the runs a search selects."""
    from gitml.compare.query import find_runs
    from gitml.compare.sorting import RunQuery
    from gitml.tracking.model import RunRecord

    query = RunQuery(filter_text, list(order_by or []), None, None, max_results, experiments)
    return [RunRecord.standing_in_for(summary) for summary in find_runs(repo, query)]


def log_params_once(staging: Staging, params: dict) -> None:
    """MLflow's rule: a param once logged keeps its value (the same value again is
    fine, and nothing is written); a different one is an InvalidValueError, and then
    none of `params` is logged."""
    from gitml.tracking.record import validate_pairs

    wanted = validate_pairs("param", params)
    known = staging.read_params()
    for key, value in wanted.items():
        if key in known and known[key] != value:
            raise InvalidValueError(
                f"param {key!r} of run {staging.meta['id']} is {known[key]!r} already and "
                f"cannot become {value!r} (MLflow's rule); log it under another key"
            )
    for key, value in wanted.items():
        if key not in known:
            staging.log_param(key, value)


def end_staging(repo: Repository, staging: Staging, status: str) -> None:
    """End a run in progress with MLflow's `status`: commit it, and register what it
    asked to (`registered_model_name=`); the run `gitml run` records gets the status
    instead, and gitml run commits it."""
    import warnings

    from gitml.tracking.autofold import fold_after_api_run
    from gitml.tracking.record import ENDED, parse_status
    from gitml.tracking.run import finish_run

    ended = parse_status(status)
    if ended not in ENDED:
        raise RunStateError(f"a run ends FINISHED, FAILED or KILLED, not {status}")
    if (staging.path / "child.json").exists() or os.environ.get("GITML_RUN_DIR") == str(
        staging.path
    ):
        staging.close()
        staging.declare_status(ended)
        return
    requests = staging.registration_requests()
    summary = finish_run(repo, staging, ended, None)
    fold_after_api_run(repo, stacklevel=3)
    if requests:
        from gitml.models.registration import register_requested

        for problem in register_requested(repo, summary, requests)[1]:
            warnings.warn(problem, UserWarning, stacklevel=3)


def download(repo: Repository, run_id: str, path: str, dst_path: str | None) -> str:
    """Write artifact `path` of run `run_id` under `dst_path` (a new temporary folder
    when None); the local path of the file or folder written."""
    import posixpath
    import tempfile
    from pathlib import Path

    from gitml.tracking.export import artifact_path
    from gitml.tracking.export import download as write_out
    from gitml.tracking.readers import open_run

    name = artifact_path(path.strip("/")) if path and path.strip("/") else ""
    out = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="gitml-"))
    with open_run(repo, run_id) as reader:
        tops = [name] if name else sorted({f.path.split("/")[0] for f in reader.artifact_files("")})
        for top in tops:  # kept at its path below `out`, as MLflow writes it
            write_out(reader, top, out / posixpath.dirname(top), force=True)
    return str(out / name) if name else str(out)


def _ordered(found: list, order_by: list[str] | None) -> list:
    """Newest first, or by `order_by`: `name`, `creation_time`, `last_update_time`,
    `experiment_id`, each with ASC or DESC."""
    ordered = sorted(found, key=lambda e: (-(e.creation_time or 0), e.name))
    for text in reversed(order_by or []):
        words = text.split()
        field = words[0].split("attributes.", 1)[-1] if words else ""
        descending = len(words) > 1 and words[1].upper() == "DESC"
        if field not in ("name", "creation_time", "last_update_time", "experiment_id") or (
            len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise InvalidValueError(
                f"experiments are ordered by name, creation_time, last_update_time or "
                f"experiment_id (ASC or DESC), not {text!r}"
            )
        ordered.sort(key=lambda e: getattr(e, field) or 0, reverse=descending)
    return ordered
