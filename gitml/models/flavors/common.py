"""What every flavor's `save` returns, package versions for the model's environment, and
the one check of every path an MLmodel file names."""

from dataclasses import dataclass, field
from pathlib import Path

from gitml.errors import ModelError

CODE_DIR = "code"  # modules saved with the model (`code_paths=`), importable once it loads


@dataclass
class FlavorSave:
    """The flavor's MLmodel sections and the packages a loader will need."""

    flavor: str | None  # None for plain python_function models
    conf: dict
    pyfunc: dict
    packages: list[str] = field(default_factory=list)


def installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def inside(folder: Path, path: object, what: str) -> Path:
    """The file or folder that `path`, read from the MLmodel file's entry `what`, names
    in the model folder `folder`; ModelError when it could lead out of the folder (an
    absolute path, a `..` part, a symbolic link pointing elsewhere) or is no path."""
    from gitml.store.paths import tree_path_problem

    if not isinstance(path, str):
        raise ModelError(f"{folder}: the MLmodel's {what} is not a path: {path!r}")
    problem = tree_path_problem(path)
    target = folder.joinpath(*path.split("/"))
    if problem is None and not target.resolve().is_relative_to(folder.resolve()):
        problem = "leads out of the folder through a symbolic link"
    if problem is not None:
        raise ModelError(
            f"{folder}: the MLmodel's {what} {path!r} {problem}; gitml reads only files "
            "inside the model folder"
        )
    return target


def add_code_path(folder: Path, pyfunc: dict) -> None:
    """Make the modules saved with the model (MLflow's `code_paths`, the folder the
    python_function flavor's `code` names) importable, as MLflow does; after the installed
    packages, so that none of them can be replaced."""
    import sys

    if not pyfunc.get("code"):
        return
    code = inside(folder, pyfunc["code"], "python_function code folder")
    if not code.is_dir():
        raise ModelError(f"{folder}: the MLmodel's code folder {pyfunc['code']!r} is not a folder")
    if str(code) not in sys.path:
        sys.path.append(str(code))
