"""How a command is pointed at an environment, and lent gitml's logging API.

A venv or conda environment goes first on the command's PATH. Whatever Python
the command runs (an environment's, the user's own, any manager's), a script in
it logs with `import gitml`: the child's PYTHONPATH ends with a folder holding
only a link to this gitml package (its logging API needs nothing outside the
standard library) and the entry points of its MLflow plugins, so that an MLflow
script logs into the run too. It comes after the user's own PYTHONPATH entries, so a gitml
they put there wins; the environment's packages stay exactly what they were.
"""

import contextlib
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gitml.envs import CONDA, LOCAL


@dataclass(frozen=True)
class Activation:
    """The environment a run's command executes in."""

    manager: str  # local, venv or conda
    python: str  # the environment's interpreter
    prefix: Path | None = None  # None for local: the environment gitml runs in

    @classmethod
    def local(cls) -> "Activation":
        return cls(LOCAL, sys.executable)

    def apply(self, environ: dict[str, str], with_gitml: bool = True) -> dict[str, str]:
        """A copy of `environ` in which `python` (and the env's scripts) come from the env
        and, `with_gitml`, `import gitml` finds this gitml when nothing else provides it."""
        env = dict(environ)
        if self.prefix is not None:
            env["PATH"] = os.pathsep.join([str(self.prefix / "bin"), environ.get("PATH", "")])
            env.pop("PYTHONHOME", None)
            env["CONDA_PREFIX" if self.manager == CONDA else "VIRTUAL_ENV"] = str(self.prefix)
        shim = gitml_import_folder() if with_gitml else None
        if shim is not None:
            entries = [environ.get("PYTHONPATH"), str(shim)]
            env["PYTHONPATH"] = os.pathsep.join(filter(None, entries))
        return env

    @property
    def search_path(self) -> str | None:
        """The PATH the command is looked up on (None: the current one)."""
        return self.apply(dict(os.environ), with_gitml=False)["PATH"] if self.prefix else None


def gitml_import_folder() -> Path | None:
    """A folder whose only entry is a link to this gitml package; None when it cannot
    be made (a read-only cache): the command then imports whatever gitml it has."""
    from gitml.envs.cache import cache_root

    package = Path(__file__).resolve().parent.parent
    key = hashlib.sha256(str(package).encode()).hexdigest()[:12]
    folder = cache_root().parent / "pythonpath" / key
    if (folder / "gitml").resolve() != package:
        link = folder / f".gitml-{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            os.symlink(package, link)
            os.replace(link, folder / "gitml")
        except OSError:
            return None
    _lend_entry_points(folder)
    return folder


_LENT_DIST = "gitml_lent-0.dist-info"  # named apart from gitml's own, which may be there too


def _lend_entry_points(folder: Path) -> None:
    """Lend MLflow the entry points of gitml's plugins too (`gitml:` URIs,
    docs/mlflow.md): Python finds them in a `.dist-info` folder on the path, so an
    MLflow script in an environment without gitml installed logs into the run. They
    are read from this gitml's installed metadata (none when it runs from a source
    tree that was never installed)."""
    from importlib import metadata

    try:
        points = list(metadata.distribution("gitml").entry_points)
    except metadata.PackageNotFoundError:
        points = []
    groups: dict[str, list[str]] = {}
    for point in points:
        if point.group.startswith("mlflow."):
            groups.setdefault(point.group, []).append(f"{point.name} = {point.value}")
    text = "".join(f"[{group}]\n" + "\n".join(lines) + "\n\n" for group, lines in groups.items())
    dist = folder / _LENT_DIST
    try:
        if (dist / "entry_points.txt").read_text() == text:
            return
    except OSError:
        pass
    tmp = folder / f".{_LENT_DIST}-{os.getpid()}"
    try:
        tmp.mkdir(exist_ok=True)
        (tmp / "METADATA").write_text("Metadata-Version: 2.1\nName: gitml-lent\nVersion: 0\n")
        (tmp / "entry_points.txt").write_text(text)
        if dist.exists():
            import shutil

            shutil.rmtree(dist, ignore_errors=True)
        os.replace(tmp, dist)
    except OSError:
        pass  # a read-only cache: MLflow scripts then need gitml installed
