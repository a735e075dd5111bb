"""Package attributes imported on first use.

A package maps each public name to the module that defines it (or, for a
submodule, to the submodule itself); the module is imported only when the name
is first asked for, so importing the package
stays cheap (`import gitml` must not load the models, `gitml fetch` must not
load the registry's operations).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_attributes(
    package: str, exports: dict[str, str], namespace: dict
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` for `package` (PEP 562)."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        # a submodule (`gitml.sklearn`) is the module itself; any other name, its attribute
        value = module if module.__name__ == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
