"""MLflow's fluent calls beyond logging, for scripts that `import gitml as mlflow`:
experiments by name or id, the last run, a run's artifact URI, deleting a run, and
tables, images and datasets logged as MLflow logs them.

A thin layer above the logging API (`gitml.api`) and the client (`gitml.client`);
nothing heavy is imported until a function runs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gitml.entities import Experiment, Run
from gitml.errors import InvalidValueError

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"  # MLflow's list of a run's tables


def _client():
    from gitml.api import _repository
    from gitml.client import MlflowClient

    client = MlflowClient.__new__(MlflowClient)  # on the API's repository, opened once
    client.repo, client._stagings = _repository(None), {}
    return client


def search_experiments(
    view_type: int = 1,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """The repository's experiments (`MlflowClient.search_experiments`)."""
    return list(_client().search_experiments(view_type, max_results, filter_string, order_by))


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def create_experiment(name: str, artifact_location: Any = None, tags: Any = None) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the experiment runs are started in now (`set_experiment`'s)."""
    _client().set_experiment_tag(_current_experiment_id(), key, value)


def set_experiment_tags(tags: dict) -> None:
    for key, value in tags.items():
        set_experiment_tag(key, value)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def _current_experiment_id() -> str:
    """The experiment a run started now goes to: set_experiment's, else the tracking
    URI's (`?experiment=NAME`), else MLflow's default."""
    from gitml import api
    from gitml.client import uri_experiment
    from gitml.tracking.record import MLFLOW_DEFAULT_EXPERIMENT, experiment_id

    name = api._experiment or uri_experiment() or MLFLOW_DEFAULT_EXPERIMENT
    found = get_experiment_by_name(name)
    return found.experiment_id if found is not None else experiment_id(name)


def last_active_run() -> Run | None:
    """The active run, else the run this process started or attached to last."""
    from gitml import api

    if api._last_run is None:
        return None
    run_id, repo = api._last_run
    return api.get_run(run_id, repo.cwd)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The `gitml:` location of the active run's artifacts (or of `artifact_path` among
    them), as MLflow's client and artifact repository read it."""
    from gitml import api
    from gitml.mlflow_plugin.uri import run_artifact_uri

    run = api._run()
    path = (artifact_path or "").strip("/")
    return run_artifact_uri(api._run_repository(run).cwd, run.id, path)


def delete_run(run_id: str) -> None:
    """`gitml rm`: the run's ref is deleted; a run in progress, or one a registry tag
    points at, is refused."""
    _client().delete_run(run_id)


def log_table(data: Any, artifact_file: str) -> None:
    """Store a table (a dict of columns, or a pandas DataFrame) as MLflow does: JSON with
    `columns` and `data` (rows); a second table logged to the same file adds its rows."""
    from gitml import api
    from gitml.store.layout import ARTIFACTS_DIR
    from gitml.tracking.staging import check_artifact_name

    if not str(artifact_file).endswith(".json"):
        raise InvalidValueError(
            f"log_table writes JSON: name the file *.json, not {artifact_file!r}"
        )
    columns, rows = _table(data)
    staging = api._run().staging
    stored = staging.path / ARTIFACTS_DIR / check_artifact_name(artifact_file)
    if stored.is_file():
        old = _stored_json(stored.read_bytes(), f"the run's {artifact_file}")
        columns, rows = _concat(old, columns, rows)
    text = json.dumps({"columns": columns, "data": rows}, ensure_ascii=False, default=str)
    staging.add_artifact_bytes(artifact_file, text.encode())
    logged = _stored_json(staging.read().tags.get(LOGGED_ARTIFACTS_TAG) or "[]", "")
    logged = logged if isinstance(logged, list) else []  # a tag set by hand: started anew
    if {"path": artifact_file, "type": "table"} not in logged:
        logged.append({"path": artifact_file, "type": "table"})
        staging.set_tag(LOGGED_ARTIFACTS_TAG, json.dumps(logged))


def _stored_json(text: str | bytes, where: str) -> Any:
    """What the run holds already, read with gitml's bounds (nesting depth); a table
    file that is no JSON is an InvalidValueError, a tag that is none reads as None."""
    from gitml.documents import load_json
    from gitml.errors import DocumentError

    try:
        return load_json(text, where or "a tag")
    except DocumentError:
        if where:
            raise InvalidValueError(
                f"log_table: {where} is there already and is no table"
            ) from None
        return None


def _table(data: Any) -> tuple[list, list]:
    if isinstance(data, dict):
        columns = [str(c) for c in data]
        values = [list(v) if isinstance(v, (list, tuple)) else _to_list(v) for v in data.values()]
        if len({len(v) for v in values}) > 1:
            raise InvalidValueError("log_table: every column of the dict must be as long")
        return columns, [
            [column[i] for column in values] for i in range(len(values[0]) if values else 0)
        ]
    if hasattr(data, "to_json") and hasattr(data, "columns"):  # a pandas DataFrame
        split = json.loads(data.to_json(orient="split", index=False, date_format="iso"))
        return [str(c) for c in split["columns"]], split["data"]
    raise InvalidValueError(
        f"log_table takes a dict of columns or a pandas DataFrame, not a {type(data).__name__}"
    )


def _to_list(values: Any) -> list:
    if hasattr(values, "tolist"):  # numpy arrays and pandas series
        return list(values.tolist())
    raise InvalidValueError(f"log_table: a column is a list, not a {type(values).__name__}")


def _concat(old: Any, columns: list, rows: list) -> tuple[list, list]:
    """The rows of the table stored already, then the new ones, over both's columns."""
    if not (isinstance(old, dict) and isinstance(old.get("columns"), list)):
        raise InvalidValueError("log_table: the run holds that file already, and it is no table")
    merged = list(old["columns"]) + [c for c in columns if c not in old["columns"]]
    out = []
    for names, table in ((old["columns"], old.get("data") or []), (columns, rows)):
        for row in table:
            found = {name: row[i] for i, name in enumerate(names) if i < len(row)}
            out.append([found.get(c) for c in merged])
    return merged, out


def log_image(
    image: Any,
    artifact_file: str | None = None,
    *,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
) -> None:
    """Store an image (a numpy array: H×W, H×W×1, ×3 or ×4, uint8 or floats in [0, 1]; or
    a PIL image) as `artifact_file`, or, with `key` (and `step`), under `images/` as
    MLflow names them (`images/KEY%step%N%timestamp%MS%UUID.png`)."""
    import time
    import uuid

    from gitml import api
    from gitml.images import image_bytes

    if (artifact_file is None) == (key is None):
        raise InvalidValueError("log_image takes artifact_file= or key= (with step=), one of them")
    if key is not None:
        ms = int(time.time() * 1000) if timestamp is None else int(timestamp)
        safe = key.replace("/", "#")
        artifact_file = f"images/{safe}%step%{step or 0}%timestamp%{ms}%{uuid.uuid4()}.png"
    assert artifact_file is not None
    data = image_bytes(image, os.path.splitext(artifact_file)[1].lower() or ".png")
    api._run().staging.add_artifact_bytes(artifact_file, data)


def log_input(
    dataset: Any, context: str | None = None, tags: dict | None = None, model: Any = None
) -> None:
    """Record a dataset the run used, in its tag `gitml.datasets` as the `gitml:` backend
    does (name, digest, source, context; schema and profile while they fit): an MLflow
    dataset (`mlflow.data.from_pandas(...)`), a dict with at least `name`, or a pandas
    DataFrame or numpy array (named `dataset`, its digest made from its bytes)."""
    from gitml import api

    item = _dataset(dataset)
    item["tags"] = {**({"mlflow.data.context": context} if context else {}), **(tags or {})}
    from gitml.mlflow_plugin.datasets import add_datasets

    add_datasets(api._run().staging, [{k: v for k, v in item.items() if v is not None}])


def _dataset(dataset: Any) -> dict:
    import hashlib

    if hasattr(dataset, "to_dict") and hasattr(dataset, "digest"):  # an MLflow dataset
        found = dict(dataset.to_dict())
    elif isinstance(dataset, dict) and isinstance(dataset.get("name"), str):
        found = dict(dataset)
    elif hasattr(dataset, "to_numpy") or hasattr(dataset, "tobytes"):
        array = dataset.to_numpy() if hasattr(dataset, "to_numpy") else dataset
        digest = hashlib.sha256(repr(getattr(array, "shape", "")).encode())
        digest.update(array.tobytes() if hasattr(array, "tobytes") else repr(array).encode())
        found = {"name": "dataset", "digest": digest.hexdigest()[:8], "source_type": "code"}
    else:
        raise InvalidValueError(
            "log_input takes an MLflow dataset, a dict with a name, or a pandas DataFrame "
            f"or numpy array, not a {type(dataset).__name__}"
        )
    keys = ("name", "digest", "source_type", "source", "schema", "profile")
    return {k: (None if found.get(k) is None else str(found[k])) for k in keys}
