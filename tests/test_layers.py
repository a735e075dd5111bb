"""The layers of gitml are a rule, not a comment: the import-linter contracts in
pyproject.toml ([tool.importlinter]) hold for gitml/, every import counted (those
inside functions too), and they do catch an import that goes upward."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with gitml's contracts, for the `gitml` package found in `where`."""
    program = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(program), "--config", str(PYPROJECT), "--no-cache", "--no-logo"],
        cwd=where,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(where)},
        capture_output=True,
        text=True,
    )


def test_gitml_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_contract_and_is_named(tmp_path):
    shutil.copytree(ROOT / "gitml", tmp_path / "gitml", ignore=shutil.ignore_patterns("*.pyc"))
    add_function(tmp_path / "gitml/store/refs.py", "from gitml.cli import main")
    add_function(tmp_path / "gitml/registry/tags.py", "import gitml")
    add_function(tmp_path / "gitml/sharing/remotes.py", "from gitml.models import load")
    (tmp_path / "gitml/reports.py").write_text("")  # a module outside every layer

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "gitml.store.refs -> gitml.cli.main (l." in result.stdout  # inside a function
    assert "gitml.sharing.remotes -> gitml.models.load (l." in result.stdout  # a sibling
    assert "gitml.registry.tags -> gitml (l." in result.stdout  # the lazy facade
    assert "gitml.reports" in result.stdout  # exhaustive: every module has its layer
    assert "Contracts: 0 kept, 2 broken." in result.stdout


def add_function(module: Path, statement: str) -> None:
    with open(module, "a") as file:
        file.write(f"\n\ndef _added():\n    {statement}  # noqa\n")
