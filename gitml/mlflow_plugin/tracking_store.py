"""MLflow's tracking store on gitml runs (entry point `mlflow.tracking_store`, scheme
`gitml`): every MLflow run is a gitml run, written by gitml's own staging folder and
commit, so `gitml ls`, `gitml show` and MLflow's clients see the same runs.

What maps to what (docs/mlflow.md):
- an experiment is a gitml experiment name, its id derived from the name
  (`gitml.mlflow_plugin.experiments`);
- `create_run` starts a gitml run, or, under `gitml run`, attaches to the run it
  records (as `gitml.start_run` does); a terminal `update_run_info` commits the run
  (a server with several workers: whichever ends it), except the run `gitml run`
  records, which gets the status and is committed by gitml run when the command ends;
- a logged model (MLflow 3) is the folder `<name>/` among its run's artifacts; its
  id names the run and the folder, so it needs no state of its own;
- datasets (`log_inputs`) are kept in the run's tag `gitml.datasets`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    LoggedModel,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS as MODEL_VERSIONS_TAG
from mlflow.utils.search_utils import (
    SearchExperimentsUtils,
    SearchLoggedModelsUtils,
    SearchUtils,
)

from gitml.compare.query import Listed, find_listed
from gitml.compare.search import SortKey
from gitml.compare.sorting import RunQuery
from gitml.documents import load_json
from gitml.errors import DocumentError, InvalidValueError, UnknownKeyError
from gitml.mlflow_plugin import experiments as exps
from gitml.mlflow_plugin import logged_models as models
from gitml.mlflow_plugin.datasets import add_datasets
from gitml.mlflow_plugin.errors import mlflow_errors
from gitml.mlflow_plugin.filters import (
    RUN_NAME_TAG,
    gitml_filter,
    gitml_sort_keys,
    sort_texts,
    without_damaged,
)
from gitml.mlflow_plugin.names import logged_model_id, parse_logged_model_id
from gitml.mlflow_plugin.uri import (
    GitmlUri,
    build_uri,
    parse_uri,
    repository_folder,
    run_artifact_uris,
)
from gitml.sharing.cleanup import remove_runs
from gitml.store.layout import ARTIFACTS_DIR, META_FILE
from gitml.store.repository import open_repository
from gitml.tracking.autofold import fold_after_api_run
from gitml.tracking.catalog import list_runs, resolve
from gitml.tracking.ids import as_run_name
from gitml.tracking.model import RunRecord
from gitml.tracking.readers import model_folders, open_run
from gitml.tracking.record import DATASETS_TAG, RunSummary
from gitml.tracking.run import RunOptions, finish_run, start_run
from gitml.tracking.staging import Staging, check_artifact_name, runs_dir

SEARCH_MAX_RESULTS = 1000  # experiments listed when the caller says not
_MAX_LIMIT = 1 << 62  # runs a search reads at most: SQLite's LIMIT is a 64-bit integer
_LIFECYCLES = {"active": LifecycleStage.ACTIVE, "deleted": LifecycleStage.DELETED}
_VIEWS = {  # experiments' lifecycles each view shows
    ViewType.ACTIVE_ONLY: ("active",),
    ViewType.DELETED_ONLY: ("deleted",),
}
_OWN_TAGS = (DATASETS_TAG, models.MODELS_TAG)  # the store's records, not shown as tags
_STATUSES = {  # gitml's run status → MLflow's
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
}
_attached: set[str] = set()  # staging folders of `gitml run` runs this process attached to
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _one_writer(method: _Method) -> _Method:
    """Run `method` holding the store's lock. MLflow's async logging
    (`synchronous=False`, `MLFLOW_ENABLE_ASYNC_LOGGING`) calls log_batch from up to 10
    threads at once: one writer at a time gives a run in progress one Staging (one set
    of open metric files, all closed when the run ends), and checks and writes a
    param's first value in one step."""

    @functools.wraps(method)
    def locked(self: GitmlTrackingStore, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class GitmlTrackingStore(AbstractStore):
    """Experiments and runs of one git repository, named by a `gitml:` URI."""

    def __init__(self, store_uri: str, artifact_uri: str | None = None) -> None:
        """`artifact_uri` (`mlflow server --default-artifact-root`) is not used: a run's
        artifacts are in its commit."""
        super().__init__()
        with mlflow_errors():
            self.uri = parse_uri(store_uri)
            self.repo = open_repository(repository_folder(self.uri.path))
        self._stagings: dict[str, Staging] = {}  # runs in progress this store logged to
        self._params: dict[str, dict[str, str]] = {}  # their params, to refuse changes
        self._names = {exps.DEFAULT_ID: exps.DEFAULT_NAME}  # experiment id → name, as met
        self._lock = threading.RLock()  # see _one_writer
        self._records = exps.RecordCache()  # experiments' records, read again when changed

    # experiments: gitml.mlflow_plugin.experiments

    def _experiments(self) -> list[exps.Experiment]:
        found = exps.experiments(self.repo, list_runs(self.repo))
        self._names.update((experiment.id, experiment.name) for experiment in found)
        return found

    def _find_experiment(
        self, experiment_id: str, records: list[exps.Experiment] | None = None
    ) -> exps.Experiment | None:
        """The experiment of id `experiment_id`, None if none has it: a record, or a name
        runs are filed under. Such a name's id is worked out from it, so the names met so
        far are kept: every run's experiment is listed again only for an id not met yet."""
        experiment_id = str(experiment_id)
        records = self._records.records(self.repo) if records is None else records
        for record in records:
            if record.id == experiment_id:
                return record
        if experiment_id not in self._names:
            self._experiments()
        name = self._names.get(experiment_id)
        if name is None or name in exps.name_owners(records):
            return None  # a name a renamed experiment has had is that one's
        return exps.Experiment(name, 0, 0)

    def _experiment(self, experiment_id: str) -> exps.Experiment:
        """The experiment of id `experiment_id` as listed; 404 when none has it."""
        with mlflow_errors():
            return exps.find(self._experiments(), experiment_id)

    def _active_experiment(self, experiment_id: str) -> exps.Experiment:
        with mlflow_errors():
            return exps.active(self._experiments(), experiment_id)

    def _experiment_entity(self, experiment: exps.Experiment) -> Experiment:
        return Experiment(
            experiment_id=experiment.id,
            name=experiment.name,
            artifact_location=build_uri(GitmlUri(path=self._root())),
            lifecycle_stage=_LIFECYCLES[experiment.lifecycle],
            tags=[ExperimentTag(key, value) for key, value in experiment.tags.items()],
            creation_time=experiment.created_ms,
            last_update_time=experiment.updated_ms,
        )

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        wanted = _VIEWS.get(view_type, (exps.ACTIVE, exps.DELETED))
        found = [self._experiment_entity(e) for e in self._experiments() if e.lifecycle in wanted]
        found = SearchExperimentsUtils.filter(found, filter_string)
        found = SearchExperimentsUtils.sort(found, order_by or ["creation_time DESC"])
        page, token = SearchExperimentsUtils.paginate(found, page_token, max_results)
        return PagedList(page, token)

    def create_experiment(self, name: str, artifact_location: Any = None, tags: Any = None) -> str:
        if artifact_location:
            raise MlflowException(
                "gitml: an experiment's artifacts live in its runs' commits; create it "
                "without an artifact location",
                INVALID_PARAMETER_VALUE,
            )
        with mlflow_errors():
            exps.check_free(self._experiments(), name)
            return exps.create_experiment(self.repo, name, {t.key: t.value for t in tags or []})

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._experiment_entity(self._experiment(experiment_id))

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        for experiment in self._experiments():
            if experiment.name == experiment_name:
                return self._experiment_entity(experiment)
        return None

    def delete_experiment(self, experiment_id: str) -> None:
        """The experiment is marked deleted in its record (its runs stay, listed by
        search_runs as deleted); restore_experiment brings it back."""
        experiment = self._active_experiment(experiment_id)
        with mlflow_errors():
            exps.delete(self.repo, experiment)

    def restore_experiment(self, experiment_id: str) -> None:
        experiment = self._experiment(experiment_id)
        with mlflow_errors():
            exps.restore(self.repo, experiment)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """The experiment keeps its id; its runs keep the name they were filed under and
        stay its runs; runs started in it from now on are filed under `new_name`."""
        experiment = self._active_experiment(experiment_id)
        with mlflow_errors():
            exps.check_free(self._experiments(), new_name, renamed=experiment)
            exps.rename(self.repo, experiment, new_name)

    def set_experiment_tag(self, experiment_id: str, tag: Any) -> None:
        experiment = self._active_experiment(experiment_id)
        with mlflow_errors():
            exps.set_tag(self.repo, experiment, tag.key, tag.value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiment = self._active_experiment(experiment_id)
        with mlflow_errors():
            exps.delete_tag(self.repo, experiment, key)

    def _experiment_name(self, experiment_id: str | None) -> str:
        """The experiment a new run of `experiment_id` is filed under: MLflow's default
        ("0") is the URI's `?experiment=NAME` when it names one."""
        if experiment_id in (None, exps.DEFAULT_ID) and self.uri.experiment:
            return self.uri.experiment
        return self._active_experiment(str(experiment_id or exps.DEFAULT_ID)).name

    # runs

    @_one_writer
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: list[RunTag],
        run_name: str | None,
    ) -> Run:
        pairs = {tag.key: tag.value for tag in tags or [] if tag.key != RUN_NAME_TAG}
        with mlflow_errors():
            staging = self._wrapping_run()
            if staging is not None:
                for key, value in pairs.items():
                    staging.set_tag(key, value)
            else:
                options = RunOptions(
                    name=as_run_name(run_name or _tag(tags, RUN_NAME_TAG)),
                    experiment=self._experiment_name(experiment_id),
                    tags=pairs,
                    command=list(sys.orig_argv),
                    number_if_taken=True,
                )
                staging = start_run(self.repo, options).staging
            self._stagings[staging.meta["id"]] = staging
            return self.get_run(staging.meta["id"])

    def _wrapping_run(self) -> Staging | None:
        """The run `gitml run` records around this process, the first time an MLflow run
        starts here in its repository: MLflow's `start_run()` attaches to it, as
        `gitml.start_run()` does."""
        run_dir = os.environ.get("GITML_RUN_DIR")
        if not run_dir or run_dir in _attached or not Path(run_dir, META_FILE).is_file():
            return None
        if Path(run_dir).parent.resolve() != runs_dir(self.repo.state_dir).resolve():
            return None  # another repository's run
        _attached.add(run_dir)
        return Staging(Path(run_dir))

    @_one_writer
    def _staging(self, run_id: str) -> Staging:
        """The staging folder of run `run_id`, in progress; MlflowException otherwise."""
        staging = self._stagings.get(run_id)
        if staging is not None and staging.path.is_dir():
            return staging
        path = runs_dir(self.repo.state_dir) / run_id
        if staging is None and "/" not in run_id and Path(path, META_FILE).is_file():
            staging = self._stagings[run_id] = Staging(path)
            return staging
        self._stagings.pop(run_id, None)
        with mlflow_errors(), open_run(self.repo, _run_id(run_id)):
            pass  # RunNotFoundError (404) when there is no such run
        raise MlflowException(
            f"gitml: run {run_id} has ended, and an ended run is a commit, never changed; "
            "log to a new run",
            error_code=INVALID_PARAMETER_VALUE,
        )

    @_one_writer
    def update_run_info(
        self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        status = run_status if isinstance(run_status, str) else RunStatus.to_string(run_status)
        if status not in ("RUNNING", "SCHEDULED"):
            staging = self._staging(run_id)
            with mlflow_errors():
                if _wrapped(staging):  # `gitml run` commits it when the command ends
                    staging.close()
                    staging.declare_status(status.lower())
                else:
                    requests = staging.registration_requests()  # registered_model_name=
                    summary = finish_run(self.repo, staging, status.lower(), None)
                    self._stagings.pop(run_id, None)
                    self._params.pop(run_id, None)
                    _register_requested(self.repo, summary, requests)
                    fold_after_api_run(self.repo, stacklevel=4)
        return self.get_run(run_id).info

    def get_run(self, run_id: str) -> Run:
        with mlflow_errors(), open_run(self.repo, _run_id(run_id)) as reader:
            record = reader.record()
        return self._run_entity(record)

    def _run_entity(self, record: RunRecord) -> Run:
        end = record.end_ms or record.start_ms
        metrics = [
            Metric(key, summary.last, end, summary.last_step or 0)
            for key, summary in record.metrics.items()
        ]
        owners = exps.name_owners(self._records.records(self.repo))
        uris = run_artifact_uris(self._root())
        return _run(record.summary().to_json(), owners, uris, metrics)

    def _experiment_id(
        self, run: RunSummary, owners: dict[str, exps.Experiment] | None = None
    ) -> str:
        if owners is None:
            owners = exps.name_owners(self._records.records(self.repo))
        return _experiment_id(run.experiment, owners)

    def _root(self) -> str:
        return self.repo.cwd

    def delete_run(self, run_id: str) -> None:
        """`gitml rm`: the run's ref is deleted (git's gc removes its commit later); a
        run in progress, or one a registry tag points at, is refused as gitml rm does."""
        with mlflow_errors():
            remove_runs(self.repo, [_run_id(run_id)])
        self._stagings.pop(run_id, None)

    def restore_run(self, run_id: str) -> None:
        raise _unsupported(
            "restoring a run: deleting one removed its ref, as `gitml rm` does; a clone "
            "or remote that still has it gives it back with `gitml fetch`"
        )

    @_one_writer
    def log_batch(self, run_id: str, metrics: list, params: list, tags: list) -> None:
        staging = self._staging(run_id)
        with mlflow_errors():
            if params:
                self._log_params(run_id, staging, params)
            for metric in metrics:
                if metric.model_id is None or not self._has_point(run_id, metric):
                    value = _double(metric)
                    staging.log_metric(metric.key, value, metric.step, metric.timestamp)
            for tag in tags:
                if tag.key != RUN_NAME_TAG:  # a run keeps the name it started with
                    staging.set_tag(tag.key, tag.value)

    def _log_params(self, run_id: str, staging: Staging, params: list) -> None:
        """MLflow's rule: a param once logged keeps its value (the same value again is
        fine)."""
        known = self._params.get(run_id)
        if known is None:
            known = self._params[run_id] = staging.read_params()
        for param in params:
            value = str(param.value)
            if param.key in known and known[param.key] != value:
                raise MlflowException(  # MLflow's words first: scripts match on them
                    f"gitml: Changing param values is not allowed: param {param.key!r} of run "
                    f"{run_id} is {known[param.key]!r} already and cannot become {value!r}; "
                    "log it under another key",
                    INVALID_PARAMETER_VALUE,
                )
        for param in params:
            if param.key not in known:
                staging.log_param(param.key, str(param.value))
                known[param.key] = str(param.value)

    def _has_point(self, run_id: str, metric: Metric) -> bool:
        """Whether the run holds this point already: MLflow's log_model logs the run's
        points again with the model's id, which would double them in gitml's history."""
        return any(
            (m.step, m.value, m.timestamp) == (metric.step, metric.value, metric.timestamp)
            for m in self.get_metric_history(run_id, metric.key)
        )

    @_one_writer
    def delete_tag(self, run_id: str, key: str) -> None:
        staging = self._staging(run_id)
        with mlflow_errors():
            if key not in staging.read().tags:
                raise MlflowException(
                    f"gitml: No tag with name: {key!r} in run {run_id}", RESOURCE_DOES_NOT_EXIST
                )
            staging.delete_tag(key)

    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token=None
    ) -> PagedList[Metric]:
        """The points of a page (`max_results` from `page_token`'s offset; all without
        them), MLflow's entities made of the page's points only and the history read no
        further than one point past it: a Metric takes some 250 bytes, a point of the
        history's file 10 (a page at a time, as MLflow's server asks, a history takes a
        page of memory, not 30 times its file's size)."""
        start = SearchUtils.parse_start_offset_from_page_token(page_token) if page_token else 0
        end = start + max_results if max_results else None
        points: list[Metric] = []
        seen, more = 0, False
        with mlflow_errors(), open_run(self.repo, _run_id(run_id)) as reader:
            for steps, values, times in reader.metric_points(metric_key):
                low = max(start - seen, 0)
                high = len(steps) if end is None else min(end - seen, len(steps))
                points.extend(
                    Metric(metric_key, value, ms, step, run_id=run_id)
                    for step, value, ms in zip(
                        steps[low:high], values[low:high], times[low:high], strict=True
                    )
                )
                seen += len(steps)
                if end is not None and seen > end:
                    more = True
                    break
        return PagedList(points, SearchUtils.create_page_token(end) if more else None)

    def _search_runs(
        self,
        experiment_ids: list[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        """The page the index selects, filter and order in its SQL where the grammar
        allows and cut at the page's end (one run more says whether another page
        follows); only the page's runs are read into MLflow's entities."""
        records = self._records.records(self.repo)
        owners = exps.name_owners(records)
        chosen = None  # every experiment
        if experiment_ids:
            found = (self._find_experiment(i, records) for i in experiment_ids)
            chosen = [experiment for experiment in found if experiment is not None]
        wanted = _VIEWS.get(run_view_type, (exps.ACTIVE, exps.DELETED))
        if chosen is None and any(r.lifecycle not in wanted for r in records):
            chosen = self._experiments()
        if chosen is not None:
            names = [
                name
                for experiment in chosen
                if experiment.lifecycle in wanted
                for name in exps.run_names(experiment, owners)
            ]
            if not names:
                return [], None

        def names_of(experiment_id: str) -> tuple[str, ...]:
            experiment = self._find_experiment(experiment_id, records)
            return () if experiment is None else exps.run_names(experiment, owners)

        offset = _page_start(page_token)
        end = offset + max_results
        with mlflow_errors():
            keys = gitml_sort_keys(order_by)
            query = RunQuery(
                gitml_filter(filter_string, names_of),
                experiments=None if chosen is None else names,
                max_results=min(end + 1, _MAX_LIMIT),
            )
            listed = self._find(query, keys)
        token = SearchUtils.create_page_token(end) if len(listed) > end else None
        texts = [row.json for row in listed[offset:end]]
        uris = run_artifact_uris(self._root())
        return [_run(data, owners, uris) for data in json.loads(f"[{','.join(texts)}]")], token

    def _find(self, query: RunQuery, keys: list[SortKey]) -> list[Listed]:
        """The runs `query` selects in the order of `keys`, through the run index,
        DAMAGED runs left out. A sort key no run has sorts nothing, as in MLflow (gitml
        ls refuses it)."""
        query = replace(query, filter=without_damaged(query.filter))
        try:
            return find_listed(self.repo, replace(query, order_by=sort_texts(keys)))
        except UnknownKeyError as error:
            known = set(error.known)
            kept = [k for k in keys if k.field.kind == "attributes" or str(k.field) in known]
            return find_listed(self.repo, replace(query, order_by=sort_texts(kept)))

    @_one_writer
    def log_inputs(self, run_id: str, datasets=None, models=None) -> None:
        if not datasets:
            return
        staging = self._staging(run_id)
        with mlflow_errors():
            add_datasets(staging, [_dataset_json(item) for item in datasets])

    def log_outputs(self, run_id: str, models: list) -> None:
        """A logged model's id names its run already (see `create_logged_model`)."""
        self._staging(run_id)

    # logged models (MLflow 3): gitml.mlflow_plugin.logged_models

    @_one_writer
    def create_logged_model(
        self,
        experiment_id: str = exps.DEFAULT_ID,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Any = None,
        params: Any = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        if source_run_id is None:
            raise MlflowException(
                "gitml: a model is stored among its run's artifacts; log it inside a run "
                "(mlflow.start_run())",
                INVALID_PARAMETER_VALUE,
            )
        staging = self._staging(source_run_id)
        with mlflow_errors():
            folder = check_artifact_name(name or "model")
            staged = staging.read()
            record = models.models_record(staged.tags)
            if (staging.path / ARTIFACTS_DIR / folder).exists() or folder in record:
                raise MlflowException(
                    f"gitml: run {source_run_id} holds an artifact {folder!r} already; "
                    "log the model under another name",
                    RESOURCE_ALREADY_EXISTS,
                )
            record[folder] = models.new_entry(tags, params, model_type, staging.read_params())
            staging.set_tag(models.MODELS_TAG, models.tag_text(record, source_run_id))
        return self.get_logged_model(logged_model_id(source_run_id, folder))

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        run_id, folder = _parse_model_id(model_id)
        with mlflow_errors():
            run = resolve(self.repo, run_id)
            ready = folder in model_folders(self.repo, [run])[run.id]
        if not ready and folder not in models.models_record(run.tags):
            raise MlflowException(
                f"gitml: no logged model has the id {model_id!r}", RESOURCE_DOES_NOT_EXIST
            )
        return models.entity(run, folder, ready, self._root(), self._experiment_id(run))

    @_one_writer
    def _change_model(self, model_id: str, change: Callable[[dict], None]) -> None:
        """Apply `change` to logged model `model_id`'s entry in its run's tag; the run
        must be in progress (an ended run is a commit, never changed)."""
        run_id, folder = _parse_model_id(model_id)
        self.get_logged_model(model_id)  # 404 for a model that does not exist
        staging = self._staging(run_id)
        with mlflow_errors():
            record = models.models_record(staging.read().tags)
            change(record.setdefault(folder, {}))
            staging.set_tag(models.MODELS_TAG, models.tag_text(record, run_id))

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """READY once its MLmodel file is there; FAILED is kept while its run is in
        progress."""
        found = self.get_logged_model(model_id)
        if LoggedModelStatus(status) != found.status:
            wanted = LoggedModelStatus(status).name
            self._change_model(model_id, lambda entry: entry.update(status=wanted))
            found = self.get_logged_model(model_id)
        return found

    def set_logged_model_tags(self, model_id: str, tags: Any) -> None:
        """Kept with the model while its run is in progress. MLflow tags a logged model
        with the registry versions made of it (`mlflow.modelVersions`), after its run
        has ended too: the registry's tags hold those already, so that one is accepted
        for an ended run and not kept."""
        pairs = {tag.key: str(tag.value) for tag in tags or []}
        run_id, _ = _parse_model_id(model_id)
        with mlflow_errors():
            ended = resolve(self.repo, run_id).sha is not None
        if set(pairs) <= {MODEL_VERSIONS_TAG} and ended:
            self.get_logged_model(model_id)
            return
        self._change_model(model_id, lambda entry: entry.setdefault("tags", {}).update(pairs))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        def delete(entry: dict) -> None:
            if key not in entry.get("tags", {}):
                raise MlflowException(
                    f"gitml: No tag with key {key!r} on logged model {model_id}",
                    RESOURCE_DOES_NOT_EXIST,
                )
            del entry["tags"][key]

        self._change_model(model_id, delete)

    def log_logged_model_params(self, model_id: str, params: list) -> None:
        pairs = {param.key: str(param.value) for param in params}
        self._change_model(model_id, lambda entry: entry.setdefault("params", {}).update(pairs))

    def delete_logged_model(self, model_id: str) -> None:
        self.get_logged_model(model_id)  # 404 for a model that does not exist
        raise _unsupported(
            "deleting a logged model: it is a folder of its run's artifacts, and a run's "
            "commit never changes (gitml rm removes the whole run)"
        )

    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: Any = None,
        max_results: int | None = None,
        order_by: Any = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """The models of the runs of `experiment_ids`: every artifact folder holding an
        MLmodel file, and those a run in progress is logging; MLflow's filter, order
        and pages."""
        records = self._records.records(self.repo)
        owners = exps.name_owners(records)
        chosen = [self._find_experiment(i, records) for i in experiment_ids or []]
        names = [n for e in chosen if e is not None for n in exps.run_names(e, owners)]
        found = []
        if names:
            with mlflow_errors():
                runs = [row.run for row in self._find(RunQuery(None, experiments=names), [])]
                folders = model_folders(self.repo, runs)
            for run in runs:
                ready = folders[run.id]
                for folder in sorted({*ready, *models.models_record(run.tags)}):
                    experiment = self._experiment_id(run, owners)
                    found.append(
                        models.entity(run, folder, folder in ready, self._root(), experiment)
                    )
        found = SearchLoggedModelsUtils.filter_logged_models(found, filter_string, datasets)
        found = SearchLoggedModelsUtils.sort(found, order_by)
        page, token = SearchUtils.paginate(found, page_token, max_results or 100)
        return PagedList(page, token)


def _run(
    data: dict,
    owners: dict[str, exps.Experiment],
    artifact_uri: Callable[[str], str],
    metrics: list[Metric] | None = None,
) -> Run:
    """MLflow's Run of a run summary as JSON (`RunSummary.to_json`, the index's text):
    `owners` (`exps.name_owners`) say which experiment a renamed experiment's runs
    belong to, and whether it is deleted; `artifact_uri` gives a run its location
    (`run_artifact_uris`). Without `metrics`, each metric is its last value, as the
    summary holds it, at step 0 and the run's end."""
    run_id, name, tags = data["id"], data["name"], data["tags"]
    if metrics is None:
        end = data["end_ms"] or data["start_ms"]
        metrics = [Metric(key, float(value), end, 0) for key, value in data["metrics"].items()]
    shown = [RunTag(key, value) for key, value in tags.items() if key not in _OWN_TAGS]
    shown.append(RunTag(RUN_NAME_TAG, name))
    owner = owners.get(data["experiment"])
    info = RunInfo(
        run_id=run_id,
        experiment_id=_experiment_id(data["experiment"], owners),
        user_id=data["user"] or "",
        status=_STATUSES.get(data["status"], "FAILED"),
        start_time=data["start_ms"],
        end_time=data["end_ms"],
        lifecycle_stage=_LIFECYCLES[owner.lifecycle if owner else exps.ACTIVE],
        artifact_uri=artifact_uri(run_id),
        run_name=name,
    )
    params = [Param(key, value) for key, value in data["params"].items()]
    return Run(info, RunData(metrics, params, shown), _inputs(tags.get(DATASETS_TAG)))


def _experiment_id(name: str, owners: dict[str, exps.Experiment]) -> str:
    """The MLflow id of the experiment runs filed under `name` belong to."""
    owner = owners.get(name)
    return exps.experiment_id(name) if owner is None else owner.id


def _wrapped(staging: Staging) -> bool:
    """Whether `gitml run` records this run around a command (this process, or one that
    wrote the run's child.json): then gitml run commits it, with the status given."""
    return (staging.path / "child.json").exists() or os.environ.get("GITML_RUN_DIR") == str(
        staging.path
    )


def _register_requested(repo: Any, summary: RunSummary, requests: list) -> None:
    """Register the versions MLflow's registry asked for while the run was in progress
    (`registry_store.create_model_version`); one that fails is a warning, as for
    `gitml.end_run`: the run itself is committed."""
    if not requests:
        return
    import warnings

    from gitml.models.registration import register_requested

    for problem in register_requested(repo, summary, requests)[1]:
        warnings.warn(problem, UserWarning, stacklevel=3)


def _parse_model_id(model_id: str) -> tuple[str, str]:
    with mlflow_errors():
        return parse_logged_model_id(model_id)


def _run_id(text: str) -> str:
    """MLflow names runs by id only; a name or prefix gitml would resolve is refused."""
    from gitml.store.ids import is_ref_run_id

    if not isinstance(text, str) or not is_ref_run_id(text):
        raise MlflowException(f"gitml: {text!r} is no run id", RESOURCE_DOES_NOT_EXIST)
    return text


def _page_start(page_token: str | None) -> int:
    """Where the page of MLflow's `page_token` starts (a token comes from anyone
    calling `mlflow server`): MLflow's reading, with a token that is no object, a
    number past any float, no ASCII, or a negative offset refused in one line too."""
    try:
        offset = SearchUtils.parse_start_offset_from_page_token(page_token)
    except (ValueError, OverflowError, AttributeError, TypeError):
        offset = -1
    if offset < 0:
        raise MlflowException(
            "gitml: Invalid page token: pass the token the previous page gave, or none",
            INVALID_PARAMETER_VALUE,
        )
    return offset


def _tag(tags: list[RunTag] | None, key: str) -> str | None:
    return next((tag.value for tag in tags or [] if tag.key == key), None)


def _double(metric: Metric) -> float:
    """A metric's value as a float, refused in MLflow's words (scripts match on them)."""
    from gitml.tracking.staging import to_metric_value

    try:
        return to_metric_value(metric.key, metric.value)
    except InvalidValueError as error:
        raise MlflowException(
            f"gitml: Please specify value as a valid double: {error}", INVALID_PARAMETER_VALUE
        ) from None


def _unsupported(what: str) -> MlflowException:
    return MlflowException(f"gitml does not support {what}", INVALID_PARAMETER_VALUE)


def _dataset_json(item: DatasetInput) -> dict:
    dataset = item.dataset
    found = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
        "schema": dataset.schema,
        "profile": dataset.profile,
        "tags": {tag.key: tag.value for tag in item.tags},
    }
    return {key: value for key, value in found.items() if value is not None}


def _inputs(text: str | None) -> RunInputs:
    try:
        items = load_json(text, DATASETS_TAG) if text else []
        return RunInputs(
            [
                DatasetInput(
                    Dataset(
                        item["name"],
                        item["digest"],
                        item["source_type"],
                        item["source"],
                        item.get("schema"),
                        item.get("profile"),
                    ),
                    [InputTag(k, v) for k, v in (item.get("tags") or {}).items()],
                )
                for item in items
            ]
        )
    except (DocumentError, KeyError, TypeError, AttributeError):
        return RunInputs([])  # a tag set by hand (or fetched), not by log_inputs
