"""Which runs exist: listing, names, resolving what a user typed (reading one:
`gitml.tracking.readers`).

Committed runs come from `store.refs.list_run_refs`; runs still in progress
from their staging folders. Two disposable caches under `.git/gitml/cache/`
(rebuilt from refs whenever needed) spare reading every run commit: run id →
name, so that a new run picks an unused name, and run id → summary for listing.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from gitml.errors import RunNotFoundError
from gitml.store.ids import could_be_id_prefix
from gitml.store.layout import NAMES_CACHE, SUMMARIES_CACHE
from gitml.store.refs import MAX_MESSAGE_BYTES, RunRef, list_run_ids, list_run_refs, run_ids
from gitml.store.repository import Repository
from gitml.tracking.record import (
    RunSummary,
    damaged_summary,
    parse_message,
    summary_from_json,
)
from gitml.tracking.staged import staged_summary
from gitml.tracking.staging import Staging, runs_dir

_BATCH_LIMIT = 256  # beyond this many unknown ids, one full listing is cheaper


def list_runs(repo: Repository, include_running: bool = True) -> list[RunSummary]:
    """Every run, newest first: committed ones from refs, running ones from staging."""
    runs = committed_runs(repo)
    if include_running:
        runs.extend(running_runs(repo))
        runs.sort(key=lambda run: run.id, reverse=True)
    return runs


def committed_runs(repo: Repository) -> list[RunSummary]:
    """Every committed run, newest first.

    Runs are immutable, so their summaries are cached by id in
    `.git/gitml/cache/summaries.json`; only runs new to the cache have their
    commit messages read (at 10,000 runs: ~0.2 s instead of ~0.6 s).
    """
    ids = list_run_ids(repo)
    cache = _read_json_cache(repo, SUMMARIES_CACHE)
    missing = [run_id for run_id in ids if run_id not in cache]
    if missing:
        wanted = None if len(missing) > _BATCH_LIMIT else missing
        for summary in _summaries(repo, wanted):
            cache[summary.id] = summary.to_json()
    current = {run_id: cache[run_id] for run_id in ids if run_id in cache}
    if missing or len(current) != len(cache):
        _write_json_cache(repo, SUMMARIES_CACHE, current)
    return [summary_from_json(data) for data in current.values()]


def _read_json_cache(repo: Repository, name: str) -> dict:
    try:
        return json.loads((repo.state_dir / name).read_text())
    except (OSError, ValueError):
        return {}


def _write_json_cache(repo: Repository, name: str, data: dict) -> None:
    _write_cache(repo.state_dir / name, json.dumps(data, ensure_ascii=False))


def _write_cache(path: Path, text: str) -> None:
    """Replace a cache file whole, or leave it as it was when it cannot be written.

    Caches are disposable: a `.git/gitml` this user may not write (another user's
    repository) must not stop read-only commands, which then read the refs each time.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _summaries(repo: Repository, run_ids: list[str] | None = None) -> list[RunSummary]:
    return [summary_of_ref(ref) for ref in list_run_refs(repo, True, run_ids)]


def summary_of_ref(ref: RunRef) -> RunSummary:
    """What a run ref's commit says about its run; a run whose message cannot be read
    (malformed, or too long to read) is DAMAGED, never an error."""
    if ref.kind != "commit":
        return damaged_summary(ref.run_id, ref.sha, f"its ref names a {ref.kind}, not a commit")
    if ref.oversized:
        limit = MAX_MESSAGE_BYTES >> 20
        return damaged_summary(
            ref.run_id, ref.sha, f"its commit message is over {limit} MiB, more than gitml reads"
        )
    summary = parse_message(ref.message, ref.sha, ref.run_id)
    assert summary is not None  # a message read under a run id always says something of it
    return summary


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


def names_in_use(repo: Repository) -> dict[str, str]:
    """name → run id for every run, committed or running."""
    return _index(repo)[1]


def _index(repo: Repository) -> tuple[set[str], dict[str, str]]:
    """(ids of committed runs, name → id of all runs) from refs and the names cache."""
    ids = run_ids(repo)
    cache = _read_names_cache(repo)
    missing = ids.difference(cache)
    if missing:
        wanted = None if len(missing) > _BATCH_LIMIT else sorted(missing)
        for summary in _summaries(repo, wanted):
            cache[summary.id] = summary.name
        _write_names_cache(repo, {run_id: cache[run_id] for run_id in ids if run_id in cache})
    names = {name: run_id for run_id, name in cache.items() if run_id in ids and name}
    for run_id, meta in running_heads(repo).items():
        names[meta["name"]] = run_id
    return ids, names


def remember_name(repo: Repository, run_id: str, name: str) -> None:
    """Add a committed run to the names cache, unless it cannot be written (see _write_cache)."""
    path = repo.state_dir / NAMES_CACHE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, f"{run_id}\t{name}\n".encode())
    finally:
        os.close(fd)


def _read_names_cache(repo: Repository) -> dict[str, str]:
    try:
        text = (repo.state_dir / NAMES_CACHE).read_text()
    except OSError:
        return {}
    cache = {}
    for line in text.splitlines():
        run_id, tab, name = line.partition("\t")
        if tab:  # a damaged run may have no name: it is known all the same
            cache[run_id] = name
    return cache


def _write_names_cache(repo: Repository, cache: dict[str, str]) -> None:
    text = "".join(f"{run_id}\t{name}\n" for run_id, name in cache.items())
    _write_cache(repo.state_dir / NAMES_CACHE, text)


# resolving


def resolve(repo: Repository, text: str) -> RunSummary:
    """The one run whose name is `text`, else the one whose id starts with `text`.

    An exact name wins over id prefixes, as git prefers an exact ref name to an
    abbreviated sha: a run named `01m8` is found by that name even though it is
    also the prefix of every id of the day.
    """
    ids, names = _index(repo)
    running = running_heads(repo)
    matches = set()
    if text in names:
        matches.add(names[text])
        # Names are unique among runs recorded here, but runs fetched from a
        # clone may share one: every run with that name is a candidate.
        cache = _read_names_cache(repo)
        matches.update(run_id for run_id in ids if cache.get(run_id) == text)
    elif could_be_id_prefix(text):
        matches.update(i for i in [*ids, *running] if i.startswith(text))
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
            return resolve(repo, run_id)  # committed since: its folder is gone
    found = _summaries(repo, [run_id])
    if not found:  # removed since it was listed
        raise RunNotFoundError(text)
    return found[0]
