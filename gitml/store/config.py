"""git config, read as git reads it, by dulwich's parser: once per repository.

Every setting gitml reads (identity, `gitml.*`, remotes) comes through
`read_config`; `extensions.*`, which git reads from the repository's own file
only, through `repository_extension`. Files, the strongest first: `git -c` overrides
(GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT), the repository's `config`, the
global file (`GIT_CONFIG_GLOBAL`, else `~/.gitconfig` over
`$XDG_CONFIG_HOME/git/config`), the system file (`GIT_CONFIG_SYSTEM`, else
`/etc/gitconfig`; none with `GIT_CONFIG_NOSYSTEM`). Includes and `includeIf`
`gitdir:` / `onbranch:` conditions are followed.

The answer is kept per repository and read again only when one of those files
or variables changes (a `stat` each), so a command that asks ten settings
parses the files once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gitml.errors import GitConfigError
from gitml.store.repository import Repository, read_head

if TYPE_CHECKING:
    from dulwich.config import ConfigFile

_ENV_NAMES = (
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "HOME",
    "XDG_CONFIG_HOME",
)
# per repository: the files whose change invalidates it, their stamp, the config
_cache: dict[Repository, tuple[list[Path], tuple, GitConfig]] = {}


class GitConfig:
    """Settings from a stack of config files, the strongest first."""

    def __init__(self, files: list[ConfigFile]):
        self._files = files

    def get(self, name: str) -> str | None:
        """The value of `name` (`user.name`, `remote.origin.url`) as git gives it, or None."""
        values = self.get_all(name)
        return values[-1] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, the weakest file first (as `git config --get-all`)."""
        section, key = _split_name(name)
        values: list[str] = []
        for file in reversed(self._files):
            try:
                values.extend(_text(value) for value in file.get_multivar(section, key))
            except KeyError:
                continue
        return values

    def get_bool(self, name: str, default: bool) -> bool:
        """`name` read as git reads a boolean; `default` when unset or not a boolean."""
        value = self.get(name)
        return default if value is None else parse_bool(value, default)

    def subsections(self, section: str) -> dict[str, dict[str, list[str]]]:
        """For `remote`: {remote name: {variable: values, weakest first}}."""
        found: dict[str, dict[str, list[str]]] = {}
        for file in reversed(self._files):
            for names in file.sections():
                if len(names) != 2 or _text(names[0]).lower() != section:
                    continue
                variables = found.setdefault(_text(names[1]), {})
                for key, value in file.items(names):
                    variables.setdefault(_text(key).lower(), []).append(_text(value))
        return found


def read_config(repo: Repository) -> GitConfig:
    """The repository's git config, parsed once and kept until a file of it changes (an
    included file, and HEAD when an `onbranch:` condition depends on it, count too)."""
    cached = _cache.get(repo)
    if cached is not None and cached[1] == _stamp(cached[0]):
        return cached[2]
    paths = _config_paths(repo)
    read = _read_files(repo, paths)
    watched = [*paths, *_dependencies(repo, read)]
    stamp = _stamp(watched)
    config = GitConfig([*_override_files(), *(file for _, file in read)])
    _cache[repo] = (watched, stamp, config)
    return config


def _stamp(paths: list[Path]) -> tuple:
    return tuple(_stat(path) for path in paths), tuple(map(os.environ.get, _ENV_NAMES))


def _dependencies(repo: Repository, read: list[tuple[Path, ConfigFile]]) -> list[Path]:
    """The files a parsed config also depends on: those its `include.path` and
    `includeIf.*.path` name (relative ones from the including file's folder), and HEAD
    when a condition is `onbranch:`."""
    found: list[Path] = []
    for path, file in read:
        for names in file.sections():
            kind = _text(names[0]).lower()
            if kind not in ("include", "includeif"):
                continue
            if kind == "includeif" and len(names) > 1 and names[1].startswith(b"onbranch:"):
                found.append(repo.git_dir / "HEAD")
            for key, value in file.items(names):
                if key.lower() == b"path":
                    found.append(path.parent / Path(_text(value)).expanduser())
    return found


def repository_extension(repo: Repository, name: str) -> str | None:
    """`extensions.<name>` (e.g. refStorage): git takes these from the repository's own
    config file only, includes and other files left out. A file that never spells the
    name is answered without a parse, which keeps listing runs free of the parser."""
    path = repo.common_dir / "config"
    try:
        if name.lower().encode() not in path.read_bytes().lower():
            return None
    except OSError:
        return None
    from dulwich.config import ConfigFile

    try:
        file = ConfigFile.from_path(str(path), expand_includes=False)
    except (OSError, ValueError) as error:
        raise GitConfigError(str(path), str(error)) from None
    return GitConfig([file]).get(f"extensions.{name}")


def parse_bool(value: str, default: bool) -> bool:
    """git's booleans: true/yes/on/1 and false/no/off/0/empty, or any integer."""
    word = value.strip().lower()
    if word in ("true", "yes", "on"):
        return True
    if word in ("false", "no", "off", ""):
        return False
    try:
        return int(word) != 0
    except ValueError:
        return default


def _config_paths(repo: Repository) -> list[Path]:
    """The config files git reads for `repo`, the strongest first."""
    paths = [repo.common_dir / "config"]
    if "GIT_CONFIG_GLOBAL" in os.environ:
        paths.append(Path(os.environ["GIT_CONFIG_GLOBAL"]).expanduser())
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join("~", ".config")
        paths += [Path("~/.gitconfig").expanduser(), Path(xdg, "git", "config").expanduser()]
    if not parse_bool(os.environ.get("GIT_CONFIG_NOSYSTEM", "false"), True):
        paths.append(Path(os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig"))
    return paths


def _read_files(repo: Repository, paths: list[Path]) -> list[tuple[Path, ConfigFile]]:
    from dulwich.config import ConfigFile

    matchers = _condition_matchers(repo)
    files = []
    for path in paths:
        try:
            files.append((path, ConfigFile.from_path(str(path), condition_matchers=matchers)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, ValueError) as error:
            raise GitConfigError(str(path), str(error)) from None
    return files


def _override_files() -> list[ConfigFile]:
    """`git -c name=value` (as git passes it to hooks and aliases) and GIT_CONFIG_COUNT."""
    import shlex

    from dulwich.config import ConfigFile, env_config

    files = []
    parameters = os.environ.get("GIT_CONFIG_PARAMETERS")
    if parameters:
        file = ConfigFile()
        try:
            pairs = shlex.split(parameters)
        except ValueError:
            pairs = []
        for pair in pairs:
            name, _, value = pair.partition("=")
            if "." in name:
                section, key = _split_name(name)
                file.set(section, key, value.encode())
        files.append(file)
    try:
        counted = env_config(os.environ)
    except (KeyError, ValueError) as error:
        raise GitConfigError("GIT_CONFIG_COUNT", str(error)) from None
    return files + ([counted] if counted is not None else [])


def _condition_matchers(repo: Repository) -> dict:
    """`includeIf "gitdir:…"`, `"gitdir/i:…"` and `"onbranch:…"`, matched as git does."""
    from dulwich.config import match_glob_pattern

    git_dirs = {str(repo.git_dir), str(repo.git_dir.resolve())}

    def gitdir(pattern: str, fold: bool = False) -> bool:
        pattern = os.path.expanduser(pattern)
        if not pattern.startswith(("/", "**")):
            pattern = "**/" + pattern
        if pattern.endswith("/"):
            pattern += "**"
        if fold:
            return any(match_glob_pattern(d.lower(), pattern.lower()) for d in git_dirs)
        return any(match_glob_pattern(d, pattern) for d in git_dirs)

    def onbranch(pattern: str) -> bool:
        branch = read_head(repo)[0]
        if pattern.endswith("/"):
            pattern += "**"
        return branch is not None and match_glob_pattern(branch, pattern)

    return {
        "gitdir:": gitdir,
        "gitdir/i:": lambda pattern: gitdir(pattern, fold=True),
        "onbranch:": onbranch,
    }


def _split_name(name: str) -> tuple[tuple[bytes, ...], bytes]:
    """`remote.my.origin.url` → ((b"remote", b"my.origin"), b"url")."""
    first, last = name.index("."), name.rindex(".")
    key = name[last + 1 :].encode()
    if first == last:
        return (name[:first].encode(),), key
    return (name[:first].encode(), name[first + 1 : last].encode()), key


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="surrogateescape")
