"""Models: any library's model saved as a folder with an `MLmodel` file, loaded back as a
function (`load_model(uri).predict(x)`) and served over HTTP.

Nothing heavy is imported here: numpy, pandas and the model libraries are imported by
the functions that need them. MLflow's `mlflow.models` names are here too, loaded on
first use: `infer_signature`, `ModelSignature`, `Model` (an MLmodel file, `Model.load`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitml.lazy import lazy_attributes

_EXPORTS = {
    "infer_signature": "gitml.models.signature",
    "ModelSignature": "gitml.models.signature",
    "Model": "gitml.models.mlmodel",
}

if TYPE_CHECKING:
    from gitml.models.mlmodel import Model as Model
    from gitml.models.signature import ModelSignature as ModelSignature
    from gitml.models.signature import infer_signature as infer_signature

__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals())
