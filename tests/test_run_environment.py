"""The Python a run's command uses: its packages are the ones recorded, and it can
`import gitml` whichever Python it is, with gitml installed in its own environment
(as pipx or `uv tool` install it)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import build_wheel, git, write

ROOT = Path(__file__).resolve().parents[1]

TRAIN = """\
#!/usr/bin/env python
import sys
import gitml
gitml.log_param("lr", 0.1)
gitml.log_metric("loss", 0.25)
print("gitml from", gitml.__file__)
"""


def make_venv(path: Path, *wheels: Path) -> Path:
    """A real virtual environment (`python -m venv`) holding only `wheels`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    if wheels:
        python = str(path / "bin" / "python")
        install = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", python]
        subprocess.run([*install, "--no-index", "--no-deps", *map(str, wheels)], check=True)
    return path


def gitml_apart(
    repo: Path, *args: str, venv: Path | None = None, pythonpath: str | None = None
) -> subprocess.CompletedProcess:
    """`gitml ARGS` installed in its own environment: its package is on its own sys.path
    only, so the command it runs sees no gitml. `venv` is activated first."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if venv:
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
        env["VIRTUAL_ENV"] = str(venv)
    code = f"import sys, runpy; sys.path.insert(0, {str(ROOT)!r}); runpy.run_module('gitml')"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=repo, env=env, capture_output=True, text=True
    )


def recorded(repo: Path, path: str) -> str:
    (ref,) = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()
    return git(repo, "show", f"{ref}:.gitml/{path}")


def base_packages() -> set[str]:
    code = "import importlib.metadata as m; print([d.metadata['Name'] for d in m.distributions()])"
    out = subprocess.run([sys._base_executable, "-c", code], capture_output=True, text=True)
    return {name.lower() for name in ast.literal_eval(out.stdout)}


def lent_folder() -> Path:
    """Where gitml keeps the folder it appends to a command's PYTHONPATH."""
    return Path(os.environ["XDG_CACHE_HOME"]) / "gitml" / "pythonpath"


@pytest.fixture
def project(repo_with_commit) -> Path:
    write(repo_with_commit / ".gitignore", "venv/\n")
    train = write(repo_with_commit / "train.py", TRAIN)
    train.chmod(0o755)
    git(repo_with_commit, "add", ".")
    git(repo_with_commit, "commit", "-q", "-m", "train")
    return repo_with_commit


@pytest.mark.parametrize(
    "command, activated",
    [
        (["python", "train.py"], True),  # a venv's python, found on PATH
        (["venv/bin/python", "train.py"], False),  # a path, relative to the run's folder
        (["./train.py"], True),  # a script whose #! line finds python on PATH
    ],
)
def test_the_packages_recorded_are_those_of_the_venv_that_runs(
    project, tmp_path, command, activated
):
    wheel = build_wheel(tmp_path / "wheels", "venvonlyprobe", "1.2.3", "")
    venv = make_venv(project / "venv", wheel)
    assert base_packages() - {"venvonlyprobe"}  # the base interpreter has packages of its own

    result = gitml_apart(project, "run", "--", *command, venv=venv if activated else None)

    assert result.returncode == 0, result.stderr
    assert f"gitml from {lent_folder()}" in result.stdout
    assert recorded(project, "env/pip-freeze.txt").splitlines() == ["venvonlyprobe==1.2.3"]


def test_a_script_logs_with_a_python_that_has_no_gitml_under_the_local_manager(project):
    venv = make_venv(project / "venv")

    result = gitml_apart(
        project, "run", "--env-manager", "local", "--", "python", "train.py", venv=venv
    )

    assert result.returncode == 0, result.stderr
    assert f"gitml from {lent_folder()}" in result.stdout
    assert recorded(project, "params.yaml") == '"lr": "0.1"\n'
    assert recorded(project, "metrics/loss.tsv").split("\t")[:2] == ["0", "0.25"]
    assert recorded(project, "env/pip-freeze.txt") == ""  # gitml's lent package is not the venv's


def test_a_gitml_on_the_users_own_pythonpath_wins(project, tmp_path):
    venv = make_venv(project / "venv")
    own = write(
        tmp_path / "mine" / "gitml" / "__init__.py",
        "def log_param(*a): pass\ndef log_metric(*a): pass\n",
    )

    result = gitml_apart(
        project, "run", "--", "python", "train.py", venv=venv, pythonpath=str(own.parents[1])
    )

    assert result.returncode == 0, result.stderr
    assert f"gitml from {own}" in result.stdout


def test_a_python_lent_only_the_logging_api_refuses_a_nested_run_saying_why(project):
    venv = make_venv(project / "venv")
    write(
        project / "nested.py",
        "import gitml\n"
        "with gitml.start_run():\n"
        "    gitml.log_metric('outer', 1)\n"
        "    try:\n"
        "        gitml.start_run(nested=True)\n"
        "    except gitml.api.RunStateError as error:\n"
        "        print(error)\n",
    )

    result = gitml_apart(project, "run", "--", "python", "nested.py", venv=venv)

    assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    assert result.stdout.startswith(
        f"this script cannot start a run of its own with Python {sys.version.split()[0]} at "
        f"{python} (it lacks dulwich): log into the run `gitml run` started"
    )
    assert recorded(project, "metrics/outer.tsv").startswith("0\t1.0\t")


def test_the_local_manager_checks_the_spec_against_the_python_the_command_runs(project, tmp_path):
    venv = make_venv(project / "venv", build_wheel(tmp_path, "venvonlyprobe", "1.2.3", ""))
    minor = ".".join(map(str, sys.version_info[:2]))
    spec = "dependencies:\n  - python={}\n  - pip:\n    - venvonlyprobe{}\n"
    write(project / "conda.yaml", spec.format(minor, "==1.2.3"))

    quiet = gitml_apart(project, "run", "--", "python", "train.py", venv=venv)
    assert quiet.returncode == 0, quiet.stderr
    assert "warning" not in quiet.stderr

    write(project / "conda.yaml", spec.format("3.5", ">=2"))
    warned = gitml_apart(project, "run", "--", "python", "train.py", venv=venv)
    assert warned.returncode == 0, warned.stderr
    running = ".".join(map(str, sys.version_info[:3]))
    assert f"gitml: warning: conda.yaml asks for Python 3.5; this is Python {running}\n" in (
        warned.stderr
    )
    assert "gitml: warning: conda.yaml asks for venvonlyprobe>=2; 1.2.3 is installed here\n" in (
        warned.stderr
    )
