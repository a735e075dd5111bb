"""Real virtual environments built from conda.yaml, offline: the pip section
installs a tiny package that the test builds into a local wheel folder."""

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from gitml.envs.cache import cache_root, entry_name, lookup
from gitml.envs.spec import read_spec
from tests.utils import assert_fsck_clean, build_wheel, git, gitml, write

SCRIPT = """\
import os, sys
import tinypkg
import gitml
print(tinypkg.GREETING)
print("prefix", sys.prefix)
print("venv", os.environ.get("VIRTUAL_ENV"))
gitml.log_metric("answer", tinypkg.ANSWER)
"""


def spec_text(wheels: Path, requirement: str = "tinypkg==1.0", python: str | None = None) -> str:
    python = python or f"{sys.version_info[0]}.{sys.version_info[1]}"
    return (
        "name: tiny\nchannels: [conda-forge]\ndependencies:\n"
        f"  - python={python}\n  - pip\n  - pip:\n"
        f"    - --no-index\n    - --find-links {wheels}\n    - {requirement}\n"
    )


def uv_path() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=sysconfig.get_path("scripts"))
    if not found:
        pytest.fail("uv is not installed: it is in the test extra, `pip install -e '.[test]'`")
    return found


@pytest.fixture(params=[pytest.param("pip", marks=pytest.mark.slow), "uv"])
def installer(request, monkeypatch) -> str:
    monkeypatch.setenv("GITML_VENV_INSTALLER", request.param)
    if request.param == "uv":
        folder = str(Path(uv_path()).parent)
        monkeypatch.setenv("PATH", os.pathsep.join([folder, os.environ["PATH"]]))
    return request.param


@pytest.fixture
def use_uv(monkeypatch) -> None:
    """Fast builds for the tests that are not about the installer."""
    monkeypatch.setenv("GITML_VENV_INSTALLER", "uv")
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(uv_path()).parent), os.environ["PATH"]]))


@pytest.fixture
def project(repo_with_commit, tmp_path) -> Path:
    """A repository with a conda.yaml needing tinypkg, a script importing it, and the wheel."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "tinypkg", "1.0", "GREETING = 'hello from tinypkg'\nANSWER = 42\n")
    write(repo_with_commit / "conda.yaml", spec_text(wheels))
    write(repo_with_commit / "use.py", SCRIPT)
    git(repo_with_commit, "add", ".")
    git(repo_with_commit, "commit", "-q", "-m", "env project")
    return repo_with_commit


def env_name(repo: Path) -> str:
    return entry_name(read_spec(repo / "conda.yaml").hash, "venv")


def run_refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()


def test_venv_run_uses_the_environment_and_a_cache_hit_installs_nothing(project, installer):
    first = gitml(project, "run", "--env-manager", "venv", "--", "python", "use.py")

    env = lookup(env_name(project))
    assert env is not None and env.info["installer"] == installer
    assert "hello from tinypkg" in first.stdout
    assert f"prefix {env.path}\n" in first.stdout
    assert f"venv {env.path}\n" in first.stdout
    assert f"gitml: building a venv for {project / 'conda.yaml'} with {installer}\n" in (
        first.stderr
    )
    assert f"gitml: built environment {env.path}" in first.stderr
    [ref] = run_refs(project)
    record = json.loads(git(project, "show", f"{ref}:.gitml/run.json"))
    assert record["env_manager"] == "venv"
    assert record["env_hash"] == read_spec(project / "conda.yaml").hash
    assert record["metrics"]["answer"]["last"] == 42
    freeze = git(project, "show", f"{ref}:.gitml/env/pip-freeze.txt").splitlines()
    assert "tinypkg==1.0" in freeze
    assert not any(line.startswith("pytest==") for line in freeze)  # the venv, not ours
    recorded = git(project, "show", f"{ref}:.gitml/env/conda.yaml")
    assert recorded == (project / "conda.yaml").read_text()

    # A cache hit: the wheel folder is gone, so any install would fail.
    built_folder = env.path.resolve()
    stamp = (env.path / "gitml-env.json").stat().st_mtime_ns
    shutil.rmtree(project.parent / "wheels")
    second = gitml(project, "run", "--env-manager", "venv", "--", "python", "use.py")
    assert "hello from tinypkg" in second.stdout
    assert "built environment" not in second.stderr
    assert "building" not in second.stderr
    assert lookup(env_name(project)).path.resolve() == built_folder
    assert (env.path / "gitml-env.json").stat().st_mtime_ns == stamp
    assert len(run_refs(project)) == 2
    assert_fsck_clean(project)


def test_a_reformatted_spec_reuses_the_cached_environment(project, use_uv):
    gitml(project, "env", "create")
    original = (project / "conda.yaml").read_text()
    write(
        project / "conda.yaml",
        "# same environment, other layout\n" + original.replace("name: tiny", "name: renamed"),
    )
    shutil.rmtree(project.parent / "wheels")
    result = gitml(project, "env", "create")
    assert "environment cached for" in result.stderr
    assert result.stdout.strip() == str(cache_root() / env_name(project))


def test_failed_install_shows_the_installer_error_and_caches_nothing(project, installer):
    text = (project / "conda.yaml").read_text().replace("tinypkg==1.0", "tinypkg==9.9")
    write(project / "conda.yaml", text)

    result = gitml(project, "run", "--env-manager", "venv", "--", "python", "use.py", check=False)

    assert result.returncode == 1
    building, error = result.stderr.split("\n", 1)
    assert building.startswith("gitml: building a venv for ")
    assert error.startswith("gitml: error: ")
    assert "failed to build the environment" in result.stderr
    assert "nothing was cached" in result.stderr
    assert "tinypkg==9.9" in result.stderr.split("nothing was cached", 1)[1]  # installer's words
    assert "Traceback" not in result.stderr
    name = env_name(project)
    assert not [p for p in cache_root().iterdir() if p.name.startswith(name)]
    assert run_refs(project) == []


def start_build(repo: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gitml", "env", "create"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_mid_build(repo: Path, name: str) -> Path:
    """Start a pip build, kill it (and pip) once the venv exists, return its folder."""
    process = start_build(repo)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        partial = [p for p in cache_root().glob(f"{name}.*") if (p / "bin" / "python").exists()]
        if partial:
            break
        assert process.poll() is None, "the build ended before it could be interrupted"
        time.sleep(0.02)
    else:
        pytest.fail("the build never created its folder")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert lookup(name) is None
    assert not (cache_root() / name).exists()
    return partial[0]


@pytest.mark.slow
def test_an_interrupted_build_is_never_reused(project, use_uv, monkeypatch):
    monkeypatch.setenv("GITML_VENV_INSTALLER", "pip")  # slow enough to interrupt
    name = env_name(project)

    leftover = kill_mid_build(project, name)
    path = gitml(project, "env", "path", check=False)
    assert path.returncode == 1
    assert "no venv environment is cached" in path.stderr
    pruned = gitml(project, "env", "prune")
    assert f"removed {leftover.name}" in pruned.stdout
    assert not leftover.exists()

    leftover = kill_mid_build(project, name)
    monkeypatch.setenv("GITML_VENV_INSTALLER", "uv")  # any installer: the next build cleans up
    created = gitml(project, "env", "create")
    published = Path(created.stdout.strip())
    assert published == cache_root() / name
    assert published.resolve() != leftover
    assert not leftover.exists()  # removed by the next build, never published
    run = gitml(project, "run", "--env-manager", "venv", "--", "python", "use.py")
    assert "hello from tinypkg" in run.stdout


def test_concurrent_builds_of_one_spec_build_once(project, use_uv):
    builds = [start_build(project) for _ in range(3)]
    assert [b.wait(timeout=120) for b in builds] == [0, 0, 0]
    name = env_name(project)
    folders = [p for p in cache_root().glob(f"{name}*") if not p.name.startswith(".")]
    assert len(folders) == 2  # the published link and the one folder it names
    assert lookup(name) is not None


def test_a_python_version_that_is_not_installed_is_a_clear_error(project, use_uv):
    write(project / "conda.yaml", spec_text(project.parent / "wheels", python="3.5"))
    result = gitml(project, "run", "--env-manager", "venv", "--", "python", "use.py", check=False)
    assert result.returncode == 1
    assert "conda.yaml asks for Python 3.5, and no Python 3.5 interpreter was found" in (
        result.stderr
    )
    assert "pyenv install 3.5" in result.stderr
    assert run_refs(project) == []
    assert not cache_root().exists() or not [
        p for p in cache_root().iterdir() if not p.name.startswith(".")
    ]


def test_conda_manager_without_conda_suggests_venv(project):
    result = gitml(project, "env", "create", "--env-manager", "conda", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: --env-manager conda needs conda, mamba or micromamba on PATH, and none "
        "was found; install one of them, or use --env-manager venv (a virtual environment "
        "built from the same conda.yaml)\n"
    )


def test_env_manager_from_the_project_file(project, use_uv):
    write(
        project / "gitml.yaml",
        "name: tiny\nenv_manager: venv\nentry_points:\n  main:\n"
        "    parameters: {greeting: {type: str, default: hi}}\n"
        "    command: python use.py\n",
    )
    result = gitml(project, "run", "-P", "greeting=hey")
    assert "hello from tinypkg" in result.stdout
    [ref] = run_refs(project)
    record = json.loads(git(project, "show", f"{ref}:.gitml/run.json"))
    assert (record["env_manager"], record["entry_point"]) == ("venv", "main")
    assert record["params"] == {"greeting": "hey"}


def test_env_show_path_prune(project, use_uv):
    created = gitml(project, "env", "create").stdout.strip()
    assert gitml(project, "env", "path").stdout.strip() == created
    name = env_name(project)

    listing = json.loads(gitml(project, "env", "show", "--json").stdout)
    assert [(e["name"], e["manager"], e["installer"]) for e in listing] == [(name, "venv", "uv")]
    assert listing[0]["python"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert listing[0]["spec_file"] == str(project / "conda.yaml")
    assert listing[0]["size"] > 0
    table = gitml(project, "env", "show").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "MANAGER", "PYTHON"]
    assert name in table
    one = gitml(project, "env", "show", name[:6]).stdout
    assert "tinypkg==1.0" in one and f"path        {created}" in one
    missing = gitml(project, "env", "show", "zzz", check=False)
    assert missing.returncode == 1 and "no cached environment matches 'zzz'" in missing.stderr

    assert gitml(project, "env", "prune").stdout == "nothing to prune\n"
    assert gitml(project, "env", "prune", "--unused-days", "1").stdout == "nothing to prune\n"
    assert gitml(project, "env", "prune", "--all").stdout == f"removed {name}\n"
    assert not Path(created).exists()
    assert [p.name for p in cache_root().iterdir() if not p.name.startswith(".")] == []
    assert "no cached environments" in gitml(project, "env", "show").stdout


def test_env_export_writes_a_spec_that_gitml_reads(repo_with_commit):
    result = gitml(repo_with_commit, "env", "export")
    path = write(repo_with_commit / "conda.yaml", result.stdout)
    spec = read_spec(path)
    assert spec.python == ".".join(map(str, sys.version_info[:3]))
    assert any(line.startswith("pytest==") for line in spec.pip)
    assert "name: repo\n" in result.stdout


def test_venv_without_a_spec_says_what_to_add(repo_with_commit):
    result = gitml(
        repo_with_commit, "run", "--env-manager", "venv", "--", "python", "-c", "pass", check=False
    )
    assert result.returncode == 1
    assert "--env-manager venv needs an environment spec: add a conda.yaml" in result.stderr
    assert run_refs(repo_with_commit) == []
    missing = gitml(repo_with_commit, "env", "create", check=False)
    assert missing.returncode == 1
    assert "no environment spec here; write one (`gitml env export > conda.yaml`)" in (
        missing.stderr
    )
