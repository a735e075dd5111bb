"""gitml ships its type hints (gitml/py.typed): a package whose names load on first use
shows type checkers the same names, from the same modules, under `if TYPE_CHECKING`."""

import ast
import importlib
from pathlib import Path

import pytest


def typed_names(path: Path, package: str) -> dict[str, str]:
    """name → module of the imports under `if TYPE_CHECKING:` in a module's source
    (`from <package> import sub as sub` names the submodule itself: `<package>.sub`)."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    assert alias.asname == alias.name  # `x as x`: an explicit re-export
                    own = statement.module == package
                    found[alias.name] = f"{package}.{alias.name}" if own else statement.module
    return found


@pytest.mark.parametrize("package", ["gitml", "gitml.registry", "gitml.models"])
def test_lazy_exports_are_the_names_type_checkers_see(package):
    module = importlib.import_module(package)
    assert typed_names(Path(module.__file__), package) == module._EXPORTS
