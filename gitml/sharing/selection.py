"""Choosing runs: by what the user typed, by experiment, status and age.

Ages and points in time share one grammar: a duration back from now
(`90s`, `30m`, `12h`, `30d`, `2w`) or a local date or time
(`2026-11-01`, `2026-11-01T13:30`, `2026-11-01 13:30:15`).
"""

import re
import time
from datetime import datetime

from gitml.errors import InvalidValueError
from gitml.store.ids import run_id_time_ms
from gitml.store.refs import RunRef
from gitml.tracking.record import RunSummary

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
)


def parse_time_point(text: str, option: str, now_ms: int | None = None) -> int:
    """Milliseconds since the epoch named by `text` (a duration means that long ago)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now_ms - int(match.group(1)) * _UNIT_MS[match.group(2)]
    for layout in _DATE_FORMATS:
        try:
            return int(datetime.strptime(text, layout).timestamp() * 1000)
        except ValueError:
            continue
    raise InvalidValueError(
        f"{option} {text!r} is not a duration or a date "
        "(e.g. 30d, 12h, 2w, 2026-11-01 or 2026-11-01T13:30)"
    )


def started_ms(ref: RunRef) -> int:
    """When the run started, read from its id: no commit needs parsing."""
    return run_id_time_ms(ref.run_id)


def summaries(refs: list[RunRef]) -> list[RunSummary]:
    """Summaries of run refs listed with their messages (damaged ones included)."""
    from gitml.tracking.index import summary_of_ref

    return [summary_of_ref(ref) for ref in refs]
