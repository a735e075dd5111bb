"""scikit-learn autologging, gitml's own (`gitml.sklearn.autolog()`), in MLflow's shapes.

Each `fit` of a scikit-learn estimator logs, into the active run (or a run it starts
and ends around the fit):
- params: the estimator's `get_params()` (text, cut at 250 characters: params travel in
  each run's commit trailers), tags `estimator_name` and `estimator_class`;
- training metrics under MLflow's names (`training_accuracy_score`, `training_f1_score`,
  `training_log_loss`, `training_roc_auc`, `training_mean_squared_error`,
  `training_r2_score`, `training_score`, …);
- the fitted model as `model/` (signature inferred from the training data);
- for GridSearchCV and RandomizedSearchCV also `best_<param>` params, `best_cv_score`,
  `cv_results.csv`, the best estimator as `best_estimator/`, and a child run per top
  candidate (`max_tuning_runs`, by rank) with its params and its `mean_*`, `std_*` and
  `rank_*` scores.
A fit inside a logged fit (the search's own fits, a pipeline's steps) logs nothing.
Logging never breaks training: what fails to log is a warning.

Estimator classes are patched as they exist (scikit-learn's own, every one already
imported) and as they are defined later (a hook on `BaseEstimator.__init_subclass__`),
so `autolog()` imports no more of scikit-learn than the script does.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import threading
import warnings
from dataclasses import dataclass
from typing import Any

MAX_PARAM_CHARS = 250
_CV_SEARCHES = ("GridSearchCV", "RandomizedSearchCV")


@dataclass(frozen=True)
class Settings:
    log_models: bool = True
    silent: bool = False
    max_tuning_runs: int | None = 5
    log_input_examples: bool = False
    log_model_signatures: bool = True


_settings: Settings | None = None
_patched: dict[type, Any] = {}  # class → its own fit before patching
_hook: tuple[Any, Any] | None = None  # (BaseEstimator, its own __init_subclass__ or None)
_lock = threading.Lock()
_depth = 0  # logged fits under way in this process: a fit inside one logs nothing


def autolog(
    log_models: bool = True,
    disable: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
) -> None:
    """Log every scikit-learn `fit` from now on (`disable=True`: stop, and put every
    `fit` back as it was)."""
    global _settings
    if disable:
        _settings = None
        _unpatch()
        return
    _settings = Settings(
        log_models, silent, max_tuning_runs, log_input_examples, log_model_signatures
    )
    from sklearn.base import BaseEstimator

    import gitml.tracking.run  # noqa: F401 (loaded now rather than in the first fit)

    _hook_subclasses(BaseEstimator)
    for cls in _subclasses(BaseEstimator):
        _patch(cls)


def _subclasses(base: type) -> list[type]:
    found: list[type] = []
    todo = [base]
    while todo:
        subs: list[type] = todo.pop().__subclasses__()
        for sub in subs:
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def _hook_subclasses(base: Any) -> None:
    """Patch every estimator class defined from now on (scikit-learn's modules imported
    later), through `BaseEstimator.__init_subclass__`."""
    global _hook
    if _hook is not None:
        return
    own = base.__dict__.get("__init_subclass__")

    def init_subclass(cls, **kwargs):
        if own is not None:
            own.__func__(cls, **kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)
        if _settings is not None:
            _patch(cls)

    _hook = (base, own)
    base.__init_subclass__ = classmethod(init_subclass)


def _patch(cls: type) -> None:
    """Wrap `cls.fit` when scikit-learn defines it on that very class."""
    fit = cls.__dict__.get("fit")
    if fit is None or cls in _patched or not cls.__module__.startswith("sklearn."):
        return
    if not callable(fit):
        return

    @functools.wraps(fit)
    def logged_fit(self, *args, **kwargs):
        global _depth
        with _lock:
            skip = _depth > 0 or _settings is None
            _depth += 0 if skip else 1
        if skip:
            return fit(self, *args, **kwargs)
        try:
            return _fit_and_log(fit, self, args, kwargs, _settings)
        finally:
            with _lock:
                _depth -= 1

    _patched[cls] = fit
    cls.fit = logged_fit  # type: ignore[attr-defined]


def _unpatch() -> None:
    global _hook
    for cls, fit in _patched.items():
        cls.fit = fit  # type: ignore[attr-defined]
    _patched.clear()
    if _hook is not None:
        base, own = _hook
        if own is not None:
            base.__init_subclass__ = own
        else:
            del base.__init_subclass__
        _hook = None


def _fit_and_log(fit: Any, estimator: Any, args: tuple, kwargs: dict, settings: Any) -> Any:
    from gitml import api

    own = api.active_run() is None
    if own:
        api.start_run()
    status = "failed"
    try:
        _safely(settings, "params", lambda: _log_params(estimator))
        result = fit(estimator, *args, **kwargs)
        x, y = _training_data(args, kwargs)
        weights = kwargs.get("sample_weight")
        _safely(settings, "training metrics", lambda: _log_metrics(estimator, x, y, weights))
        if type(estimator).__name__ in _CV_SEARCHES:
            _safely(settings, "the search's results", lambda: _log_search(estimator, settings))
        if settings.log_models:
            _safely(settings, "the model", lambda: _log_model(estimator, "model", x, settings))
        status = "finished"
        return result
    finally:
        if own:
            api.end_run(status)


def _safely(settings: Settings, what: str, log: Any) -> None:
    try:
        log()
    except Exception as error:  # autologging never breaks training
        if not settings.silent:
            warnings.warn(
                f"gitml autolog: could not log {what}: {error}", UserWarning, stacklevel=4
            )


def _training_data(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    x = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    return x, y


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."


def _log_params(estimator: Any) -> None:
    from gitml import api

    params = estimator.get_params(deep=True)
    api.log_params({key: _text(value) for key, value in params.items()})
    api.set_tags(
        {
            "estimator_name": type(estimator).__name__,
            "estimator_class": f"{type(estimator).__module__}.{type(estimator).__name__}",
        }
    )


def _log_metrics(estimator: Any, x: Any, y: Any, weights: Any) -> None:
    """MLflow's training metrics of a classifier or a regressor fitted on (x, y)."""
    from sklearn.base import is_classifier, is_regressor

    from gitml import api

    if y is None or x is None:
        return
    found: dict[str, float] = {}
    if is_classifier(estimator):
        found = _classifier_metrics(estimator, x, y, weights)
    elif is_regressor(estimator):
        found = _regressor_metrics(estimator, x, y, weights)
    if hasattr(estimator, "score"):
        extra = {} if weights is None else {"sample_weight": weights}
        _try(found, "training_score", lambda: estimator.score(x, y, **extra))
    api.log_metrics(found)


def _classifier_metrics(estimator: Any, x: Any, y: Any, weights: Any) -> dict:
    from sklearn import metrics

    found: dict[str, float] = {}
    predicted = estimator.predict(x)
    options = {"sample_weight": weights}
    averaged = {"average": "weighted", "sample_weight": weights, "zero_division": 0}
    _try(found, "training_accuracy_score", lambda: metrics.accuracy_score(y, predicted, **options))
    _try(
        found,
        "training_precision_score",
        lambda: metrics.precision_score(y, predicted, **averaged),
    )
    _try(found, "training_recall_score", lambda: metrics.recall_score(y, predicted, **averaged))
    _try(found, "training_f1_score", lambda: metrics.f1_score(y, predicted, **averaged))
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(x)
        labels = estimator.classes_
        _try(
            found,
            "training_log_loss",
            lambda: metrics.log_loss(y, proba, sample_weight=weights, labels=labels),
        )
        scores = proba[:, 1] if proba.shape[1] == 2 else proba
        _try(
            found,
            "training_roc_auc",
            lambda: metrics.roc_auc_score(
                y, scores, sample_weight=weights, multi_class="ovr", labels=labels
            ),
        )
    return found


def _regressor_metrics(estimator: Any, x: Any, y: Any, weights: Any) -> dict:
    from sklearn import metrics

    found: dict[str, float] = {}
    predicted = estimator.predict(x)
    options = {"sample_weight": weights}
    _try(
        found,
        "training_mean_squared_error",
        lambda: metrics.mean_squared_error(y, predicted, **options),
    )
    if "training_mean_squared_error" in found:
        found["training_root_mean_squared_error"] = found["training_mean_squared_error"] ** 0.5
    _try(
        found,
        "training_mean_absolute_error",
        lambda: metrics.mean_absolute_error(y, predicted, **options),
    )
    _try(found, "training_r2_score", lambda: metrics.r2_score(y, predicted, **options))
    return found


def _try(found: dict, name: str, compute: Any) -> None:
    """`found[name] = compute()`, left out when the metric does not apply (one class in
    y, labels a metric refuses)."""
    with contextlib.suppress(ValueError, TypeError, IndexError, AttributeError):
        found[name] = float(compute())


def _log_model(estimator: Any, name: str, x: Any, settings: Settings) -> None:
    from gitml import api

    signature: Any = False
    example = None
    if x is not None and (settings.log_model_signatures or settings.log_input_examples):
        head = x[:5] if hasattr(x, "__getitem__") and not isinstance(x, dict) else None
        if settings.log_input_examples:
            example = head
        if settings.log_model_signatures and head is not None:
            from gitml.models.signature import infer_signature

            signature = infer_signature(head, estimator.predict(head))
    api.log_model(estimator, name, signature=signature, input_example=example)


def _log_search(search: Any, settings: Settings) -> None:
    """The best candidate of a finished search, its table of results, and a child run
    per top candidate."""
    from gitml import api

    if hasattr(search, "best_params_"):
        api.log_params({f"best_{k}": _text(v) for k, v in search.best_params_.items()})
    if hasattr(search, "best_score_"):
        api.log_metric("best_cv_score", float(search.best_score_))
    results = search.cv_results_
    api.log_text(_csv(results), "cv_results.csv")
    if settings.log_models and hasattr(search, "best_estimator_"):
        _log_model(search.best_estimator_, "best_estimator", None, settings)
    _log_children(search, results, settings.max_tuning_runs)


def _csv(results: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(results)
    writer.writerow(keys)
    for row in range(len(results["params"])):
        writer.writerow([_cell(results[key][row]) for key in keys])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    import numpy as np

    return "" if value is None or value is np.ma.masked else value


def _log_children(search: Any, results: dict, limit: int | None) -> None:
    """One nested run per candidate, the best ranked first (at most `limit`)."""
    from gitml import api

    count = len(results["params"])
    ranks = results.get("rank_test_score")
    order = sorted(range(count), key=lambda i: (ranks[i] if ranks is not None else 0, i))
    base = getattr(search, "estimator", None)
    last = api._last_run  # last_active_run() stays the search's run, as in MLflow
    for index in order[: count if limit is None else limit]:
        metrics = {
            key: float(values[index])
            for key, values in results.items()
            if key.startswith(("mean_", "std_", "rank_")) and _is_number(values[index])
        }
        with api.start_child_run():  # the search's snapshot: no snapshot of their own
            api.log_params({k: _text(v) for k, v in results["params"][index].items()})
            api.log_metrics(metrics)
            if base is not None:
                api.set_tags(
                    {
                        "estimator_name": type(base).__name__,
                        "estimator_class": f"{type(base).__module__}.{type(base).__name__}",
                    }
                )
    api._last_run = last


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
