"""The `conda` manager. conda cannot be installed here, so these tests put a
stand-in `micromamba` on PATH: a script that records its arguments and creates
a (pip-less) virtual environment at `--prefix`, which is what gitml needs
from it. The error without any conda tool is tested in test_env_venv.py."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from gitml.envs.cache import cache_root, entry_name, lookup
from gitml.envs.spec import read_spec
from tests.utils import git, gitml, write

STAND_IN = """\
#!{python}
import json, subprocess, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if {fail}:
    sys.exit("critical libmamba: nothing provides requested package nosuchpkg")
prefix = args[args.index("--prefix") + 1]
subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix], check=True)
"""


@pytest.fixture
def micromamba(tmp_path, monkeypatch):
    def install(fail: bool = False) -> Path:
        folder = tmp_path / "bin"
        folder.mkdir(exist_ok=True)
        log = tmp_path / "micromamba.log"
        tool = folder / "micromamba"
        tool.write_text(STAND_IN.format(python=sys.executable, log=str(log), fail=fail))
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", os.pathsep.join([str(folder), os.environ["PATH"]]))
        return log

    return install


def test_conda_manager_creates_the_env_from_the_spec_into_the_cache(repo_with_commit, micromamba):
    log = micromamba()
    spec = write(repo_with_commit / "conda.yaml", "dependencies: [python=3.11, numpy=1.26]\n")
    script = "import os, sys; print(sys.prefix); print(os.environ['CONDA_PREFIX'])"

    result = gitml(repo_with_commit, "run", "--env-manager", "conda", "--", "python", "-c", script)

    name = entry_name(read_spec(spec).hash, "conda")
    env = lookup(name)
    assert env is not None and env.info["tool"] == "micromamba"
    assert result.stdout.splitlines() == [str(env.path), str(env.path)]
    [call] = [json.loads(line) for line in log.read_text().splitlines()]
    build_folder = env.path.resolve()
    assert call == ["create", "--yes", "--prefix", str(build_folder), "--file", str(spec)]
    [ref] = git(repo_with_commit, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()
    record = json.loads(git(repo_with_commit, "show", f"{ref}:.gitml/run.json"))
    assert record["env_manager"] == "conda"

    gitml(repo_with_commit, "run", "--env-manager", "conda", "--", "python", "-c", script)
    assert len(log.read_text().splitlines()) == 1  # cached: no second create


def test_a_failing_conda_shows_its_error_and_caches_nothing(repo_with_commit, micromamba):
    micromamba(fail=True)
    write(repo_with_commit / "conda.yaml", "dependencies: [python=3.11, nosuchpkg]\n")

    result = gitml(repo_with_commit, "env", "create", "--env-manager", "conda", check=False)

    assert result.returncode == 1
    assert "micromamba failed to build the environment" in result.stderr
    assert "nothing provides requested package nosuchpkg" in result.stderr
    assert not [p for p in cache_root().iterdir() if not p.name.startswith(".")]
