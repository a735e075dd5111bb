"""Plain scikit-learn linear models as numbers: predictions with numpy alone.

At save time the coefficients of a supported estimator are written to
`linear.npz` (no pickle) only if numpy's predictions equal scikit-learn's on
random inputs; the pickled estimator stays beside them, for `unwrap()` and as
the reference. Loading then needs numpy, not scikit-learn, scipy or pandas.
"""

import pickle
from pathlib import Path
from typing import Any

from gitml.errors import ModelInputError
from gitml.models.signature import check_columns_present

LINEAR_FILE = "linear.npz"
CLASSIFIERS = {"LogisticRegression", "RidgeClassifier", "SGDClassifier", "LinearSVC", "Perceptron"}
REGRESSORS = {"LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor", "LinearSVR"}
PROBABILISTIC = {"LogisticRegression"}
_CHECK_ROWS = 64


def save_if_equivalent(model: Any, predict_fn: str, path: Path) -> bool:
    """Write the numbers of `model` to `path` when they predict exactly as it does."""
    arrays = _arrays(model, predict_fn)
    if arrays is None:
        return False
    import numpy as np

    rows = np.random.default_rng(0).normal(scale=3.0, size=(_CHECK_ROWS, arrays["coef"].shape[-1]))
    names = getattr(model, "feature_names_in_", None)
    reference_input: object = rows
    if names is not None:
        import pandas as pd

        reference_input = pd.DataFrame(rows, columns=list(names))
    expected = getattr(model, predict_fn)(reference_input)
    for softmax in (False, True) if predict_fn == "predict_proba" else (False,):
        candidate = dict(arrays, softmax=np.array(softmax))
        if _same(outputs(candidate, predict_fn, rows), expected):
            np.savez(path, **candidate)
            return True
    return False


def _arrays(model, predict_fn: str) -> dict | None:
    import numpy as np

    kind = type(model).__name__
    plain = type(model).__module__.startswith("sklearn.linear_model") or kind in {
        "LinearSVC",
        "LinearSVR",
    }
    if not plain or not hasattr(model, "coef_") or not hasattr(model, "intercept_"):
        return None
    if kind in REGRESSORS and predict_fn == "predict":
        arrays = {"kind": np.array("regressor")}
    elif kind in CLASSIFIERS and (
        predict_fn in ("predict", "decision_function")
        or (predict_fn == "predict_proba" and kind in PROBABILISTIC)
    ):
        classes = np.asarray(model.classes_)
        if classes.dtype == object:
            return None  # cannot be stored without pickle
        arrays = {"kind": np.array("classifier"), "classes": classes}
    else:
        return None
    arrays["coef"] = np.asarray(model.coef_, dtype=float)
    arrays["intercept"] = np.asarray(model.intercept_, dtype=float)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        arrays["feature_names"] = np.asarray(names, dtype=str)
    return arrays


def outputs(arrays: dict, predict_fn: str, rows: Any) -> Any:
    """What scikit-learn's `predict_fn` returns, computed from the stored numbers."""
    import numpy as np

    scores = rows @ arrays["coef"].T + arrays["intercept"]
    if str(arrays["kind"]) == "regressor" or predict_fn == "decision_function":
        return scores.ravel() if scores.ndim == 2 and scores.shape[1] == 1 else scores
    binary = scores.ndim == 2 and scores.shape[1] == 1
    if predict_fn == "predict":
        index = (scores.ravel() > 0).astype(int) if binary else scores.argmax(axis=1)
        return arrays["classes"][index]
    if binary:
        positive = 1.0 / (1.0 + np.exp(-scores.ravel()))
        return np.column_stack([1.0 - positive, positive])
    if bool(arrays["softmax"]):
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    positive = 1.0 / (1.0 + np.exp(-scores))  # one-vs-rest, normalised
    return positive / positive.sum(axis=1, keepdims=True)


def _same(ours, theirs) -> bool:
    import numpy as np

    theirs = np.asarray(theirs)
    if ours.shape != theirs.shape:
        return False
    if theirs.dtype.kind in "fc":
        return bool(np.allclose(ours, theirs, rtol=1e-9, atol=1e-12))
    return bool((ours == theirs).all())


class LinearPredictor:
    """Predicts from `linear.npz`; the pickled estimator is loaded only by `model`."""

    takes_named_arrays = True

    def __init__(self, path: Path, predict_fn: str, model_path: Path):
        import numpy as np

        with np.load(path, allow_pickle=False) as stored:
            self._arrays = {name: stored[name] for name in stored.files}
        self._predict_fn = predict_fn
        self._model_path = model_path
        names = self._arrays.get("feature_names")
        self._names = None if names is None else [str(n) for n in names]

    @property
    def model(self) -> Any:
        """The scikit-learn estimator itself (imports scikit-learn)."""
        with open(self._model_path, "rb") as handle:
            return pickle.load(handle)

    def predict(self, data: Any, params: dict | None = None) -> Any:
        return outputs(self._arrays, self._predict_fn, self._rows(data))

    def _rows(self, data):
        import numpy as np

        columns = list(getattr(data, "columns", []))
        if self._names is not None and columns and columns != self._names:
            check_columns_present(self._names, columns)
            data = data[self._names] if hasattr(data, "to_numpy") else _reorder(data, self._names)
        values = getattr(data, "values", data)
        values = values.to_numpy() if hasattr(values, "to_numpy") else values
        try:
            rows = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise ModelInputError(
                "the model takes numbers only; the input has other values"
            ) from None
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        expected = self._arrays["coef"].shape[-1]
        if rows.shape[1] != expected:
            raise ModelInputError(
                f"the model takes {expected} columns; the input has {rows.shape[1]}"
            )
        if not np.isfinite(rows).all():
            found = "NaN" if np.isnan(rows).any() else "infinity"
            raise ModelInputError(
                f"the input contains {found}; the model takes finite numbers only "
                "(fill or drop those values first)"
            )
        return rows


def _reorder(named, names: list[str]):
    index = [list(named.columns).index(name) for name in names]
    return named.values[:, index]
