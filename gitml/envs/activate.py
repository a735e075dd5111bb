"""How a command is pointed at an environment: its `bin/` first on PATH.

A script in a venv or conda environment still logs with `import gitml`:
the child's PYTHONPATH gets a folder holding only a link to this gitml
package (its logging API needs nothing outside the standard library), so the
environment's own packages stay exactly what its spec installed.
"""

import contextlib
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Activation:
    """The environment a run's command executes in."""

    manager: str  # local, venv or conda
    python: str  # the environment's interpreter
    prefix: Path | None = None  # None for local: the environment gitml runs in

    @classmethod
    def local(cls) -> "Activation":
        return cls("local", os.path.realpath(sys.executable))

    def apply(self, environ: dict[str, str]) -> dict[str, str]:
        """A copy of `environ` in which `python` (and the env's scripts) come from the env."""
        env = dict(environ)
        if self.prefix is None:
            return env
        env["PATH"] = os.pathsep.join([str(self.prefix / "bin"), environ.get("PATH", "")])
        env.pop("PYTHONHOME", None)
        env["CONDA_PREFIX" if self.manager == "conda" else "VIRTUAL_ENV"] = str(self.prefix)
        shim = str(gitml_import_folder())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [environ.get("PYTHONPATH"), shim]))
        return env

    @property
    def search_path(self) -> str | None:
        """The PATH the command is looked up on (None: the current one)."""
        return self.apply(dict(os.environ))["PATH"] if self.prefix else None


def gitml_import_folder() -> Path:
    """A folder whose only entry is a link to this gitml package."""
    from gitml.envs.cache import cache_root

    package = Path(__file__).resolve().parent.parent
    key = hashlib.sha256(str(package).encode()).hexdigest()[:12]
    folder = cache_root().parent / "pythonpath" / key
    if (folder / "gitml").resolve() != package:
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / f".gitml-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(package, link)
        os.replace(link, folder / "gitml")
    return folder
