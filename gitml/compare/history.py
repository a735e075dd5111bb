"""Metric history: every logged point of a run's metrics.

A committed run keeps one `.gitml/metrics/<key>.tsv` file per metric, one
`step<TAB>value<TAB>unix_ms` line per point; a run still in progress keeps
them in its staging folder.
"""

from dataclasses import dataclass

from gitml.errors import UnknownKeyError
from gitml.store.repository import Repository
from gitml.tracking.record import (
    RECORD_DIR,
    RunSummary,
    filename_to_key,
    json_float,
)

METRICS_DIR = f"{RECORD_DIR}/metrics"


@dataclass(frozen=True)
class Point:
    step: int
    value: float
    timestamp_ms: int

    def to_json(self) -> dict:
        return {"step": self.step, "value": json_float(self.value), "timestamp": self.timestamp_ms}


def metric_history(
    repo: Repository, run: RunSummary, keys: list[str] | None = None
) -> dict[str, list[Point]]:
    """key → points in logging order, for `keys` (default: every metric of the run)."""
    if run.sha is None:
        return _select(_staged_history(repo, run), keys, run)
    from gitml.store.objects import ObjectStore

    with ObjectStore(repo) as store:
        tree = store.commit(run.sha.encode()).tree
        names = {filename_to_key(name): name for name in store.list_files(tree, METRICS_DIR)}
        _check_keys(keys, list(names), run)
        wanted = keys if keys is not None else sorted(names)
        return {
            key: parse_points(store.read_path(tree, f"{METRICS_DIR}/{names[key]}"))
            for key in wanted
        }


def parse_points(data: bytes | None) -> list[Point]:
    """The points of a metric file; a line that is no point (a run fetched from a clone
    that wrote it wrong, a line a crash cut short) is left out."""
    points = []
    for line in (data or b"").split(b"\n"):
        fields = line.split(b"\t")
        if len(fields) != 3:
            continue
        try:
            points.append(Point(int(fields[0]), float(fields[1]), int(fields[2])))
        except ValueError:
            continue
    return points


def _staged_history(repo: Repository, run: RunSummary) -> dict[str, list[Point]]:
    from gitml.tracking.catalog import staging_path
    from gitml.tracking.staging import Staging

    staged = Staging(staging_path(repo, run.id)).read()
    return {key: parse_points(data) for key, data in staged.metrics.items()}


def _select(history: dict[str, list[Point]], keys: list[str] | None, run: RunSummary) -> dict:
    _check_keys(keys, list(history), run)
    return {key: history[key] for key in (keys if keys is not None else sorted(history))}


def _check_keys(keys: list[str] | None, known: list[str], run: RunSummary) -> None:
    for key in keys or []:
        if key not in known:
            raise UnknownKeyError(
                "show metric", key, sorted(known), f"run {run.name} did not log it"
            )
