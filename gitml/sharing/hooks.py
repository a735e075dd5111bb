"""Install, remove and describe the git hooks shipped in gitml's `hooks/` folder.

A hook is installed where git will run it (`core.hooksPath` when set, else
`.git/hooks`). A hook that was there before is never destroyed: it is renamed
to `<hook>.gitml-chained`, gitml's hook runs it first with the same arguments
and input, and uninstalling renames it back, so it returns byte for byte
(same file, same mode; a symlink stays a symlink).
"""

import contextlib
import os
import shlex
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from gitml.errors import GitmlError
from gitml.store.gitcmd import git_output
from gitml.store.repository import Repository

HOOK_NAMES = ("pre-push",)
MARKER = b"gitml-managed-hook"
CHAINED_SUFFIX = ".gitml-chained"
PYTHON_PLACEHOLDER = "@GITML_PYTHON@"
SHARE_FOLDER = Path("share") / "gitml" / "hooks"


class HookError(GitmlError):
    """A hook cannot be installed or removed as asked."""


@dataclass(frozen=True)
class HookStatus:
    name: str
    path: Path
    installed: bool  # gitml's hook is in place
    chained: Path | None  # the user's earlier hook, run first by gitml's
    other: bool  # a hook that is not gitml's is in place
    enabled: bool  # not switched off with `git config gitml.prePush false`

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "installed": self.installed,
            "chained": str(self.chained) if self.chained else None,
            "other": self.other,
            "enabled": self.enabled,
        }


def hooks_dir(repo: Repository) -> Path:
    """Where git looks for hooks: `core.hooksPath` when set, else `.git/hooks`."""
    path = Path(git_output(["rev-parse", "--git-path", "hooks"], repo.cwd))
    return path if path.is_absolute() else Path(repo.cwd) / path


def shipped_hook(name: str) -> Path:
    """The hook file shipped with gitml: in a source checkout beside the package,
    in an installed wheel under `<prefix>/share/gitml/hooks`."""
    candidates = [Path(__file__).resolve().parents[2] / "hooks" / name]  # a source checkout
    for scheme in (None, f"{os.name}_user"):
        try:
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:
            continue
        candidates.append(Path(data) / SHARE_FOLDER / name)
    for path in candidates:
        if path.is_file() and MARKER in path.read_bytes():
            return path
    raise HookError(
        f"gitml's {name} hook is missing from this installation (looked in "
        f"{', '.join(str(p.parent) for p in candidates)}); reinstall gitml"
    )


def hook_status(repo: Repository, name: str = "pre-push") -> HookStatus:
    _check_name(name)
    path = hooks_dir(repo) / name
    chained = path.with_name(name + CHAINED_SUFFIX)
    installed = _is_ours(path)
    return HookStatus(
        name=name,
        path=path,
        installed=installed,
        chained=chained if installed and os.path.lexists(chained) else None,
        other=os.path.lexists(path) and not installed,
        enabled=_enabled(repo),
    )


def install_hook(repo: Repository, name: str = "pre-push") -> HookStatus:
    """Put gitml's hook in place, keeping any earlier hook as the chained one."""
    status = hook_status(repo, name)
    chained = status.path.with_name(name + CHAINED_SUFFIX)
    if status.other and os.path.lexists(chained):
        raise HookError(f"both {status.path} and {chained} exist; move one of them away and retry")
    text = shipped_hook(name).read_text()
    text = text.replace(PYTHON_PLACEHOLDER, shlex.quote(sys.executable))
    temporary = status.path.with_name(f".{name}.gitml-{os.getpid()}")
    try:
        status.path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text)
        temporary.chmod(0o755)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise HookError(
            f"cannot write hooks into {status.path.parent} ({error.strerror}); "
            "check core.hooksPath (git config core.hooksPath)"
        ) from None
    if status.other:
        os.rename(status.path, chained)  # the user's hook, run first by gitml's
    os.replace(temporary, status.path)
    return hook_status(repo, name)


def uninstall_hook(repo: Repository, name: str = "pre-push") -> HookStatus:
    """Remove gitml's hook and put back the one it chained to, if any."""
    status = hook_status(repo, name)
    if not status.installed:
        raise HookError(f"gitml's {name} hook is not installed in {status.path.parent}")
    os.remove(status.path)
    if status.chained is not None:
        os.rename(status.chained, status.path)
    return hook_status(repo, name)


def _is_ours(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as file:
        return MARKER in file.read(200)


def _enabled(repo: Repository) -> bool:
    from gitml.store.config import read_config

    return read_config(repo).get_bool("gitml.prePush", True)


def _check_name(name: str) -> None:
    if name not in HOOK_NAMES:
        raise HookError(f"gitml ships no hook named {name!r} (it ships {', '.join(HOOK_NAMES)})")
