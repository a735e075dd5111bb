"""For studies you drive with Optuna yourself: each finished trial becomes a gitml run.

    from gitml.optuna import GitmlCallback

    study.optimize(objective, n_trials=100, n_jobs=4, callbacks=[GitmlCallback("loss")])

A trial's run holds its params, its value(s) as metrics (its intermediate values as
the steps of the first), and its state: COMPLETE is `finished`, FAIL `failed`, PRUNED
`killed` with the tag `pruned`. Runs are tagged `optuna.study` and `trial`.

Each call records its own run, snapshot and commit, which are safe to make from many
threads and processes at once: no lock is shared between calls, so `n_jobs` threads
never wait for each other here (MLflow's callback holds one lock for all of them).
This module never imports Optuna: it reads the trial it is handed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from gitml.store.repository import Repository, open_repository
from gitml.tracking.record import RunSummary

STATUS_OF_STATE = {"COMPLETE": "finished", "FAIL": "failed", "PRUNED": "killed"}
STUDY_TAG = "optuna.study"
TRIAL_TAG = "trial"
PRUNED_TAG = "pruned"


class GitmlCallback:
    """An Optuna callback (`callbacks=[GitmlCallback()]`) recording each finished trial
    as a gitml run of the repository at `repo` (default: the current folder).

    `metric_name` names the study's value (one name per objective of a multi-objective
    study); `experiment` files the runs (default: the branch's); `tags` are added to
    every run.
    """

    def __init__(
        self,
        metric_name: str | Sequence[str] = "value",
        repo: str | os.PathLike | Repository = ".",
        experiment: str | None = None,
        tags: dict[str, str] | None = None,
    ):
        self.metric_names = [metric_name] if isinstance(metric_name, str) else list(metric_name)
        self.repo = open_repository(repo)
        self.experiment = experiment
        self.tags = dict(tags or {})

    def __call__(self, study: Any, trial: Any) -> None:
        self.record(study, trial)

    def record(self, study: Any, trial: Any) -> RunSummary:
        """The run of `trial` (an Optuna FrozenTrial) of `study`, committed."""
        from gitml.tracking.autofold import fold_after_api_run
        from gitml.tracking.run import RunOptions, finish_run, start_run

        state = trial.state.name
        tags = {**self.tags, STUDY_TAG: study.study_name, TRIAL_TAG: str(trial.number)}
        options = RunOptions(
            experiment=self.experiment,
            params={name: _text(value) for name, value in trial.params.items()},
            tags=tags,
        )
        started = start_run(self.repo, options)
        staging = started.staging
        first = self.metric_names[0]
        for step, value in sorted(trial.intermediate_values.items()):
            staging.log_metric(first, value, step=step)
        for name, value in zip(self.metric_names, trial.values or [], strict=False):
            staging.log_metric(name, value)
        if state == "PRUNED":
            staging.set_tag(PRUNED_TAG, f"pruned by Optuna at step {trial.last_step}")
        summary = finish_run(self.repo, staging, STATUS_OF_STATE.get(state, "failed"), None)
        fold_after_api_run(self.repo, stacklevel=3)
        return summary


def _text(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)
