"""Environment specs: reading, normalizing, hashing, conda→pip, Python versions."""

import sys

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gitml.envs.pythons import find_python
from gitml.envs.spec import export_current, read_spec
from gitml.envs.versions import python_matches
from gitml.errors import EnvironmentBuildError, ProjectFileError
from tests.utils import write

SPEC = """\
name: train
channels: [conda-forge, defaults]
dependencies:
  - python=3.11
  - pip
  - numpy=1.26
  - conda-forge::scipy>=1.10,<2
  - pytorch=2.1.0=py3.11_cuda12.1_cudnn8_0
  - py-xgboost 2.0.3 cpu_h1
  - cudatoolkit=11.8
  - pip:
    - requests==2.31.0
    - --find-links ./wheels
"""


def test_conda_spec_is_read_and_mapped_for_pip(tmp_path):
    spec = read_spec(write(tmp_path / "conda.yaml", SPEC))
    assert spec.kind == "conda"
    assert spec.python == "3.11"
    assert spec.channels == ("conda-forge", "defaults")
    assert spec.pip_requirements() == [
        "numpy==1.26.*",
        "scipy>=1.10,<2",
        "torch==2.1.0.*",
        "xgboost==2.0.3.*",
        "requests==2.31.0",
        "--find-links ./wheels",
    ]
    assert spec.skipped_for_pip == ("cudatoolkit=11.8",)
    assert spec.record_name == "conda.yaml"


def test_hash_ignores_name_order_and_formatting_but_not_content(tmp_path):
    base = read_spec(write(tmp_path / "a.yaml", SPEC)).hash
    data = yaml.safe_load(SPEC)
    data["name"] = "renamed"
    data["dependencies"] = list(reversed(data["dependencies"]))
    reordered = {"dependencies": data["dependencies"], "channels": data["channels"]}
    text = "# a comment\n" + yaml.safe_dump(reordered, default_flow_style=True)
    assert read_spec(write(tmp_path / "b.yaml", text)).hash == base
    changed = SPEC.replace("requests==2.31.0", "requests==2.32.0")
    assert read_spec(write(tmp_path / "c.yaml", changed)).hash != base
    python = SPEC.replace("python=3.11", "python=3.12")
    assert read_spec(write(tmp_path / "d.yaml", python)).hash != base


def test_python_env_yaml_is_read(tmp_path):
    path = write(
        tmp_path / "python_env.yaml",
        "python: '3.10.4'\nbuild_dependencies: [pip, setuptools]\ndependencies: [six==1.16.0]\n",
    )
    spec = read_spec(path)
    assert (spec.kind, spec.python, spec.record_name) == ("python_env", "3.10.4", "python_env.yaml")
    assert spec.pip_requirements() == ["pip", "setuptools", "six==1.16.0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nchannels: [a]\n", "has no `dependencies` list"),
        ("dependencies: []\n", "has no `dependencies` list"),
        ("dependencies:\n  - pip: requests\n", "`pip:` entry must be a list"),
        ("dependencies:\n  - [nested]\n", "is neither a package nor a `pip:` list"),
        ("dependencies: [pip]\nchannels: conda-forge\n", "`channels` must be a list"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_specs_name_the_file(tmp_path, text, message):
    path = write(tmp_path / "conda.yaml", text)
    with pytest.raises(ProjectFileError) as error:
        read_spec(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_malformed_spec_yaml_names_the_line(tmp_path):
    path = write(tmp_path / "conda.yaml", "dependencies:\n  - pip\n  - {pip: [a, b\n")
    with pytest.raises(ProjectFileError) as error:
        read_spec(path)
    assert error.value.line == 4
    assert str(error.value).startswith(f"{path}, line 4: invalid YAML")


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        ("3.11", (3, 11, 7), True),
        ("3.11", (3, 12, 0), False),
        ("3.11.7", (3, 11, 7), True),
        ("3.11.5", (3, 11, 7), False),
        (">=3.9", (3, 11, 7), True),
        (">=3.9,<3.11", (3, 11, 7), False),
        ("<3.12", (3, 11, 7), True),
        # PEP 440, as pip reads them: 3.11 is 3.11.0 outside conda's bare form
        (">3.11", (3, 11, 5), True),
        ("<=3.11", (3, 11, 5), False),
        ("!=3.11", (3, 11, 4), True),
        ("!=3.11.*", (3, 11, 4), False),
        ("3.11.*", (3, 11, 4), True),
        ("~=3.9", (3, 12, 1), True),
        ("~=3.9.1", (3, 10, 0), False),
        (">=3.8,<3.10", (3, 9, 18), True),
        ("3.8", (3, 8, 18), True),  # MLflow's python_env.yaml: python: "3.8"
        ("3.8", (3, 10, 0), False),
        (None, (3, 6, 0), True),
    ],
)
def test_python_version_constraints(constraint, version, expected):
    assert python_matches(constraint, version) is expected


def test_a_python_constraint_pip_cannot_read_is_a_clear_error():
    with pytest.raises(EnvironmentBuildError, match="python version '>>3' is not understood"):
        python_matches(">>3", (3, 11, 0))


def test_the_running_interpreter_satisfies_its_own_version():
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = find_python(minor, "conda.yaml")
    assert found.version[:2] == sys.version_info[:2]
    assert found.note is None


def test_another_micro_of_the_same_minor_is_used_with_a_note():
    wanted = f"{sys.version_info[0]}.{sys.version_info[1]}.999"
    found = find_python(wanted, "conda.yaml")
    assert found.version[:2] == sys.version_info[:2]
    assert found.note == (
        f"conda.yaml asks for Python {wanted}; using {'.'.join(map(str, found.version))}"
    )


def test_a_python_version_not_installed_is_a_clear_error():
    with pytest.raises(EnvironmentBuildError) as error:
        find_python("3.5", "conda.yaml")
    message = str(error.value)
    assert message.startswith("conda.yaml asks for Python 3.5, and no Python 3.5 interpreter")
    assert "pyenv install 3.5" in message and "uv python install 3.5" in message


def test_export_describes_this_interpreter(tmp_path):
    text = export_current("mine")
    spec = read_spec(write(tmp_path / "conda.yaml", text))
    assert spec.python == ".".join(map(str, sys.version_info[:3]))
    assert any(line.startswith("pytest==") for line in spec.pip)
    assert not any(line.lower().startswith(("gitml==", "pip==")) for line in spec.pip)


@given(
    st.lists(
        st.from_regex(r"[a-z][a-z0-9\-]{0,8}(==[0-9]\.[0-9])?", fullmatch=True),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    st.randoms(),
)
def test_hash_does_not_depend_on_dependency_order(tmp_path_factory, packages, rnd):
    folder = tmp_path_factory.mktemp("specs")
    shuffled = list(packages)
    rnd.shuffle(shuffled)
    one = {"dependencies": ["python=3.11", {"pip": packages}]}
    two = {"dependencies": [{"pip": shuffled}, "python=3.11"]}
    first = read_spec(write(folder / "one.yaml", yaml.safe_dump(one)))
    second = read_spec(write(folder / "two.yaml", yaml.safe_dump(two)))
    assert first.hash == second.hash
