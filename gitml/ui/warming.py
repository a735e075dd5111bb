"""Long committed metrics parsed into the points cache before anyone asks for them.

A first view of a metric of a million points parses its file (seconds); every later
view reads the parsed columns back from `.git/gitml/cache/points/` (milliseconds). So
as the server starts, and whenever a run appears or ends, a thread of its own reads the
record of each run it has not looked at yet, newest first, and parses each metric the
record says holds `points_cache.CACHED_FROM` points or more and the cache lacks: a
user's first view of it is then a warm one.

It stays out of the way: one metric at a time on one thread, at the lowest CPU
priority the system gives a thread, into the disk cache only (the server's memory
keeps what pages look at), checking between blocks of the file whether the server is
stopping. A request for a metric being parsed here waits for it (`Ui.committed_points`)
rather than parsing it too. At most half of the cache's size is parsed ahead by one
server (a repository of thousands of long metrics does not churn the cache).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from gitml.errors import GitmlError
from gitml.tracking.points import Chunk
from gitml.tracking.readers import RunReader
from gitml.tracking.record import RunSummary

if TYPE_CHECKING:
    from gitml.store.blobs import ObjectReader
    from gitml.ui.state import Ui

POLL_SECONDS = 1.0
LOWEST_PRIORITY = 19  # nice value


class Stopped(Exception):
    """The server is stopping: a parse ahead of time is dropped."""


class Warmer:
    """Parses the long metrics of the runs `Ui` lists, ahead of a first view."""

    def __init__(self, ui: Ui):
        self.ui = ui
        self.looked_at: set[tuple[str, str | None]] = set()  # (run id, commit) of runs read
        self.parsed = 0  # metrics parsed ahead by this server
        self.budget = 0  # bytes of cache files left to fill ahead (set at start)

    def start(self) -> None:
        from gitml.ui import points_cache

        self.budget = points_cache.MAX_BYTES // 2
        threading.Thread(target=self._forever, name="gitml-ui-warming", daemon=True).start()

    def _forever(self) -> None:
        _lower_priority()
        stopping = self.ui.stopping
        seen = 0
        self.ui.wait_ready()
        while not stopping.is_set():
            snapshot = self.ui.last_snapshot()
            if snapshot is not None and snapshot.version != seen:
                seen = snapshot.version
                with contextlib.suppress(GitmlError, OSError, Stopped):
                    self.warm(snapshot.runs)
            stopping.wait(POLL_SECONDS)

    def warm(self, runs: Iterable[RunSummary]) -> None:
        """Parse the long metrics of `runs` (newest first) not looked at yet."""
        from gitml.store.blobs import ObjectReader

        with ObjectReader(self.ui.repo) as objects:
            for run in runs:
                if self.ui.stopping.is_set():
                    raise Stopped
                if (run.id, run.sha) in self.looked_at:
                    continue
                if self.budget <= 0:
                    return
                with contextlib.suppress(GitmlError, OSError):  # read when asked, then
                    self._warm_run(run, objects)
                self.looked_at.add((run.id, run.sha))

    def _warm_run(self, run: RunSummary, objects: ObjectReader) -> None:
        from gitml.tracking.readers import open_run
        from gitml.ui import points_cache

        state_dir = self.ui.repo.state_dir
        with open_run(self.ui.repo, run, objects) as reader:
            reader.require_ended("parse its metrics ahead")  # its files still grow
            for key, metric in sorted(reader.stored_record().metrics.items()):
                if metric.count is None or metric.count < points_cache.CACHED_FROM:
                    continue
                blob = reader.metric_blob(key)
                if blob is None or points_cache.has(state_dir, blob):
                    continue
                self.budget -= points_cache.file_size(metric.count)
                self.ui.committed_points(blob, partial(self._chunks, reader, key), keep=False)
                self.parsed += 1

    def _chunks(self, reader: RunReader, key: str) -> Iterator[Chunk]:
        """The points of `key`, a block at a time, until the server is stopping."""
        for chunk in reader.metric_points(key):
            if self.ui.stopping.is_set():
                raise Stopped
            yield chunk


def _lower_priority() -> None:
    """The calling thread (and the git it starts) at the lowest CPU priority: Linux
    gives each thread a nice value of its own (elsewhere it would be the process's)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
