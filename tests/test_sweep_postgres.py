"""Sweeps whose Optuna study lives in a real PostgreSQL server started on 127.0.0.1."""

import json

import optuna
import pytest
from click.testing import CliRunner

from gitml.cli.main import cli as main_cli
from tests.postgres_helpers import create_database, postgres_server
from tests.test_sweep import TRAIN, only_sweep, sweep_runs
from tests.utils import git, gitml, write


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
