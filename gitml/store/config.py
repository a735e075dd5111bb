"""git config, read by git itself (`git config --list -z --show-origin`): once per repository.

Every setting gitml reads (identity, `gitml.*`, remotes) comes through
`read_config`; `extensions.*`, which git reads from the repository's own file
only, through `repository_extension`. git applies its own rules: quoting, every
file it reads (the system, global and repository files, `git -c` overrides,
GIT_CONFIG_COUNT), includes and `includeIf` conditions. One git process costs less
than a parser's import (dulwich's config module and its logging cost more than the
interpreter's own start), and no rule of git's is copied here.

The answer is kept per repository and read again only when one of those files
or variables changes (a `stat` each), so a command that asks ten settings
starts git once.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitml.errors import GitConfigError
from gitml.store.repository import Repository

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
    """Settings as git lists them: (name, value) pairs, the weakest first. A name's
    section and variable are lower case, its subsection as written (`remote.My.url`)."""

    def __init__(self, entries: list[tuple[str, str]]):
        self._values: dict[str, list[str]] = {}
        for name, value in entries:
            self._values.setdefault(name, []).append(value)

    def get(self, name: str) -> str | None:
        """The value of `name` (`user.name`, `remote.origin.url`) as git gives it, or None."""
        values = self.get_all(name)
        return values[-1] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, the weakest file first (as `git config --get-all`)."""
        return list(self._values.get(_canonical(name), []))

    def get_bool(self, name: str, default: bool) -> bool:
        """`name` read as git reads a boolean; `default` when unset or not a boolean."""
        value = self.get(name)
        return default if value is None else parse_bool(value, default)

    def subsections(self, section: str) -> dict[str, dict[str, list[str]]]:
        """For `remote`: {remote name: {variable: values, weakest first}}."""
        found: dict[str, dict[str, list[str]]] = {}
        for name, values in self._values.items():
            first, last = name.find("."), name.rfind(".")
            if first != last and name[:first] == section:
                found.setdefault(name[first + 1 : last], {})[name[last + 1 :]] = list(values)
        return found


def read_config(repo: Repository) -> GitConfig:
    """The repository's git config, read once and kept until a file of it changes (an
    included file, and HEAD when an `onbranch:` condition depends on it, count too)."""
    cached = _cache.get(repo)
    if cached is not None and cached[1] == _stamp(cached[0]):
        return cached[2]
    paths = _config_paths(repo)
    before = [_stat(path) for path in paths]  # a change while git reads is seen next time
    listed = _list(repo.cwd, [])
    included = _dependencies(repo, listed)
    stats = (*before, *(_stat(path) for path in included))
    watched, stamp = [*paths, *included], (stats, tuple(map(os.environ.get, _ENV_NAMES)))
    config = GitConfig([(name, value) for _, name, value in listed])
    _cache[repo] = (watched, stamp, config)
    return config


def _stamp(paths: list[Path]) -> tuple:
    return tuple(_stat(path) for path in paths), tuple(map(os.environ.get, _ENV_NAMES))


def _list(cwd: str, options: list[str]) -> list[tuple[str, str, str]]:
    """(origin, name, value) of every setting `git config --list` gives, weakest first.
    A variable without `=` (`[core] bare`) is true, as git reads it."""
    from gitml.store.gitcmd import run_git

    done = run_git(["config", "--list", "-z", "--show-origin", *options], cwd, check=False)
    if done.returncode != 0:
        raise _config_error(done.stderr.decode(errors="replace"))
    fields = done.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    entries = []
    for origin, item in zip(fields[0:-1:2], fields[1:-1:2], strict=True):
        name, newline, value = item.partition("\n")
        entries.append((origin, name, value if newline else "true"))
    return entries


def _config_error(stderr: str) -> GitConfigError:
    """git's complaint about a config file or variable, naming what to fix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    complaint = next((line for line in lines if not line.startswith("fatal: unable to")), "")
    complaint = complaint.partition(": ")[2] or complaint or "git config failed"
    source, marker, _ = complaint.rpartition(" in file ")
    if marker:
        path = complaint[len(source) + len(marker) :].split(" at line ")[0].strip("'")
        return GitConfigError(path, complaint)
    # no file: the settings given in the environment (`git -c`, GIT_CONFIG_COUNT)
    given = [name for name in ("GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT") if name in os.environ]
    return GitConfigError(" or ".join(given) or "settings", complaint)


def _dependencies(repo: Repository, listed: list[tuple[str, str, str]]) -> list[Path]:
    """The files a config also depends on: those its `include.path` and
    `includeIf.*.path` name (relative ones from the including file's folder), whether
    their condition holds or not, and HEAD when a condition is `onbranch:`."""
    found: list[Path] = []
    for origin, name, value in listed:
        conditional = name.startswith("includeif.") and name.endswith(".path")
        if name != "include.path" and not conditional:
            continue
        if name.startswith("includeif.onbranch:"):
            found.append(repo.git_dir / "HEAD")
        including = Path(repo.cwd, origin.removeprefix("file:")).parent
        found.append(including / Path(value).expanduser())
    return found


def repository_extension(repo: Repository, name: str) -> str | None:
    """`extensions.<name>` (e.g. refStorage): git takes these from the repository's own
    config file only, includes and other files left out. A file that never spells the
    name is answered without starting git, which keeps listing runs fast."""
    path = repo.common_dir / "config"
    try:
        if name.lower().encode() not in path.read_bytes().lower():
            return None
    except OSError:
        return None
    listed = _list(repo.cwd, ["--file", str(path), "--no-includes"])
    return GitConfig([(key, value) for _, key, value in listed]).get(f"extensions.{name}")


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
    paths = [repo.git_dir / "config.worktree", repo.common_dir / "config"]
    if "GIT_CONFIG_GLOBAL" in os.environ:
        paths.append(Path(os.environ["GIT_CONFIG_GLOBAL"]).expanduser())
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join("~", ".config")
        paths += [Path("~/.gitconfig").expanduser(), Path(xdg, "git", "config").expanduser()]
    if not parse_bool(os.environ.get("GIT_CONFIG_NOSYSTEM", "false"), True):
        paths.append(Path(os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig"))
    return paths


def _canonical(name: str) -> str:
    """A name as git lists it: `Remote.My.URL` → `remote.My.url` (section and variable
    names are case-insensitive, a subsection is not)."""
    first, last = name.find("."), name.rfind(".")
    if first < 0:
        return name.lower()
    return f"{name[:first].lower()}{name[first:last]}{name[last:].lower()}"


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
