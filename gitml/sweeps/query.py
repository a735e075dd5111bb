"""A sweep's trials, read from their runs (tagged `sweep=<id>`): the table `gitml sweep
show` prints, sorted by the objective, best first. The runs are the truth, here and
in every clone they reach; the study's storage is not needed to read a sweep."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gitml.store.repository import Repository
from gitml.sweeps.record import SweepRecord
from gitml.sweeps.trial import PRUNED_TAG, SWEEP_TAG, TRIAL_TAG
from gitml.tracking.record import RunSummary


@dataclass
class TrialRow:
    number: int
    run: RunSummary
    state: str  # complete | pruned | failed | killed | running
    value: float | None

    def to_json(self) -> dict:
        return {
            "trial": self.number,
            "state": self.state,
            "value": self.value,
            "run": self.run.id,
            "name": self.run.name,
            "status": self.run.status,
            "params": self.run.params,
            "pruned": self.run.tags.get(PRUNED_TAG),
        }


def sweep_trials(repo: Repository, record: SweepRecord) -> list[TrialRow]:
    """Every trial run of the sweep: complete ones by objective (best first), then the
    others by trial number."""
    from gitml.tracking.catalog import list_runs

    rows = []
    for run in list_runs(repo):
        if run.tags.get(SWEEP_TAG) != record.id:
            continue
        number = run.tags.get(TRIAL_TAG, "")
        if not number.isdigit():
            continue
        rows.append(TrialRow(int(number), run, _state(run, record.metric), _value(run, record)))
    sign = -1 if record.direction == "maximize" else 1

    def order(row: TrialRow) -> tuple:
        if row.state == "complete" and row.value is not None:
            return (False, sign * row.value, row.number)
        return (True, 0.0, row.number)

    return sorted(rows, key=order)


def _value(run: RunSummary, record: SweepRecord) -> float | None:
    value = run.metrics.get(record.metric)
    return value if value is not None and not math.isnan(value) else None


def _state(run: RunSummary, metric: str) -> str:
    if PRUNED_TAG in run.tags:
        return "pruned"
    if run.status == "finished":
        return "complete" if metric in run.metrics else "failed"
    return run.status
