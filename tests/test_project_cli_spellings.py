"""`gitml run` with `mlflow run`'s spellings, in real `gitml run` processes: a project
folder (PATH), a script as an entry point, MLflow's option names, and the rules that keep
a project folder and a command apart."""

import json
from pathlib import Path

import pytest

from tests.utils import git, gitml, write

SHOW_ARGV = "import sys; print('ARGV', sys.argv[1:])\n"


@pytest.fixture
def project_repo(repo_with_commit) -> Path:
    """The root declares a project of its own; proj/ holds an MLproject; scripts/ holds
    scripts and no project file; a folder is named `true`, like a program."""
    repo = repo_with_commit
    write(repo / "gitml.yaml", "entry_points:\n  main: python -c \"print('ROOT')\"\n")
    write(
        repo / "proj" / "MLproject",
        "name: proj\nentry_points:\n  main:\n    parameters:\n"
        "      alpha: {type: float, default: 0.1}\n    command: python train.py {alpha}\n",
    )
    write(repo / "proj" / "train.py", SHOW_ARGV)
    write(repo / "scripts" / "train.py", SHOW_ARGV)
    write(repo / "scripts" / "-dash.py", SHOW_ARGV)
    write(repo / "scripts" / "prep.sh", 'echo "SH $*"\n')
    write(repo / "outside.py", SHOW_ARGV)
    write(repo / "true" / "README", "a folder named like a program\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "projects")
    return repo


def records(repo: Path) -> list[dict]:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()
    return [json.loads(git(repo, "show", f"{ref}:.gitml/run.json")) for ref in refs]


def only_record(repo: Path) -> dict:
    [record] = records(repo)
    return record


def test_run_path_runs_the_project_of_that_folder(project_repo):
    result = gitml(project_repo, "run", "proj", "-P", "alpha=0.5")

    assert "ARGV ['0.5']" in result.stdout
    record = only_record(project_repo)
    assert record["entry_point"] == "main"
    assert record["command"] == ["python", "train.py", "0.5"]
    assert record["cwd"] == "proj"
    assert record["params"] == {"alpha": "0.5"}

    # PATH's own project file, never a parent's: scripts/ has none
    refused = gitml(project_repo, "run", "scripts", check=False)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "gitml: error: scripts: no gitml.yaml or MLproject in this folder; name a .py or .sh "
        "script of it to run (gitml run scripts -e train.py) or add a project file\n"
    )
    assert len(records(project_repo)) == 1


def test_a_script_is_an_entry_point_with_params_as_options(project_repo):
    result = gitml(project_repo, "run", "scripts", "-e", "train.py", "-P", "lr=0.1", "-P", "n=3")
    assert "ARGV ['--lr', '0.1', '--n', '3']" in result.stdout
    record = only_record(project_repo)
    assert record["entry_point"] == "train.py"
    assert record["command"] == ["python", "train.py", "--lr", "0.1", "--n", "3"]
    assert (record["cwd"], record["params"]) == ("scripts", {"lr": "0.1", "n": "3"})

    result = gitml(project_repo, "-C", "scripts", "run", ".", "-e", "prep.sh", "-P", "k=a b")
    assert "SH --k a b" in result.stdout
    result = gitml(project_repo, "run", "scripts", "-e", "-dash.py")
    assert "ARGV []" in result.stdout  # run as ./-dash.py, never read as an option of python
    commands = sorted(record["command"] for record in records(project_repo))
    assert ["bash", "prep.sh", "--k", "a b"] in commands
    assert ["python", "./-dash.py"] in commands


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["scripts", "-e", "../outside.py"], "-e ../outside.py: a script entry point must be a"),
        (["scripts", "-e", "missing.py"], "-e missing.py: there is no such script in the"),
        (["scripts", "-e", "train.py", "-P", "bad key=1"], "parameter 'bad key' is not declared"),
        (["proj", "-e", "evaluate"], "no entry point named 'evaluate' (entry points: main); -e"),
    ],
)
def test_a_script_that_is_not_one_of_the_project_is_refused(project_repo, args, error):
    result = gitml(project_repo, "run", *args, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("gitml: error: ") and result.stderr.count("\n") == 1
    assert error in result.stderr
    assert records(project_repo) == []


def test_mlflow_option_names(project_repo):
    gitml(
        project_repo,
        "run",
        "--run-name",
        "first",
        "--experiment-name",
        "mlflow-names",
        "--",
        "true",
    )
    record = only_record(project_repo)
    assert (record["name"], record["experiment"]) == ("first", "mlflow-names")

    for name in ("virtualenv", "uv"):  # venv: it needs a conda.yaml, which scripts/ lacks
        result = gitml(
            project_repo, "run", "scripts", "-e", "train.py", "--env-manager", name, check=False
        )
        assert result.returncode == 1
        assert result.stderr.startswith("gitml: error: --env-manager venv needs an environment")
    assert len(records(project_repo)) == 1


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (
            ["python", "train.py"],
            2,
            "gitml: error: to run a command, put it after `--` (gitml run -- python …); before "
            "`--`, gitml run takes only a project folder (PATH), and got 2 words "
            "(see `gitml run --help`)",
        ),
        (
            ["proj", "--", "python", "train.py"],
            1,
            "gitml: error: give a project folder (gitml run PATH) or a command after `--`, "
            "not both",
        ),
        (
            ["true"],
            1,
            "gitml: error: true: no gitml.yaml or MLproject in this folder; name a .py or .sh "
            "script of it to run (gitml run true -e train.py) or add a project file",
        ),
        (
            ["nothing-here"],
            1,
            "gitml: error: nothing-here: no such folder; `gitml run PATH` runs the project in "
            "folder PATH (to run a command, put it after `--`: gitml run -- nothing-here …)",
        ),
        (
            [".git"],
            1,
            "the project folder must be inside the repository",
        ),
        (
            [".."],
            1,
            "the project folder must be inside the repository",
        ),
    ],
)
def test_a_project_folder_and_a_command_are_never_confused(project_repo, args, code, line):
    result = gitml(project_repo, "run", *args, check=False)
    assert (result.returncode, result.stdout) == (code, "")
    assert result.stderr.count("\n") == 1
    assert line in result.stderr
    assert records(project_repo) == []


def test_a_word_is_a_folder_before_the_separator_and_a_command_after_it(project_repo):
    """`true` is a folder here and a program too; a `--` that is an option's value (the
    note's) does not end the options."""
    as_folder = gitml(project_repo, "run", "true", check=False)
    assert as_folder.returncode == 1 and "true: no gitml.yaml or MLproject" in as_folder.stderr
    gitml(project_repo, "run", "--note", "--", "--", "true")
    record = only_record(project_repo)
    assert (record["command"], record["note"], record["entry_point"]) == (["true"], "--", None)
