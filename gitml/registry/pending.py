"""Which registry events were written here and not yet pushed anywhere.

Only such events may be renumbered when a remote has used their counters:
an event already pushed to one remote (a fork, a backup) must keep its name,
or the renamed copy would reach that remote beside the original. The names
are kept in `<git common dir>/gitml/registry-pending`, one per line, changed
only under the registry's lock. Without that file (events written by an older
gitml), every local event the remote lacks counts as pending.
"""

import os

from gitml.store.layout import REGISTRY_PENDING_FILE
from gitml.store.repository import Repository


def pending_events(repo: Repository) -> set[str] | None:
    """Names of the events written here and never pushed; None when nobody kept count."""
    try:
        text = _path(repo).read_text()
    except FileNotFoundError:
        return None
    return set(text.split())


def add_pending(repo: Repository, names: list[str]) -> None:
    path = _path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as file:
        file.write("".join(f"{name}\n" for name in names))


def remove_pending(repo: Repository, names: list[str]) -> None:
    """Forget `names` (pushed, or renamed): the file is rewritten whole, then renamed."""
    current = pending_events(repo)
    if not current or not current.intersection(names):
        return
    path = _path(repo)
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    temporary.write_text("".join(f"{name}\n" for name in sorted(current.difference(names))))
    os.replace(temporary, path)


def _path(repo: Repository):
    return repo.state_dir / REGISTRY_PENDING_FILE
