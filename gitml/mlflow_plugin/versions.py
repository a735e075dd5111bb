"""MLflow's view of gitml's registry, without mlflow: what MLflow calls a registered
model, version N, its stage and aliases, read from and written as the GTO-grammar tags
of `gitml.registry`. MLflow's registry store (`registry_store`) and gitml's own
`MlflowClient` (`gitml.registry_client`) both answer through it (docs/mlflow.md).

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
- a version's source and download URI are its artifact in its run (`gitml:` URIs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitml.errors import ModelExistsError, ModelNotFoundError, RegistryError
from gitml.mlflow_plugin.names import model_name, stage_name
from gitml.mlflow_plugin.uri import run_artifact_uri
from gitml.registry import operations
from gitml.registry.events import ModelState, Version
from gitml.store.repository import Repository

NO_STAGE = "None"  # MLflow's stage of a version in none
STAGES = {"staging": "Staging", "production": "Production", "archived": "Archived"}
STAGE_ORDER = ("production", "staging", "archived")  # a version in several: the first


@dataclass(frozen=True)
class Waiting:
    """A registration of artifact `artifact` of run `run_id`, still in progress."""

    run_id: str
    artifact: str


@dataclass
class Numbered:
    """MLflow's version `number` of a model: a registered gitml version, or one waiting."""

    number: int
    version: Version | None = None
    waiting: Waiting | None = None

    @property
    def deleted(self) -> bool:
        return self.version is not None and self.version.deregistered


@dataclass(frozen=True)
class VersionView:
    """One version as MLflow shows it."""

    name: str
    version: str  # MLflow's number, as text
    created_ms: int
    updated_ms: int
    stage: str  # MLflow's: Production, Staging, Archived or None
    source: str | None  # the run artifact's `gitml:` URI
    run_id: str | None
    user: str | None = None
    aliases: list[str] = field(default_factory=list)
    status_message: str | None = None


@dataclass(frozen=True)
class ModelView:
    """A registered model as MLflow shows it: its live versions, oldest first."""

    name: str
    versions: list[VersionView]

    @property
    def created_ms(self) -> int:
        return min((v.created_ms for v in self.versions), default=0)

    @property
    def updated_ms(self) -> int:
        return max((v.updated_ms for v in self.versions), default=0)

    def latest(self) -> list[VersionView]:
        """The latest version in each stage (None included), as MLflow lists them."""
        latest: dict[str, VersionView] = {}
        for view in self.versions:
            latest[view.stage] = view
        return list(latest.values())

    def aliases(self) -> dict[str, str]:
        return {alias: view.version for view in self.versions for alias in view.aliases}


def canonical_stage(stage: str) -> str:
    """MLflow's spelling of stage `stage` (any case); RegistryError for another."""
    found = {**STAGES, "none": NO_STAGE}.get(str(stage).lower())
    if found is None:
        raise RegistryError(
            f"{stage!r} is no MLflow stage: use None, Staging, Production or Archived"
        )
    return found


class RegistryView:
    """MLflow's registry on the gitml registry of `repo`. A model created with no version
    yet is known to this object only: the registry holds a model once it has one."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.created: set[str] = set()

    # reading

    def all_waiting(self) -> dict[str, list[Waiting]]:
        """Registrations runs in progress keep, by model, oldest run first."""
        from gitml.tracking.catalog import running_runs
        from gitml.tracking.staging import Staging, runs_dir

        found: dict[str, list[Waiting]] = {}
        for run in sorted(running_runs(self.repo), key=lambda run: run.id):
            staging = Staging(runs_dir(self.repo.state_dir) / run.id)
            for model, artifact in staging.registration_requests():
                found.setdefault(model, []).append(Waiting(run.id, artifact))
        return found

    def state(self, name: str) -> ModelState:
        """The gitml model MLflow's `name` maps to; ModelNotFoundError when it has no
        version (nor one waiting) and was not created here."""
        gitml = model_name(name)
        state = operations.load_model(self.repo, gitml)
        if state is None or (state.deprecated and gitml not in self.created):
            if gitml in self.created or self.all_waiting().get(gitml):
                return ModelState(gitml)
            raise ModelNotFoundError(f"registered model {name!r} not found")
        return state

    def numbered(self, state: ModelState, waiting: list[Waiting] | None = None) -> list[Numbered]:
        registered = state.registered_in_order()
        numbered = [Numbered(n, version=v) for n, v in enumerate(registered, 1)]
        if waiting is None:
            waiting = self.all_waiting().get(state.name, [])
        for item in waiting:
            numbered.append(Numbered(len(numbered) + 1, waiting=item))
        return numbered

    def find(self, name: str, version: object) -> tuple[ModelState, Numbered]:
        state = self.state(name)
        number = version_number(version)
        numbered = self.numbered(state)
        if not 1 <= number <= len(numbered) or numbered[number - 1].deleted:
            live = ", ".join(str(n.number) for n in numbered if not n.deleted)
            raise ModelNotFoundError(
                f"model {state.name} has no version {number} (versions: {live or 'none'})"
            )
        return state, numbered[number - 1]

    def view(self, state: ModelState, item: Numbered) -> VersionView:
        if item.waiting is not None:
            return VersionView(
                name=state.name,
                version=str(item.number),
                created_ms=0,
                updated_ms=0,
                stage=NO_STAGE,
                source=run_artifact_uri(self.repo.cwd, item.waiting.run_id, item.waiting.artifact),
                run_id=item.waiting.run_id,
                status_message="waiting for its run to end",
            )
        version = item.version
        assert version is not None and version.registered is not None
        stages = [s for s, held in state.stages.items() if version.version in held]
        legacy = [s for s in STAGE_ORDER if s in stages]
        ms = version.registered.time * 1000
        changes = [e.time * 1000 for e in state.events if e.version == version.version]
        source = None
        if version.run_id:
            source = run_artifact_uri(self.repo.cwd, version.run_id, version.artifact or "")
        return VersionView(
            name=state.name,
            version=str(item.number),
            created_ms=ms,
            updated_ms=max([ms, *changes]),
            stage=STAGES[legacy[0]] if legacy else NO_STAGE,
            source=source,
            run_id=version.run_id,
            user=version.registered.email or None,
            aliases=sorted(s for s in stages if s not in STAGES),
        )

    def model(self, state: ModelState, waiting: list[Waiting] | None = None) -> ModelView:
        live = [n for n in self.numbered(state, waiting) if not n.deleted]
        return ModelView(state.name, [self.view(state, n) for n in live])

    def every_model(self) -> list[ModelView]:
        """Every model MLflow lists, read in one pass: those with versions (not
        deprecated), those created here, those only runs in progress register."""
        registry = operations.load_registry(self.repo)
        waiting = self.all_waiting()
        names = {name for name, state in registry.items() if not state.deprecated}
        names.update(self.created, waiting)
        return [
            self.model(registry.get(name) or ModelState(name), waiting.get(name, []))
            for name in sorted(names)
        ]

    def latest(self, name: str, stages: list[str] | None = None) -> list[VersionView]:
        wanted = {canonical_stage(s) for s in stages or [NO_STAGE, *STAGES.values()]}
        return [v for v in self.model(self.state(name)).latest() if v.stage in wanted]

    def by_alias(self, name: str, alias: str) -> VersionView:
        state = self.state(name)
        held = state.stages.get(stage_name(alias), [])
        for item in self.numbered(state):
            if item.version is not None and held and item.version.version == held[0]:
                return self.view(state, item)
        raise ModelNotFoundError(f"model {state.name} has no version with alias {alias!r}")

    def download_uri(self, name: str, version: object) -> str:
        state, item = self.find(name, version)
        source = self.view(state, item).source
        if source is None:
            raise ModelNotFoundError(f"version {item.number} of {state.name} names no run artifact")
        return source

    # writing

    def create_model(self, name: str) -> str:
        """Know model `name` before its first version; the gitml name."""
        gitml = model_name(name)
        state = operations.load_model(self.repo, gitml)
        if (state is not None and not state.deprecated) or gitml in self.created:
            raise ModelExistsError(
                f"registered model {name!r} (gitml model {gitml}) already exists"
            )
        self.created.add(gitml)
        return gitml

    def create_version(self, name: str, run_id: str, path: str) -> VersionView:
        """The next version: artifact `path` of run `run_id`. A run still in progress is
        registered when it ends; the version number is given now."""
        from gitml.tracking.catalog import resolve
        from gitml.tracking.record import RUNNING
        from gitml.tracking.staging import Staging, check_artifact_name, runs_dir

        gitml = model_name(name)
        if resolve(self.repo, run_id).status == RUNNING:
            staging = Staging(runs_dir(self.repo.state_dir) / run_id)
            staging.request_registration(gitml, check_artifact_name(path))
        else:
            options = operations.RegisterOptions(path=path, message="Registered through MLflow.")
            operations.register(self.repo, gitml, run_id, options)
        self.created.discard(gitml)
        state = self.state(gitml)
        return self.view(state, self.numbered(state)[-1])

    def delete_model(self, name: str) -> None:
        """Deprecates the gitml model: hidden from `gitml model ls` and from MLflow until a
        later event (a new version) brings it back; its tags stay."""
        state = self.state(name)
        self.created.discard(state.name)
        if state.events and not state.deprecated:
            operations.deprecate(self.repo, state.name, "Deleted through MLflow.")

    def delete_version(self, name: str, version: object) -> None:
        """Deregisters the version: its number is never used again."""
        state, item = self.find(name, version)
        operations.deregister(
            self.repo, state.name, _registered(state, item).version, "Deleted through MLflow."
        )

    def transition(
        self, name: str, version: object, stage: str, archive_existing: bool
    ) -> VersionView:
        """Moves the version to one of MLflow's stages (or to none): it leaves the others,
        and with `archive_existing` the versions the stage held go to archived."""
        state, item = self.find(name, version)
        held = _registered(state, item).version
        target = canonical_stage(stage).lower()
        for other in STAGE_ORDER:
            if other != target and held in state.stages.get(other, []):
                operations.unassign(self.repo, state.name, held, other)
        if target in STAGES and held not in state.stages.get(target, []):
            moved = [v for v in state.stages.get(target, []) if v != held]
            options = operations.PromoteOptions(
                message="Moved through MLflow.", keep_previous=not archive_existing
            )
            operations.promote(self.repo, state.name, held, target, options)
            if archive_existing and target != "archived":
                for other in moved:
                    self._archive(state.name, other)
        state = self.state(state.name)
        return self.view(state, self.numbered(state)[item.number - 1])

    def _archive(self, name: str, version: str) -> None:
        if version in self.state(name).stages.get("archived", []):
            return
        options = operations.PromoteOptions(message="Archived through MLflow.", keep_previous=True)
        operations.promote(self.repo, name, version, "archived", options)

    def set_alias(self, name: str, alias: str, version: object) -> None:
        """The alias is the gitml stage of its name, lowercased: it moves to the version."""
        state, item = self.find(name, version)
        held = _registered(state, item).version
        stage = stage_name(alias)
        if state.stages.get(stage, [])[:1] == [held]:
            return
        options = operations.PromoteOptions(message=f"Alias {alias} set through MLflow.")
        operations.promote(self.repo, state.name, held, stage, options)

    def delete_alias(self, name: str, alias: str) -> None:
        state = self.state(name)
        stage = stage_name(alias)
        for held in list(state.stages.get(stage, [])):
            operations.unassign(self.repo, state.name, held, stage)


def version_number(version: object) -> int:
    try:
        return int(str(version))
    except ValueError:
        raise RegistryError(f"a model version is a number, not {version!r}") from None


def _registered(state: ModelState, item: Numbered) -> Version:
    """The gitml version of `item`; RegistryError while its run is in progress."""
    if item.version is None:
        raise RegistryError(
            f"version {item.number} of {state.name} is registered when its run ends; "
            "end the run first (mlflow.end_run())"
        )
    return item.version
