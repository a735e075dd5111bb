"""Environment specs: `conda.yaml` (or MLflow's `python_env.yaml`) read, checked,
normalized and hashed.

The hash names the cached environment, so it ignores what does not change
the environment: key order, formatting, the spec's `name`, and the order of
dependencies.

For the `venv` manager, conda dependencies are installed with pip. Most conda
packages have the same name on PyPI; the ones that differ are mapped by
`CONDA_TO_PIP`, and those with no pip equivalent (compilers, CUDA, system
libraries) are left out with a note.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from gitml.envs.versions import canonical_name
from gitml.errors import ProjectFileError

# Conda package name → PyPI name, for the names that differ.
CONDA_TO_PIP = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "matplotlib-base": "matplotlib",
    "opencv": "opencv-python",
    "py-opencv": "opencv-python",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "tensorflow-base": "tensorflow",
    "pyqt": "PyQt5",
}
# Conda packages with nothing to install from PyPI: the interpreter, pip itself,
# compilers, CUDA and system libraries.
CONDA_ONLY = {
    "python",
    "pip",
    "cudatoolkit",
    "cuda-toolkit",
    "cuda-version",
    "cudnn",
    "nccl",
    "cpuonly",
    "mkl",
    "blas",
    "libblas",
    "openblas",
    "nomkl",
    "libgcc",
    "libgcc-ng",
    "libstdcxx-ng",
    "_libgcc_mutex",
    "_openmp_mutex",
    "ld_impl_linux-64",
    "ca-certificates",
    "openssl",
    "zlib",
    "xz",
    "bzip2",
    "sqlite",
    "readline",
    "tk",
    "ncurses",
    "libffi",
    "libuuid",
    "tzdata",
}
_CONDA_DEP = re.compile(r"^(?:[\w.\-/]+::)?(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class EnvSpec:
    """What an environment must contain, read from one spec file."""

    path: Path
    kind: str  # "conda" (conda.yaml) or "python_env" (python_env.yaml)
    python: str | None  # a version prefix ("3.11", "3.11.7") or a range (">=3.9")
    conda_dependencies: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    hash: str = ""
    skipped_for_pip: tuple[str, ...] = field(default=())

    @property
    def record_name(self) -> str:
        """The file name the run record keeps the spec under."""
        return "python_env.yaml" if self.kind == "python_env" else "conda.yaml"

    def pip_requirements(self) -> list[str]:
        """Requirement lines for pip: the pip section plus the conda deps pip can install."""
        return [*_conda_deps_for_pip(self.path, self.conda_dependencies), *self.pip]


def read_spec(path: Path) -> EnvSpec:
    """Read and check a conda.yaml or python_env.yaml; errors name the file."""
    from gitml.documents import load_yaml_file

    data = load_yaml_file(path, ProjectFileError)
    if not isinstance(data, dict):
        raise ProjectFileError(str(path), "an environment spec must be a mapping")
    if "python" in data and "channels" not in data:  # MLflow's python_env.yaml
        return _python_env(path, data)
    return _conda_env(path, data)


def _conda_env(path: Path, data: dict) -> EnvSpec:
    deps = data.get("dependencies")
    if not isinstance(deps, list) or not deps:
        raise ProjectFileError(
            str(path),
            "has no `dependencies` list; add one, e.g. dependencies: [python=3.11, pip]",
        )
    python = None
    conda: list[str] = []
    pip: list[str] = []
    for item in deps:
        if isinstance(item, dict) and set(item) == {"pip"}:
            if not isinstance(item["pip"], list):
                raise ProjectFileError(str(path), "the `pip:` entry must be a list of requirements")
            pip.extend(str(line).strip() for line in item["pip"])
        elif isinstance(item, str | int | float):
            text = str(item).strip()
            name, rest = _split_dep(path, text)
            if canonical_name(name) == "python":
                python = _python_constraint(rest) or None
            else:
                conda.append(text)
        else:
            raise ProjectFileError(
                str(path), f"dependency {item!r} is neither a package nor a `pip:` list"
            )
    channels = data.get("channels") or []
    if not isinstance(channels, list):
        raise ProjectFileError(str(path), "`channels` must be a list")
    return _finish(
        EnvSpec(path, "conda", python, tuple(conda), tuple(pip), tuple(map(str, channels)))
    )


def _python_env(path: Path, data: dict) -> EnvSpec:
    extra = data.get("build_dependencies") or []
    deps = data.get("dependencies") or []
    if not isinstance(extra, list) or not isinstance(deps, list):
        raise ProjectFileError(str(path), "build_dependencies and dependencies must be lists")
    python = str(data["python"]).strip() if data.get("python") is not None else None
    return _finish(EnvSpec(path, "python_env", python, (), tuple(map(str, extra + deps))))


def _finish(spec: EnvSpec) -> EnvSpec:
    normalized = normalize(spec)
    digest = hashlib.sha256(json.dumps(normalized, sort_keys=True).encode()).hexdigest()
    skipped = tuple(
        d
        for d in spec.conda_dependencies
        if _pip_name(d) is None
        and canonical_name(_split_dep(spec.path, d)[0]) not in ("pip", "python")
    )
    return replace(spec, hash=digest, skipped_for_pip=skipped)


def normalize(spec: EnvSpec) -> dict:
    """The parts of a spec that decide the environment, in a canonical form."""
    return {
        "python": spec.python,
        "channels": list(spec.channels),  # order matters to conda
        "conda": sorted({" ".join(d.split()) for d in spec.conda_dependencies}),
        "pip": sorted({" ".join(line.split()) for line in spec.pip if line}),
    }


def _split_dep(path: Path, text: str) -> tuple[str, str]:
    match = _CONDA_DEP.match(text)
    if not match:
        raise ProjectFileError(str(path), f"dependency {text!r} is not a package spec")
    return match["name"], match["rest"].strip()


def _python_constraint(rest: str) -> str:
    """`=3.11`, `==3.11.7`, `3.11`, `>=3.9` → "3.11", "3.11.7", "3.11", ">=3.9"."""
    rest = rest.strip()
    if rest.startswith("==") or (rest.startswith("=") and not rest.startswith("=>")):
        rest = rest.lstrip("=").split("=")[0]
    elif rest and rest[0].isdigit():
        rest = rest.split()[0]
    return rest.removesuffix(".*")


def _pip_name(dep: str) -> str | None:
    match = _CONDA_DEP.match(dep)
    name = canonical_name(match["name"]) if match else dep
    if name in map(canonical_name, CONDA_ONLY):
        return None
    pip_names = {canonical_name(conda): pip for conda, pip in CONDA_TO_PIP.items()}
    return pip_names.get(name, name)


def _conda_deps_for_pip(path: Path, deps: tuple[str, ...]) -> list[str]:
    lines = []
    for dep in deps:
        pip_name = _pip_name(dep)
        if pip_name is None:
            continue
        rest = _split_dep(path, dep)[1]
        lines.append(pip_name + _conda_version_for_pip(rest))
    return lines


def _conda_version_for_pip(rest: str) -> str:
    """Conda's `=1.26` (any 1.26.x) is pip's `==1.26.*`; a build string is dropped."""
    if not rest:
        return ""
    if rest[0].isdigit():  # "1.26.4 py311_0": version then build
        rest = "=" + rest.split()[0]
    if rest.startswith("==") or (rest.startswith("=") and not rest.startswith("=>")):
        version = rest.lstrip("=").split("=")[0]
        if rest.startswith("==") or version.endswith("*"):
            return "==" + version
        return f"=={version}.*"
    return rest  # >=, <, !=, ~= and commas mean the same to pip


def export_current(name: str) -> str:
    """A conda.yaml text for this interpreter: its Python version and pip packages.

    Editable installs (the project itself) and pip are left out.
    """
    import platform
    from importlib import metadata

    import yaml

    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        package = dist.metadata["Name"]
        if not package or canonical_name(package) == "pip" or _is_editable(dist):
            continue
        packages.setdefault(canonical_name(package), f"{package}=={dist.version}")
    data = {
        "name": name,
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={platform.python_version()}",
            "pip",
            {"pip": sorted(packages.values(), key=str.lower)},
        ],
    }
    return yaml.safe_dump(data, sort_keys=False)


def _is_editable(dist) -> bool:
    """Installed from a source folder (pip -e): not reinstallable from an index."""
    if Path(str(dist.locate_file(""))).name not in ("site-packages", "dist-packages"):
        return True  # metadata in a source checkout (legacy develop install)
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return False
    return bool(direct.get("dir_info", {}).get("editable"))
