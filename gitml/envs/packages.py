"""The Python a command runs, and the packages that Python has installed.

`installed_packages` is the costly one (`pip freeze` takes about a second
here), so it reads package metadata directly and caches the answer per
interpreter until one of its site-packages folders changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Run by the command's interpreter, whichever Python it is: names in the order Python
# finds them (the first of two copies is the one imported).
_FREEZE_SNIPPET = r"""
import importlib.metadata as m, json, sys
dists = [[d.metadata["Name"], d.version] for d in m.distributions() if d.metadata["Name"]]
paths = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
print(json.dumps({"python": sys.executable, "paths": paths, "dists": dists}))
"""


def interpreter_for(
    command: list[str], search_path: str | None = None, cwd: str | os.PathLike | None = None
) -> str:
    """The Python interpreter `command` will run, found as the command will find it.

    A command starting with `python…`, or a script whose `#!` line names a Python, runs
    that one; any other command (`make`, `bash train.sh`) the `python3` first on its PATH.
    `search_path` is the command's PATH, `cwd` the folder it starts in.

    Never resolved through symbolic links: a venv's `bin/python` is a link to the base
    interpreter, and only the link's place makes Python use the venv's packages.
    """
    program = _find(command[0], search_path, cwd) if command else None
    if program and _is_python(program):
        return program
    named = _shebang_python(program) if program else None
    if named:
        found = _find(named, search_path, cwd)
        if found:
            return found
    return (
        shutil.which("python3", path=search_path)
        or shutil.which("python", path=search_path)
        or sys.executable
    )


def _find(program: str, search_path: str | None, cwd: str | os.PathLike | None) -> str | None:
    """`program` as the command's process finds it: a path (relative to `cwd`) or a name
    looked up on `search_path`; absolute, its links kept."""
    if os.sep in program:
        path = os.path.join(cwd or os.getcwd(), program)
        return os.path.abspath(path) if os.access(path, os.X_OK) else None
    found = shutil.which(program, path=search_path)
    return os.path.abspath(found) if found else None


def _is_python(path: str) -> bool:
    return os.path.basename(path).startswith("python")


def _shebang_python(path: str) -> str | None:
    """The Python a script's `#!` line runs (`/usr/bin/env python3` gives `python3`)."""
    try:
        with open(path, "rb") as file:
            line = file.readline(256)
    except OSError:
        return None
    if not line.startswith(b"#!"):
        return None
    words = os.fsdecode(line[2:]).split()
    if words and os.path.basename(words[0]) == "env":
        words = [word for word in words[1:] if not word.startswith("-")]
    return words[0] if words and _is_python(words[0]) else None


def installed_packages(
    interpreter: str, cache_dir: Path, env: dict[str, str] | None = None
) -> list[str]:
    """`name==version` for every distribution `interpreter` sees (run with `env`).

    Cached until a site-packages folder of that interpreter changes (installing or
    removing a package adds or removes a `.dist-info` folder there).
    """
    cache_file = cache_dir / ("freeze-" + hashlib.sha256(interpreter.encode()).hexdigest()[:16])
    try:
        cached = json.loads(cache_file.read_text())
        if cached["fingerprint"] == _fingerprint(cached["paths"]):
            return cached["packages"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        result = subprocess.run(
            [interpreter, "-c", _FREEZE_SNIPPET], capture_output=True, text=True, env=env
        )
        found = json.loads(result.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return []  # not a Python we can ask; the run is recorded without its packages
    entry = {
        "paths": found["paths"],
        "fingerprint": _fingerprint(found["paths"]),
        "packages": _freeze_lines(found["dists"]),
    }
    tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, cache_file)
    return entry["packages"]


def _freeze_lines(dists: list[list[str]]) -> list[str]:
    """`name==version` once per distribution name (the first found), sorted by name."""
    from gitml.envs.versions import canonical_name

    first: dict[str, str] = {}
    for name, version in dists:
        first.setdefault(canonical_name(name), f"{name}=={version}")
    return sorted(first.values(), key=str.lower)


def _fingerprint(paths: list[str]) -> list[int | None]:
    stamps: list[int | None] = []
    for path in paths:
        try:
            stamps.append(os.stat(path).st_mtime_ns)
        except OSError:
            stamps.append(None)
    return stamps
