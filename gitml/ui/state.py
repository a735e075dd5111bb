"""What the server holds for the time it runs: the repository, its token, caches."""

from __future__ import annotations

import contextlib
import gzip
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gitml.errors import GitmlError
from gitml.store.layout import METRICS_DIR
from gitml.store.repository import Repository
from gitml.tracking.points import Chunk
from gitml.tracking.readers import RunReader
from gitml.tracking.record import RunSummary, key_to_filename
from gitml.ui.downsample import Points
from gitml.ui.table import TableJson
from gitml.ui.watch import Stamp, Watcher

KEPT_HISTORIES = 4  # long committed histories kept parsed, for zooming (a million points: 24 MB)


@dataclass
class RunsSnapshot:
    """Every run as listed at one fingerprint, and the table answer made of them."""

    stamp: Stamp
    version: int  # one more at each listing: the answer's ETag
    runs: list[RunSummary]
    body: bytes  # the JSON of `GET /api/runs` without a filter
    gzipped: bytes


@dataclass
class Ui:
    repo: Repository
    token: str
    watcher: Watcher
    launch: str = field(default_factory=lambda: secrets.token_hex(4))  # names this launch
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _snapshot: RunsSnapshot | None = None
    _committed: dict[str, RunSummary] = field(default_factory=dict)  # id → summary
    _table: TableJson = field(default_factory=TableJson)
    # blob id → the points of a committed metric, for zooming into a long history
    _points: OrderedDict = field(default_factory=OrderedDict)
    _points_lock: threading.Lock = field(default_factory=threading.Lock)
    # (run id, metric key) → the points of a run in progress read so far, and how far
    _live: OrderedDict = field(default_factory=OrderedDict)
    _live_lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> RunsSnapshot:
        """The runs now: listed again only when a run ref or a run in progress changed."""
        stamp = self.watcher.runs()
        with self._lock:
            if self._snapshot is None or self._snapshot.stamp != stamp:
                runs = self._list_runs()
                body = self._table.build(runs)
                # level 1: a third of the time of level 5 for 7% more bytes
                version = self._snapshot.version + 1 if self._snapshot else 1
                zipped = gzip.compress(body, 1)
                self._snapshot = RunsSnapshot(stamp, version, runs, body, zipped)
            return self._snapshot

    def _list_runs(self) -> list[RunSummary]:
        """`catalog.list_runs`, reusing the summaries of the last listing: only the
        runs whose commit is new are parsed (a new run costs one summary, not 10,000)."""
        from gitml.tracking.catalog import list_runs

        runs = list_runs(self.repo, known=self._committed)
        self._committed = {run.id: run for run in runs if run.sha is not None}
        return runs

    def follow_points(self, reader: RunReader, key: str) -> Points:
        """The points of metric `key` of a run in progress: the lines logged since the
        last request are parsed and added to those read before (its file only grows),
        so a live chart asking every second does not parse the whole history each time."""
        from gitml.tracking.points import parse_lines

        name = (reader.summary.id, key)
        with self._live_lock:
            points, offset = self._live.pop(name, (Points.empty(), 0))
            blocks = reader.file_blocks(f"{METRICS_DIR}/{key_to_filename(key)}")
            data = _tail(blocks, offset) if blocks is not None else b""
            end = data.rfind(b"\n") + 1  # whole lines only: the last may be half written
            if end:
                steps, values, times = parse_lines(data[:end])
                points = points.extended(steps, values, times)
            self._live[name] = (points, offset + end)
            while len(self._live) > KEPT_HISTORIES:
                self._live.popitem(last=False)
            return points

    def refresh_forever(self, period: float = 1.0) -> None:
        """List the runs again whenever they change, so that a page's request after an
        event finds the table ready (runs on a daemon thread of its own)."""
        while True:
            with contextlib.suppress(GitmlError, OSError):  # a change half made: next time
                self.snapshot()
            time.sleep(period)

    def committed_points(self, blob: str, read: Callable[[], Iterable[Chunk]]) -> Points:
        """The points of a committed metric whose file is blob `blob`: kept in memory
        (a few histories), else on disk (`gitml.ui.points_cache`), else parsed from
        `read()` and kept in both."""
        from gitml.ui import points_cache
        from gitml.ui.downsample import collect

        with self._points_lock:
            found = self._points.get(blob)
            if found is not None:
                self._points.move_to_end(blob)
                return found
        found = points_cache.load(self.repo.state_dir, blob)
        if found is None:
            found = collect(read())
            points_cache.save(self.repo.state_dir, blob, found)
        with self._points_lock:
            self._points[blob] = found
            while len(self._points) > KEPT_HISTORIES:
                self._points.popitem(last=False)
        return found


def _tail(blocks, offset: int) -> bytes:
    """The bytes of `blocks` after the first `offset`."""
    kept = []
    for block in blocks:
        if offset >= len(block):
            offset -= len(block)
            continue
        kept.append(block[offset:])
        offset = 0
    return b"".join(kept)
