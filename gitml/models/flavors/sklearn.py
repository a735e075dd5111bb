"""The `sklearn` flavor: any scikit-learn estimator or pipeline, pickled.

scikit-learn is imported only by the code that unpickles the model; saving needs only
the object (and the version of the installed package, read from its metadata).

A plain linear model (see `gitml.models.flavors.linear`) is also saved as its
coefficients, and loads and predicts with numpy alone: importing scikit-learn
(with scipy and pandas) costs about a second and 150 MiB, more than serving it.

The folder is MLflow's sklearn layout: its MLmodel names `mlflow.sklearn` as the loader
(MLflow loads it without gitml) unless the predict function is one MLflow's wrapper lacks.
Folders MLflow wrote load here too, pickled, cloudpickled or in skops' format.
"""

import pickle
import warnings
from pathlib import Path
from typing import Any

from gitml.errors import ModelError
from gitml.models.flavors import linear
from gitml.models.flavors.common import FlavorSave, add_code_path, inside, installed_version
from gitml.models.mlmodel import PYFUNC, MLModel
from gitml.models.signature import check_columns_present

FLAVOR = "sklearn"
MODEL_FILE = "model.pkl"
PREDICT_FUNCTIONS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
MLFLOW_LOADER = "mlflow.sklearn"
MLFLOW_PREDICT_FUNCTIONS = ("predict", "predict_proba", "predict_log_proba")  # its wrapper's
PICKLE, CLOUDPICKLE, SKOPS = "pickle", "cloudpickle", "skops"
# A skops file names the types it needs; gitml builds only those of these packages
SKOPS_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")


def matches(model: object) -> bool:
    """A scikit-learn estimator, recognised without importing scikit-learn."""
    return any(
        cls.__module__.split(".")[0] == "sklearn" and cls.__name__ == "BaseEstimator"
        for cls in type(model).__mro__
    )


def save(
    model: Any, folder: Path, predict_fn: str = "predict", serialization_format: str = PICKLE
) -> FlavorSave:
    if predict_fn not in PREDICT_FUNCTIONS or not hasattr(model, predict_fn):
        raise ModelError(
            f"predict_fn {predict_fn!r} is not a method of this {type(model).__name__} "
            f"(choose one of: {', '.join(f for f in PREDICT_FUNCTIONS if hasattr(model, f))})"
        )
    if serialization_format not in (PICKLE, CLOUDPICKLE):
        raise ModelError(
            f"gitml saves scikit-learn models as {PICKLE} or {CLOUDPICKLE}, not "
            f"{serialization_format!r} (it loads MLflow's {SKOPS} folders)"
        )
    packages = ["scikit-learn", "numpy", "scipy", "pandas"]
    with open(folder / MODEL_FILE, "wb") as handle:
        if serialization_format == CLOUDPICKLE:
            import cloudpickle

            cloudpickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
            packages.append("cloudpickle")
        else:
            pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    loader = MLFLOW_LOADER if predict_fn in MLFLOW_PREDICT_FUNCTIONS else __name__
    pyfunc = {"loader_module": loader, "model_path": MODEL_FILE, "predict_fn": predict_fn}
    if linear.save_if_equivalent(model, predict_fn, folder / linear.LINEAR_FILE):
        pyfunc["linear_path"] = linear.LINEAR_FILE
    return FlavorSave(
        flavor=FLAVOR,
        conf={
            "pickled_model": MODEL_FILE,
            "serialization_format": serialization_format,
            "sklearn_version": installed_version("scikit-learn"),
            "code": None,
        },
        pyfunc=pyfunc,
        packages=packages,
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


def load(folder: Path, metadata: MLModel) -> SklearnPredictor | linear.LinearPredictor:
    """The model of a folder gitml or MLflow saved (pickle, cloudpickle or skops)."""
    pyfunc = metadata.flavors[PYFUNC]
    conf = metadata.flavors.get(FLAVOR) or {}
    model_path = inside(folder, pyfunc.get("model_path", MODEL_FILE), "sklearn model_path")
    predict_fn = pyfunc.get("predict_fn", "predict")
    if predict_fn not in PREDICT_FUNCTIONS:
        raise ModelError(
            f"{folder}: the MLmodel's predict_fn {predict_fn!r} is none of "
            f"{', '.join(PREDICT_FUNCTIONS)}"
        )
    form = conf.get("serialization_format", PICKLE)
    if form not in (PICKLE, CLOUDPICKLE, SKOPS):
        raise ModelError(
            f"{folder}: the model is stored as {form!r}; gitml reads scikit-learn models "
            f"stored as {PICKLE}, {CLOUDPICKLE} or {SKOPS}"
        )
    numbers = pyfunc.get("linear_path")
    if numbers and inside(folder, numbers, "linear_path").is_file():
        return linear.LinearPredictor(folder / numbers, predict_fn, model_path)
    add_code_path(folder, pyfunc)
    if form == SKOPS:
        return SklearnPredictor(_load_skops(model_path), predict_fn)
    with open(model_path, "rb") as handle:
        model = pickle.load(handle)
    return SklearnPredictor(model, predict_fn)


def _load_skops(path: Path) -> Any:
    """A model in skops' format, built from types of SKOPS_TRUSTED_PACKAGES only: the
    list of types to trust that an MLmodel file may carry is not taken from the file."""
    try:
        import skops.io
    except ImportError:
        raise ModelError(
            f"{path} is in skops' format, which needs skops: pip install skops"
        ) from None
    untrusted = skops.io.get_untrusted_types(file=path)
    refused = [name for name in untrusted if name.split(".")[0] not in SKOPS_TRUSTED_PACKAGES]
    if refused:
        raise ModelError(
            f"{path} needs types gitml does not build from a skops file: "
            f"{', '.join(refused[:5])}{' …' if len(refused) > 5 else ''} (it builds those of "
            f"{', '.join(SKOPS_TRUSTED_PACKAGES)}); if you trust the model, load it with "
            "skops.io.load(path, trusted=[...]) yourself"
        )
    return skops.io.load(path, trusted=untrusted)


def _load_pyfunc(path: str, model_config: dict | None = None) -> Any:
    """MLflow's entry point, for the folders whose MLmodel names this module."""
    from gitml.models.load import mlflow_entry

    return mlflow_entry(path)
