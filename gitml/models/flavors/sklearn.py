"""The `sklearn` flavor: any scikit-learn estimator or pipeline, pickled.

scikit-learn is imported only by the code that unpickles the model; saving needs only
the object (and the version of the installed package, read from its metadata).

A plain linear model (see `gitml.models.flavors.linear`) is also saved as its
coefficients, and loads and predicts with numpy alone: importing scikit-learn
(with scipy and pandas) costs about a second and 150 MiB, more than serving it.
"""

import pickle
import warnings
from pathlib import Path
from typing import Any

from gitml.errors import ModelError
from gitml.models.flavors import linear
from gitml.models.flavors.common import FlavorSave, installed_version
from gitml.models.signature import check_columns_present

FLAVOR = "sklearn"
MODEL_FILE = "model.pkl"
PREDICT_FUNCTIONS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def matches(model: object) -> bool:
    """A scikit-learn estimator, recognised without importing scikit-learn."""
    return any(
        cls.__module__.split(".")[0] == "sklearn" and cls.__name__ == "BaseEstimator"
        for cls in type(model).__mro__
    )


def save(model: Any, folder: Path, predict_fn: str = "predict") -> FlavorSave:
    if predict_fn not in PREDICT_FUNCTIONS or not hasattr(model, predict_fn):
        raise ModelError(
            f"predict_fn {predict_fn!r} is not a method of this {type(model).__name__} "
            f"(choose one of: {', '.join(f for f in PREDICT_FUNCTIONS if hasattr(model, f))})"
        )
    with open(folder / MODEL_FILE, "wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    version = installed_version("scikit-learn")
    pyfunc = {"loader_module": __name__, "model_path": MODEL_FILE, "predict_fn": predict_fn}
    if linear.save_if_equivalent(model, predict_fn, folder / linear.LINEAR_FILE):
        pyfunc["linear_path"] = linear.LINEAR_FILE
    return FlavorSave(
        flavor=FLAVOR,
        conf={
            "pickled_model": MODEL_FILE,
            "serialization_format": "pickle",
            "sklearn_version": version,
        },
        pyfunc=pyfunc,
        packages=["scikit-learn", "numpy", "scipy", "pandas"],
    )


class SklearnPredictor:
    """Calls the estimator's predict function on the checked input.

    A plain estimator (no pipeline, column transformer or wrapped estimator) fitted on a
    table checks the column names of every DataFrame it gets, which costs more than the
    prediction itself. When the input's columns are exactly the fitted ones and all
    numeric, it gets the same numbers as an array instead.
    """

    takes_named_arrays = True

    def __init__(self, model, predict_fn: str):
        self.model = model
        self._predict = getattr(model, predict_fn)
        names = getattr(model, "feature_names_in_", None)
        self._table_names = None if names is None else [str(name) for name in names]
        self._fitted_names = self._table_names if _is_plain(model) else None

    def predict(self, data: Any, params: dict | None = None) -> Any:
        from gitml.models.inputs import NamedArray

        data = self._fitted_columns(data)
        named = isinstance(data, NamedArray)
        if self._fitted_names is not None and list(getattr(data, "columns", ())) == (
            self._fitted_names
        ):
            array = data.values if named else data.to_numpy()
            if array.dtype.kind in "biuf":
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", _NO_NAMES_WARNING, UserWarning)
                    return self._predict(array, **(params or {}))
        if named:  # fitted without names: the numbers; else a frame, for its names
            fitted_on_table = hasattr(self.model, "feature_names_in_")
            data = data.to_frame() if fitted_on_table else data.values
        return self._predict(data, **(params or {}))

    def _fitted_columns(self, data):
        """A table as the model was fitted: its columns in that order, extra ones dropped
        (as the signature check does), a missing one refused in one line (scikit-learn's
        own errors take several)."""
        from gitml.models.inputs import NamedArray

        columns = getattr(data, "columns", None)
        if self._table_names is None or columns is None or list(columns) == self._table_names:
            return data
        check_columns_present(self._table_names, columns)
        frame = data.to_frame() if isinstance(data, NamedArray) else data
        return frame[self._table_names]


_NO_NAMES_WARNING = "X does not have valid feature names"
_COMPOSITE_ATTRIBUTES = ("steps", "transformers", "transformer_list", "estimator", "estimators")


def _is_plain(model) -> bool:
    return type(model).__module__.startswith("sklearn.") and not any(
        hasattr(model, name) for name in _COMPOSITE_ATTRIBUTES
    )


def load(folder: Path, pyfunc: dict) -> SklearnPredictor | linear.LinearPredictor:
    model_path = folder / pyfunc.get("model_path", MODEL_FILE)
    predict_fn = pyfunc.get("predict_fn", "predict")
    if pyfunc.get("linear_path") and (folder / pyfunc["linear_path"]).is_file():
        return linear.LinearPredictor(folder / pyfunc["linear_path"], predict_fn, model_path)
    with open(model_path, "rb") as handle:
        model = pickle.load(handle)
    return SklearnPredictor(model, predict_fn)
