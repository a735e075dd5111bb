"""MLflow's model registry on gitml's (entry point `mlflow.model_registry_store`, scheme
`gitml`): every MLflow call reads or writes the GTO-grammar tags of `gitml.registry`,
so `gitml model ls`, `gto show` and MLflow agree (docs/mlflow.md).

What maps to what:
- a registered model is the gitml model its name maps to (`names.model_name`);
- MLflow's version N is the Nth version registered of that model, in the order of
  the registry's counters (a deregistered one keeps its number, and reads as
  deleted), then the registrations waiting for their run to end: MLflow registers
  inside the run, and a version tag names the run's commit, so the run's staging
  folder keeps the request (`Staging.request_registration`, as `log_model(...,
  registered_model_name=)` of gitml's own API does) and whoever commits it registers;
- a version's stage (Staging, Production, Archived) and its aliases are the gitml
  stages holding it, case-insensitive; an alias is any other stage;
- a version's source and download URI are its artifact in its run (`gitml:` URIs,
  read by gitml's artifact repository).
Descriptions and tags of models and versions have no place in the tags: setting
one is refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.entities.model_registry.model_version_stages import (
    ALL_STAGES,
    STAGE_ARCHIVED,
    STAGE_NONE,
    get_canonical_stage,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils

from gitml.errors import RegistryError
from gitml.mlflow_plugin.errors import mlflow_errors
from gitml.mlflow_plugin.names import model_name, stage_name
from gitml.mlflow_plugin.tracking_store import repository_folder
from gitml.mlflow_plugin.uri import parse_uri, run_artifact_uri
from gitml.registry import operations
from gitml.registry.events import ModelState, Version
from gitml.store.repository import open_repository

_MLFLOW_STAGES = {stage.lower(): stage for stage in ALL_STAGES if stage != STAGE_NONE}
_STAGE_ORDER = ("production", "staging", "archived")  # a version in several: the first
_MAX_RESULTS = 1000
_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]  # MLflow's


@dataclass(frozen=True)
class _Waiting:
    """A registration of artifact `artifact` of run `run_id`, still in progress."""

    run_id: str
    artifact: str


@dataclass
class _Numbered:
    """MLflow's version `number` of a model: a registered gitml version, or one waiting."""

    number: int
    version: Version | None = None
    waiting: _Waiting | None = None


class GitmlModelRegistryStore(AbstractStore):
    """The registry of one git repository, named by a `gitml:` URI."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        self.tracking_uri = tracking_uri
        with mlflow_errors():
            folder = repository_folder(parse_uri(store_uri or "gitml:").path)
            self.repo = open_repository(folder)  # the tracking store's rule
        self._created: set[str] = set()  # models created here that have no version yet

    # reading the registry

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """gitml's errors as MLflow's."""
        with mlflow_errors():
            yield

    def _all_waiting(self) -> dict[str, list[_Waiting]]:
        """Registrations runs in progress keep, by model, oldest run first."""
        from gitml.tracking.catalog import running_runs
        from gitml.tracking.staging import Staging, runs_dir

        found: dict[str, list[_Waiting]] = {}
        for run in sorted(running_runs(self.repo), key=lambda run: run.id):
            staging = Staging(runs_dir(self.repo.state_dir) / run.id)
            for model, artifact in staging.registration_requests():
                found.setdefault(model, []).append(_Waiting(run.id, artifact))
        return found

    def _waiting(self, name: str) -> list[_Waiting]:
        return self._all_waiting().get(name, [])

    def _state(self, name: str) -> ModelState:
        """The gitml model MLflow's `name` maps to; 404 when it has no version."""
        gitml = model_name(name)
        state = operations.load_model(self.repo, gitml)
        if state is None or (state.deprecated and gitml not in self._created):
            if gitml in self._created or self._waiting(gitml):
                return ModelState(gitml)
            raise MlflowException(
                f"gitml: registered model {name!r} not found", RESOURCE_DOES_NOT_EXIST
            )
        return state

    def _numbered(
        self, state: ModelState, waiting: list[_Waiting] | None = None
    ) -> list[_Numbered]:
        registered = state.registered_in_order()
        numbered = [_Numbered(n, version=v) for n, v in enumerate(registered, 1)]
        for item in self._waiting(state.name) if waiting is None else waiting:
            numbered.append(_Numbered(len(numbered) + 1, waiting=item))
        return numbered

    def _find(self, name: str, version: Any) -> tuple[ModelState, _Numbered]:
        state = self._state(name)
        number = _number(version)
        numbered = self._numbered(state)
        if not 1 <= number <= len(numbered) or _deleted(numbered[number - 1]):
            raise MlflowException(
                f"gitml: model {state.name} has no version {number} "
                f"(versions: {', '.join(str(n.number) for n in numbered if not _deleted(n))})",
                RESOURCE_DOES_NOT_EXIST,
            )
        return state, numbered[number - 1]

    def _entity(self, state: ModelState, item: _Numbered) -> ModelVersion:
        if item.waiting is not None:
            waiting = item.waiting
            return ModelVersion(
                name=state.name,
                version=str(item.number),
                creation_timestamp=0,
                current_stage=STAGE_NONE,
                source=run_artifact_uri(self.repo.cwd, waiting.run_id, waiting.artifact),
                run_id=waiting.run_id,
                status_message="waiting for its run to end",
                aliases=[],
            )
        version = item.version
        assert version is not None and version.registered is not None
        stages = [s for s, held in state.stages.items() if version.version in held]
        legacy = [s for s in _STAGE_ORDER if s in stages]
        ms = version.registered.time * 1000
        return ModelVersion(
            name=state.name,
            version=str(item.number),
            creation_timestamp=ms,
            last_updated_timestamp=max([ms, *_stage_times(state, version.version)]),
            user_id=version.registered.email or None,
            current_stage=_MLFLOW_STAGES[legacy[0]] if legacy else STAGE_NONE,
            source=run_artifact_uri(self.repo.cwd, version.run_id or "", version.artifact or "")
            if version.run_id
            else None,
            run_id=version.run_id,
            aliases=sorted(s for s in stages if s not in _MLFLOW_STAGES),
        )

    def _every_model(self) -> list[tuple[ModelState, list[_Waiting]]]:
        """Every model MLflow lists, read in one pass: those with versions (not
        deprecated), those created here, those only runs in progress register."""
        registry = operations.load_registry(self.repo)
        waiting = self._all_waiting()
        names = {name for name, state in registry.items() if not state.deprecated}
        names.update(self._created, waiting)
        return [
            (registry.get(name) or ModelState(name), waiting.get(name, []))
            for name in sorted(names)
        ]

    def _model_entity(
        self, state: ModelState, waiting: list[_Waiting] | None = None
    ) -> RegisteredModel:
        numbered = self._numbered(state, waiting)
        live = [n for n in numbered if not _deleted(n)]
        versions = [self._entity(state, n) for n in live]
        latest: dict[str, ModelVersion] = {}
        for entity in versions:
            latest[entity.current_stage or STAGE_NONE] = entity
        times = [v.creation_timestamp for v in versions] or [0]
        aliases = [(alias, v.version) for v in versions for alias in v.aliases]
        from mlflow.entities.model_registry import RegisteredModelAlias

        return RegisteredModel(
            name=state.name,
            creation_timestamp=min(times),
            last_updated_timestamp=max(v.last_updated_timestamp or 0 for v in versions)
            if versions
            else 0,
            latest_versions=list(latest.values()),
            aliases=[RegisteredModelAlias(a, v) for a, v in aliases],
        )

    # registered models

    def create_registered_model(
        self, name: Any, tags: Any = None, description: Any = None, deployment_job_id: Any = None
    ) -> RegisteredModel:
        """gitml's registry holds a model once it has a version: until then the model is
        known to this store only."""
        with self._reading():
            gitml = model_name(name)
            _refuse_extras(tags=tags, description=description)
            state = operations.load_model(self.repo, gitml)
            if (state is not None and not state.deprecated) or gitml in self._created:
                raise MlflowException(
                    f"gitml: registered model {name!r} (gitml model {gitml}) already exists",
                    RESOURCE_ALREADY_EXISTS,
                )
            self._created.add(gitml)
            return RegisteredModel(name=gitml)

    def get_registered_model(self, name: Any) -> RegisteredModel:
        with self._reading():
            return self._model_entity(self._state(name))

    def search_registered_models(
        self,
        filter_string: Any = None,
        max_results: Any = None,
        order_by: Any = None,
        page_token: Any = None,
    ) -> PagedList[RegisteredModel]:
        with self._reading():
            models = [self._model_entity(s, w) for s, w in self._every_model()]
            found = SearchModelUtils.filter(models, filter_string)
            return _page(SearchModelUtils.sort(found, order_by), max_results, page_token)

    def get_latest_versions(self, name: Any, stages: Any = None) -> list[ModelVersion]:
        with self._reading():
            state = self._state(name)
            wanted = {get_canonical_stage(s) for s in (stages or ALL_STAGES)}
            latest: dict[str, ModelVersion] = {}
            for item in self._numbered(state):
                if not _deleted(item):
                    entity = self._entity(state, item)
                    stage = entity.current_stage or STAGE_NONE
                    if stage in wanted:
                        latest[stage] = entity
            return list(latest.values())

    def delete_registered_model(self, name: Any) -> None:
        """Deprecates the gitml model: hidden from `gitml model ls` and from MLflow until a
        later event (a new version) brings it back; its tags stay."""
        with self._reading():
            state = self._state(name)
            self._created.discard(state.name)
            if state.events and not state.deprecated:
                operations.deprecate(self.repo, state.name, "Deleted through MLflow.")

    def update_registered_model(self, name: Any, description: Any, deployment_job_id: Any = None):
        raise _unsupported("a registered model's description")

    def rename_registered_model(self, name: Any, new_name: Any):
        raise _unsupported("renaming a model (its tags name it, and tags never move)")

    def set_registered_model_tag(self, name: Any, tag: Any) -> None:
        raise _unsupported("tags on a registered model")

    def delete_registered_model_tag(self, name: Any, key: Any) -> None:
        raise _unsupported("tags on a registered model")

    # versions

    def create_model_version(
        self,
        name: Any,
        source: Any,
        run_id: Any = None,
        tags: Any = None,
        run_link: Any = None,
        description: Any = None,
        local_model_path: Any = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """The next version: `source` names an artifact of a gitml run (`runs:/ID/PATH`,
        `models:/<logged model id>` or the run's `gitml:` artifact location). A run still
        in progress is registered when it ends; the version number is given now."""
        with self._reading():
            _refuse_extras(tags=tags, description=description)
            gitml = model_name(name)
            run, path = self._run_artifact(str(source), run_id)
            if _in_progress(self.repo, run):
                from gitml.tracking.staging import Staging, check_artifact_name, runs_dir

                staging = Staging(runs_dir(self.repo.state_dir) / run)
                staging.request_registration(gitml, check_artifact_name(path))
            else:
                options = operations.RegisterOptions(
                    path=path, message="Registered through MLflow."
                )
                operations.register(self.repo, gitml, run, options)
            self._created.discard(gitml)
            state = self._state(gitml)
            return self._entity(state, self._numbered(state)[-1])

    def _run_artifact(self, source: str, run_id: Any) -> tuple[str, str]:
        """(run id, artifact path) that `source` names in this repository."""
        if source.startswith("models:/"):
            from mlflow import MlflowClient

            model_id = source.removeprefix("models:/").strip("/")
            location = MlflowClient(tracking_uri=self.tracking_uri).get_logged_model(model_id)
            source = str(location.artifact_location)
        if source.startswith("runs:/"):
            run, _, path = source.removeprefix("runs:/").partition("/")
            return run, path.strip("/")
        if source.startswith("gitml:"):
            located = parse_uri(source)
            if located.run_id is not None and located.artifact_path:
                if located.folder() != str(self.repo.root or ""):
                    raise RegistryError(
                        f"model source {source!r} is a run of another repository; register "
                        "it there, or fetch the run here"
                    )
                return located.run_id, located.artifact_path
        raise MlflowException(
            f"gitml: a model version is an artifact of a gitml run; source {source!r} names "
            "none (give runs:/RUN_ID/PATH, or log the model in a run of this repository)",
            INVALID_PARAMETER_VALUE,
        )

    def get_model_version(self, name: Any, version: Any) -> ModelVersion:
        with self._reading():
            state, item = self._find(name, version)
            return self._entity(state, item)

    def get_model_version_download_uri(self, name: Any, version: Any) -> str:
        with self._reading():
            state, item = self._find(name, version)
            source = self._entity(state, item).source
            if source is None:
                raise MlflowException(
                    f"gitml: version {item.number} of {state.name} names no run artifact",
                    RESOURCE_DOES_NOT_EXIST,
                )
            return source

    def search_model_versions(
        self,
        filter_string: Any = None,
        max_results: Any = None,
        order_by: Any = None,
        page_token: Any = None,
    ) -> PagedList[ModelVersion]:
        with self._reading():
            versions = [
                self._entity(state, item)
                for state, waiting in self._every_model()
                for item in self._numbered(state, waiting)
                if not _deleted(item)
            ]
            found = SearchModelVersionUtils.filter(versions, filter_string)
            ordered = SearchModelVersionUtils.sort(found, order_by or _VERSION_ORDER)
            return _page(ordered, max_results, page_token)

    def delete_model_version(self, name: Any, version: Any) -> None:
        """Deregisters the version: its number is never used again."""
        with self._reading():
            state, item = self._find(name, version)
            if item.version is None:
                raise _ends_first(state.name, item.number)
            operations.deregister(
                self.repo, state.name, item.version.version, "Deleted through MLflow."
            )

    def transition_model_version_stage(
        self, name: Any, version: Any, stage: Any, archive_existing_versions: Any
    ) -> ModelVersion:
        """Moves the version to one of MLflow's stages (or to none): it leaves the others,
        and with `archive_existing_versions` the versions the stage held go to archived."""
        with self._reading():
            state, item = self._find(name, version)
            if item.version is None:
                raise _ends_first(state.name, item.number)
            held = item.version.version
            target = get_canonical_stage(stage).lower()
            for other in _STAGE_ORDER:
                if other != target and held in state.stages.get(other, []):
                    operations.unassign(self.repo, state.name, held, other)
            if target in _MLFLOW_STAGES and held not in state.stages.get(target, []):
                moved = [v for v in state.stages.get(target, []) if v != held]
                keep = not archive_existing_versions
                options = operations.PromoteOptions(
                    message="Moved through MLflow.", keep_previous=keep
                )
                operations.promote(self.repo, state.name, held, target, options)
                if archive_existing_versions and target != STAGE_ARCHIVED.lower():
                    for other in moved:
                        self._archive(state.name, other)
            state = self._state(state.name)
            return self._entity(state, self._numbered(state)[item.number - 1])

    def _archive(self, name: str, version: str) -> None:
        state = self._state(name)
        if version in state.stages.get("archived", []):
            return
        options = operations.PromoteOptions(message="Archived through MLflow.", keep_previous=True)
        operations.promote(self.repo, name, version, "archived", options)

    def update_model_version(self, name: Any, version: Any, description: Any):
        raise _unsupported("a model version's description")

    def set_model_version_tag(self, name: Any, version: Any, tag: Any) -> None:
        raise _unsupported("tags on a model version")

    def delete_model_version_tag(self, name: Any, version: Any, key: Any) -> None:
        raise _unsupported("tags on a model version")

    # aliases

    def set_registered_model_alias(self, name: Any, alias: Any, version: Any) -> None:
        """The alias is the gitml stage of its name, lowercased: it moves to the version."""
        with self._reading():
            state, item = self._find(name, version)
            if item.version is None:
                raise _ends_first(state.name, item.number)
            stage = stage_name(alias)
            if state.stages.get(stage, [])[:1] == [item.version.version]:
                return
            options = operations.PromoteOptions(message=f"Alias {alias} set through MLflow.")
            operations.promote(self.repo, state.name, item.version.version, stage, options)

    def delete_registered_model_alias(self, name: Any, alias: Any) -> None:
        with self._reading():
            state = self._state(name)
            stage = stage_name(alias)
            for held in list(state.stages.get(stage, [])):
                operations.unassign(self.repo, state.name, held, stage)

    def get_model_version_by_alias(self, name: Any, alias: Any) -> ModelVersion:
        with self._reading():
            state = self._state(name)
            stage = stage_name(alias)
            held = state.stages.get(stage, [])
            for item in self._numbered(state):
                if item.version is not None and held and item.version.version == held[0]:
                    return self._entity(state, item)
            raise MlflowException(
                f"gitml: model {state.name} has no version with alias {alias!r}",
                RESOURCE_DOES_NOT_EXIST,
            )

    def copy_model_version(self, src_mv: Any, dst_name: Any) -> ModelVersion:
        """The source version's run artifact, registered under `dst_name`."""
        with self._reading():
            source = self.get_model_version_download_uri(src_mv.name, src_mv.version)
        return self.create_model_version(dst_name, source, run_id=src_mv.run_id)

    # webhooks: the server asks which to call after each change; gitml keeps none

    def list_webhooks(self, max_results: Any = None, page_token: Any = None) -> PagedList:
        return PagedList([], None)

    def list_webhooks_by_event(
        self, event: Any, max_results: Any = None, page_token: Any = None
    ) -> PagedList:
        return PagedList([], None)


def _number(version: Any) -> int:
    try:
        return int(str(version))
    except ValueError:
        raise MlflowException(
            f"gitml: a model version is a number, not {version!r}", INVALID_PARAMETER_VALUE
        ) from None


def _deleted(item: _Numbered) -> bool:
    return item.version is not None and item.version.deregistered


def _stage_times(state: ModelState, version: str) -> list[int]:
    return [e.time * 1000 for e in state.events if e.version == version]


def _in_progress(repo: Any, run_id: str) -> bool:
    from gitml.tracking.catalog import resolve
    from gitml.tracking.record import RUNNING

    return resolve(repo, run_id).status == RUNNING


def _page(items: list, max_results: Any, page_token: Any) -> PagedList:
    limit = _MAX_RESULTS if max_results is None else int(max_results)
    if limit < 1:
        raise MlflowException(
            f"gitml: max_results must be a positive number, not {max_results}",
            INVALID_PARAMETER_VALUE,
        )
    start = SearchUtils.parse_start_offset_from_page_token(page_token)
    end = start + limit
    token = SearchUtils.create_page_token(end) if end < len(items) else None
    return PagedList(items[start:end], token)


def _refuse_extras(tags: Any = None, description: Any = None) -> None:
    if tags:
        raise _unsupported("tags on registered models and versions")
    if description:
        raise _unsupported("descriptions of registered models and versions")


def _unsupported(what: str) -> MlflowException:
    return MlflowException(
        f"gitml's registry keeps versions and stages as git tags; it does not keep {what}",
        INVALID_PARAMETER_VALUE,
    )


def _ends_first(name: str, number: int) -> MlflowException:
    return MlflowException(
        f"gitml: version {number} of {name} is registered when its run ends; "
        "end the run first (mlflow.end_run())",
        INVALID_PARAMETER_VALUE,
    )
