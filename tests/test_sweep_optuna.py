"""gitml.optuna: a study driven by Optuna itself, each trial recorded as a gitml run, from
n_jobs threads at once (no lock shared between them)."""

import json
import subprocess
import sys
import threading

import optuna
import pytest

from gitml.optuna import GitmlCallback
from tests.utils import assert_fsck_clean, git, gitml, user_state

optuna.logging.set_verbosity(optuna.logging.WARNING)


class MeetingCallback(GitmlCallback):
    """Records as GitmlCallback does, then waits until four threads are recording at
    once: a lock held around the recording by the caller would stop them meeting."""

    def __init__(self, repo, parties: int):
        super().__init__("loss", repo=repo)
        self.barrier = threading.Barrier(parties, timeout=60)

    def record(self, study, trial):
        summary = super().record(study, trial)
        if trial.number < self.barrier.parties:
            self.barrier.wait()
        return summary


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    for step in range(3):
        trial.report((x - 2) ** 2 + 1 / (step + 1), step)
    if trial.number == 5:
        raise optuna.TrialPruned()
    if trial.number == 6:
        raise ValueError("a failing trial")
    return (x - 2) ** 2


def test_each_trial_of_n_jobs_threads_is_one_run(repo_with_commit, monkeypatch):
    monkeypatch.chdir(repo_with_commit)
    before = user_state(repo_with_commit)
    study = optuna.create_study(study_name="mine", sampler=optuna.samplers.RandomSampler(seed=3))
    callback = MeetingCallback(repo_with_commit, parties=4)
    study.optimize(objective, n_trials=12, n_jobs=4, callbacks=[callback], catch=(ValueError,))
    out = gitml(repo_with_commit, "ls", "--json", "--filter", "tags.`optuna.study` = 'mine'")
    runs = json.loads(out.stdout)
    assert len(runs) == len(study.trials) == 12
    by_trial = {int(run["tags"]["trial"]): run for run in runs}
    assert sorted(by_trial) == list(range(12))  # distinct: one run per trial
    assert len({run["name"] for run in runs}) == 12
    for trial in study.trials:
        run = by_trial[trial.number]
        assert run["params"] == {"x": repr(trial.params["x"])}
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert run["status"] == "finished"
            assert run["metrics"]["loss"] == trial.value
    assert by_trial[5]["status"] == "killed" and "pruned" in by_trial[5]["tags"]
    assert by_trial[6]["status"] == "failed"
    history = gitml(repo_with_commit, "metrics", by_trial[0]["id"], "loss", "--json").stdout
    assert [point["step"] for point in json.loads(history)["loss"]][:3] == [0, 1, 2]
    assert user_state(repo_with_commit) == before
    assert_fsck_clean(repo_with_commit)


def test_import_gitml_and_gitml_optuna_do_not_import_optuna(repo_with_commit):
    code = "import gitml, gitml.optuna, sys; print('optuna' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout == "False\n", result.stderr


@pytest.fixture
def repo_with_commit_and_dirty(repo_with_commit):
    (repo_with_commit / "README.md").write_text("edited\n")
    return repo_with_commit


def test_a_run_of_a_trial_holds_the_work_tree_as_it_was(repo_with_commit_and_dirty, monkeypatch):
    repo = repo_with_commit_and_dirty
    monkeypatch.chdir(repo)
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_int("k", 1, 3), n_trials=1, callbacks=[GitmlCallback()])
    [run] = json.loads(gitml(repo, "ls", "--json").stdout)
    assert run["metrics"] == {"value": float(study.trials[0].value)}
    assert git(repo, "show", f"refs/gitml/runs/{run['id']}:README.md") == "edited\n"
