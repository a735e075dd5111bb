"""Inputs that would make time or memory explode: LIKE patterns that backtrack, YAML
alias bombs, deep nesting, and big but legal data (long metric histories, many params).

A command that would run for minutes is stopped by a subprocess timeout, which is the
failure; memory is read from the finished child's own peak resident size (ru_maxrss).
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.utils import git, gitml, write

TIMEOUT = 60  # seconds; every command here finishes in well under one when bounded

BACKTRACKING_PATTERN = "%a" * 12  # against 39 'a's and a 'b': C(39, 12) ways to fail


def bounded(repo: Path, *args: str, timeout: float = TIMEOUT, **kwargs):
    """`gitml ARGS` in a child; one that runs past `timeout` fails the test."""
    try:
        return gitml(repo, *args, check=False, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"gitml {' '.join(args)[:200]} ran for more than {timeout} s")


def bounded_python(repo: Path, code: str, timeout: float = TIMEOUT):
    """`python -c CODE` in `repo`; one that runs past `timeout` fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -c {code[:200]!r} ran for more than {timeout} s")


def peak_memory_mib(repo: Path, *args: str, timeout: float = TIMEOUT) -> tuple[int, float]:
    """(exit code, peak resident MiB) of `gitml ARGS`, its output thrown away.

    The peak is the child's own ru_maxrss (from wait4), that of its largest child
    included, so nothing else this test process ran counts."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gitml", *args],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode == -9:
        pytest.fail(f"gitml {' '.join(args)} ran for more than {timeout} s")
    return process.returncode, usage.ru_maxrss / 1024  # Linux reports KiB


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single `gitml: error:` line a refused input must give, without a traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitml: error: "), result.stderr
    return lines[0]


@pytest.fixture
def project(repo_with_commit) -> Path:
    """A repository with a committed script that runs a no-op."""
    write(repo_with_commit / "noop.py", "print('ran')\n")
    git(repo_with_commit, "add", "noop.py")
    git(repo_with_commit, "commit", "-q", "-m", "noop")
    return repo_with_commit


# 1. LIKE patterns


@pytest.fixture
def long_named_run(project) -> Path:
    gitml(project, "run", "--name", "a" * 39 + "b", "--", "python", "noop.py")
    return project


def test_like_pattern_that_backtracks_is_fast_in_ls(long_named_run):
    for op in ("LIKE", "ILIKE", "NOT LIKE"):
        result = bounded(long_named_run, "ls", "--filter", f"name {op} '{BACKTRACKING_PATTERN}'")
        assert result.returncode == 0, result.stderr
        assert ("a" * 39 + "b" in result.stdout) == (op == "NOT LIKE")


def test_like_pattern_that_backtracks_is_fast_in_search_runs(long_named_run):
    code = (
        "import gitml\n"
        f"print(len(gitml.search_runs(filter=\"name LIKE '{BACKTRACKING_PATTERN}'\")))\n"
        f"print(len(gitml.search_runs(filter=\"name LIKE '{BACKTRACKING_PATTERN[:-1]}b'\")))\n"
    )
    result = bounded_python(long_named_run, code)
    assert result.stdout.split() == ["0", "1"], result.stderr


def test_like_pattern_that_backtracks_is_fast_in_gc(long_named_run):
    result = bounded(long_named_run, "gc", "--dry-run", "--filter", f"name LIKE '%{'_' * 39}'")
    assert "would delete " + "a" * 39 + "b" in result.stdout, result.stderr
    pattern = f"name LIKE '{BACKTRACKING_PATTERN}'"
    result = bounded(long_named_run, "gc", "--dry-run", "--filter", pattern)
    assert result.stdout.strip() == "no runs to delete", result.stderr
