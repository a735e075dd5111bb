"""Progress of long transfers, told to whoever listens: the store never prints.

The command line installs a listener (`listen`); library code asks `start(label,
total)` for a `Transfer` and calls `advance(n)` as bytes move, `end()` after. With no
listener every call does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # a type alias at run time would subscript a class, which Python 3.8 refuses
    from collections.abc import Callable

    Listener = Callable[[str, int], "Transfer"]


class Transfer(Protocol):
    def advance(self, count: int) -> None: ...

    def end(self) -> None: ...


class _Silent:
    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


_listener: Listener | None = None


def listen(listener: Listener | None) -> None:
    """Send every transfer's progress to `listener(label, total_bytes)` (None: nowhere)."""
    global _listener
    _listener = listener


def start(label: str, total: int) -> Transfer:
    return _listener(label, total) if _listener is not None else _Silent()
