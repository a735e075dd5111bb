"""What the server holds for the time it runs: the repository, its token, caches."""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from gitml.store.repository import Repository
from gitml.tracking.record import RunSummary
from gitml.ui.watch import Stamp, Watcher


@dataclass
class RunsSnapshot:
    """Every run as listed at one fingerprint, and the table answer made of them."""

    stamp: Stamp
    runs: list[RunSummary]
    body: bytes  # the JSON of `GET /api/runs` without a filter
    gzipped: bytes


@dataclass
class Ui:
    repo: Repository
    token: str
    watcher: Watcher
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _snapshot: RunsSnapshot | None = None
    # (commit, metric key) → its points, for zooming into a long committed history
    points: OrderedDict = field(default_factory=OrderedDict)

    def snapshot(self) -> RunsSnapshot:
        """The runs now: listed again only when a run ref or a run in progress changed."""
        from gitml.tracking.catalog import list_runs
        from gitml.ui.answers import dumps
        from gitml.ui.table import runs_table

        stamp = self.watcher.runs()
        with self._lock:
            if self._snapshot is None or self._snapshot.stamp != stamp:
                runs = list_runs(self.repo)
                body = dumps(runs_table(runs))
                self._snapshot = RunsSnapshot(stamp, runs, body, gzip.compress(body, 5))
            return self._snapshot
