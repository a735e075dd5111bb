"""Which runs exist: listing, names, resolving what a user typed (reading one:
`gitml.tracking.readers`).

Committed runs come from `store.refs.list_run_refs`; runs still in progress
from their staging folders. Two disposable caches under `.git/gitml/cache/`
(rebuilt from refs whenever needed) spare reading every run commit: run id →
name, so that a new run picks an unused name, and run id → summary for listing.
Both hold the commit sha they were read from: an entry is used only while its
run's ref still names that commit (a plain `git fetch` may fast-forward a run ref).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from gitml.errors import RunNotFoundError
from gitml.store.ids import could_be_id_prefix
from gitml.store.layout import NAMES_CACHE, SUMMARIES_CACHE
from gitml.store.refs import MAX_MESSAGE_BYTES, RunRef, list_run_refs, run_shas
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

    Summaries are cached by id in `.git/gitml/cache/summaries.v2.json` with the
    commit they were read from; only runs new to the cache, or whose ref now names
    another commit, have their commit messages read (at 10,000 runs: ~0.2 s
    instead of ~0.6 s).
    """
    shas = run_shas(repo)
    ids = sorted(shas, reverse=True)
    cache = _read_json_cache(repo, SUMMARIES_CACHE)
    missing = [run_id for run_id in ids if _cached_sha(cache.get(run_id)) != shas[run_id]]
    if missing:
        wanted = None if len(missing) > _BATCH_LIMIT else missing
        for summary in _summaries(repo, wanted):
            cache[summary.id] = summary.to_json()
    current = {run_id: cache[run_id] for run_id in ids if run_id in cache}
    if missing or len(current) != len(cache):
        _write_json_cache(repo, SUMMARIES_CACHE, current)
    return [summary_from_json(data) for data in current.values()]


def _cached_sha(entry: object) -> str | None:
    return entry.get("commit") if isinstance(entry, dict) else None


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


def _index(repo: Repository) -> tuple[dict[str, str], dict[str, str]]:
    """(run id → name of every committed run, name → id of all runs) from refs and
    the names cache."""
    shas = run_shas(repo)
    cache = _read_names_cache(repo)
    missing = [run_id for run_id, sha in shas.items() if cache.get(run_id, ("", ""))[0] != sha]
    if missing:
        wanted = None if len(missing) > _BATCH_LIMIT else sorted(missing)
        for summary in _summaries(repo, wanted):
            cache[summary.id] = (summary.sha or "", summary.name)
        _write_names_cache(repo, {run_id: cache[run_id] for run_id in shas if run_id in cache})
    committed = {run_id: cache[run_id][1] for run_id in shas if run_id in cache}
    names = {name: run_id for run_id, name in committed.items() if name}
    for run_id, meta in running_heads(repo).items():
        names[meta["name"]] = run_id
    return committed, names


def remember_name(repo: Repository, run_id: str, sha: str, name: str) -> None:
    """Add a committed run to the names cache, unless it cannot be written (see _write_cache)."""
    path = repo.state_dir / NAMES_CACHE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, f"{run_id}\t{sha}\t{name}\n".encode())
    finally:
        os.close(fd)


def _read_names_cache(repo: Repository) -> dict[str, tuple[str, str]]:
    """run id → (commit sha, name)."""
    try:
        text = (repo.state_dir / NAMES_CACHE).read_text()
    except OSError:
        return {}
    cache = {}
    for line in text.splitlines():
        run_id, tab, rest = line.partition("\t")
        sha, tab, name = rest.partition("\t")
        if tab:  # a damaged run may have no name: it is known all the same
            cache[run_id] = (sha, name)
    return cache


def _write_names_cache(repo: Repository, cache: dict[str, tuple[str, str]]) -> None:
    text = "".join(f"{run_id}\t{sha}\t{name}\n" for run_id, (sha, name) in cache.items())
    _write_cache(repo.state_dir / NAMES_CACHE, text)


# resolving


def resolve(repo: Repository, text: str) -> RunSummary:
    """The one run whose name is `text`, else the one whose id starts with `text`.

    An exact name wins over id prefixes, as git prefers an exact ref name to an
    abbreviated sha: a run named `01m8` is found by that name even though it is
    also the prefix of every id of the day.
    """
    committed, names = _index(repo)
    running = running_heads(repo)
    matches = set()
    if text in names:
        matches.add(names[text])
        # Names are unique among runs recorded here, but runs fetched from a
        # clone may share one: every run with that name is a candidate.
        matches.update(run_id for run_id, name in committed.items() if name == text)
    elif could_be_id_prefix(text):
        matches.update(i for i in [*committed, *running] if i.startswith(text))
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
