"""Finding a local Python interpreter that satisfies a spec's `python` constraint.

Looks at the interpreter running gitml, `pythonX.Y` on PATH, and pyenv's
versions folder. Every candidate is asked for its version (a pyenv shim for a
version that is not selected exists on PATH but fails to run).
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gitml.envs.versions import python_matches
from gitml.errors import EnvironmentBuildError

_MINORS = [(3, minor) for minor in range(15, 5, -1)]


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: tuple[int, int, int]
    note: str | None = None  # e.g. the micro version differs from the one asked for

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def find_python(constraint: str | None, spec_name: str) -> Interpreter:
    """An interpreter for `constraint`; a clear error naming the version when none exists.

    A constraint with a micro version (`3.11.5`) is met by another micro of the
    same minor when that exact one is missing, with a note saying so.
    """
    candidates = _candidates(constraint)
    for path in candidates:
        version = interpreter_version(path)
        if version and python_matches(constraint, version):
            return Interpreter(path, version)
    loose = _minor_of(constraint)
    if loose:
        for path in candidates:
            version = interpreter_version(path)
            if version and version[:2] == loose:
                shown = ".".join(map(str, version))
                note = f"{spec_name} asks for Python {constraint}; using {shown}"
                return Interpreter(path, version, note)
    wanted = constraint or "any"
    raise EnvironmentBuildError(
        f"{spec_name} asks for Python {wanted}, and no Python {wanted} interpreter was found "
        f"(looked at {sys.executable}, python3.X on PATH and pyenv); install it, e.g. "
        f"`pyenv install {_install_hint(constraint)}` or `uv python install "
        f"{_install_hint(constraint)}`, or change the python version in {spec_name}"
    )


def _install_hint(constraint: str | None) -> str:
    match = re.search(r"\d+(?:\.\d+)*", constraint or "")
    return match.group(0) if match else "3.11"


def _minor_of(constraint: str | None) -> tuple[int, int] | None:
    match = re.fullmatch(r"=?=?(\d+)\.(\d+)\.\d+", (constraint or "").strip())
    return (int(match[1]), int(match[2])) if match else None


def _candidates(constraint: str | None) -> list[str]:
    found = [sys.executable]
    prefix = re.match(r"^=?=?(\d+)\.(\d+)", (constraint or "").strip())
    minors = [(int(prefix[1]), int(prefix[2]))] if prefix else _MINORS
    for major, minor in minors:
        name = f"python{major}.{minor}"
        on_path = shutil.which(name)
        if on_path:
            found.append(on_path)
        pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
        if pyenv.is_dir():
            found.extend(
                str(p / "bin" / name)
                for p in sorted(pyenv.glob(f"{major}.{minor}*"), reverse=True)
                if (p / "bin" / name).is_file()
            )
    return list(dict.fromkeys(found))


def interpreter_version(path: str) -> tuple[int, int, int] | None:
    """The version a Python executable reports, or None when it does not run."""
    if path == sys.executable:
        return sys.version_info.major, sys.version_info.minor, sys.version_info.micro
    try:
        result = subprocess.run(
            [path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        major, minor, micro = (int(part) for part in result.stdout.strip().split("."))
    except ValueError:
        return None
    return major, minor, micro
