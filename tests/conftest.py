"""Fixtures: every test gets its own HOME and git config, then real repositories."""

import os
from pathlib import Path

import pytest

from tests.utils import git, write


@pytest.fixture(autouse=True)
def isolate(tmp_path_factory, monkeypatch):
    """No test sees the developer's git identity, config, caches or GIT_* variables."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("GIT_", "GITML_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    gitconfig = write(
        home / ".gitconfig",
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n',
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


@pytest.fixture
def repo(tmp_path) -> Path:
    """An empty repository with no commits."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    return path


@pytest.fixture
def repo_with_commit(repo) -> Path:
    """A repository with one commit of a few files."""
    write(repo / "README.md", "# project\n")
    write(repo / "src" / "model.py", "WEIGHT = 1\n")
    write(repo / ".gitignore", "data/\n*.log\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def repo_with_runs(repo_with_commit) -> Path:
    """A repository with three finished runs: alpha, beta (lr differs) and gamma (failed)."""
    from tests.utils import gitml

    script = write(
        repo_with_commit / "train.py",
        "import sys, gitml\n"
        "p = gitml.get_params()\n"
        "gitml.log_metric('loss', 1 / float(p['lr']))\n"
        "gitml.log_metric('acc', float(p['lr']) * 2)\n"
        "sys.exit(int(p.get('fail', 0)))\n",
    )
    git(repo_with_commit, "add", script.name)
    git(repo_with_commit, "commit", "-q", "-m", "add train.py")
    for name, lr, fail in (("alpha", "0.1", "0"), ("beta", "0.2", "0"), ("gamma", "0.4", "3")):
        gitml(
            repo_with_commit,
            "run",
            "--name",
            name,
            "-P",
            f"lr={lr}",
            "-P",
            f"fail={fail}",
            "--",
            "python",
            "train.py",
            check=False,
        )
    return repo_with_commit
