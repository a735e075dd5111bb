"""Python examples of the docs run as written, in order, in a fresh repository."""

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.utils import git
from tests.utils import gitml as gitml_cli

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.DOTALL)


def python(repo: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False
    )


def run_names(repo: Path) -> list[str]:
    return sorted(
        run["name"] for run in json.loads(gitml_cli(repo, "ls", "--all", "--json").stdout)
    )


def test_the_readme_script_runs_after_the_readme_commands(repo_with_commit):
    (script,) = python_blocks("README.md")
    gitml_cli(repo_with_commit, "run", "-P", "lr=0.01", "--name", "baseline", "--", "true")

    result = python(repo_with_commit, script)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no "run name 'baseline' is stored as 'baseline-2'"
    assert run_names(repo_with_commit) == ["baseline", "faster"]
    assert "0.01 → 0.05" in gitml_cli(repo_with_commit, "diff", "baseline", "faster").stdout


def test_the_registry_example_runs_top_to_bottom(repo_with_commit):
    (example,) = python_blocks("docs/registry.md")
    made = (
        "import gitml\n"
        "with gitml.start_run(name='faster'):\n"
        "    gitml.log_text('w=1', 'model.txt')\n"
    )
    assert python(repo_with_commit, made).returncode == 0

    result = python(repo_with_commit, example)

    assert result.returncode == 0, result.stderr
    assert (repo_with_commit / "deploy" / "model.txt").read_text() == "w=1"
    assert git(repo_with_commit, "tag", "-l", "linear*").split() == [
        "linear#production!#3",
        "linear#production#2",
        "linear@deprecated#5",
        "linear@v0.0.1",
        "linear@v0.0.1!#4",
    ]
