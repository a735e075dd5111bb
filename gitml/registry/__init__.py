"""The model registry: versions and stages of models, kept as annotated git tags.

Functions mirror `gitml model …`; every one takes a repository path or an
open `Repository`. `import gitml` does not import this package.

    from gitml import registry
    registry.register(".", "linear", "faster", registry.RegisterOptions(path="model.txt"))
    registry.promote(".", "linear", "v0.0.1", "production")
    run, artifact = registry.resolve_model_uri(".", "models:/linear@production")
"""

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # what type checkers see; at run time each name loads on first use
    from gitml.registry.events import Event as Event
    from gitml.registry.events import ModelState as ModelState
    from gitml.registry.events import Version as Version
    from gitml.registry.operations import PromoteOptions as PromoteOptions
    from gitml.registry.operations import RegisterOptions as RegisterOptions
    from gitml.registry.operations import deprecate as deprecate
    from gitml.registry.operations import deregister as deregister
    from gitml.registry.operations import history as history
    from gitml.registry.operations import list_models as list_models
    from gitml.registry.operations import load_model as load_model
    from gitml.registry.operations import load_registry as load_registry
    from gitml.registry.operations import promote as promote
    from gitml.registry.operations import register as register
    from gitml.registry.operations import unassign as unassign
    from gitml.registry.resolve import Resolved as Resolved
    from gitml.registry.resolve import get as get
    from gitml.registry.resolve import resolve_model_uri as resolve_model_uri
    from gitml.registry.resolve import which as which
    from gitml.registry.stages import DEFAULT_STAGES as DEFAULT_STAGES
    from gitml.registry.stages import allowed_stages as allowed_stages
    from gitml.registry.tags import ModelRef as ModelRef
    from gitml.registry.tags import model_uri as model_uri
    from gitml.registry.tags import parse_model_uri as parse_model_uri
    from gitml.registry.tags import parse_reference as parse_reference
    from gitml.registry.tags import reference_text as reference_text


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals())
