"""Every run as one column-wise table: what `GET /api/runs` answers.

One array per field (`id`, `name`, ..., `params.lr`, `metrics.acc`, `tags.x`) holds
the value of each run in order, so 10,000 runs travel as a few hundred arrays instead
of 10,000 objects repeating every key. Field names are the filter grammar's spelling
(`gitml ls --columns`), so a page can put them into a filter as they are.

The table is built again whenever a run changes, so each column is one C-level pass
(`map` over `dict.get` or an attribute getter), not a Python loop per value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial
from itertools import chain, repeat
from operator import attrgetter, is_not

from gitml.compare.search import ATTRIBUTES, Field, field_text
from gitml.tracking.record import RunSummary

# the grammar's attributes read straight from the summary's fields where they are fields
_FIELDS = {"id": "id", "name": "name", "status": "status", "experiment": "experiment",
           "user": "user", "start_time": "start_ms", "end_time": "end_ms"}  # fmt: skip
# then what only a listing row has
_EXTRA: dict[str, Callable[[RunSummary], object]] = {
    "base": attrgetter("base"),
    "exit_code": attrgetter("exit_code"),
    "damage": attrgetter("damage"),
}
_present = partial(is_not, None)


def runs_table(runs: list[RunSummary]) -> dict:
    """`{"count", "fields", "columns"}`: the attributes, then every param, metric and tag
    some run has (in the order first seen, runs newest first)."""
    columns: dict[str, list] = {}
    getters = {name: attrgetter(_FIELDS[name]) if name in _FIELDS else get
               for name, get in ATTRIBUTES.items()}  # fmt: skip
    for name, get in [*getters.items(), *_EXTRA.items()]:
        columns[name] = list(map(get, runs))
    count = len(runs)
    for kind in ("params", "metrics", "tags"):
        pairs = list(map(attrgetter(kind), runs))
        for key in dict.fromkeys(chain.from_iterable(pairs)):
            values = list(map(dict.get, pairs, repeat(key, count)))
            if kind == "metrics" and not _all_finite(values):
                values = [_number(v) for v in values]
            columns[field_text(Field(kind, key))] = values
    return {"count": count, "fields": list(columns), "columns": columns}


def _all_finite(values: list) -> bool:
    """No NaN or infinity among `values` (None left out), in one C-level pass."""
    numbers: Iterable[float] = filter(_present, values)
    return all(map(math.isfinite, numbers))


def _number(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: 'nan', 'inf', '-inf' (as run.json writes them)."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
