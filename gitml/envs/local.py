"""The `local` manager: the Python the command runs, checked against the spec.

Differences are warnings, not errors: a local run is the quick path.
"""

import sys

from gitml.envs.spec import EnvSpec
from gitml.envs.versions import (
    canonical_name,
    freeze_versions,
    parse_requirement,
    python_matches,
    satisfies,
)


def check_local(spec: EnvSpec, python: str = sys.executable) -> list[str]:
    """Where the interpreter `python` (the one the command will run) clearly differs from
    `spec`, one line each. Its packages are read as a run records them (and cached)."""
    from gitml.envs.cache import user_cache_dir
    from gitml.envs.packages import installed_packages
    from gitml.envs.pythons import interpreter_version

    name = spec.path.name
    warnings = []
    version = interpreter_version(python)
    if version and spec.python and not python_matches(spec.python, version):
        running = ".".join(map(str, version))
        warnings.append(f"{name} asks for Python {spec.python}; this is Python {running}")
    installed = freeze_versions(installed_packages(python, user_cache_dir()))
    for line in spec.pip_requirements():
        requirement = parse_requirement(line)
        if requirement is None or not _applies(requirement, version):
            continue  # an option line, or a package for another platform
        found = installed.get(canonical_name(requirement.name))
        if found is None:
            warnings.append(f"{name} lists {requirement.name}, which is not installed here")
        elif not satisfies(found, requirement):
            verb = "pins" if all(s.operator == "==" for s in requirement.specifier) else "asks for"
            wanted = f"{requirement.name}{requirement.specifier}"
            warnings.append(f"{name} {verb} {wanted}; {found} is installed here")
    return warnings


def _applies(requirement, version: tuple[int, ...] | None) -> bool:
    """Whether the requirement's marker holds for that Python (on this platform)."""
    if requirement.marker is None:
        return True
    environment = {}
    if version:
        environment = {
            "python_version": ".".join(map(str, version[:2])),
            "python_full_version": ".".join(map(str, version)),
        }
    return requirement.marker.evaluate(environment)
