"""Fixtures: every test gets its own HOME and git config, then real repositories.

Repositories that take real `gitml run` processes to make are built once per
session (`templates`) under their own isolated HOME, then copied into each test
that asks for one: every test still gets a real repository of its own.
"""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.utils import git, gitml, isolated, write


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with the most tests marked slow first, each module's tests kept in order.

    xdist (`--dist loadfile --no-loadscope-reorder`) hands modules to the workers in this
    order as each frees up: the long modules start at once and the many short ones even
    out the end, instead of a long module starting last on one worker while the other
    sits idle."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    slow = {
        name: sum(t.get_closest_marker("slow") is not None for t in ts)
        for name, ts in modules.items()
    }
    order = sorted(modules, key=lambda name: (-slow[name], -len(modules[name])))
    items[:] = [item for name in order for item in modules[name]]


@pytest.fixture(autouse=True)
def isolate(tmp_path_factory, monkeypatch):
    """No test sees the developer's git identity, config, caches or GIT_* variables."""
    return isolated(monkeypatch, tmp_path_factory.mktemp("home"))


def init_repo(path: Path) -> Path:
    """An empty repository with no commits at `path`."""
    path.mkdir()
    git(path, "init", "-q")
    return path


def commit_a_few_files(repo: Path) -> Path:
    write(repo / "README.md", "# project\n")
    write(repo / "src" / "model.py", "WEIGHT = 1\n")
    write(repo / ".gitignore", "data/\n*.log\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


TRAIN = (
    "import sys, gitml\n"
    "p = gitml.get_params()\n"
    "gitml.log_metric('loss', 1 / float(p['lr']))\n"
    "gitml.log_metric('acc', float(p['lr']) * 2)\n"
    "sys.exit(int(p.get('fail', 0)))\n"
)


def record_three_runs(repo: Path) -> Path:
    """Commit train.py, then run it as alpha (lr 0.1), beta (lr 0.2) and gamma (fails)."""
    write(repo / "train.py", TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "add train.py")
    for name, lr, fail in (("alpha", "0.1", "0"), ("beta", "0.2", "0"), ("gamma", "0.4", "3")):
        args = ("--name", name, "-P", f"lr={lr}", "-P", f"fail={fail}")
        gitml(repo, "run", *args, "--", "python", "train.py", check=False)
    return repo


class Templates:
    """Repositories built once per session and copied into each test that asks for one.

    `copy(build, target)` runs `build(repo)` on a fresh repo_with_commit the first time
    it sees `build`, under a HOME of its own (not that of the test that asked first),
    then copies the result to `target`: every test still gets a real repository of its
    own, made by real processes, without paying for those processes again."""

    def __init__(self, factory: pytest.TempPathFactory):
        self._factory = factory
        self._built: dict[Callable[[Path], object], Path] = {}

    def copy(self, build: Callable[[Path], object], target: Path) -> Path:
        template = self._built.get(build)
        if template is None:
            with pytest.MonkeyPatch.context() as monkeypatch:
                isolated(monkeypatch, self._factory.mktemp("template-home"))
                template = init_repo(self._factory.mktemp("template") / "repo")
                build(commit_a_few_files(template))
            self._built[build] = template
        shutil.copytree(template, target, symlinks=True)
        # the copies have new inodes and ctimes: refresh the index's stat data, as
        # the repository it was built in had it (a later `git status` writes nothing)
        git(target, "update-index", "-q", "--refresh", check=False)
        return target


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> Templates:
    return Templates(tmp_path_factory)


@pytest.fixture
def repo(tmp_path) -> Path:
    """An empty repository with no commits."""
    return init_repo(tmp_path / "repo")


@pytest.fixture
def repo_with_commit(repo) -> Path:
    """A repository with one commit of a few files."""
    return commit_a_few_files(repo)


@pytest.fixture
def repo_with_runs(templates, tmp_path) -> Path:
    """A repository with three finished runs: alpha, beta (lr differs) and gamma (failed),
    recorded by real `gitml run` processes (once per session, copied here)."""
    return templates.copy(record_three_runs, tmp_path / "repo")
