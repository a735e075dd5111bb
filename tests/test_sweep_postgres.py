"""Sweeps whose Optuna study lives in a real PostgreSQL server started on 127.0.0.1."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from gitml.cli.main import cli as main_cli
from tests.postgres_helpers import create_database, postgres_server
from tests.sharing_helpers import clone, seeded_remote
from tests.test_sweep import TRAIN, in_first_step, only_sweep, shown, sweep_runs
from tests.utils import assert_fsck_clean, git, gitml, write


@pytest.fixture(scope="module")
def server():
    with postgres_server() as url:
        yield url


@pytest.fixture
def project(repo_with_commit):
    write(repo_with_commit / "train.py", TRAIN)
    git(repo_with_commit, "add", "train.py")
    git(repo_with_commit, "commit", "-q", "-m", "add train.py")
    return repo_with_commit


@pytest.mark.slow
def test_a_sweep_keeps_its_study_in_postgresql_and_its_record_no_password(server, project):
    url = create_database(server, "shared")
    with_password = url.replace("postgres@", "postgres:s3cret@")
    result = gitml(
        project,
        *("sweep", "--name", "pg", "--trials", "4", "--jobs", "2", "--storage", with_password),
        *("-P", "lr=loguniform(1e-4,1e-1)", "--metric", "loss", "--minimize"),
        *("--", "python", "train.py"),
    )
    record = only_sweep(project)
    assert record["storage"] == url  # the password is not kept, nor pushed with the record
    assert "s3cret" not in git(project, "log", "-p", "refs/gitml/sweeps/" + record["id"])
    driver = url.replace("postgresql://", "postgresql+psycopg2://")  # psycopg 3 is not here
    study = optuna.load_study(study_name=record["id"], storage=driver)
    states = [trial.state for trial in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 4
    runs = sweep_runs(project, record["id"])
    assert sorted(run["id"] for run in runs) == sorted(
        t.user_attrs["gitml.run"] for t in study.trials
    )
    assert "best trial" in result.stderr
    # resume reads the storage from the record (libpq finds no password needed here)
    again = gitml(project, "sweep", "resume", "pg")
    assert "best trial" in again.stderr and len(sweep_runs(project, record["id"])) == 4
    show = json.loads(gitml(project, "sweep", "show", "pg", "--json").stdout)
    assert show["best"]["run"] == show["trials_recorded"][0]["run"]


def test_a_storage_that_cannot_be_reached_is_one_line_before_anything_is_written(project):
    result = CliRunner().invoke(
        main_cli,
        [
            *("-C", str(project), "sweep", "-P", "lr=uniform(0,1)", "--metric", "m"),
            *("--minimize", "--storage", "postgresql://postgres:pw@127.0.0.1:1/none"),
            *("--", "python", "train.py"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("gitml: error: cannot open the storage ")
    assert "postgresql://postgres@127.0.0.1:1/none" in result.stderr and "pw" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert git(project, "for-each-ref", "refs/gitml") == ""
    result = CliRunner().invoke(
        main_cli,
        [
            *("-C", str(project), "sweep", "-P", "lr=uniform(0,1)", "--metric", "m"),
            *("--minimize", "--storage", "redis://x"),
            *("--", "python", "train.py"),
        ],
    )
    assert "give a database URL" in result.stderr


def remote_refs(remote: Path, prefix: str) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname)", prefix).split()


@pytest.mark.slow
def test_two_clones_finish_one_study_and_each_run_reaches_the_remote_once(server, tmp_path):
    url = create_database(server, "together")
    remote, (first, second) = seeded_remote(tmp_path, "first", "second")
    write(first / "train.py", TRAIN)
    git(first, "add", "train.py")
    git(first, "commit", "-q", "-m", "add train.py")
    git(first, "push", "-q", "origin", "HEAD")
    git(second, "pull", "-q")
    driver = subprocess.Popen(
        [sys.executable, "-m", "gitml", "sweep", "--name", "team", "--storage", url]
        + ["--remote", "origin", "--trials", "10", "--pruner", "none", "--metric", "loss"]
        + ["--minimize", "-P", "x=uniform(6, 7)", "-P", "steps=3", "-P", "pause=0.5"]
        + ["--", "python", "train.py"],
        cwd=first,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not remote_refs(remote, "refs/gitml/sweeps/"):
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.1)
    worker_command = [sys.executable, "-m", "gitml", "sweep", "worker", "team"]
    worker = subprocess.Popen(worker_command, cwd=second, stderr=subprocess.PIPE, text=True)
    staged = second / ".git" / "gitml" / "runs"
    while not in_first_step(staged):  # the worker in the middle of a trial
        assert worker.poll() is None, worker.communicate()
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    again = gitml(second, "sweep", "worker", "team", "--remote", "origin")  # goes on
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    assert "queued again" in again.stderr

    record = only_sweep(first)
    study = optuna.load_study(
        study_name=record["id"], storage=url.replace("postgresql://", "postgresql+psycopg2://")
    )
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 10  # the study is done, by both clones
    third = clone(remote, tmp_path / "third")
    gitml(third, "fetch", "origin")
    runs = sweep_runs(third, record["id"])  # what the remote holds
    trials = [int(run["tags"]["trial"]) for run in runs]
    assert len(trials) == len(set(trials))  # no trial's run twice
    finished = {run["id"] for run in runs if run["status"] == "finished"}
    assert finished == {t.user_attrs["gitml.run"] for t in complete}  # none lost
    cut_short = [run for run in runs if run["status"] == "killed"]
    assert len(runs) == 10 + len(cut_short) and len(cut_short) >= 1
    from_second = set(remote_refs(remote, "refs/gitml/runs/")) - set(
        remote_refs(first, "refs/gitml/runs/")
    )
    assert from_second  # the second clone's worker ran trials too
    assert shown(third, "team")["status"] == "finished"  # the driver ended the record
    for repo in (first, second):
        assert_fsck_clean(repo)
        assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_worker_needs_a_sweep_with_a_shared_storage(project, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(project, "remote", "add", "origin", str(remote))
    gitml(
        project,
        *("sweep", "--name", "local", "--trials", "1", "--remote", "origin"),
        *("-P", "x=uniform(0,1)", "--metric", "loss", "--minimize", "--", "python", "train.py"),
    )
    assert remote_refs(remote, "refs/gitml/sweeps/") and remote_refs(remote, "refs/gitml/runs/")
    result = gitml(project, "sweep", "worker", "local", check=False)
    assert result.returncode == 1
    assert "keeps its study in a journal file on the machine that drives it" in result.stderr
