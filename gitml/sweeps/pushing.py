"""A sweep's runs on their way to a remote: pushed in batches as trials end, never more
often than once per interval (a host refuses a client that pushes once a second), and
whatever is left when the sweep's trials are done."""

from __future__ import annotations

import threading
import time

from gitml.store.repository import Repository

PUSH_INTERVAL_S = 30.0


class RunPusher:
    def __init__(self, repo: Repository, remote: str, interval_s: float = PUSH_INTERVAL_S):
        self.repo = repo
        self.remote = remote
        self.interval_s = interval_s
        self.pushed: list[str] = []
        self._waiting: list[str] = []
        self._last = time.monotonic()
        self._lock = threading.Lock()  # one push at a time; trials go on meanwhile

    def add(self, run_id: str) -> None:
        """Queue a committed run; push the queue when the interval has passed."""
        with self._lock:
            self._waiting.append(run_id)
            if time.monotonic() - self._last >= self.interval_s:
                self._push()

    def finish(self, run_ids: list[str]) -> None:
        """Push what is queued and `run_ids` (the remote skips those it has)."""
        with self._lock:
            self._waiting = list(dict.fromkeys([*self._waiting, *run_ids]))
            self._push()

    def _push(self) -> None:
        from gitml.sharing.transfer import PushOptions, push_runs

        if self._waiting:
            push_runs(self.repo, PushOptions(remote=self.remote, runs=list(self._waiting)))
            self.pushed += self._waiting
            self._waiting = []
        self._last = time.monotonic()
