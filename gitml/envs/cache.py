"""The environment cache: `$XDG_CACHE_HOME/gitml/envs/<hash>`.

A virtual or conda environment cannot be moved once built (its scripts and
activation files name its own path), so "build elsewhere, then rename" does
not work for the environment itself. Each build gets its own folder,
`<name>.<token>`, and is published by renaming a symlink `<name>` onto it,
which is atomic. A build that is interrupted never gets its symlink, so it is
never reused; the next build of the same spec, or `gitml env prune`, deletes
it. Builds of the same spec take a lock, so a second process waits for the
first one and then finds it cached.
"""

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gitml.envs import VENV
from gitml.errors import EnvironmentBuildError

INFO_FILE = "gitml-env.json"
LAST_USED_FILE = "gitml-last-used"


@dataclass(frozen=True)
class CachedEnv:
    name: str
    path: Path  # the published name, a symlink
    info: dict

    @property
    def last_used(self) -> float:
        try:
            return (self.path / LAST_USED_FILE).stat().st_mtime
        except OSError:
            return self.info.get("created", 0)

    def size(self) -> int:
        total = 0
        for root, _, files in os.walk(self.path.resolve()):
            for file in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, file)).st_size
        return total


def user_cache_dir() -> Path:
    """gitml's per-user cache: `$XDG_CACHE_HOME/gitml` (default `~/.cache/gitml`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitml"


def cache_root() -> Path:
    return user_cache_dir() / "envs"


def entry_name(spec_hash: str, manager: str) -> str:
    return spec_hash[:16] if manager == VENV else f"{spec_hash[:16]}-{manager}"


def lookup(name: str, root: Path | None = None) -> CachedEnv | None:
    """The published environment `name`, or None when it is not (completely) built."""
    path = (root or cache_root()) / name
    try:
        info = json.loads((path / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return CachedEnv(name, path, info)


def mark_used(env: CachedEnv) -> None:
    with contextlib.suppress(OSError):
        (env.path / LAST_USED_FILE).touch()


@contextlib.contextmanager
def _locked(root: Path, name: str, wait: bool = True) -> Iterator[bool]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def get_or_build(
    name: str, info: dict, build: Callable[[Path], None], root: Path | None = None
) -> tuple[CachedEnv, bool]:
    """The cached environment `name`, built by `build(folder)` when missing.

    Returns the environment and whether it was built now. When `build` raises,
    its folder is removed and nothing is published.
    """
    root = root or cache_root()
    found = lookup(name, root)
    if found:
        return found, False
    with _locked(root, name):
        found = lookup(name, root)
        if found:
            return found, False
        _remove_unpublished(root, name)
        folder = root / f"{name}.{secrets.token_hex(4)}"
        folder.mkdir()
        published = {**info, "created": time.time()}
        try:
            build(folder)
            (folder / INFO_FILE).write_text(json.dumps(published))
            _publish(root, name, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return CachedEnv(name, root / name, published), True


def _publish(root: Path, name: str, folder: Path) -> None:
    link = root / f".{name}.link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(folder.name, link)
    os.replace(link, root / name)


def _remove_unpublished(root: Path, name: str) -> None:
    """Folders of earlier builds of `name` that were never published (interrupted)."""
    published = os.readlink(root / name) if (root / name).is_symlink() else None
    for path in root.glob(f"{name}.*"):
        if path.is_dir() and not path.is_symlink() and path.name != published:
            shutil.rmtree(path, ignore_errors=True)


def list_envs(root: Path | None = None) -> list[CachedEnv]:
    root = root or cache_root()
    if not root.is_dir():
        return []
    found = (lookup(p.name, root) for p in sorted(root.iterdir()) if p.is_symlink())
    return [env for env in found if env]


def find_env(prefix: str, root: Path | None = None) -> CachedEnv:
    """A cached environment by a prefix of its name (the spec hash)."""
    matches = [env for env in list_envs(root) if env.name.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise EnvironmentBuildError(
            f"no cached environment matches {prefix!r} (see `gitml env show`)"
        )
    names = ", ".join(env.name for env in matches)
    raise EnvironmentBuildError(f"{prefix!r} is ambiguous: it matches {names}")


def prune(
    root: Path | None = None, everything: bool = False, unused_days: float | None = None
) -> list[str]:
    """Delete interrupted builds, and environments unused for `unused_days` (or all).

    Returns the names of what was removed. A build in progress is left alone.
    """
    root = root or cache_root()
    if not root.is_dir():
        return []
    removed = []
    cutoff = time.time() - unused_days * 86400 if unused_days is not None else None
    names = {p.name.split(".")[0] for p in root.iterdir() if not p.name.startswith(".")}
    for name in sorted(names):
        with _locked(root, name, wait=False) as free:
            if not free:
                continue
            env = lookup(name, root)
            stale = env is not None and (everything or (cutoff and env.last_used < cutoff))
            if stale:
                target = root / os.readlink(root / name)
                (root / name).unlink()
                shutil.rmtree(target, ignore_errors=True)
                removed.append(name)
            leftovers = [p for p in root.glob(f"{name}.*") if not p.is_symlink()]
            published = os.readlink(root / name) if (root / name).is_symlink() else None
            for path in leftovers:
                if path.name != published:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
    return removed
