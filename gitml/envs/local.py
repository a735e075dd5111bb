"""The `local` manager: the interpreter gitml runs in, checked against the spec.

Differences are warnings, not errors: a local run is the quick path.
"""

import re
import sys
from importlib import metadata

from gitml.envs.pythons import version_matches
from gitml.envs.spec import EnvSpec

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^\s;,]+))?")


def check_local(spec: EnvSpec) -> list[str]:
    """Where the current interpreter clearly differs from `spec`, one line each."""
    name = spec.path.name
    warnings = []
    running = ".".join(map(str, sys.version_info[:3]))
    if spec.python and not version_matches(spec.python, tuple(sys.version_info[:3])):
        warnings.append(f"{name} asks for Python {spec.python}; this is Python {running}")
    for line in spec.pip_requirements():
        match = _PIN.match(line)
        if line.startswith("-") or not match:
            continue
        package, pinned = match.groups()
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            warnings.append(f"{name} lists {package}, which is not installed here")
            continue
        if pinned and not _same_version(installed, pinned):
            warnings.append(f"{name} pins {package}=={pinned}; {installed} is installed here")
    return warnings


def _same_version(installed: str, pinned: str) -> bool:
    if pinned.endswith(".*"):
        return (installed + ".").startswith(pinned[:-1])
    return installed == pinned
