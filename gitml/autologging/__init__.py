"""Autologging, gitml's own: `gitml.autolog()` (every library gitml autologs that is
installed) and `gitml.sklearn.autolog()` record what a training call does without a
logging line in the script, as MLflow's autolog does, with no mlflow needed.

scikit-learn (`gitml.autologging.sklearn`): each estimator's `fit` logs the estimator's
params, training metrics and the fitted model; GridSearchCV and RandomizedSearchCV log
the best candidate and child runs for the top candidates. A script that runs MLflow's
own `mlflow.autolog()` with `MLFLOW_TRACKING_URI=gitml:` gets MLflow's autolog on gitml
runs instead (docs/mlflow.md says which and why).
"""

from __future__ import annotations

import importlib.util


def autolog(
    log_models: bool = True,
    disable: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
) -> None:
    """Turn autologging on (or off with `disable=True`) for every library it covers
    that is installed here: scikit-learn."""
    if importlib.util.find_spec("sklearn") is not None:
        from gitml.autologging import sklearn

        sklearn.autolog(
            log_models=log_models,
            disable=disable,
            silent=silent,
            max_tuning_runs=max_tuning_runs,
            log_input_examples=log_input_examples,
            log_model_signatures=log_model_signatures,
        )
