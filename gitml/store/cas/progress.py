"""Progress of long transfers, told to whoever listens: the store never prints.

The command line installs a listener (`listen`); library code asks `start(label,
total)` for a `Transfer` and calls `advance(n)` as bytes move, `end()` after. With no
listener every call does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Transfer(Protocol):
    def advance(self, count: int) -> None: ...

    def end(self) -> None: ...


class _Silent:
    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


Listener = Callable[[str, int], Transfer]
_listener: Listener | None = None


def listen(listener: Listener | None) -> None:
    """Send every transfer's progress to `listener(label, total_bytes)` (None: nowhere)."""
    global _listener
    _listener = listener


def start(label: str, total: int) -> Transfer:
    return _listener(label, total) if _listener is not None else _Silent()
