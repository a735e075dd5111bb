"""`gitml run` with a project file: the example project, entry points, bad input."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from gitml.envs.spec import read_spec
from tests.utils import assert_fsck_clean, git, gitml, write

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "elasticnet"


def run_refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()


def record_of(repo: Path, ref: str) -> dict:
    return json.loads(git(repo, "show", f"{ref}:.gitml/run.json"))


@pytest.fixture
def example_repo(repo) -> Path:
    """A repository holding the example project, unchanged, at its root."""
    shutil.copytree(EXAMPLE, repo, dirs_exist_ok=True)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "example project")
    return repo


def test_example_project_runs_its_main_entry_point_without_edits(example_repo):
    result = gitml(example_repo, "run", "-P", "alpha=0.3")

    assert "RMSE" in result.stdout
    assert "started: python train.py 0.3 0.1" in result.stderr
    [ref] = run_refs(example_repo)
    record = record_of(example_repo, ref)
    assert record["status"] == "finished"
    assert record["entry_point"] == "main"
    assert record["command"] == ["python", "train.py", "0.3", "0.1"]
    assert record["params"] == {"alpha": "0.3", "l1_ratio": "0.1"}
    assert set(record["metrics"]) == {"rmse", "mae", "r2"}
    assert 0 < record["metrics"]["r2"]["last"] < 1
    assert record["env_manager"] == "local"
    spec = example_repo / "conda.yaml"
    assert git(example_repo, "show", f"{ref}:.gitml/env/conda.yaml") == spec.read_text()
    assert record["env_hash"] == read_spec(spec).hash
    freeze = git(example_repo, "show", f"{ref}:.gitml/env/pip-freeze.txt")
    assert "pytest==" in freeze  # the interpreter running the tests
    params_yaml = git(example_repo, "show", f"{ref}:.gitml/params.yaml")
    assert '"alpha": "0.3"' in params_yaml
    assert_fsck_clean(example_repo)


def test_named_entry_point_with_a_path_parameter(example_repo):
    gitml(example_repo, "run", "-e", "sweep", "-P", "alphas=0.1,1.0")

    [ref] = run_refs(example_repo)
    record = record_of(example_repo, ref)
    assert record["entry_point"] == "sweep"
    assert record["params"]["data"] == str(example_repo / "wine-sample.csv")
    assert record["params"]["alphas"] == "0.1,1.0"
    assert record["metrics"]["rmse"]["count"] == 2
    assert record["metrics"]["rmse"]["last_step"] == 1


def test_entry_point_runs_in_the_project_folder_when_started_below_it(example_repo):
    sub = example_repo / "notes"
    sub.mkdir()
    gitml(sub, "run", "-P", "l1_ratio=0.9")
    [ref] = run_refs(example_repo)
    assert record_of(example_repo, ref)["params"] == {"alpha": "0.5", "l1_ratio": "0.9"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "alpha=lots"], "parameter 'alpha' must be float (a number, e.g. 0.5), got 'lots'"),
        (["-e", "evaluate"], "no entry point named 'evaluate' (entry points: main, sweep)"),
        (["-e", "sweep", "-P", "data=nowhere.csv"], "parameter 'data' (path): "),
        (["-e", "main", "--", "python", "x.py"], "give an entry point (-e) or a command"),
        (["--env-manager", "conda"], "needs conda, mamba or micromamba on PATH"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_run(example_repo, args, message):
    result = gitml(example_repo, "run", *args, check=False)

    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("gitml: error: ")
    assert "Traceback" not in result.stderr
    assert run_refs(example_repo) == []
    assert not list((example_repo / ".git" / "gitml").glob("runs/*"))


def test_malformed_mlproject_names_file_and_line(example_repo):
    write(example_repo / "MLproject", "name: x\nentry_points:\n  main: [unclosed\n")
    result = gitml(example_repo, "run", check=False)
    assert result.returncode == 1
    assert f"{example_repo / 'MLproject'}, line 4: invalid YAML" in result.stderr
    assert run_refs(example_repo) == []


def test_conda_yaml_without_dependencies_is_refused(example_repo):
    write(example_repo / "conda.yaml", "name: nothing\nchannels: [conda-forge]\n")
    result = gitml(example_repo, "run", check=False)
    assert result.returncode == 1
    assert f"{example_repo / 'conda.yaml'}: has no `dependencies` list" in result.stderr


def test_no_command_and_no_project_says_what_to_do(repo_with_commit):
    result = gitml(repo_with_commit, "run", check=False)
    assert result.returncode == 1
    assert "no command given: put it after `--`" in result.stderr
    assert "gitml.yaml or MLproject" in result.stderr


def test_local_manager_warns_where_the_interpreter_differs(repo_with_commit):
    write(
        repo_with_commit / "conda.yaml",
        "dependencies:\n  - python=3.5\n  - pip\n  - pip:\n"
        "    - pytest==0.0.1\n    - surely-not-installed-gitml-pkg\n",
    )
    write(repo_with_commit / "t.py", "print('ran')\n")
    result = gitml(repo_with_commit, "run", "--", "python", "t.py")

    running = ".".join(map(str, sys.version_info[:3]))
    assert f"gitml: warning: conda.yaml asks for Python 3.5; this is Python {running}" in (
        result.stderr
    )
    assert "conda.yaml pins pytest==0.0.1; " in result.stderr
    assert "conda.yaml lists surely-not-installed-gitml-pkg, which is not installed" in (
        result.stderr
    )
    assert "ran" in result.stdout
    [ref] = run_refs(repo_with_commit)
    assert record_of(repo_with_commit, ref)["status"] == "finished"


def test_spec_named_by_the_project_is_recorded_as_it_was(repo_with_commit):
    spec_text = "# pinned for the paper\ndependencies: [python>=3.10, pip]\n"
    write(repo_with_commit / "envs" / "train-env.yaml", spec_text)
    write(repo_with_commit / "conda.yaml", "dependencies: [python=2.7]\n")  # not the project's
    write(
        repo_with_commit / "gitml.yaml",
        "name: p\nconda_env: envs/train-env.yaml\n"
        "entry_points:\n  main:\n    parameters: {n: {type: int, default: 2}}\n"
        "    command: python -c 'print({n} * 2)'\n",
    )
    result = gitml(repo_with_commit, "run")
    assert result.stdout == "4\n"
    assert "warning" not in result.stderr
    [ref] = run_refs(repo_with_commit)
    assert git(repo_with_commit, "show", f"{ref}:.gitml/env/conda.yaml") == spec_text
    record = record_of(repo_with_commit, ref)
    assert record["env_hash"] == read_spec(repo_with_commit / "envs" / "train-env.yaml").hash
    assert record["params"] == {"n": "2"}


def test_python_env_yaml_is_recorded_under_its_own_name(repo_with_commit):
    major_minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    text = f"python: '{major_minor}'\nbuild_dependencies: [pip]\ndependencies: []\n"
    write(repo_with_commit / "python_env.yaml", text)
    write(
        repo_with_commit / "MLproject",
        "python_env: python_env.yaml\nentry_points: {main: {command: 'python -c pass'}}\n",
    )
    gitml(repo_with_commit, "run")
    [ref] = run_refs(repo_with_commit)
    assert git(repo_with_commit, "show", f"{ref}:.gitml/env/python_env.yaml") == text
