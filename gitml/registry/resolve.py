"""From a model reference to a run and an artifact: `which`, `get` and `models:/` URIs.

References and URIs are parsed by `gitml.registry.tags` (`parse_reference`,
`parse_model_uri`) into a `ModelRef`; here they are looked up in the registry.
"""

from dataclasses import dataclass
from pathlib import Path

from gitml.errors import InvalidValueError, RegistryError
from gitml.registry.events import ModelState, Version
from gitml.registry.operations import find_model, find_version
from gitml.registry.tags import MODELS_SCHEME, ModelRef, parse_model_uri, parse_reference
from gitml.store.layout import RECORD_ARTIFACTS
from gitml.store.repository import Repository, open_repository
from gitml.tracking.record import RunSummary


@dataclass(frozen=True)
class Resolved:
    """What a model reference points at."""

    model: str
    version: str
    stage: str | None
    commit: str
    run_id: str | None
    run_name: str | None
    artifact: str | None

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "commit": self.commit,
            "run_id": self.run_id,
            "run_name": self.run_name,
            "artifact": self.artifact,
        }


def which(repo: Repository | str, reference: str) -> Resolved:
    """The version, run and commit that `NAME@STAGE|VERSION|latest` stands for."""
    return _resolve(open_repository(repo), parse_reference(reference))


def resolve_model_uri(repo: Repository | str, uri: str) -> tuple[RunSummary, str]:
    """(the run, the artifact path within its artifacts) that a `models:/` URI names."""
    repo = open_repository(repo)
    if not uri.startswith(MODELS_SCHEME):
        raise InvalidValueError(f"'{uri}' is not a models:/ URI (e.g. models:/NAME/production)")
    resolved = _resolve(repo, parse_model_uri(uri))
    return run_of_commit(repo, resolved.commit), resolved.artifact or ""


def get(repo: Repository | str, reference: str, out_dir: str | Path) -> list[Path]:
    """Write the files of the artifact `reference` names under `out_dir`; return their paths."""
    from gitml.store.paths import check_tree_path
    from gitml.tracking.export import check_out_dir, write_artifact
    from gitml.tracking.readers import open_run

    repo = open_repository(repo)
    resolved = which(repo, reference)
    if not resolved.artifact:
        raise RegistryError(
            f"{resolved.model} {resolved.version} records no artifact path; "
            f"read its run's files with `git show {resolved.commit[:12]}:{RECORD_ARTIFACTS}/…`"
        )
    where = f"{resolved.model} {resolved.version} (run commit {resolved.commit[:12]})"
    name = check_tree_path(resolved.artifact, where)[-1]
    check_out_dir(Path(out_dir))
    with open_run(repo, run_of_commit(repo, resolved.commit)) as reader:
        written = write_artifact(reader, resolved.artifact, Path(out_dir), where, name)
    if not written:
        raise RegistryError(
            f"the run of {resolved.model} {resolved.version} holds no artifact "
            f"'{resolved.artifact}'"
        )
    return sorted(written)


def run_of_commit(repo: Repository, commit: str) -> RunSummary:
    """The run summary carried by a run commit's message trailers."""
    from gitml.tracking.committed import summary_of_commit

    summary = summary_of_commit(repo, commit)
    if summary is None:
        raise RegistryError(f"commit {commit[:12]} is not a gitml run (no Gitml-Run trailer)")
    return summary


def _resolve(repo: Repository, ref: ModelRef) -> Resolved:
    assert ref.model is not None  # a reference or models:/ URI names a registered model
    model = find_model(repo, ref.model)
    stage = ref.stage
    if ref.version is not None:
        version = find_version(model, ref.version)
    elif stage is not None and stage.isdigit():  # MLflow's version number (no stage is one)
        version = _numbered(model, stage)
        stage = None
    elif stage is not None:
        stage = stage if stage in model.stages else stage.lower()  # MLflow's `Production`
        holders = model.stages.get(stage)
        if not holders:
            raise _no_version(model, stage)
        version = model.versions[holders[0]]
    else:
        latest = model.latest
        if latest is None:
            raise RegistryError(f"{ref.model} has no registered version")
        version = latest
    run_id: str | None
    run_name: str | None
    try:
        run = run_of_commit(repo, version.commit)
        run_id, run_name = run.id, run.name
    except RegistryError:
        run_id, run_name = version.run_id, None
    return Resolved(
        model.name, version.version, stage, version.commit, run_id, run_name, version.artifact
    )


def _numbered(model: ModelState, number: str) -> Version:
    """The version MLflow numbers `number`: the Nth registered (`models:/NAME/1`)."""
    made = model.registered_in_order()
    index = int(number) - 1 if len(number) <= 18 else len(made)
    if not 0 <= index < len(made) or made[index].deregistered:
        live = [f"{n} ({v.version})" for n, v in enumerate(made, 1) if not v.deregistered]
        raise RegistryError(
            f"{model.name} has no version {number}: a number counts the versions in the "
            f"order they were registered ({', '.join(live) or 'none'})"
        )
    return made[index]


def _no_version(model: ModelState, selector: str) -> RegistryError:
    """No version holds stage `selector`: the stages that hold one."""
    stages = ", ".join(s for s, held in model.stages.items() if held) or "none"
    return RegistryError(f"no version of {model.name} is in {selector} (stages in use: {stages})")
