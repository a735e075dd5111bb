"""The `venv` manager: a virtual environment built from a spec, cached by its hash.

`uv` is used when it is on PATH (much faster), else `python -m venv` and pip.
`GITML_VENV_INSTALLER=pip` or `=uv` forces one of them.
"""

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from gitml.envs import VENV, cache
from gitml.envs.activate import Activation
from gitml.envs.pythons import Interpreter, find_python
from gitml.envs.spec import EnvSpec
from gitml.errors import EnvironmentBuildError

REQUIREMENTS_FILE = "gitml-requirements.txt"
ERROR_TAIL_LINES = 20


def choose_installer() -> str:
    wanted = os.environ.get("GITML_VENV_INSTALLER", "").strip().lower()
    if wanted == "uv" and not shutil.which("uv"):
        raise EnvironmentBuildError("GITML_VENV_INSTALLER=uv, but uv is not on PATH")
    if wanted in ("uv", "pip"):
        return wanted
    if wanted:
        raise EnvironmentBuildError(f"GITML_VENV_INSTALLER is {wanted!r}; use uv or pip")
    return "uv" if shutil.which("uv") else "pip"


def ensure_venv(
    spec: EnvSpec, on_build: Callable[[str], None] | None = None
) -> tuple[Activation, bool, list[str]]:
    """The cached environment for `spec`, built first when missing.

    Returns (activation, built now, notes for the user).
    """
    name = cache.entry_name(spec.hash, VENV)
    found = cache.lookup(name)
    notes: list[str] = []
    built = False
    if found is None:
        interpreter = find_python(spec.python, spec.path.name)
        if interpreter.note:
            notes.append(interpreter.note)
        notes.extend(
            f"{spec.path.name}: {dep!r} has no pip equivalent and is left out of the venv"
            for dep in spec.skipped_for_pip
        )
        installer = choose_installer()
        if on_build:
            on_build(f"building a venv for {spec.path} with {installer}")
        info = {
            "manager": VENV,
            "hash": spec.hash,
            "spec_file": str(spec.path),
            "python": interpreter.version_text,
            "installer": installer,
            "requirements": spec.pip_requirements(),
        }
        found, built = cache.get_or_build(
            name, info, lambda folder: build_venv(spec, interpreter, folder, installer)
        )
    cache.mark_used(found)
    return Activation(VENV, str(found.path / "bin" / "python"), found.path), built, notes


def build_venv(spec: EnvSpec, interpreter: Interpreter, folder: Path, installer: str) -> None:
    """Create the virtual environment in `folder` and install the spec's requirements."""
    if installer == "uv":
        run_step(["uv", "venv", "--quiet", "--python", interpreter.path, str(folder)], spec, "uv")
    else:
        run_step([interpreter.path, "-m", "venv", str(folder)], spec, "python -m venv")
    requirements = spec.pip_requirements()
    if not requirements:
        return
    listing = folder / REQUIREMENTS_FILE
    listing.write_text("".join(line + "\n" for line in requirements))
    python = str(folder / "bin" / "python")
    if installer == "uv":
        command = ["uv", "pip", "install", "--python", python, "-r", str(listing)]
    else:
        command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        command += ["-r", str(listing)]
    run_step(command, spec, "uv pip" if installer == "uv" else "pip")


def run_step(command: list[str], spec: EnvSpec, tool: str) -> None:
    """Run an installer step in the spec's folder (relative --find-links work there)."""
    try:
        result = subprocess.run(
            command,
            cwd=spec.path.parent,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError as error:
        raise EnvironmentBuildError(f"{tool} could not start: {error}") from None
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).splitlines()
        tail = "\n".join(output[-ERROR_TAIL_LINES:])
        raise EnvironmentBuildError(
            f"{tool} failed to build the environment for {spec.path} "
            f"(exit {result.returncode}); nothing was cached:\n{tail}"
        )
