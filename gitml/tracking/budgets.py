"""How many run refs a repository, and a remote, keep before older runs are folded
into archive commits (docs/sharing.md#scale): two git config settings, read without
the folding machinery, so that `gitml push` learns the remote's budget cheaply."""

from __future__ import annotations

from gitml.errors import InvalidValueError
from gitml.store.config import read_config
from gitml.store.repository import Repository

LIVE_RUNS = "gitml.liveRuns"  # git config: the run refs kept before folding starts
DEFAULT_LIVE_RUNS = 2000
REMOTE_LIVE_RUNS = "gitml.remoteLiveRuns"  # git config: the run refs `gitml push` leaves a remote
DEFAULT_REMOTE_LIVE_RUNS = 32


def live_runs_budget(repo: Repository) -> int:
    """How many run refs a repository keeps before `gitml run` folds older runs."""
    return _budget(repo, LIVE_RUNS, DEFAULT_LIVE_RUNS)


def remote_live_runs_budget(repo: Repository) -> int:
    """How many run refs `gitml push` leaves a remote before it folds the older of them:
    every `git push` to that remote reads each (docs/sharing.md#scale)."""
    return _budget(repo, REMOTE_LIVE_RUNS, DEFAULT_REMOTE_LIVE_RUNS)


def _budget(repo: Repository, key: str, default: int) -> int:
    value = read_config(repo).get(key)
    if value is None:
        return default
    try:
        budget = int(value)
    except ValueError:
        budget = -1
    if budget < 1:
        raise InvalidValueError(f"{key} is {value!r}; set a positive number of runs")
    return budget
