"""Helpers shared by the tests: real git, real gitml processes."""

import base64
import hashlib
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # bench/ imports these helpers without pytest
    import pytest


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run real git in `repo` and return stdout."""
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def cli(repo: Path, *args: str, env: dict | None = None):
    """`gitml ARGS` in-process (click's CliRunner): for looking at runs, where a
    child process is not the point. Asserts success."""
    from click.testing import CliRunner

    from gitml.cli.main import cli as main_cli

    result = CliRunner().invoke(main_cli, ["-C", str(repo), *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def gitml(repo: Path, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `gitml` command line in a child process."""
    result = subprocess.run(
        [sys.executable, "-m", "gitml", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"gitml {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def assert_fsck_clean(repo: Path) -> None:
    result = subprocess.run(
        ["git", "fsck", "--strict", "--no-progress"], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bad = [line for line in result.stdout.splitlines() if not line.startswith("dangling")]
    assert not bad, bad


def user_state(repo: Path) -> dict:
    """Everything `gitml run` must leave byte-for-byte as it was."""
    index = repo / ".git" / "index"
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return {
        "index": index.read_bytes() if index.exists() else None,
        "HEAD": (repo / ".git" / "HEAD").read_bytes(),
        "head_sha": git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False),
        "branches": git(repo, "for-each-ref", "refs/heads"),
        "stash": git(repo, "stash", "list"),
        "status": git(
            repo, "--no-optional-locks", "status", "--porcelain=v1", "--untracked-files=all"
        ),
        "files": files,
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated(monkeypatch: "pytest.MonkeyPatch", home: Path) -> Path:
    """Point HOME, XDG folders and git's global config at `home`; drop GIT_*/GITML_* variables."""
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


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def build_wheel(folder: Path, name: str, version: str, code: str) -> Path:
    """A pure-Python wheel written by hand (no build backend, no network)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": code,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: gitml-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={encoded},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
