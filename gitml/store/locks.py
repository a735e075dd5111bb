"""Locks between gitml processes working on one repository.

A lock is an `flock` on a file under `<git common dir>/gitml/locks/`. The
kernel releases it when its holder exits, even by `kill -9`, so a crash never
leaves a stale lock behind (unlike git's `.lock` files, which need deleting).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from gitml.errors import LockTimeoutError
from gitml.store.layout import LOCKS_DIR
from gitml.store.repository import Repository

_POLL_SECONDS = 0.01


@contextmanager
def exclusive_lock(repo: Repository, name: str, timeout: float = 30.0) -> Iterator[None]:
    """Hold lock `name` of the repository; LockTimeoutError after `timeout` seconds waiting."""
    folder = repo.state_dir / LOCKS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeoutError(path, timeout) from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
