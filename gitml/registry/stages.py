"""The stages a model version may be assigned to: the project's `stages:`, or the defaults.

The stages come from the project file at the repository root (`gitml.yaml`, or
`MLproject`), read by `gitml.project_file`, the one reader of project files.
"""

from gitml.errors import InvalidValueError
from gitml.project_file import PROJECT_FILES, repository_project
from gitml.registry.tags import NAME_RULE, is_valid_name
from gitml.store.repository import Repository

DEFAULT_STAGES = ("dev", "staging", "production", "archived")


def allowed_stages(repo: Repository) -> tuple[str, ...]:
    """The stages this repository allows, in the order the project lists them."""
    project = repository_project(repo)
    if project is None:
        return DEFAULT_STAGES
    for stage in project.stages:
        if not is_valid_name(stage):
            raise InvalidValueError(
                f"stage {stage!r} in {project.path} is not valid: use {NAME_RULE}"
            )
    return tuple(dict.fromkeys(project.stages)) or DEFAULT_STAGES


def check_stage(repo: Repository, stage: str) -> str:
    """`stage` if the repository allows it; otherwise an error listing those it does."""
    allowed = allowed_stages(repo)
    if stage not in allowed:
        raise InvalidValueError(
            f"unknown stage {stage!r}: allowed stages are {', '.join(allowed)} "
            f"(set `stages:` in {PROJECT_FILES[0]} to change them)"
        )
    return stage
