"""Runs as a pandas DataFrame shaped like MLflow's `search_runs` result.

One row per run; columns `run_id`, `experiment_id`, `status` (MLflow's upper
case), `start_time` and `end_time` (UTC datetimes), then `metrics.<key>` (last
values), `params.<key>` and `tags.<key>`, with the run's name as
`tags.mlflow.runName` as MLflow writes it. `experiment_id` is the id MLflow gives
the experiment through the `gitml:` backend (derived from its name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitml.tracking.record import experiment_id

if TYPE_CHECKING:
    import pandas as pd


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """The DataFrame of run summaries (`RunSummary.to_json()` objects)."""
    import pandas as pd

    rows = [_row(run) for run in runs]
    frame = pd.DataFrame(rows, columns=_columns(rows))
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


def _row(run: dict) -> dict:
    row = {
        "run_id": run["id"],
        "experiment_id": experiment_id(run["experiment"]),
        "status": run["status"].upper(),
        "start_time": run["start_ms"],
        "end_time": run["end_ms"],
    }
    row.update({f"metrics.{key}": value for key, value in run["metrics"].items()})
    row.update({f"params.{key}": value for key, value in run["params"].items()})
    row.update({f"tags.{key}": value for key, value in run["tags"].items()})
    row["tags.mlflow.runName"] = run["name"]
    return row


def _columns(rows: list[dict]) -> list[str]:
    """The fixed columns, then every metric, param and tag column, each group sorted."""
    fixed = ["run_id", "experiment_id", "status", "start_time", "end_time"]
    keys = {key for row in rows for key in row} - set(fixed)
    grouped = [sorted(k for k in keys if k.startswith(g)) for g in ("metrics.", "params.", "tags.")]
    return fixed + [key for group in grouped for key in group]
