"""Helpers for the sharing tests: bare remotes, clones, runs made in one process."""

import json
import subprocess
import sys
from pathlib import Path

from tests.utils import git, gitml, write

MAKE_RUNS = """
import sys, gitml
count, prefix, experiment = int(sys.argv[1]), sys.argv[2], sys.argv[3] or None
for i in range(count):
    with gitml.start_run(name=f"{prefix}{i}", params={"i": i}, experiment=experiment):
        gitml.log_metric("loss", 1 / (i + 1))
"""


def bare_remote(tmp_path: Path, name: str = "remote.git") -> Path:
    path = tmp_path / name
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


def make_runs(repo: Path, count: int, prefix: str, experiment: str = "") -> None:
    """`count` finished runs named prefix0, prefix1, … made by one Python process."""
    subprocess.run(
        [sys.executable, "-c", MAKE_RUNS, str(count), prefix, experiment],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def make_runs_at_once(*batches: tuple[Path, int, str]) -> None:
    """make_runs(repo, count, prefix) for each batch, in processes running side by side."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MAKE_RUNS, str(count), prefix, ""],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for repo, count, prefix in batches
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * len(batches), outputs


def push_at_once(*repos: Path) -> None:
    """`gitml push` in each of `repos`, in processes running side by side; all succeed."""
    pushes = [
        subprocess.Popen([sys.executable, "-m", "gitml", "push"], cwd=repo,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for repo in repos
    ]  # fmt: skip
    outputs = [push.communicate(timeout=300) for push in pushes]
    assert [push.returncode for push in pushes] == [0] * len(repos), outputs


def clone(source: str | Path, target: Path) -> Path:
    git(target.parent, "clone", "-q", str(source), str(target))
    return target


def seeded_remote(tmp_path: Path, *names: str, as_uri: bool = False) -> tuple[Path, list[Path]]:
    """A bare remote holding one commit, and a clone of it per name (by file:// URI if as_uri)."""
    remote = bare_remote(tmp_path)
    source = remote.as_uri() if as_uri else str(remote)
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q")
    write(seed / "train.py", "print('train')\n")
    git(seed, "add", "train.py")
    git(seed, "commit", "-q", "-m", "initial")
    git(seed, "push", "-q", source, "main")
    return remote, [clone(source, tmp_path / name) for name in names]


def run_refs(repo: Path) -> dict[str, str]:
    """ref → sha of every run ref in `repo` (a work tree or a bare repository)."""
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gitml/")
    return dict(line.split(" ") for line in out.splitlines())


def ls_json(repo: Path) -> list[dict]:
    return json.loads(gitml(repo, "ls", "--all", "--json").stdout)
