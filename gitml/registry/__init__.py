"""The model registry: versions and stages of models, kept as annotated git tags.

Functions mirror `gitml model …`; every one takes a repository path or an
open `Repository`. `import gitml` does not import this package.

    from gitml import registry
    registry.register(".", "linear", "faster", registry.RegisterOptions(path="model.txt"))
    registry.promote(".", "linear", "v0.0.1", "production")
    run, artifact = registry.resolve_model_uri(".", "models:/linear@production")
"""

from gitml.lazy import lazy_attributes

# public name → module that defines it. Loaded on first use: `gitml push` and `gitml
# fetch` import the tag modules only, and should not pay for the operations too.
_EXPORTS = {
    "Event": "gitml.registry.events",
    "ModelState": "gitml.registry.events",
    "Version": "gitml.registry.events",
    "PromoteOptions": "gitml.registry.operations",
    "RegisterOptions": "gitml.registry.operations",
    "deprecate": "gitml.registry.operations",
    "deregister": "gitml.registry.operations",
    "history": "gitml.registry.operations",
    "list_models": "gitml.registry.operations",
    "load_model": "gitml.registry.operations",
    "load_registry": "gitml.registry.operations",
    "promote": "gitml.registry.operations",
    "register": "gitml.registry.operations",
    "unassign": "gitml.registry.operations",
    "Resolved": "gitml.registry.resolve",
    "get": "gitml.registry.resolve",
    "ModelRef": "gitml.registry.tags",
    "model_uri": "gitml.registry.tags",
    "parse_model_uri": "gitml.registry.tags",
    "parse_reference": "gitml.registry.tags",
    "reference_text": "gitml.registry.tags",
    "resolve_model_uri": "gitml.registry.resolve",
    "which": "gitml.registry.resolve",
    "DEFAULT_STAGES": "gitml.registry.stages",
    "allowed_stages": "gitml.registry.stages",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals())
