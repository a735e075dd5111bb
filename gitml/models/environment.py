"""Serving a model inside its own recorded environment (`gitml serve --env-manager venv`).

The environment is the model's `conda.yaml` plus what the server itself needs (pinned to
the versions installed here), built once by `gitml.envs` and cached by the spec's hash.
The server then replaces this process, running the environment's Python on the model
folder; gitml itself reaches it through the PYTHONPATH shim of `gitml.envs.activate`.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitml.envs.versions import canonical_name, parse_requirement
from gitml.models.flavors.common import installed_version
from gitml.models.mlmodel import CONDA_FILE

if TYPE_CHECKING:
    from gitml.models.server import ServeOptions

# what `python -m gitml serve <folder>` imports besides the model's own packages
SERVER_PACKAGES = ("click", "PyYAML", "uvicorn", "httptools", "uvloop", "numpy", "pandas")


def serving_spec_text(conda_text: str, where: str) -> str:
    """The model's conda.yaml (read from `where`) with the server's packages added to
    its pip list."""
    import yaml

    from gitml.documents import load_yaml

    spec = load_yaml(conda_text, where) or {}
    dependencies = list(spec.get("dependencies") or ["pip"])
    pip_entry = next((d for d in dependencies if isinstance(d, dict) and "pip" in d), None)
    if pip_entry is None:
        pip_entry = {"pip": []}
        dependencies.append(pip_entry)
    present = {_name(str(line)) for line in pip_entry["pip"]}
    for package in SERVER_PACKAGES:
        version = installed_version(package)
        if canonical_name(package) not in present and version is not None:
            pip_entry["pip"].append(f"{package}=={version}")
    spec["dependencies"] = dependencies
    return yaml.safe_dump(spec, sort_keys=False)


def _name(line: str) -> str | None:
    requirement = parse_requirement(line)
    return canonical_name(requirement.name) if requirement else None


def serve_in_venv(folder: Path, options: "ServeOptions", report: Callable[[str], None]) -> None:
    """Build (or reuse) the model's venv, then become the server running in it."""
    from gitml.documents import read_text
    from gitml.envs import VENV
    from gitml.envs.manager import prepare_environment
    from gitml.envs.spec import read_spec

    conda_file = folder / CONDA_FILE
    text = serving_spec_text(read_text(conda_file), str(conda_file))
    with tempfile.TemporaryDirectory(prefix="gitml-serve-env-") as tmp:
        spec_path = Path(tmp) / CONDA_FILE
        spec_path.write_text(text)
        prepared = prepare_environment(VENV, read_spec(spec_path))
    for note in prepared.notes:
        report(note)
    if prepared.built:
        report(f"built the model's environment in {prepared.activation.prefix}")
    python = prepared.activation.python
    command = [python, "-m", "gitml", "serve", str(folder.resolve())]
    command += [
        *("--host", options.host, "--port", str(options.port), "--workers", str(options.workers)),
        *("--max-body", str(options.max_body_bytes)),
        *("--max-inflight", str(options.max_inflight_bytes)),
        *("--request-timeout", str(options.request_timeout)),
        *("--max-connections", str(options.max_connections)),
    ]
    os.execve(python, command, prepared.activation.apply(dict(os.environ)))
