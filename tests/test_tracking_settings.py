"""Per-repository settings read from git config (and the project file): recorded
variables, size limit."""

import json

import pytest

import gitml as gitml_api
from gitml.errors import InvalidValueError, ProjectFileError
from tests.utils import git, gitml, write


def _record(repo, ref_name):
    return json.loads(git(repo, "show", f"{ref_name}:.gitml/run.json"))


def _only_run_ref(repo):
    (ref,) = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()
    return ref


def test_only_allow_listed_environment_variables_are_recorded(repo_with_commit):
    git(repo_with_commit, "config", "gitml.recordEnv", "SEED, MISSING_VAR")
    env = {"SEED": "42", "API_TOKEN": "s3cr3t-value"}
    import os

    gitml(repo_with_commit, "run", "--", "python", "-c", "pass", env={**os.environ, **env})

    record = _record(repo_with_commit, _only_run_ref(repo_with_commit))
    assert record["env_vars"] == {"SEED": "42"}
    everything = git(
        repo_with_commit, "grep", "-I", "s3cr3t-value", _only_run_ref(repo_with_commit), check=False
    )
    assert everything == ""


def test_artifact_size_limit_comes_from_git_config(repo_with_commit):
    git(repo_with_commit, "config", "gitml.artifactSizeLimit", "1k")
    write(repo_with_commit / "data" / "weights.bin", "x" * 2000)  # data/ is ignored

    result = gitml(
        repo_with_commit,
        "run",
        "--artifact",
        "data/weights.bin",
        "--",
        "python",
        "-c",
        "pass",
        check=False,
    )

    assert result.returncode == 1
    assert "over the limit of 1.0 KiB" in result.stderr
    assert "Traceback" not in result.stderr
    record = _record(repo_with_commit, _only_run_ref(repo_with_commit))
    assert record["artifacts"] == []
    assert record["status"] == "finished"


def test_the_project_file_sets_the_size_limit_and_git_config_wins(repo_with_commit):
    write(repo_with_commit / "gitml.yaml", "limits: {artifact_size: 1k}\n")
    write(repo_with_commit / "data" / "weights.bin", "x" * 2000)  # data/ is ignored
    command = ["run", "--artifact", "data/weights.bin", "--", "python", "-c", "pass"]

    refused = gitml(repo_with_commit, *command, check=False)

    assert refused.returncode == 1
    assert "over the limit of 1.0 KiB per artifact (gitml.artifactSizeLimit)" in refused.stderr
    ref = _only_run_ref(repo_with_commit)
    assert _record(repo_with_commit, ref)["artifacts"] == []
    git(repo_with_commit, "update-ref", "-d", ref)

    git(repo_with_commit, "config", "gitml.artifactSizeLimit", "4k")
    gitml(repo_with_commit, *command)

    ref = _only_run_ref(repo_with_commit)
    assert [a["path"] for a in _record(repo_with_commit, ref)["artifacts"]] == ["weights.bin"]


def test_the_artifact_limit_and_the_snapshot_limit_are_separate(repo_with_commit):
    """One limit covered both: raising it to store a model snapshotted a 2 GB dataset
    into every run. Now a raised artifact limit leaves the snapshot's alone, and the
    snapshot's (project file, git config winning) leaves artifacts alone."""
    repo = repo_with_commit
    write(repo / "gitml.yaml", "limits: {artifact_size: 1k, snapshot_file_size: 1k}\n")
    git(repo, "config", "gitml.artifactSizeLimit", "8k")
    write(repo / "data" / "weights.bin", "x" * 3000)  # data/ is ignored
    write(repo / "dataset.bin", "y" * 3000)  # untracked, over the snapshot's limit
    command = ["run", "--artifact", "data/weights.bin", "--", "python", "-c", "pass"]

    done = gitml(repo, *command)

    ref = _only_run_ref(repo)
    assert [a["path"] for a in _record(repo, ref)["artifacts"]] == ["weights.bin"]
    assert git(repo, "ls-tree", "--name-only", ref, "dataset.bin") == ""
    assert _record(repo, ref)["skipped"]["large"] == ["dataset.bin"]
    assert "dataset.bin is over the snapshot file limit of 1.0 KiB" in done.stderr
    assert "gitml.snapshotFileLimit" in done.stderr
    git(repo, "update-ref", "-d", ref)

    git(repo, "config", "gitml.snapshotFileLimit", "4k")
    gitml(repo, *command)

    ref = _only_run_ref(repo)
    assert git(repo, "ls-tree", "--name-only", ref, "dataset.bin").strip() == "dataset.bin"


def test_a_malformed_project_limit_is_one_line_and_records_nothing(repo_with_commit):
    project = write(repo_with_commit / "gitml.yaml", "limits: {artifact_size: lots}\n")

    result = gitml(repo_with_commit, "run", "--", "python", "-c", "pass", check=False)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"gitml: error: {project}: limits.artifact_size is 'lots'; "
        "set a positive number of bytes, e.g. 20m"
    ]
    assert git(repo_with_commit, "for-each-ref", "refs/gitml") == ""
    with pytest.raises(ProjectFileError, match="limits.artifact_size"):
        gitml_api.start_run(repo=repo_with_commit)
    assert gitml_api.active_run() is None


@pytest.mark.parametrize("limit", ["lots", "-5", "0", "-1k", "1.5m"])
def test_a_malformed_or_non_positive_size_limit_is_a_clear_error(repo_with_commit, limit):
    git(repo_with_commit, "config", "gitml.artifactSizeLimit", limit)
    write(repo_with_commit / "notes.txt", "untracked\n")

    result = gitml(repo_with_commit, "run", "--", "python", "-c", "pass", check=False)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"gitml: error: gitml.artifactSizeLimit is {limit!r}; "
        "set a positive number of bytes, e.g. 20m"
    ]
    assert git(repo_with_commit, "for-each-ref", "refs/gitml") == ""
    assert not list((repo_with_commit / ".git" / "gitml" / "runs").glob("*"))
    with pytest.raises(InvalidValueError, match="positive number of bytes"):
        gitml_api.start_run(repo=repo_with_commit)
    assert gitml_api.active_run() is None
