"""Which runs exist: listing, names, resolving what a user typed (reading one:
`gitml.tracking.readers`).

Committed runs come from the run index (`gitml.tracking.index`, brought up to date
with the run refs first), runs still in progress from their staging folders. Nothing
here reads every run: a name, an id prefix or a run is one index lookup.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitml.errors import RunNotFoundError
from gitml.store.ids import could_be_id_prefix
from gitml.store.repository import Repository
from gitml.tracking.index import RunIndex, using_index
from gitml.tracking.record import RunSummary
from gitml.tracking.staged import staged_summary
from gitml.tracking.staging import Staging, runs_dir


def list_runs(
    repo: Repository, include_running: bool = True, known: Mapping[str, RunSummary] | None = None
) -> list[RunSummary]:
    """Every run, newest first: committed ones from the index, running ones from staging.

    `known` (id → summary), the committed runs of an earlier listing, spares parsing
    again those whose commit is the same (see `RunIndex.all_runs`)."""
    runs = using_index(repo, lambda index: index.all_runs(known))
    if include_running:
        runs.extend(running_runs(repo))
        runs.sort(key=lambda run: run.id, reverse=True)
    return runs


def running_runs(repo: Repository) -> list[RunSummary]:
    folder = runs_dir(repo.state_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        try:
            found.append(staged_summary(Staging(path)))
        except (OSError, ValueError, KeyError):
            continue  # being created or removed right now
    return found


def running_heads(repo: Repository) -> dict[str, dict]:
    """run id → head (`meta.json`: id, name, …) of every run in progress.

    Only the head is read: a run that has logged millions of points is not read
    whole to learn its name (resolving a run, naming a new one).
    """
    folder = runs_dir(repo.state_dir)
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        try:
            meta = Staging(path).meta
            if meta["id"] == path.name:
                found[path.name] = meta
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being created or removed right now
    return found


# names


class NamesInUse:
    """The names runs have, asked one at a time (`name in names`, `owner`): committed
    runs' in the index, those of runs in progress in their heads."""

    def __init__(self, repo: Repository, index: RunIndex):
        self.repo = repo
        self.index = index
        self._running: dict[str, str] | None = None  # name → id, read once for guesses

    def __contains__(self, name: object) -> bool:
        """Whether `name` is taken, as far as this object has seen (a guess to try)."""
        if not isinstance(name, str):
            return False
        if self._running is None:
            self._running = _running_names(self.repo)
        return name in self._running or bool(self.index.ids_named(name))

    def owner(self, name: str) -> str | None:
        """The id of a run named `name`, read now (after claiming it), or None."""
        committed = self.index.ids_named(name)
        if committed:
            return committed[0]
        self._running = _running_names(self.repo)
        return self._running.get(name)


def _running_names(repo: Repository) -> dict[str, str]:
    return {meta["name"]: run_id for run_id, meta in running_heads(repo).items()}


def run_names(repo: Repository, run_ids: list[str]) -> dict[str, str]:
    """run id → name, for those of `run_ids` that are runs (committed or running)."""
    names = using_index(repo, lambda index: index.names(run_ids))
    wanted = set(run_ids)
    for run_id, meta in running_heads(repo).items():
        if run_id in wanted:
            names[run_id] = meta["name"]
    return names


# resolving


def resolve(repo: Repository, text: str) -> RunSummary:
    """The one run whose name is `text`, else the one whose id starts with `text`.

    An exact name wins over id prefixes, as git prefers an exact ref name to an
    abbreviated sha: a run named `01m8` is found by that name even though it is
    also the prefix of every id of the day.
    """
    return using_index(repo, lambda index: _resolve(repo, index, text))


def _resolve(repo: Repository, index: RunIndex, text: str) -> RunSummary:
    running = running_heads(repo)
    # Names are unique among runs recorded here, but runs fetched from a clone may
    # share one: every run with that name is a candidate.
    matches = set(index.ids_named(text))
    matches.update(run_id for run_id, meta in running.items() if meta.get("name") == text)
    if not matches and could_be_id_prefix(text):
        matches.update(index.ids_starting(text))
        matches.update(run_id for run_id in running if run_id.startswith(text))
    if len(matches) > 1:
        raise RunNotFoundError(text, sorted(matches))
    if not matches:
        raise RunNotFoundError(text)
    (run_id,) = matches
    if run_id in running:
        path = runs_dir(repo.state_dir) / run_id
        try:
            return staged_summary(Staging(path))
        except FileNotFoundError:
            if path.exists():
                raise
            index.sync()  # committed since: its folder is gone
            return _resolve(repo, index, run_id)
    found = index.summary(run_id)
    if found is None:  # removed since it was listed
        raise RunNotFoundError(text)
    return found
