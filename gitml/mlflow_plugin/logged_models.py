"""MLflow 3's logged models on gitml runs: a logged model is an artifact folder of its
run that holds an `MLmodel` file, so `gitml.load_model`, `gitml serve` and MLflow
find the same models, and its id names both (`m-<run id>-<hex of the folder>`).

What MLflow keeps about a logged model beyond its files (the tags and params
`log_model` gives, its type, a status other than READY) is kept while its run is in
progress in the run's tag `gitml.logged_models` (JSON: folder → {created_ms, tags,
params, model_type, status}), so it is committed with the run. Its params are the
run's params under the model's own; its metrics are the run's (MLflow's `log_model`
links the run's metrics to the model). A tag fetched from elsewhere is hostile: one
that does not parse is read as empty, never an error.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mlflow.entities import LoggedModel, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from gitml.documents import load_json
from gitml.errors import DocumentError
from gitml.mlflow_plugin.names import logged_model_id
from gitml.mlflow_plugin.uri import run_artifact_uri
from gitml.tracking.record import LOGGED_MODELS_TAG, MAX_VALUE_LENGTH, RunSummary

MODELS_TAG = LOGGED_MODELS_TAG
MAX_TAG_VALUE = MAX_VALUE_LENGTH["tag"]
_STATUSES = {status.name for status in LoggedModelStatus}


def models_record(tags: dict[str, str]) -> dict[str, dict]:
    """The run's logged models as its tag keeps them; {} when it keeps none it can read."""
    text = tags.get(MODELS_TAG)
    try:
        found = load_json(text, MODELS_TAG) if text else {}
    except DocumentError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, dict)}


def new_entry(tags: Any, params: Any, model_type: str | None, run_params: dict) -> dict:
    """A model's entry in the run's tag: the params it has beyond the run's own."""
    params = {p.key: str(p.value) for p in params or []}
    return {
        "created_ms": int(time.time() * 1000),
        "tags": {t.key: str(t.value) for t in tags or []},
        "params": {k: v for k, v in params.items() if run_params.get(k) != v},
        "model_type": model_type,
    }


def tag_text(record: dict[str, dict], run_id: str) -> str:
    """The tag's value for `record`; an error when it outgrows a tag."""
    text = json.dumps(record, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_TAG_VALUE:
        raise MlflowException(
            f"gitml: the logged models of run {run_id} take {len(text):,} characters with "
            f"their tags and params, over a tag's {MAX_TAG_VALUE:,}; give them fewer",
            INVALID_PARAMETER_VALUE,
        )
    return text


def entity(run: RunSummary, folder: str, ready: bool, root: str, experiment_id: str) -> LoggedModel:
    """The LoggedModel of artifact folder `folder` of `run` (`ready`: it holds its
    MLmodel file), in experiment `experiment_id`."""
    entry = models_record(run.tags).get(folder, {})
    ended = run.end_ms or run.start_ms
    status = entry.get("status") if entry.get("status") in _STATUSES else None
    if status is None:
        status = "READY" if ready else "PENDING"
    created = entry.get("created_ms")
    identifier = logged_model_id(run.id, folder)
    return LoggedModel(
        experiment_id=experiment_id,
        model_id=identifier,
        name=folder,
        artifact_location=run_artifact_uri(root, run.id, folder),
        creation_timestamp=created if isinstance(created, int) else run.start_ms,
        last_updated_timestamp=run.end_ms or int(time.time() * 1000),
        model_type=_text(entry.get("model_type")),
        source_run_id=run.id,
        status=LoggedModelStatus(status),
        tags=_texts(entry.get("tags")),
        params={**run.params, **_texts(entry.get("params"))},
        metrics=[
            Metric(key, value, ended, 0, run_id=run.id, model_id=identifier)
            for key, value in run.metrics.items()
        ],
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
