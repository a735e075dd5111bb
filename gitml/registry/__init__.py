"""The model registry: versions and stages of models, kept as annotated git tags.

Functions mirror `gitml model …`; every one takes a repository path or an
open `Repository`. `import gitml` does not import this package.

    from gitml import registry
    registry.register(".", "linear", "faster", registry.RegisterOptions(path="model.txt"))
    registry.promote(".", "linear", "v0.0.1", "production")
    run, artifact = registry.resolve_model_uri(".", "models:/linear@production")
"""

from gitml.registry.events import Event, ModelState, Version
from gitml.registry.operations import (
    PromoteOptions,
    RegisterOptions,
    deprecate,
    deregister,
    history,
    list_models,
    load_model,
    load_registry,
    promote,
    register,
    unassign,
)
from gitml.registry.resolve import Resolved, get, parse_model_uri, resolve_model_uri, which
from gitml.registry.stages import DEFAULT_STAGES, allowed_stages

__all__ = [
    "DEFAULT_STAGES",
    "Event",
    "ModelState",
    "PromoteOptions",
    "RegisterOptions",
    "Resolved",
    "Version",
    "allowed_stages",
    "deprecate",
    "deregister",
    "get",
    "history",
    "list_models",
    "load_model",
    "load_registry",
    "parse_model_uri",
    "promote",
    "register",
    "resolve_model_uri",
    "unassign",
    "which",
]
