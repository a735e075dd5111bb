"""Which remote to talk to, and the fetch refspec that lets plain `git fetch` bring runs."""

from pathlib import Path

from gitml.errors import GitCommandError, NoRemoteError
from gitml.sharing.refspecs import FETCH_KINDS, OLD_FETCH_ALL
from gitml.store.config import read_config
from gitml.store.gitcmd import run_git
from gitml.store.repository import Repository, read_head
from gitml.values import check_text

_REMOTE_HINT = "name a remote of `git remote -v`, or give a URL or path"


def check_remote(text: str) -> str:
    """`text` if it can name a remote. A remote reaches git as an argument (after `--`
    as well): one beginning with '-' is refused, as git refuses such host names."""
    return check_text("remote", text, _REMOTE_HINT, option_like=True)


def remote_config(repo: Repository) -> dict[str, list[str]]:
    """Every `remote.*` and `branch.*` setting: `remote.<name>.<variable>` → values,
    the weakest first (the last one is in force). Remote and branch names keep their
    case; variable names are lowercased, as git prints them."""
    config = read_config(repo)
    found: dict[str, list[str]] = {}
    for section in ("remote", "branch"):
        for name, variables in config.subsections(section).items():
            for variable, values in variables.items():
                found[f"{section}.{name}.{variable}"] = values
    return found


def remote_names(config: dict[str, list[str]]) -> set[str]:
    names = set()
    for key in config:
        if key.startswith("remote.") and key.endswith((".url", ".pushurl")):
            names.add(key[len("remote.") : key.rindex(".")])
    return names


def choose_remote(repo: Repository, wanted: str | None) -> str:
    """`wanted` when given (a remote name, URL or path); else the current branch's
    upstream remote; else `origin`; else a clear error."""
    if wanted is not None:
        check_remote(wanted)
    if wanted and _looks_like_location(repo, wanted):
        return wanted
    config = remote_config(repo)
    names = remote_names(config)
    if wanted:
        if wanted in names:
            return wanted
        known = ", ".join(sorted(names)) or "none"
        raise NoRemoteError(f"no remote named '{wanted}' (remotes: {known})")
    branch = read_head(repo)[0] if repo.root is not None else None
    if branch:
        upstream = config.get(f"branch.{branch}.remote", [None])[-1]
        if upstream and upstream != ".":
            return upstream
    if "origin" in names:
        return "origin"
    raise NoRemoteError(
        "no remote to use: the current branch has no upstream and there is no 'origin'"
    )


def is_remote(repo: Repository, text: str) -> bool:
    """Whether `text` names a remote (configured name, URL or path) rather than a run;
    text that can name neither (`-x`, a newline) is refused as a remote."""
    check_remote(text)
    return _looks_like_location(repo, text) or text in remote_names(remote_config(repo))


def _looks_like_location(repo: Repository, text: str) -> bool:
    """A URL (`scheme://`, scp-like `host:path`), a path, or a bare name that is a git
    repository here (a file or folder that is no repository, like `src`, is no remote)."""
    if ":" in text or "/" in text:
        return True
    path = Path(repo.cwd) / text
    return (path / "HEAD").is_file() or (path / ".git").exists()


def prunes_on_fetch(repo: Repository, remote: str) -> bool:
    """Whether plain `git fetch REMOTE` prunes (`remote.<name>.prune`, else `fetch.prune`)."""
    config = read_config(repo)
    return config.get_bool(f"remote.{remote}.prune", config.get_bool("fetch.prune", False))


def add_fetch_refspec(repo: Repository, remote: str) -> bool:
    """Make plain `git fetch REMOTE` bring runs; False when it already does.

    Only a fetch refspec is added: what plain `git push` sends by default is
    unchanged (it follows `push.default`, not fetch refspecs).
    """
    config = remote_config(repo)
    if remote not in remote_names(config):
        known = ", ".join(sorted(remote_names(config))) or "none"
        raise NoRemoteError(f"no remote named '{remote}' (remotes: {known})")
    key = f"remote.{remote}.fetch"
    present = config.get(key, [])
    missing = [spec for spec in FETCH_KINDS if spec not in present]
    if not missing and OLD_FETCH_ALL not in present:
        return False
    try:
        for spec in missing:
            run_git(["config", "--add", key, spec], repo.cwd)
        if OLD_FETCH_ALL in present:
            run_git(["config", "--unset-all", "--fixed-value", key, OLD_FETCH_ALL], repo.cwd)
    except GitCommandError as error:
        raise NoRemoteError(f"cannot configure remote '{remote}': {error}") from error
    return True
