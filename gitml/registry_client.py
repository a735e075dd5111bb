"""The model registry methods of gitml's `MlflowClient` (no mlflow installed): MLflow's
registered models, versions, stages and aliases on gitml's registry tags, through the
same view of them as MLflow's own client on the `gitml:` backend
(`gitml.mlflow_plugin.versions`), so both number versions and name stages alike.

Errors are gitml's: `ModelNotFoundError` for a model, version or alias that does not
exist, `ModelExistsError` for a model created twice, `RegistryError` otherwise.
Descriptions and tags of models and versions have no place in the tags: giving one
is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitml.entities import ModelVersion, PagedList, RegisteredModel, matching_names

if TYPE_CHECKING:
    from gitml.mlflow_plugin.versions import ModelView, RegistryView, VersionView
    from gitml.store.repository import Repository


class RegistryMethods:
    """MlflowClient's registry half; the class using it has `repo`."""

    repo: Repository
    _registry_view: RegistryView | None = None

    @property
    def _registry(self) -> RegistryView:
        if self._registry_view is None:
            from gitml.mlflow_plugin.versions import RegistryView

            self._registry_view = RegistryView(self.repo)
        return self._registry_view

    def create_registered_model(
        self, name: str, tags: dict | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Model `name` with no version yet: known to this client until its first version
        (gitml's registry holds a model once it has one)."""
        _refuse_extras(tags, description)
        return RegisteredModel(self._registry.create_model(name), 0, 0)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict | None = None,
        run_link: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """The next version of `name`: `source` is `runs:/RUN_ID/PATH` or the run's
        `gitml:` artifact location. A run in progress is registered when it ends."""
        _refuse_extras(tags, description)
        run, path = _run_artifact(self.repo, str(source))
        return _version(self._registry.create_version(name, run, path))

    def get_registered_model(self, name: str) -> RegisteredModel:
        view = self._registry
        return _model(view.model(view.state(name)))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> list[RegisteredModel]:
        """Registered models by name; `filter_string` compares the name (`name = 'x'`,
        `name LIKE 'x%'`, `!=`, `ILIKE`), `order_by` `name` or `name DESC`."""
        found = matching_names([_model(m) for m in self._registry.every_model()], filter_string)
        descending = any(text.split()[-1].upper() == "DESC" for text in order_by or [] if text)
        found.sort(key=lambda model: model.name, reverse=descending)
        return PagedList(found[:max_results] if max_results else found)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        return [_version(v) for v in self._registry.latest(name, stages)]

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        view = self._registry
        return _version(view.view(*view.find(name, version)))

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return self._registry.download_uri(name, version)

    def search_model_versions(self, filter_string: str | None = None) -> list[ModelVersion]:
        """Every live version; `filter_string` compares the model's name as
        search_registered_models does."""
        models = matching_names(self._registry.every_model(), filter_string)
        return PagedList(_version(v) for model in models for v in model.versions)

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        moved = self._registry.transition(name, version, stage, archive_existing_versions)
        return _version(moved)

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self._registry.set_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._registry.delete_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return _version(self._registry.by_alias(name, alias))

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._registry.delete_version(name, version)

    def delete_registered_model(self, name: str) -> None:
        self._registry.delete_model(name)


def _run_artifact(repo: Repository, source: str) -> tuple[str, str]:
    """(run id, artifact path) that `source` names in this repository."""
    from gitml.errors import RegistryError
    from gitml.mlflow_plugin.uri import parse_uri

    if source.startswith("runs:/"):
        run, _, path = source.removeprefix("runs:/").partition("/")
        if run and path.strip("/"):
            return run, path.strip("/")
    elif source.startswith("gitml:"):
        located = parse_uri(source)
        if located.run_id is not None and located.artifact_path:
            if located.folder() != str(repo.root or ""):
                raise RegistryError(
                    f"model source {source!r} is a run of another repository; register it "
                    "there, or fetch the run here"
                )
            return located.run_id, located.artifact_path
    raise RegistryError(
        f"a model version is an artifact of a gitml run; source {source!r} names none "
        "(give runs:/RUN_ID/PATH)"
    )


def _refuse_extras(tags: Any, description: Any) -> None:
    from gitml.errors import RegistryError

    if tags or description:
        raise RegistryError(
            "gitml's registry keeps versions and stages as git tags; it does not keep tags "
            "or descriptions of registered models and versions"
        )


def _version(view: VersionView) -> ModelVersion:
    return ModelVersion(
        name=view.name,
        version=view.version,
        creation_timestamp=view.created_ms,
        last_updated_timestamp=view.updated_ms or None,
        current_stage=view.stage,
        source=view.source,
        run_id=view.run_id,
        user_id=view.user,
        aliases=list(view.aliases),
        status_message=view.status_message,
    )


def _model(found: ModelView) -> RegisteredModel:
    return RegisteredModel(
        name=found.name,
        creation_timestamp=found.created_ms,
        last_updated_timestamp=found.updated_ms,
        latest_versions=[_version(v) for v in found.latest()],
        aliases=found.aliases(),
    )
