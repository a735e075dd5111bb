"""The stages a model version may be assigned to: `stages:` in gitml.yaml, or the defaults."""

from gitml.errors import InvalidValueError
from gitml.registry.tags import NAME_RULE, is_valid_name
from gitml.store.repository import Repository

DEFAULT_STAGES = ("dev", "staging", "production", "archived")
PROJECT_FILE = "gitml.yaml"


def allowed_stages(repo: Repository) -> tuple[str, ...]:
    """The stages this repository allows, in the order the project lists them."""
    if repo.root is None:
        return DEFAULT_STAGES
    path = repo.root / PROJECT_FILE
    if not path.is_file():
        return DEFAULT_STAGES
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InvalidValueError(f"{path} is not valid YAML: {error}") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    if stages is None:
        return DEFAULT_STAGES
    if not isinstance(stages, list) or not stages:
        raise InvalidValueError(
            f"'stages' in {path} must be a non-empty list of names, e.g. [dev, production]"
        )
    for stage in stages:
        if not isinstance(stage, str) or not is_valid_name(stage):
            raise InvalidValueError(f"stage {stage!r} in {path} is not valid: use {NAME_RULE}")
    return tuple(dict.fromkeys(stages))


def check_stage(repo: Repository, stage: str) -> str:
    """`stage` if the repository allows it; otherwise an error listing those it does."""
    allowed = allowed_stages(repo)
    if stage not in allowed:
        raise InvalidValueError(
            f"unknown stage '{stage}': allowed stages are {', '.join(allowed)} "
            f"(set `stages:` in {PROJECT_FILE} to change them)"
        )
    return stage
