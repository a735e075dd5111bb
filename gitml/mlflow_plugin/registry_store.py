"""MLflow's model registry on gitml's (entry point `mlflow.model_registry_store`, scheme
`gitml`): every MLflow call reads or writes the GTO-grammar tags of `gitml.registry`
through MLflow's view of them (`gitml.mlflow_plugin.versions`, which gitml's own
`MlflowClient` shares), so `gitml model ls`, `gto show` and MLflow agree
(docs/mlflow.md). This module turns that view into MLflow's entities, reads a
version's source, and applies MLflow's search grammar.

Descriptions and tags of models and versions have no place in the tags: setting
one is refused with a clear error.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel, RegisteredModelAlias
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils

from gitml.errors import RegistryError
from gitml.mlflow_plugin.errors import mlflow_errors
from gitml.mlflow_plugin.tracking_store import repository_folder
from gitml.mlflow_plugin.uri import parse_uri
from gitml.mlflow_plugin.versions import ModelView, RegistryView, VersionView
from gitml.store.repository import open_repository

_MAX_RESULTS = 1000
_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]  # MLflow's


class GitmlModelRegistryStore(AbstractStore):
    """The registry of one git repository, named by a `gitml:` URI."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        self.tracking_uri = tracking_uri
        with mlflow_errors():
            folder = repository_folder(parse_uri(store_uri or "gitml:").path)
            self.repo = open_repository(folder)  # the tracking store's rule
        self.view = RegistryView(self.repo)

    # registered models

    def create_registered_model(
        self, name: Any, tags: Any = None, description: Any = None, deployment_job_id: Any = None
    ) -> RegisteredModel:
        """gitml's registry holds a model once it has a version: until then the model is
        known to this store only."""
        with mlflow_errors():
            _refuse_extras(tags=tags, description=description)
            return RegisteredModel(name=self.view.create_model(name))

    def get_registered_model(self, name: Any) -> RegisteredModel:
        with mlflow_errors():
            return _model(self.view.model(self.view.state(name)))

    def search_registered_models(
        self,
        filter_string: Any = None,
        max_results: Any = None,
        order_by: Any = None,
        page_token: Any = None,
    ) -> PagedList[RegisteredModel]:
        with mlflow_errors():
            models = [_model(found) for found in self.view.every_model()]
            found = SearchModelUtils.filter(models, filter_string)
            return _page(SearchModelUtils.sort(found, order_by), max_results, page_token)

    def get_latest_versions(self, name: Any, stages: Any = None) -> list[ModelVersion]:
        with mlflow_errors():
            return [_version(v) for v in self.view.latest(name, stages)]

    def delete_registered_model(self, name: Any) -> None:
        with mlflow_errors():
            self.view.delete_model(name)

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
        with mlflow_errors():
            _refuse_extras(tags=tags, description=description)
            run, path = self._run_artifact(str(source))
            return _version(self.view.create_version(name, run, path))

    def _run_artifact(self, source: str) -> tuple[str, str]:
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
        with mlflow_errors():
            return _version(self.view.view(*self.view.find(name, version)))

    def get_model_version_download_uri(self, name: Any, version: Any) -> str:
        with mlflow_errors():
            return self.view.download_uri(name, version)

    def search_model_versions(
        self,
        filter_string: Any = None,
        max_results: Any = None,
        order_by: Any = None,
        page_token: Any = None,
    ) -> PagedList[ModelVersion]:
        with mlflow_errors():
            versions = [_version(v) for found in self.view.every_model() for v in found.versions]
            found = SearchModelVersionUtils.filter(versions, filter_string)
            ordered = SearchModelVersionUtils.sort(found, order_by or _VERSION_ORDER)
            return _page(ordered, max_results, page_token)

    def delete_model_version(self, name: Any, version: Any) -> None:
        with mlflow_errors():
            self.view.delete_version(name, version)

    def transition_model_version_stage(
        self, name: Any, version: Any, stage: Any, archive_existing_versions: Any
    ) -> ModelVersion:
        with mlflow_errors():
            moved = self.view.transition(name, version, stage, bool(archive_existing_versions))
            return _version(moved)

    def update_model_version(self, name: Any, version: Any, description: Any):
        raise _unsupported("a model version's description")

    def set_model_version_tag(self, name: Any, version: Any, tag: Any) -> None:
        raise _unsupported("tags on a model version")

    def delete_model_version_tag(self, name: Any, version: Any, key: Any) -> None:
        raise _unsupported("tags on a model version")

    # aliases

    def set_registered_model_alias(self, name: Any, alias: Any, version: Any) -> None:
        with mlflow_errors():
            self.view.set_alias(name, alias, version)

    def delete_registered_model_alias(self, name: Any, alias: Any) -> None:
        with mlflow_errors():
            self.view.delete_alias(name, alias)

    def get_model_version_by_alias(self, name: Any, alias: Any) -> ModelVersion:
        with mlflow_errors():
            return _version(self.view.by_alias(name, alias))

    def copy_model_version(self, src_mv: Any, dst_name: Any) -> ModelVersion:
        """The source version's run artifact, registered under `dst_name`."""
        source = self.get_model_version_download_uri(src_mv.name, src_mv.version)
        return self.create_model_version(dst_name, source, run_id=src_mv.run_id)

    # webhooks: the server asks which to call after each change; gitml keeps none

    def list_webhooks(self, max_results: Any = None, page_token: Any = None) -> PagedList:
        return PagedList([], None)

    def list_webhooks_by_event(
        self, event: Any, max_results: Any = None, page_token: Any = None
    ) -> PagedList:
        return PagedList([], None)


def _version(view: VersionView) -> ModelVersion:
    return ModelVersion(
        name=view.name,
        version=view.version,
        creation_timestamp=view.created_ms,
        last_updated_timestamp=view.updated_ms or None,
        user_id=view.user,
        current_stage=view.stage,
        source=view.source,
        run_id=view.run_id,
        status_message=view.status_message,
        aliases=view.aliases,
    )


def _model(found: ModelView) -> RegisteredModel:
    return RegisteredModel(
        name=found.name,
        creation_timestamp=found.created_ms,
        last_updated_timestamp=found.updated_ms,
        latest_versions=[_version(v) for v in found.latest()],
        aliases=[RegisteredModelAlias(a, v) for a, v in found.aliases().items()],
    )


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
