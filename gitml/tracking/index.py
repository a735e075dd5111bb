"""The run index: a disposable SQLite database of the summaries of committed runs, so
that listing, search, names and id prefixes never read every run.

`.git/gitml/cache/runs.sqlite` (`store.layout.INDEX_FILE`) holds a row per run ref —
the summary its commit's trailers carry, the commit it was read from, and how the ref
was stored when it was read (a line of packed-refs, a loose file) — and a row per
param, metric and tag, with the number it reads as, so that `gitml.compare.query` can
filter and sort in SQL. It is never the source of truth: a run is what its ref says.

Every use starts with `sync`, which compares the run refs with what the index holds
and reads only what changed. packed-refs is read again only when its stat data
changed (git rewrites it whole); the loose run refs (git packs them, but a thousand
fresh ones cost milliseconds to read) only when their folder's stat data changed
(git renames a ref's new file into place and unlinks a deleted one; a folder changed
in the last seconds is read every time: `store.refs.loose_runs_stamp`). Only runs
whose ref is new or names another commit have their messages read, through one
`git for-each-ref`; rows of removed refs are deleted. A sync writes in one
transaction taken with SQLite's write lock (WAL mode: readers go on meanwhile), and the
changes are worked out again under that lock, so concurrent gitml processes never
write what another has already changed. `kill -9` mid-sync loses the transaction,
never the index. A file that is missing, is no SQLite database, is damaged or has
another schema version is rebuilt from refs, into a new file renamed into place
under an flock. Where `.git/gitml` cannot be written (another user's repository) the
index lives in memory for one command.

Every SQL statement here and in `gitml.compare.query` is constant text; values only
ever travel as parameters.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TypeVar

from gitml.errors import LockTimeoutError
from gitml.store.blobs import ObjectReader
from gitml.store.layout import INDEX_FILE, INDEX_LOCK, REPLACED_CACHES
from gitml.store.locks import exclusive_lock
from gitml.store.refs import (
    MAX_MESSAGE_BYTES,
    RunRef,
    archive_shas,
    files_backend,
    iter_packed_run_shas,
    iter_run_refs,
    loose_run_shas,
    loose_runs_stamp,
    packed_archive_shas,
    packed_refs,
    packed_refs_stamp,
    packed_run_shas,
    read_run_refs,
)
from gitml.store.repository import Repository
from gitml.tracking.archive import Archive, read_archive, walk_archives
from gitml.tracking.record import (
    RunSummary,
    damaged_summary,
    parse_message,
    summary_from_json,
)

SCHEMA_VERSION = 3  # bump it when the tables or the JSON of RunSummary.to_json change
WAIT_SECONDS = 600.0  # for another process's write (a rebuild of a million runs: minutes)
_READ_BATCH = 1000  # run commits read, then inserted, at once
_CHUNK = 500  # ids per `IN (…)` of a statement
_DECODED = 1000  # summaries decoded at once
_STAMP = "packed-refs"  # the meta key of packed-refs' stamp when it was last read
_LOOSE_STAMP = "loose-runs"  # the meta key of the loose run refs' folder's stamp, likewise
_ANALYZED = "analyzed"  # the meta key of how many rows there were at the last ANALYZE
_OTHER_STORAGE = "-"  # its stamp where refs are not files: every sync compares all
_TIPS = "archive-tips"  # the meta key of the archive refs (JSON: ref → sha) last read
_PACKED_TIPS = "archive-packed"  # those of them packed-refs held at its stamp
# The rows of run refs, through their partial index: a fold makes most rows
# archived without adding any, so the statistics (`_statistics`) still count them live
# and SQLite would read every run to find the few live ones.
_LIVE = "INDEXED BY runs_live WHERE archive IS NULL"
_ARCHIVED_IDS = "SELECT id FROM archived WHERE id IN ({})"
_LISTED_IDS = "SELECT id FROM runs WHERE id IN ({})"

# Tables: runs (rid, id, the listed attributes, the summary as JSON, the sha it was read
# from, `packed`: the sha packed-refs gave, `loose`: 1 when a loose file named it,
# `archive`: the archive commit it was read from, NULL for a run ref); a run of the
# archives has a row in `archived` whether a run ref shadows it or not, `archives`
# holds every archive commit read (and what was wrong with it), `removed` the
# tombstones of the archives;
# params, tags (run, key, value, num, nan) and metrics (run, key, num, nan). `num` is
# the value as a number (NULL when it is none, or NaN), `nan` says how it failed to be
# one (see `number_columns`).
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs(
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sha TEXT NOT NULL,
    packed TEXT,
    loose INTEGER NOT NULL,
    name TEXT NOT NULL,
    experiment TEXT NOT NULL,
    status TEXT NOT NULL,
    user TEXT NOT NULL,
    branch TEXT,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,
    duration_ms INTEGER,
    summary TEXT NOT NULL,
    archive TEXT
);
CREATE INDEX runs_name ON runs(name);
CREATE INDEX runs_live ON runs(id) WHERE archive IS NULL;
CREATE TABLE archived(id TEXT PRIMARY KEY, sha TEXT NOT NULL, archive TEXT NOT NULL,
    summary TEXT NOT NULL);
CREATE TABLE archives(sha TEXT PRIMARY KEY, problems TEXT NOT NULL);
CREATE TABLE removed(id TEXT NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (id, sha)) WITHOUT ROWID;
CREATE INDEX runs_experiment ON runs(experiment, id);
CREATE INDEX runs_loose ON runs(id) WHERE loose = 1;
CREATE TABLE params(
    run INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, num REAL,
    nan INTEGER NOT NULL, PRIMARY KEY (run, key)
) WITHOUT ROWID;
CREATE INDEX params_value ON params(key, value);
CREATE INDEX params_num ON params(key, num);
CREATE TABLE tags(
    run INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, num REAL,
    nan INTEGER NOT NULL, PRIMARY KEY (run, key)
) WITHOUT ROWID;
CREATE INDEX tags_value ON tags(key, value);
CREATE INDEX tags_num ON tags(key, num);
CREATE TABLE metrics(
    run INTEGER NOT NULL, key TEXT NOT NULL, num REAL, nan INTEGER NOT NULL,
    PRIMARY KEY (run, key)
) WITHOUT ROWID;
CREATE INDEX metrics_num ON metrics(key, num);
"""
KEY_TABLES = {"params": "params", "metrics": "metrics", "tags": "tags"}  # kind → table

T = TypeVar("T")


def number_columns(value: str | float) -> tuple[float | None, int]:
    """(num, nan) of a param, tag or metric value: `num` is the number it reads as
    (Python's float()), None when it reads as none or as NaN; `nan` is 1 when it is NaN
    for a filter too (a float NaN, or the text 'nan' in any case), 2 when float() gives
    NaN but a filter takes it for text ('-nan'), else 0. Sorting takes every NaN as
    missing (`gitml.compare.sorting`), filters compare only 'nan' as a number
    (`gitml.tracking.record.value_as_number`)."""
    try:
        number = float(value)
    except ValueError:
        return None, 0
    if number == number:
        return number, 0
    return None, 1 if str(value).lower() == "nan" else 2


@dataclass
class _Plan:
    """What a sync changes: rows to delete, runs to read (id → the sha its ref names,
    its packed sha, loose), rows whose ref storage changed (packed, loose, id),
    packed-refs' stamp to keep, the loose run refs' folder's stamp to keep (when it
    changed and can be trusted), and the archive refs (all, and those packed-refs
    holds) when they changed. With `read_packed`, every run ref is read as packed-refs streams
    (`loose` the loose ones): the index holds no run ref's row (a rebuild)."""

    stamp: str
    remove: list[str] = field(default_factory=list)
    read: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    storage: list[tuple[str | None, int, str]] = field(default_factory=list)
    restamp: bool = False
    tips: dict[str, str] = field(default_factory=dict)
    packed_tips: dict[str, str] = field(default_factory=dict)
    archives_moved: bool = False
    read_packed: bool = False
    loose: dict[str, str] = field(default_factory=dict)
    loose_stamp: str | None = None

    def __bool__(self) -> bool:
        changed = self.remove or self.read or self.storage or self.restamp
        return bool(changed or self.archives_moved or self.loose_stamp is not None)


class RunIndex:
    """An open run index (see the module's docstring). Use `using_index`."""

    def __init__(self, repo: Repository, connection: sqlite3.Connection, path: Path | None):
        self.repo = repo
        self.db = connection
        self.path = path  # None: in memory

    def close(self) -> None:
        self.db.close()

    # keeping up with the refs

    def sync(self) -> None:
        """Bring the index up to date with the run refs (see the module's docstring)."""
        if not self._plan():
            return
        with self.writing():
            plan = self._plan()  # again, under the write lock: another may have done it
            if plan:
                self._apply(plan)
                self._statistics()

    def _plan(self) -> _Plan:
        if not files_backend(self.repo):
            plan = _Plan(_OTHER_STORAGE, restamp=self._meta(_STAMP) != _OTHER_STORAGE)
            self._plan_archives(plan, archive_shas(self.repo), {})
            tips = {ref.run_id: ref.sha for ref in iter_run_refs(self.repo, False)}
            return self._compare(plan, tips, {}, self._rows(_LIVE))
        stamp = packed_refs_stamp(self.repo)  # before reading the file: never newer
        folder = loose_runs_stamp(self.repo)  # likewise, before listing the folder
        plan = _Plan(stamp)
        unchanged = folder is not None and folder == self._meta(_LOOSE_STAMP)
        if stamp == self._meta(_STAMP):
            packed_tips = json.loads(self._meta(_PACKED_TIPS) or "{}")
            self._plan_archives(plan, archive_shas(self.repo, b""), packed_tips)
            if unchanged:
                return plan  # no run ref was created, moved or deleted since the last sync
            plan.loose_stamp = folder
            loose = loose_run_shas(self.repo)
            rows = self._rows("WHERE loose = 1 AND archive IS NULL")
            unknown = [run_id for run_id in loose if run_id not in rows]
            for chunk in _chunks(unknown):
                marks = ",".join("?" * len(chunk))
                rows.update(self._rows(f"WHERE archive IS NULL AND id IN ({marks})", chunk))
            # packed-refs is as it was: the packed sha of each row still holds, and a run
            # with no row is in no packed line
            packed = {run_id: row[1] for run_id, row in rows.items() if row[1] is not None}
            return self._compare(plan, packed, loose, rows)
        plan.restamp = True  # packed-refs changed, or was never read
        plan.loose_stamp = None if unchanged else folder
        loose = loose_run_shas(self.repo)
        packed_tips = packed_archive_shas(packed_refs(self.repo))
        self._plan_archives(plan, archive_shas(self.repo, b""), packed_tips)
        if self.db.execute(f"SELECT 1 FROM runs {_LIVE} LIMIT 1").fetchone() is None:
            plan.read_packed, plan.loose = True, loose  # read every ref as it streams
            return plan
        rows = self._rows(_LIVE)
        return self._compare(plan, packed_run_shas(self.repo), loose, rows)

    def _plan_archives(self, plan: _Plan, loose: dict[str, str], packed: dict[str, str]) -> None:
        plan.packed_tips = packed
        plan.tips = {**packed, **loose}
        plan.archives_moved = plan.tips != json.loads(self._meta(_TIPS) or "{}")

    def _compare(
        self,
        plan: _Plan,
        packed: dict[str, str],
        loose: dict[str, str],
        rows: dict[str, tuple[str, str | None, int]],
    ) -> _Plan:
        for run_id in rows.keys() | packed.keys() | loose.keys():
            in_packed, is_loose = packed.get(run_id), int(run_id in loose)
            tip = loose.get(run_id, in_packed)
            row = rows.get(run_id)
            if tip is None:
                plan.remove.append(run_id)
            elif row is None or row[0] != tip:
                plan.read[run_id] = (tip, in_packed, is_loose)
            elif row[1:] != (in_packed, is_loose):
                plan.storage.append((in_packed, is_loose, run_id))
        return plan

    def _apply(self, plan: _Plan) -> None:
        if plan.archives_moved:
            self._read_archives(plan.tips)
            self._set_meta(_TIPS, json.dumps(plan.tips, sort_keys=True))
        for run_id in plan.remove:
            if not self._archived_as_is(run_id):
                self._delete_many([run_id])
                self._restore(run_id)
        self.db.executemany("UPDATE runs SET packed = ?, loose = ? WHERE id = ?", plan.storage)
        with ObjectReader(self.repo) as objects:
            if plan.read_packed:
                self._read_every_ref(objects, plan.loose)
            read = [(run_id, *ref) for run_id, ref in sorted(plan.read.items())]
            for start in range(0, len(read), _READ_BATCH):
                self._read_refs(objects, read[start : start + _READ_BATCH])
        if plan.restamp:
            self._set_meta(_STAMP, plan.stamp)
            self._set_meta(_PACKED_TIPS, json.dumps(plan.packed_tips, sort_keys=True))
        if plan.loose_stamp is not None:
            self._set_meta(_LOOSE_STAMP, plan.loose_stamp)

    def _read_every_ref(self, objects: ObjectReader, loose: dict[str, str]) -> None:
        """Read every run ref, a batch at a time as packed-refs streams (its loose file
        winning, as in git), so that memory stays the same whatever the number of runs."""
        packed_loose: dict[str, str] = {}  # the packed sha of the loose ones
        for pairs in iter_packed_run_shas(self.repo):
            batch = []
            for run_id, sha in pairs:
                if run_id in loose:
                    packed_loose[run_id] = sha
                else:
                    batch.append((run_id, sha, sha, 0))
            for start in range(0, len(batch), _READ_BATCH):
                self._read_refs(objects, batch[start : start + _READ_BATCH])
        rest = [(run_id, sha, packed_loose.get(run_id), 1) for run_id, sha in sorted(loose.items())]
        for start in range(0, len(rest), _READ_BATCH):
            self._read_refs(objects, rest[start : start + _READ_BATCH])

    def _read_refs(
        self, objects: ObjectReader, refs: Sequence[tuple[str, str, str | None, int]]
    ) -> None:
        """Read the commits of run refs (id, sha, packed sha, loose) and list each as its
        ref says, over any row of the same id; a run whose commit is missing is listed
        as the archives hold it, if they do."""
        storage = {run_id: (packed, loose) for run_id, _, packed, loose in refs}
        self._delete_many(list(storage))
        rows = [
            (summary_of_ref(ref), *storage.pop(ref.run_id), None, None)
            for ref in read_run_refs(objects, [(run_id, sha) for run_id, sha, _, _ in refs])
        ]
        self._insert_many(rows)
        for run_id in storage:  # removed since, or no such object
            self._restore(run_id)

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # the archives

    def _read_archives(self, tips: dict[str, str]) -> None:
        """Read the archive commits not read yet that `tips` reach, oldest first; when an
        archive ref moved elsewhere than ahead (reset, or deleted), forget every archived
        row and read them all again."""
        known = {sha for (sha,) in self.db.execute("SELECT sha FROM archives")}
        with ObjectReader(self.repo) as objects:
            order, reached = walk_archives(objects, set(tips.values()), known)
            previous = json.loads(self._meta(_TIPS) or "{}")
            if set(previous.values()) - reached - set(order):
                self._forget_archives()
                order, _ = walk_archives(objects, set(tips.values()), set())
            for sha in order:  # one at a time: a million runs' summaries are gigabytes
                self._take_archive(read_archive(objects, sha))

    def _take_archive(self, archive: Archive) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO archives(sha, problems) VALUES (?, ?)",
            (archive.sha, json.dumps(archive.problems)),
        )
        for run_id, sha in archive.removed:
            self.db.execute("INSERT OR IGNORE INTO removed(id, sha) VALUES (?, ?)", (run_id, sha))
            self.db.execute("DELETE FROM archived WHERE id = ? AND sha = ?", (run_id, sha))
            row = self.db.execute(
                "SELECT 1 FROM runs WHERE id = ? AND sha = ? AND archive IS NOT NULL",
                (run_id, sha),
            ).fetchone()
            if row is not None:
                self._delete_many([run_id])
        for start in range(0, len(archive.runs), _CHUNK):
            runs = archive.runs[start : start + _CHUNK]  # each id once (read_archive)
            ids = [run.id for run in runs]
            gone = set(self._select_in("SELECT id, sha FROM removed WHERE id IN ({})", ids))
            held = {run_id for (run_id,) in self._select_in(_ARCHIVED_IDS, ids)}
            listed = {run_id for (run_id,) in self._select_in(_LISTED_IDS, ids)}
            new = [run for run in runs if (run.id, run.sha) not in gone and run.id not in held]
            texts = [json.dumps(run.to_json(), ensure_ascii=False) for run in new]
            self.db.executemany(
                "INSERT INTO archived(id, sha, archive, summary) VALUES (?, ?, ?, ?)",
                [
                    (run.id, run.sha, archive.sha, text)
                    for run, text in zip(new, texts, strict=True)
                ],
            )
            self._insert_many(
                [
                    (run, None, 0, archive.sha, text)
                    for run, text in zip(new, texts, strict=True)
                    if run.id not in listed
                ]
            )

    def _select_in(self, query: str, ids: list[str]) -> list[tuple]:
        """The rows of `query` (constant text, `{}` where the marks of `ids` go)."""
        return self.db.execute(query.format(",".join("?" * len(ids))), ids).fetchall()

    def _archived_as_is(self, run_id: str) -> bool:
        """Mark the row of run `run_id`, whose ref is gone, as archived when an archive
        holds that same commit (a fold: its summary is the same; nothing to read)."""
        cursor = self.db.execute(
            "UPDATE runs SET archive = (SELECT archive FROM archived WHERE archived.id = runs.id),"
            " packed = NULL, loose = 0 WHERE id = ? AND archive IS NULL"
            " AND sha = (SELECT sha FROM archived WHERE archived.id = runs.id)",
            (run_id,),
        )
        return cursor.rowcount == 1

    def _restore(self, run_id: str) -> None:
        """List the archived run `run_id` again, once its run ref is gone."""
        row = self.db.execute(
            "SELECT archive, summary FROM archived WHERE id = ?", (run_id,)
        ).fetchone()
        if row is not None:
            self._insert_many([(summary_from_json(json.loads(row[1])), None, 0, row[0], row[1])])

    def _forget_archives(self) -> None:
        for statement in (
            "DELETE FROM params WHERE run IN (SELECT rid FROM runs WHERE archive IS NOT NULL)",
            "DELETE FROM tags WHERE run IN (SELECT rid FROM runs WHERE archive IS NOT NULL)",
            "DELETE FROM metrics WHERE run IN (SELECT rid FROM runs WHERE archive IS NOT NULL)",
            "DELETE FROM runs WHERE archive IS NOT NULL",
            "DELETE FROM archived",
            "DELETE FROM archives",
            "DELETE FROM removed",
        ):
            self.db.execute(statement)

    def _rows(
        self, where: str = "", values: Iterable[str] = ()
    ) -> dict[str, tuple[str, str | None, int]]:
        """id → (sha, packed, loose) of the rows `where` selects (constant text)."""
        query = f"SELECT id, sha, packed, loose FROM runs {where}"
        return {
            run_id: (sha, packed, loose)
            for run_id, sha, packed, loose in self.db.execute(query, tuple(values))
        }

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # writing

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One write transaction, holding SQLite's write lock (waiting for another's)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                raise LockTimeoutError(self.path, WAIT_SECONDS) from None
            raise
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    def record(self, summary: RunSummary) -> None:
        """Add a run this process has just committed (its ref is a loose file), so that
        the next sync finds it known. Its sha must be set."""
        assert summary.sha is not None
        packed = self.db.execute("SELECT packed FROM runs WHERE id = ?", (summary.id,)).fetchone()
        self._delete_many([summary.id])
        self._insert_many([(summary, packed[0] if packed else None, 1, None, None)])
        self._statistics()

    def _statistics(self) -> None:
        """Let SQLite's planner know the tables' sizes again once they have doubled
        (`ANALYZE` of a sample: milliseconds): without, it takes an index on a column
        holding one value (`experiment`) for a selective one and reads every run."""
        rows = self.db.execute("SELECT max(rid) FROM runs").fetchone()[0] or 0
        if rows > 2 * int(self._meta(_ANALYZED) or 0) + 1000:
            self.db.execute("PRAGMA analysis_limit = 1000")
            self.db.execute("ANALYZE")
            self.db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (_ANALYZED, str(rows))
            )

    def _insert_many(
        self, rows: Sequence[tuple[RunSummary, str | None, int, str | None, str | None]]
    ) -> None:
        """Insert runs (summary, packed sha, loose, archive commit or None, the summary's
        JSON or None) whose ids have no row, a statement per table for them all. Their
        rids are numbered here, as SQLite would (a write transaction holds the lock)."""
        if not rows:
            return
        first = (self.db.execute("SELECT max(rid) FROM runs").fetchone()[0] or 0) + 1
        runs, params, tags, metrics = [], [], [], []
        for rid, (run, packed, loose, archive, stored) in enumerate(rows, first):
            runs.append(
                (
                    rid,
                    run.id,
                    run.sha,
                    packed,
                    loose,
                    run.name,
                    run.experiment,
                    run.status,
                    run.user,
                    run.branch,
                    run.start_ms,
                    run.end_ms,
                    run.duration_ms,
                    stored or json.dumps(run.to_json(), ensure_ascii=False),
                    archive,
                )
            )
            params += [
                (rid, key, value, *number_columns(value)) for key, value in run.params.items()
            ]
            tags += [(rid, key, value, *number_columns(value)) for key, value in run.tags.items()]
            metrics += [(rid, key, *number_columns(value)) for key, value in run.metrics.items()]
        self.db.executemany(
            "INSERT INTO runs(rid, id, sha, packed, loose, name, experiment, status, user, branch,"
            " start_ms, end_ms, duration_ms, summary, archive)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            runs,
        )
        self.db.executemany(
            "INSERT INTO params(run, key, value, num, nan) VALUES (?, ?, ?, ?, ?)", params
        )
        self.db.executemany(
            "INSERT INTO tags(run, key, value, num, nan) VALUES (?, ?, ?, ?, ?)", tags
        )
        self.db.executemany("INSERT INTO metrics(run, key, num, nan) VALUES (?, ?, ?, ?)", metrics)

    def _delete_many(self, run_ids: list[str]) -> None:
        """Delete the rows of `run_ids` (those there are), with their keys."""
        for chunk in _chunks(run_ids):
            rids = self._select_in("SELECT rid FROM runs WHERE id IN ({})", chunk)
            for statement in (
                "DELETE FROM params WHERE run = ?",
                "DELETE FROM tags WHERE run = ?",
                "DELETE FROM metrics WHERE run = ?",
                "DELETE FROM runs WHERE rid = ?",
            ):
                self.db.executemany(statement, rids)

    # reading

    def summaries(self, query: str, values: Iterable[object] = ()) -> Iterator[RunSummary]:
        """The summaries a query selects: its first column is `runs.summary`. They are
        decoded _DECODED at a time, as one JSON array (a quarter faster than one by one)."""
        texts = self.summary_texts(query, values)
        while batch := list(islice(texts, _DECODED)):
            for data in json.loads("[" + ",".join(batch) + "]"):
                yield summary_from_json(data)

    def summary_texts(self, query: str, values: Iterable[object] = ()) -> Iterator[str]:
        """The summaries a query selects as the JSON text they are kept as."""
        return map(itemgetter(0), self.db.execute(query, tuple(values)))

    def all_runs(self, known: Mapping[str, RunSummary] | None = None) -> list[RunSummary]:
        """Every run in the index, newest first; a run of `known` (id → summary) read
        from the same commit is taken from there instead of being parsed again (a
        long-lived reader of the listing parses only the runs that changed)."""
        if not known:
            return list(self.summaries("SELECT summary FROM runs ORDER BY id DESC"))
        rows = self.db.execute("SELECT id, sha FROM runs ORDER BY id DESC").fetchall()
        kept = {}
        for run_id, sha in rows:
            run = known.get(run_id)
            if run is not None and run.sha == sha:
                kept[run_id] = run
        unknown = [run_id for run_id, _ in rows if run_id not in kept]
        for chunk in _chunks(unknown):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT summary FROM runs WHERE id IN ({marks})"
            kept.update((run.id, run) for run in self.summaries(query, chunk))
        return [kept[run_id] for run_id, _ in rows if run_id in kept]

    def summary(self, run_id: str) -> RunSummary | None:
        found = list(self.summaries("SELECT summary FROM runs WHERE id = ?", (run_id,)))
        return found[0] if found else None

    def ids_named(self, name: str) -> list[str]:
        """The ids of the runs named `name`: one, or several fetched from clones."""
        rows = self.db.execute("SELECT id FROM runs WHERE name = ? ORDER BY id", (name,))
        return [run_id for (run_id,) in rows]

    def ids_starting(self, prefix: str) -> list[str]:
        """The ids that start with `prefix` (an id prefix: lowercase letters and digits)."""
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self.db.execute(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id", (prefix, after)
        )
        return [run_id for (run_id,) in rows]

    def names(self, run_ids: Iterable[str]) -> dict[str, str]:
        """run id → name, for those of `run_ids` the index holds."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(run_ids)):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, name FROM runs WHERE id IN ({marks})"
            found.update(self.db.execute(query, chunk))
        return found

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM runs").fetchone()[0]

    def has_key(self, kind: str, key: str) -> bool:
        """Whether some run has param, metric or tag (`kind`) `key`."""
        query = f"SELECT 1 FROM {KEY_TABLES[kind]} WHERE key = ? LIMIT 1"
        return self.db.execute(query, (key,)).fetchone() is not None

    def live_count(self) -> int:
        """How many runs have a run ref (the rest are archived)."""
        query = f"SELECT count(*) FROM runs {_LIVE}"
        return self.db.execute(query).fetchone()[0]

    def live_beyond(self, keep: int, among: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """(id, sha) of the runs with a run ref but the newest `keep` of them, newest
        first; with `among` (id → sha), of those runs whose ref names that commit."""
        if among is None:
            query = f"SELECT id, sha FROM runs {_LIVE} ORDER BY id DESC LIMIT -1 OFFSET ?"
            return list(self.db.execute(query, (keep,)))
        found: list[tuple[str, str]] = []
        for chunk in _chunks(list(among)):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, sha FROM runs {_LIVE} AND id IN ({marks})"
            found += [(i, sha) for i, sha in self.db.execute(query, chunk) if among[i] == sha]
        return sorted(found, reverse=True)[keep:]

    def archived_shas(self, run_ids: Iterable[str]) -> dict[str, str]:
        """run id → commit of those of `run_ids` the archives hold (a run ref may also)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(run_ids)):
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(f"SELECT id, sha FROM archived WHERE id IN ({marks})", chunk)
            )
        return found

    def archive_problems(self) -> list[tuple[str, list[str]]]:
        """(archive commit, what is wrong with it) of those read that were not all right."""
        rows = self.db.execute("SELECT sha, problems FROM archives WHERE problems != '[]'")
        return [(sha, json.loads(problems)) for sha, problems in rows]

    def keys(self, kind: str) -> list[str]:
        """Every param, metric or tag key (`kind`) some run has, sorted."""
        query = f"SELECT DISTINCT key FROM {KEY_TABLES[kind]} ORDER BY key"
        return [key for (key,) in self.db.execute(query)]


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


# opening


def using_index(repo: Repository, action: Callable[[RunIndex], T]) -> T:
    """`action(index)` on the repository's run index, synced first.

    An index found damaged (when it is opened, or midway through `action`) is rebuilt
    from refs and `action` done again, so `action` must only read.
    """
    for attempt in (1, 2):
        index = _synced(repo)
        try:
            return action(index)
        except sqlite3.DatabaseError as error:
            if attempt == 2 or not _is_damage(error) or index.path is None:
                raise
            broken = index.path
        finally:
            index.close()
        _rebuild(repo, broken, _inode(broken))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def open_index(repo: Repository) -> Iterator[RunIndex]:
    """The repository's run index, synced (rebuilt first if found damaged), for a caller
    that also writes elsewhere meanwhile (`using_index` is for reading)."""
    index = _synced(repo)
    try:
        yield index
    finally:
        index.close()


def _synced(repo: Repository) -> RunIndex:
    for attempt in (1, 2):
        index = _open(repo)
        try:
            index.sync()
            return index
        except sqlite3.DatabaseError as error:
            index.close()
            if index.path is not None and _is_unwritable(error):
                index = memory_index(repo)  # another user's: read the refs into memory
                index.sync()
                return index
            if attempt == 2 or not _is_damage(error) or index.path is None:
                raise
            _rebuild(repo, index.path, _inode(index.path))
    raise AssertionError("unreachable")


def record_run(repo: Repository, summary: RunSummary) -> None:
    """Add a run just committed to the index, when there is one to add it to and it is
    free: this only spares the next sync reading the run (which finds it anyway)."""
    path = repo.state_dir / INDEX_FILE
    if not path.exists():
        return
    with contextlib.suppress(sqlite3.Error, OSError, LockTimeoutError):
        connection = _connect(path, timeout=2.0)
        try:
            index = RunIndex(repo, connection, path)
            if _version(connection) == SCHEMA_VERSION:
                with index.writing():
                    index.record(summary)
        finally:
            connection.close()


def _open(repo: Repository) -> RunIndex:
    """The index of `repo`, built first if missing, damaged or of another version; in
    memory where its file cannot be opened or written (another user's repository)."""
    path = repo.state_dir / INDEX_FILE
    for _ in range(3):
        inode = _inode(path)
        if inode is not None:
            try:
                connection = _connect(path)
            except sqlite3.DatabaseError as error:
                if not _is_damage(error):
                    return memory_index(repo)
            else:
                try:
                    if _version(connection) == SCHEMA_VERSION:
                        return RunIndex(repo, connection, path)
                except sqlite3.DatabaseError as error:
                    if not _is_damage(error):
                        connection.close()
                        return memory_index(repo)  # readable, not usable (no -shm here)
                connection.close()
        try:
            _rebuild(repo, path, inode)
        except (OSError, sqlite3.OperationalError):
            return memory_index(repo)
    return memory_index(repo)


def _connect(path: Path | str, timeout: float = WAIT_SECONDS) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit: `RunIndex.writing`)."""
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: safe from a crash
    except sqlite3.DatabaseError:
        connection.close()
        raise
    return connection


def _version(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchone()[0]


def memory_index(repo: Repository) -> RunIndex:
    """An empty index in memory: for one command where the file cannot be written, and
    for checking queries against the evaluator on made-up runs."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    _create(connection)
    return RunIndex(repo, connection, None)


def _create(connection: sqlite3.Connection) -> None:
    connection.executescript(_SCHEMA)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _rebuild(repo: Repository, path: Path, inode: int | None) -> None:
    """Build the index of every run ref into a new file and rename it over `path`,
    unless another process replaced the file found at `inode` (None: none) meanwhile."""
    with exclusive_lock(repo, INDEX_LOCK, WAIT_SECONDS):
        if _inode(path) != inode:
            return  # built by another process while this one waited
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f"{path.name}.*.tmp"):
            stale.unlink()  # of a build that was killed: no other can be under way
        building = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        connection = sqlite3.connect(building, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = OFF")  # a failed build is thrown away
            connection.execute("PRAGMA synchronous = OFF")
            _create(connection)
            RunIndex(repo, connection, building).sync()
            connection.execute("PRAGMA journal_mode = WAL")
        except BaseException:
            connection.close()
            building.unlink(missing_ok=True)
            raise
        connection.close()
        # the WAL of the file replaced must not be read as the new one's
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(building, path)
        for name in REPLACED_CACHES:
            (repo.state_dir / name).unlink(missing_ok=True)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is no database or a damaged one (not: busy, full)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return type(error) is sqlite3.DatabaseError


def _is_unwritable(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite may not write the file (read-only, or its -wal and -shm cannot be
    made beside it)."""
    code = getattr(error, "sqlite_errorcode", None)
    unwritable = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)
    return code is not None and code & 0xFF in unwritable


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
