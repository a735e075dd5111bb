"""Run ids: the one grammar of the id a run's ref carries, how gitml makes one and
how one is recognised.

A run id is a ULID-like string: 48 bits of milliseconds then 80 random bits,
in lowercase Crockford base32 (26 characters). Sorting ids sorts runs by start
time, and two machines never need to agree before making one. A run ref made
elsewhere may carry any id of 12 to 26 characters of the same alphabet (docs/format.md);
refs named otherwise under refs/gitml/runs/ are no runs.
"""

from __future__ import annotations

import os
import re
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base 32, lowercase
ID_LENGTH = 26  # the ids gitml makes
MIN_ID_LENGTH = 12  # the shortest id a run ref may carry
MIN_PREFIX_LENGTH = 4  # the shortest id prefix that names a run
_TIME_CHARS = 10


def id_pattern(shortest: int = MIN_ID_LENGTH, longest: int = ID_LENGTH) -> str:
    """The regex (without anchors) of ids of `shortest` to `longest` characters."""
    return f"[{ALPHABET}]{{{shortest},{longest}}}"


_MADE = id_pattern(ID_LENGTH, ID_LENGTH)  # patterns: compiled on first use (re keeps them)
_IN_REF = id_pattern()
_PREFIX = id_pattern(MIN_PREFIX_LENGTH)


def new_run_id(now_ms: int | None = None) -> str:
    """Return a fresh, time-ordered run id; `now_ms` must fit its 48 bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"a run id holds 0 to 2**48-1 milliseconds, not {ms}")
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(ID_LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def run_id_time_ms(run_id: str) -> int:
    """The millisecond timestamp encoded in a run id."""
    value = 0
    for char in run_id[:_TIME_CHARS]:
        value = (value << 5) | ALPHABET.index(char)
    return value  # 26 chars hold 130 bits: the first 10 are 2 zero bits + 48 time bits


def is_run_id(text: str) -> bool:
    """Whether `text` has the form of the ids gitml makes (26 characters)."""
    return re.fullmatch(_MADE, text) is not None


def is_ref_run_id(text: str) -> bool:
    """Whether `text` may be the id of a run ref: gitml's, or another maker's (12 to 26)."""
    return re.fullmatch(_IN_REF, text) is not None


def could_be_id_prefix(text: str) -> bool:
    return re.fullmatch(_PREFIX, text) is not None
