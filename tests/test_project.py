"""Project files and entry-point parameters, read from real files."""

import shlex
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gitml.errors import InvalidValueError, ProjectFileError
from gitml.project_file import EntryPoint, Parameter, find_project, load_project
from gitml.projects.params import render_command, resolve_params
from tests.utils import write

MLPROJECT = """\
name: demo
conda_env: env/conda.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      epochs: {type: int, default: 3}
      label: {type: string, default: "two words"}
      verbose: {type: bool, default: false}
      data: path
      out: {type: path, default: out.bin, must_exist: false}
      source: {type: uri, default: "s3://bucket/data"}
    command: "python train.py --alpha {alpha} --epochs {epochs} --label {label} --data {data}"
  short: "python other.py"
"""


@pytest.fixture
def project(tmp_path) -> Path:
    write(tmp_path / "env" / "conda.yaml", "dependencies: [python=3.11, pip]\n")
    write(tmp_path / "data.csv", "a,b\n")
    return write(tmp_path / "MLproject", MLPROJECT)


def test_mlproject_fields_are_read(project):
    loaded = load_project(project)
    assert loaded.name == "demo"
    assert loaded.env_spec == (project.parent / "env" / "conda.yaml").resolve()
    assert sorted(loaded.entry_points) == ["main", "short"]
    main = loaded.entry_point("main")
    assert main.parameters["alpha"].type == "float"
    assert main.parameters["alpha"].default == "0.5"
    assert main.parameters["verbose"].default == "false"
    assert main.parameters["data"].required
    assert main.parameters["out"].must_exist is False
    assert loaded.entry_point("short").command == "python other.py"


def test_gitml_yaml_wins_over_mlproject_and_is_found_from_a_subfolder(project):
    write(
        project.parent / "gitml.yaml",
        "name: native\nenv_manager: venv\nstages: [staging, production]\n"
        "limits: {artifact_size: 20m}\nentry_points: {main: {command: 'python x.py'}}\n",
    )
    sub = project.parent / "src" / "deep"
    sub.mkdir(parents=True)
    found = find_project(sub, project.parent)
    assert found.name == "native"
    assert found.env_manager == "venv"
    assert found.stages == ("staging", "production")
    assert found.limits == {"artifact_size": "20m"}
    assert found.env_spec is None  # no conda.yaml beside gitml.yaml
    assert find_project(sub, sub) is None


def test_resolved_params_have_defaults_checked_values_and_extras(project, tmp_path):
    main = load_project(project).entry_point("main")
    params = resolve_params(
        main, {"data": "data.csv", "alpha": "0.25", "verbose": "YES", "seed": "7"}, tmp_path
    )
    assert params == {
        "alpha": "0.25",
        "epochs": "3",
        "label": "two words",
        "verbose": "true",
        "data": str(tmp_path / "data.csv"),
        "out": str(tmp_path / "out.bin"),
        "source": "s3://bucket/data",
        "seed": "7",
    }
    command = render_command(main, params)
    assert command == [
        "python",
        "train.py",
        "--alpha",
        "0.25",
        "--epochs",
        "3",
        "--label",
        "two words",
        "--data",
        str(tmp_path / "data.csv"),
        "--seed",
        "7",
    ]


def test_values_are_shell_quoted_into_the_template(project, tmp_path):
    main = load_project(project).entry_point("main")
    hostile = "x; rm -rf / $(touch pwned) `id` 'q\""
    params = resolve_params(main, {"data": "data.csv", "label": hostile}, tmp_path)
    command = render_command(main, params)
    assert command[command.index("--label") + 1] == hostile


def test_a_template_with_shell_operators_runs_under_sh(tmp_path):
    path = write(
        tmp_path / "gitml.yaml",
        "entry_points:\n  main:\n    parameters: {n: int}\n"
        "    command: 'python prep.py {n} && python train.py'\n",
    )
    main = load_project(path).entry_point("main")
    command = render_command(main, resolve_params(main, {"n": "4"}, tmp_path))
    assert command[:2] == ["/bin/sh", "-c"]
    assert shlex.split(command[2]) == ["python", "prep.py", "4", "&&", "python", "train.py"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "entry point 'main' needs parameter 'data' (path): pass -P data=VALUE"),
        (
            {"data": "data.csv", "alpha": "big"},
            "parameter 'alpha' must be float (a number, e.g. 0.5), got 'big'",
        ),
        (
            {"data": "data.csv", "epochs": "2.5"},
            "parameter 'epochs' must be int (a whole number, e.g. 10), got '2.5'",
        ),
        (
            {"data": "data.csv", "verbose": "maybe"},
            "parameter 'verbose' must be bool (true or false), got 'maybe'",
        ),
        ({"data": "missing.csv"}, "parameter 'data' (path): "),
        ({"data": "data.csv", "bad key": "1"}, "parameter 'bad key' is not declared"),
    ],
)
def test_bad_params_name_the_parameter_and_type(project, tmp_path, given, message):
    main = load_project(project).entry_point("main")
    with pytest.raises(InvalidValueError) as error:
        resolve_params(main, given, tmp_path)
    assert message in str(error.value)


def test_missing_path_error_says_how_to_fix(project, tmp_path):
    main = load_project(project).entry_point("main")
    with pytest.raises(InvalidValueError) as error:
        resolve_params(main, {"data": "missing.csv"}, tmp_path)
    assert str(tmp_path / "missing.csv") in str(error.value)
    assert "does not exist" in str(error.value)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("name: x\nentry_points:\n  main: {command: 'a'\n", "invalid YAML", 4),
        ("name: x\n  bad: indent\n", "invalid YAML", 2),
        (
            "conda_env: conda.yaml\npython_env: python_env.yaml\n",
            "has both conda_env and python_env",
            None,
        ),
        ("entry_points: {main: {parameters: {a: {type: complex}}, command: x}}\n", "type", None),
        ("entry_points: {main: {command: 'python t.py {nope}'}}\n", "{nope}", None),
        ("entry_points: {main: {parameters: {}}}\n", "needs a `command`", None),
        ("docker_env: {image: x}\n", "docker_env is not supported", None),
        ("nmae: typo\n", "unknown field 'nmae'", None),
        ("env_manager: docker\n", "env_manager is 'docker'", None),
        ("conda_env: absent.yaml\n", "'absent.yaml' was not found", None),
        ("- a list\n", "must be a mapping", None),
        ("limits: {artifact_size: lots}\n", "limits.artifact_size is 'lots'; set a positive", None),
        ("limits: {artifact_size: 0}\n", "limits.artifact_size is 0", None),
        (
            "limits: {disk: 1g}\n",
            "unknown limit 'disk' (limits: artifact_size, snapshot_file_size, "
            "large_artifact_threshold, metric_history_size)",
            None,
        ),
        ("metrics: {loss: up}\n", "metric 'loss' has the goal 'up'; use min or max", None),
        ("metrics: {acc: {goal: max, x: 1}}\n", "metric 'acc' has the goal", None),
        ("metrics: [loss]\n", "metrics must be a mapping", None),
    ],
)
def test_malformed_project_files_name_file_and_line(tmp_path, text, message, line):
    write(tmp_path / "conda.yaml", "dependencies: [pip]\n")
    write(tmp_path / "python_env.yaml", "python: '3.11'\n")
    path = write(tmp_path / "MLproject", text)
    with pytest.raises(ProjectFileError) as error:
        load_project(path)
    assert message in str(error.value)
    assert str(error.value).startswith(str(path))
    assert error.value.line == line
    if line:
        assert f"{path}, line {line}:" in str(error.value)


def test_unknown_entry_point_lists_the_known_ones(project):
    with pytest.raises(ProjectFileError) as error:
        load_project(project).entry_point("evaluate")
    assert "no entry point named 'evaluate' (entry points: main, short)" in str(error.value)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
@example("&&")
@example("; rm -rf /")
@example("a | b > c")
def test_any_string_value_reaches_the_command_as_one_argument(value):
    entry = EntryPoint(
        "main",
        "python train.py --label {label} && echo done",
        {"label": Parameter("label", "string")},
    )
    quoted = render_command(entry, {"label": value})
    assert quoted[:2] == ["/bin/sh", "-c"]
    assert shlex.split(quoted[2])[:4] == ["python", "train.py", "--label", value]
    plain = EntryPoint("main", "python train.py --label {label}", entry.parameters)
    assert render_command(plain, {"label": value, "extra": value}) == [
        "python",
        "train.py",
        "--label",
        value,
        "--extra",
        value,
    ]


def test_a_wrong_default_names_the_project_file_and_the_way_out(tmp_path):
    entry = EntryPoint("main", "python x.py {a}", {"a": Parameter("a", "float", "abc")})
    with pytest.raises(InvalidValueError) as caught:
        resolve_params(entry, {}, tmp_path)
    assert str(caught.value) == (
        "the project file's default for entry point 'main' is wrong: parameter 'a' must be "
        "float (a number, e.g. 0.5), got 'abc' (fix the default, or pass -P a=VALUE)"
    )
    assert resolve_params(entry, {"a": "0.5"}, tmp_path) == {"a": "0.5"}


def test_settings_of_the_whole_repository_come_from_the_file_at_its_root(repo_with_commit):
    from gitml.compare.diff import metric_goals
    from gitml.project_file import repository_project
    from gitml.store.repository import open_repository

    repo = open_repository(repo_with_commit)
    assert repository_project(repo) is None and metric_goals(repo) == {}
    write(
        repo_with_commit / "MLproject",
        "metrics: {loss: Minimize, acc: {goal: higher}}\nlimits: {artifact_size: 2m}\n",
    )
    assert metric_goals(repo) == {"loss": "min", "acc": "max"}  # MLproject counts too
    assert repository_project(repo).artifact_size == 2 << 20
    write(repo_with_commit / "gitml.yaml", "metrics: {loss: sideways}\n")  # gitml.yaml wins
    with pytest.raises(ProjectFileError, match="metric 'loss' has the goal 'sideways'"):
        metric_goals(repo)  # a malformed file is an error, never read as "no goals"


def test_a_project_file_is_parsed_once_while_it_is_unchanged(tmp_path, monkeypatch):
    import gitml.documents

    parsed = []
    real = gitml.documents.load_yaml_file

    def counting(path, error):
        parsed.append(path)
        return real(path, error)

    monkeypatch.setattr(gitml.documents, "load_yaml_file", counting)
    path = write(tmp_path / "gitml.yaml", "stages: [qa]\n")
    assert [load_project(path).stages for _ in range(3)] == [("qa",)] * 3
    assert len(parsed) == 1
    write(path, "stages: [qa, prod]\n")
    assert load_project(path).stages == ("qa", "prod")  # a changed file is read again
    assert len(parsed) == 2
    write(tmp_path / "conda.yaml", "dependencies: [pip]\n")
    assert load_project(path).env_spec == (tmp_path / "conda.yaml").resolve()  # seen at once
    assert len(parsed) == 2
