"""What the server holds for the time it runs: the repository, its token, caches."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitml.errors import GitmlError
from gitml.store.layout import METRICS_DIR
from gitml.store.repository import Repository
from gitml.tracking.points import Chunk
from gitml.tracking.readers import RunReader
from gitml.tracking.record import RunSummary, key_to_filename
from gitml.ui.downsample import Points
from gitml.ui.table import TableJson
from gitml.ui.watch import Stamp, Watcher

if TYPE_CHECKING:
    from gitml.ui.warming import Warmer

KEPT_HISTORIES = 4  # long committed histories kept parsed, for zooming (a million points: 24 MB)


@dataclass
class RunsSnapshot:
    """Every run as listed at one fingerprint, and the table answer made of them."""

    stamp: Stamp
    version: int  # one more at each listing: the answer's ETag
    runs: list[RunSummary]
    body: bytes  # the JSON of `GET /api/runs` without a filter
    gzipped: bytes
    made_by: str  # "start" (prepared as the server started), "change" (in the
    # background, as runs changed) or "request" (by a request that found it old)


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class Ui:
    repo: Repository
    token: str
    watcher: Watcher
    launch: str = field(default_factory=lambda: secrets.token_hex(4))  # names this launch
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ready: threading.Event = field(default_factory=_set_event)  # the first listing is made
    stopping: threading.Event = field(default_factory=threading.Event)  # set: stop at once
    _snapshot: RunsSnapshot | None = None
    _committed: dict[str, RunSummary] = field(default_factory=dict)  # id → summary
    _table: TableJson = field(default_factory=TableJson)
    # blob id → the points of a committed metric, for zooming into a long history
    _points: OrderedDict = field(default_factory=OrderedDict)
    _points_lock: threading.Lock = field(default_factory=threading.Lock)
    _reading: dict[str, _Reading] = field(default_factory=dict)  # blob id → read now
    warmer: Warmer | None = None  # long metrics parsed ahead (`start`)
    # (run id, metric key) → the points of a run in progress read so far, and how far
    _live: OrderedDict = field(default_factory=OrderedDict)
    _live_lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Prepare the runs listing (and its answer) now, on a thread of its own, then
        again whenever runs change: a page's first request, and its request after an
        event, find it ready (or wait for the one being made rather than making one)."""
        from gitml.ui.warming import Warmer

        self._ready.clear()
        threading.Thread(target=self._refresh_forever, name="gitml-ui-runs", daemon=True).start()
        self.warmer = Warmer(self)
        self.warmer.start()

    def stop(self) -> None:
        self.stopping.set()

    def wait_ready(self) -> None:
        """Until the listing prepared at start is made."""
        self._ready.wait()

    def last_snapshot(self) -> RunsSnapshot | None:
        return self._snapshot

    def runs_now(self) -> RunsSnapshot:
        """The runs now, for a request: the listing prepared at start waited for."""
        self.wait_ready()
        return self.snapshot()

    def snapshot(self, made_by: str = "request") -> RunsSnapshot:
        """The runs now: listed again only when a run ref or a run in progress changed."""
        stamp = self.watcher.runs()
        with self._lock:
            if self._snapshot is None or self._snapshot.stamp != stamp:
                runs = self._list_runs()
                body, zipped = self._table.build(runs)
                version = self._snapshot.version + 1 if self._snapshot else 1
                self._snapshot = RunsSnapshot(stamp, version, runs, body, zipped, made_by)
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
        reader.check_metric_sizes([key])
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

    def _refresh_forever(self, period: float = 1.0) -> None:
        made_by = "start"
        while not self.stopping.is_set():
            try:
                with contextlib.suppress(GitmlError, OSError):  # a change half made: next time
                    self.snapshot(made_by)
            finally:
                self._ready.set()
            made_by = "change"
            self.stopping.wait(period)

    def committed_points(
        self, blob: str, read: Callable[[], Iterable[Chunk]], keep: bool = True
    ) -> tuple[Points, str]:
        """The points of a committed metric whose file is blob `blob`, and where they
        came from: kept in memory (a few histories: "memory"), else on disk
        (`gitml.ui.points_cache`: "disk"), else parsed from `read()` ("parsed") and kept
        in both (on disk only, unless `keep`). A blob being read meanwhile (by a
        request, or ahead of one by `gitml.ui.warming`) is waited for ("waited"), not
        read twice."""
        with self._points_lock:
            found = self._points.get(blob)
            if found is not None:
                self._points.move_to_end(blob)
                return found, "memory"
            reading = self._reading.get(blob)
            mine = reading is None
            if reading is None:
                reading = self._reading[blob] = _Reading()
            else:
                reading.waiting += 1
        if not mine:
            reading.done.wait()
            if reading.points is None:  # it failed or was stopped: read it here
                return self.committed_points(blob, read, keep)
            if keep:
                self._keep(blob, reading.points)
            return reading.points, "waited"
        try:
            reading.points, source = self._read_points(blob, read)
            if keep:
                self._keep(blob, reading.points)
            return reading.points, source
        finally:
            with self._points_lock:
                del self._reading[blob]
            reading.done.set()

    def _read_points(self, blob: str, read: Callable[[], Iterable[Chunk]]) -> tuple[Points, str]:
        from gitml.ui import points_cache
        from gitml.ui.downsample import collect

        found = points_cache.load(self.repo.state_dir, blob)
        if found is not None:
            return found, "disk"
        found = collect(read())
        points_cache.save(self.repo.state_dir, blob, found)
        return found, "parsed"

    def _keep(self, blob: str, points: Points) -> None:
        """Keep `points` in memory, as the newest of the few histories kept."""
        with self._points_lock:
            self._points[blob] = points
            self._points.move_to_end(blob)
            while len(self._points) > KEPT_HISTORIES:
                self._points.popitem(last=False)


@dataclass
class _Reading:
    """A committed metric being read: its points once done (None if it failed)."""

    done: threading.Event = field(default_factory=threading.Event)
    points: Points | None = None
    waiting: int = 0  # requests waiting for it


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
