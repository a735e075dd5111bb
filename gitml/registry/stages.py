"""The stages a model version may be assigned to: the project's `stages:`, or the defaults.

The project file (`gitml.yaml`, or `MLproject`) at the repository root is
read by `gitml.projects.project`, the one reader of project files.
"""

from gitml.errors import InvalidValueError
from gitml.registry.tags import NAME_RULE, is_valid_name
from gitml.store.repository import Repository

DEFAULT_STAGES = ("dev", "staging", "production", "archived")
PROJECT_FILE = "gitml.yaml"


def allowed_stages(repo: Repository) -> tuple[str, ...]:
    """The stages this repository allows, in the order the project lists them."""
    if repo.root is None:
        return DEFAULT_STAGES
    from gitml.projects.project import PROJECT_FILES, load_project

    for name in PROJECT_FILES:
        path = repo.root / name
        if path.is_file():
            stages = load_project(path).stages
            for stage in stages:
                if not is_valid_name(stage):
                    raise InvalidValueError(
                        f"stage {stage!r} in {path} is not valid: use {NAME_RULE}"
                    )
            return tuple(dict.fromkeys(stages)) or DEFAULT_STAGES
    return DEFAULT_STAGES


def check_stage(repo: Repository, stage: str) -> str:
    """`stage` if the repository allows it; otherwise an error listing those it does."""
    allowed = allowed_stages(repo)
    if stage not in allowed:
        raise InvalidValueError(
            f"unknown stage {stage!r}: allowed stages are {', '.join(allowed)} "
            f"(set `stages:` in {PROJECT_FILE} to change them)"
        )
    return stage
