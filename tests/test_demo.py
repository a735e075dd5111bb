"""`gitml demo`: the README's first command, on a throw-away repository."""

import re
from pathlib import Path

import pytest

from tests.utils import assert_fsck_clean, git, gitml


@pytest.mark.slow
def test_demo_shows_run_ls_show_diff_register_promote(tmp_path):
    result = gitml(tmp_path, "demo", timeout=120)

    steps = [line.split()[2:4] for line in result.stdout.splitlines() if line.startswith("$ gitml")]
    assert [step[0] for step in steps] == [
        "run",
        "run",
        "ls",
        "show",
        "diff",
        "model",
        "model",
        "model",
    ]
    assert [step[1] for step in steps[-3:]] == ["register", "promote", "ls"]
    assert "baseline" in result.stdout and "faster" in result.stdout
    assert "promoted linear v0.0.1 to production" in result.stdout
    folder = Path(re.search(r"# a throw-away repository: (\S+)", result.stdout).group(1))
    assert folder.is_dir() and folder != tmp_path
    assert len(git(folder, "for-each-ref", "refs/gitml/runs").splitlines()) == 2
    assert git(folder, "status", "--porcelain", "--untracked-files=no") == " M train.py\n"
    assert_fsck_clean(folder)
