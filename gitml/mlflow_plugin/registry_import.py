"""The registry part of `gitml import mlflow`: MLflow's registered versions, stages and
aliases as gitml registry tags (docs/mlflow.md).

A version becomes the next version of the gitml model its name maps to
(`gitml.mlflow_plugin.names`), registered on the run imported from its MLflow run
and naming the artifact that holds it; versions are taken in MLflow's order, so
MLflow's version N is the Nth. A stage (Staging, Production, Archived) or an alias is
a promotion to the gitml stage of the same name, lowercased. A version, stage or
alias gitml has already is left as it is: importing twice writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitml.errors import GitmlError
from gitml.mlflow_plugin.names import NO_STAGE, model_name, stage_name
from gitml.registry.events import ModelState
from gitml.registry.operations import PromoteOptions, RegisterOptions, load_model, promote, register
from gitml.store.repository import Repository
from gitml.tracking.record import RunSummary

if TYPE_CHECKING:
    from gitml.mlflow_plugin.importer import ImportReport, MlflowSource, Progress

_PAGE = 1000


def import_registry(
    repo: Repository,
    source: MlflowSource,
    runs: dict[str, RunSummary],
    report: ImportReport,
    tell: Progress,
) -> None:
    """Import every registered model of `source`; `runs` are the imported runs by
    MLflow run id (with a dry run, those the import would write count too)."""
    would_import = (
        {entry["mlflow_run_id"] for entry in report.imported} if report.dry_run else set()
    )
    for registered in source.pages(
        "its registered models",
        lambda token: source.client.search_registered_models(max_results=_PAGE, page_token=token),
    ):
        try:
            name = model_name(registered.name)
        except GitmlError as error:
            report.skipped.append(f"MLflow model {registered.name!r} not imported: {error}")
            continue
        versions = _versions(source, registered.name)
        importer = _ModelImport(repo, source, name, runs, would_import, report, tell)
        for version in versions:
            importer.version(version)
        for version in versions:
            stage = str(version.current_stage or NO_STAGE)
            if stage.lower() != NO_STAGE:
                importer.stage(version, stage, keep_previous=True)
        for alias, number in sorted(dict(registered.aliases or {}).items()):
            held = [v for v in versions if str(v.version) == str(number)]
            if held:
                importer.stage(held[0], alias, keep_previous=False)


def _versions(source: MlflowSource, name: str) -> list:
    quote = "'" if "'" not in name else '"'
    found = source.pages(
        f"the versions of model {name!r}",
        lambda token: source.client.search_model_versions(
            f"name = {quote}{name}{quote}", max_results=_PAGE, page_token=token
        ),
    )
    return sorted((v for v in found if v.name == name), key=lambda v: int(v.version))


class _ModelImport:
    """One MLflow model's versions and stages, written to gitml model `name`."""

    def __init__(
        self,
        repo: Repository,
        source: MlflowSource,
        name: str,
        runs: dict[str, RunSummary],
        would_import: set[str],
        report: ImportReport,
        tell: Progress,
    ):
        self.repo, self.source, self.name, self.runs = repo, source, name, runs
        self.would_import, self.report, self.tell = would_import, report, tell
        self.numbers: dict[str, str] = {}  # MLflow version number -> gitml version

    def state(self) -> ModelState:
        return load_model(self.repo, self.name) or ModelState(self.name)

    def version(self, version: Any) -> None:
        label = f"MLflow model {version.name!r} version {version.version}"
        run = self.runs.get(str(version.run_id or ""))
        if run is None:
            if str(version.run_id or "") in self.would_import:
                self._written(f"{self.name}: would register {label}")
            else:
                self.report.skipped.append(f"{label}: its run was not imported; left out")
            return
        held = self.state().version_of_commit(run.sha or "")
        if held is not None:
            self.numbers[str(version.version)] = held.version
            return
        try:
            path = self._artifact(version, run)
            if self.report.dry_run:
                self._written(f"{self.name}: would register {label} from run {run.name}")
                return
            event = register(
                self.repo,
                self.name,
                run.id,
                RegisterOptions(path=path, message=f"Imported from {label}."),
            )
        except GitmlError as error:
            self.report.skipped.append(f"{label}: not registered: {error}")
            return
        self.numbers[str(version.version)] = event.version or ""
        self._written(f"{self.name} {event.version} registered from {label} (run {run.name})")

    def stage(self, version: Any, mlflow_stage: str, keep_previous: bool) -> None:
        label = f"MLflow model {version.name!r} version {version.version}"
        held = self.numbers.get(str(version.version))
        if held is None:
            if self.report.dry_run and str(version.run_id or "") in self.would_import:
                self._written(f"{self.name}: would put {label} in {mlflow_stage.lower()}")
            return
        try:
            stage = stage_name(mlflow_stage)
            if held in self.state().stages.get(stage, []):
                return
            if self.report.dry_run:
                self._written(f"{self.name}: would promote {held} to {stage}")
                return
            promote(
                self.repo,
                self.name,
                held,
                stage,
                PromoteOptions(message=f"Imported from {label}.", keep_previous=keep_previous),
            )
        except GitmlError as error:
            self.report.skipped.append(f"{label}: {mlflow_stage!r} left out: {error}")
            return
        self._written(f"{self.name} {held} promoted to {stage} ({label})")

    def _artifact(self, version: Any, run: RunSummary) -> str | None:
        """The artifact of `run` holding the version: a logged model's folder, or the path
        a `runs:/` or artifact-location source names; None lets gitml choose."""
        source = str(version.source or "")
        if source.startswith("models:/"):
            from gitml.mlflow_plugin.importer import model_folder

            model_id = source.removeprefix("models:/").split("/", 1)[0]
            with self.source.reading(f"logged model {model_id}"):
                logged = self.source.client.get_logged_model(model_id)
                top = self.source.top_artifact_names(version.run_id)
            return model_folder(logged, top)
        prefix = f"runs:/{version.run_id}/"
        if source.startswith(prefix):
            return source.removeprefix(prefix) or None
        with self.source.reading(f"MLflow run {version.run_id}"):
            root = str(self.source.client.get_run(version.run_id).info.artifact_uri).rstrip("/")
        if source.startswith(root + "/"):
            return source.removeprefix(root + "/")
        return None

    def _written(self, line: str) -> None:
        self.report.registry.append(line)
        self.tell(line)
