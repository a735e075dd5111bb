"""MLflow's ways of naming what `gitml run` runs, beside the project file's entry points:
a project folder (`gitml run PATH`, as `mlflow run PATH`) and a script of the project
folder as an undeclared entry point (`-e train.py` runs `python train.py`, `-e prep.sh`
runs `bash prep.sh`; `-P` params follow as `--key value`, as MLflow passes them).
"""

import os
from pathlib import Path

from gitml.errors import InvalidValueError
from gitml.project_file import EntryPoint
from gitml.store.repository import Repository

SCRIPT_RUNNERS = {".py": "python", ".sh": "bash"}


def project_folder(repo: Repository, text: str, directory: Path) -> Path:
    """The folder `gitml run PATH` names (relative to `directory`): it must be a folder of
    the repository's work tree, outside `.git`, since the run records the repository."""
    folder = (directory / text).absolute()
    if not folder.is_dir():
        raise InvalidValueError(
            f"{text}: no such folder; `gitml run PATH` runs the project in folder PATH "
            f"(to run a command, put it after `--`: gitml run -- {text} …)"
        )
    resolved = folder.resolve()
    root = repo.work_tree.resolve()
    inside_git = any(
        resolved.is_relative_to(place.resolve()) for place in (repo.git_dir, repo.common_dir)
    )
    if not resolved.is_relative_to(root) or inside_git:
        raise InvalidValueError(
            f"{text}: the project folder must be inside the repository {root} (outside "
            f".git), which records the run; to run a project of another repository: "
            f"gitml -C {text} run"
        )
    return resolved


def is_script(name: str) -> bool:
    return Path(name).suffix in SCRIPT_RUNNERS


def script_command(
    root: Path, name: str, params: dict[str, str], directory: Path
) -> tuple[list[str], dict[str, str]]:
    """(command, params) that run the script `name` of the project folder `root`, with
    `params` (their keys checked as any undeclared param's) as `--key value`."""
    from gitml.projects.params import resolve_params

    script = root / name
    if not script.resolve().is_relative_to(root.resolve()):
        raise InvalidValueError(
            f"-e {name}: a script entry point must be a file of the project folder {root}"
        )
    if not script.is_file():
        raise InvalidValueError(
            f"-e {name}: there is no such script in the project folder {root} (and no entry "
            "point of that name in a project file)"
        )
    relative = os.path.relpath(script, root)
    if relative.startswith("-"):  # never read as an option of the interpreter
        relative = f".{os.sep}{relative}"
    params = resolve_params(EntryPoint(name, ""), params, directory)
    extras = [word for key, value in params.items() for word in (f"--{key}", value)]
    return [SCRIPT_RUNNERS[Path(name).suffix], relative, *extras], params
