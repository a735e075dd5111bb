"""MLflow's experiments on gitml's: an experiment is a name runs are filed under, and
its MLflow id is derived from the name, so every clone gives it the same id.

MLflow's own default experiment, "Default", has the id "0" that MLflow clients ask
for when a script chooses none; any other name's id is derived from the name
(`gitml.tracking.record.experiment_id`, which gitml's own API uses too). An
experiment exists when a run is filed under it, or once MLflow created it here
(`create_experiment`, `set_experiment`): such names are kept in
`.git/gitml/mlflow-experiments.jsonl`, local state, until a run takes them into
history. No mlflow here.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from gitml.store.layout import MLFLOW_EXPERIMENTS_FILE
from gitml.store.repository import Repository
from gitml.tracking.record import MLFLOW_DEFAULT_EXPERIMENT, RunSummary, check_experiment
from gitml.tracking.record import experiment_id as experiment_id  # one derivation, shared

DEFAULT_NAME = MLFLOW_DEFAULT_EXPERIMENT
DEFAULT_ID = experiment_id(DEFAULT_NAME)


@dataclass(frozen=True)
class Experiment:
    name: str
    created_ms: int  # its first run's start, or when MLflow created it here
    updated_ms: int  # its last run's start

    @property
    def id(self) -> str:
        return experiment_id(self.name)


def experiments(repo: Repository, runs: list[RunSummary]) -> list[Experiment]:
    """Every experiment: "Default", those MLflow created here, those of `runs`; by name."""
    times: dict[str, list[int]] = {DEFAULT_NAME: [0]}
    for name, created in _created(repo).items():
        times.setdefault(name, []).append(created)
    for run in runs:
        times.setdefault(run.experiment, []).append(run.start_ms)
    return [Experiment(name, min(ms), max(ms)) for name, ms in sorted(times.items())]


def create_experiment(repo: Repository, name: str) -> str:
    """Keep `name` as an experiment with no run yet; its id."""
    check_experiment(name)
    line = json.dumps({"name": name, "created_ms": int(time.time() * 1000)}, ensure_ascii=False)
    path = repo.state_dir / MLFLOW_EXPERIMENTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return experiment_id(name)


def _created(repo: Repository) -> dict[str, int]:
    try:
        text = (repo.state_dir / MLFLOW_EXPERIMENTS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found: dict[str, int] = {}
    for line in text.splitlines():
        try:
            item = json.loads(line)
            name, created = item["name"], int(item["created_ms"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash
        if isinstance(name, str) and name not in found:
            found[name] = created
    return found
