"""The `local` manager: the interpreter gitml runs in, checked against the spec.

Differences are warnings, not errors: a local run is the quick path.
"""

import sys
from importlib import metadata

from gitml.envs.spec import EnvSpec
from gitml.envs.versions import parse_requirement, python_matches, satisfies


def check_local(spec: EnvSpec) -> list[str]:
    """Where the current interpreter clearly differs from `spec`, one line each."""
    name = spec.path.name
    warnings = []
    if spec.python and not python_matches(spec.python, tuple(sys.version_info[:3])):
        running = ".".join(map(str, sys.version_info[:3]))
        warnings.append(f"{name} asks for Python {spec.python}; this is Python {running}")
    for line in spec.pip_requirements():
        requirement = parse_requirement(line)
        if requirement is None or (requirement.marker and not requirement.marker.evaluate()):
            continue  # an option line, or a package for another platform
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            warnings.append(f"{name} lists {requirement.name}, which is not installed here")
            continue
        if not satisfies(installed, requirement):
            verb = "pins" if all(s.operator == "==" for s in requirement.specifier) else "asks for"
            wanted = f"{requirement.name}{requirement.specifier}"
            warnings.append(f"{name} {verb} {wanted}; {installed} is installed here")
    return warnings
