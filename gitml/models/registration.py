"""`log_model(..., registered_model_name=NAME)`: the logged model becomes the next version
of NAME in gitml's registry, as in MLflow, once its run is committed (a version names
a committed run). The name is checked when the model is logged; the run's staging
folder keeps the request (`Staging.request_registration`); whoever commits the run
(`gitml.end_run`, or the `gitml run` wrapping the script) then calls `register_requested`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitml.errors import GitmlError, RegistryError

if TYPE_CHECKING:
    from gitml.store.repository import Repository
    from gitml.tracking.record import RunSummary


def check_model_name(name: object) -> str:
    """`name` if it can name a registered model, else RegistryError saying the rule."""
    from gitml.registry.tags import NAME_RULE, is_valid_name

    if not isinstance(name, str) or not is_valid_name(name):
        raise RegistryError(
            f"registered_model_name {name!r} cannot name a model in gitml's registry: use "
            f"{NAME_RULE}"
        )
    return name


def register_requested(
    repo: Repository, summary: RunSummary, requests: list[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """Register each (model name, artifact path) of the committed run `summary`; returns
    (a sentence per version registered, a sentence per registration that failed)."""
    from gitml.registry.operations import RegisterOptions, register

    if not requests or summary.status != "finished":
        return [], [
            f"{model} was not registered: run {summary.name} ended {summary.status}"
            for model, _ in requests
        ]
    done, failed = [], []
    for model, path in requests:
        try:
            event = register(repo, model, summary.id, RegisterOptions(path=path))
        except GitmlError as error:
            failed.append(f"{model} was not registered: {error}")
        else:
            done.append(f"registered {model} {event.version} from run {summary.name} ({path})")
    return done, failed
