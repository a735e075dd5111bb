"""The `conda` manager: `conda`, `mamba` or `micromamba` creates the environment
from the spec into the cache (same publication as venvs, see `cache`)."""

import shutil
from collections.abc import Callable
from pathlib import Path

from gitml.envs import CONDA, cache
from gitml.envs.activate import Activation
from gitml.envs.spec import EnvSpec
from gitml.envs.venv import REQUIREMENTS_FILE, run_step
from gitml.errors import EnvironmentBuildError

TOOLS = ("conda", "mamba", "micromamba")


def find_conda() -> str:
    for tool in TOOLS:
        if shutil.which(tool):
            return tool
    raise EnvironmentBuildError(
        "--env-manager conda needs conda, mamba or micromamba on PATH, and none was found; "
        "install one of them, or use --env-manager venv (a virtual environment built from "
        "the same conda.yaml)"
    )


def ensure_conda(
    spec: EnvSpec, on_build: Callable[[str], None] | None = None
) -> tuple[Activation, bool, list[str]]:
    """The cached conda environment for `spec`, created first when missing."""
    name = cache.entry_name(spec.hash, CONDA)
    found = cache.lookup(name)
    built = False
    if found is None:
        tool = find_conda()
        if on_build:
            on_build(f"building a conda environment for {spec.path} with {tool}")
        info = {"manager": CONDA, "hash": spec.hash, "spec_file": str(spec.path), "tool": tool}
        found, built = cache.get_or_build(
            name, info, lambda folder: build_conda(spec, tool, folder)
        )
    cache.mark_used(found)
    return Activation(CONDA, str(found.path / "bin" / "python"), found.path), built, []


def build_conda(spec: EnvSpec, tool: str, folder: Path) -> None:
    yes = ["--yes"] if tool == "micromamba" else []
    if spec.kind == "conda":
        create = [tool, "create"] if tool == "micromamba" else [tool, "env", "create"]
        run_step([*create, *yes, "--prefix", str(folder), "--file", str(spec.path)], spec, tool)
        return
    python = f"python={spec.python}" if spec.python else "python"
    run_step([tool, "create", "--yes", "--prefix", str(folder), python, "pip"], spec, tool)
    if spec.pip:
        listing = folder / REQUIREMENTS_FILE
        listing.write_text("".join(line + "\n" for line in spec.pip))
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--no-input"]
        run_step([*pip, "-r", str(listing)], spec, "pip")
