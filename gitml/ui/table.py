"""Every run as one column-wise table: what `GET /api/runs` answers.

One array per field (`id`, `name`, ..., `params.lr`, `metrics.acc`, `tags.x`) holds
the value of each run in order, so 10,000 runs travel as a few hundred arrays instead
of 10,000 objects repeating every key. Field names are the filter grammar's spelling
(`gitml ls --columns`), so a page can put them into a filter as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gitml.compare.search import ATTRIBUTES, Field, field_text
from gitml.tracking.record import RunSummary

# attributes `gitml ls` filters and sorts on, then those only a listing row has
_EXTRA: dict[str, Callable[[RunSummary], object]] = {
    "base": lambda run: run.base,
    "exit_code": lambda run: run.exit_code,
    "damage": lambda run: run.damage,
}


def attribute_names() -> list[str]:
    return [*ATTRIBUTES, *_EXTRA]


def runs_table(runs: list[RunSummary]) -> dict:
    """`{"count", "fields", "columns"}`: the attributes, then every param, metric and tag
    some run has (in the order first seen, runs newest first)."""
    columns: dict[str, list] = {}
    for name, get in [*ATTRIBUTES.items(), *_EXTRA.items()]:
        columns[name] = [get(run) for run in runs]
    for kind in ("params", "metrics", "tags"):
        keys: dict[str, None] = {}
        for run in runs:
            keys.update(dict.fromkeys(getattr(run, kind)))
        for key in keys:
            values = [getattr(run, kind).get(key) for run in runs]
            if kind == "metrics":
                values = [_number(v) for v in values]
            columns[field_text(Field(kind, key))] = values
    return {"count": len(runs), "fields": list(columns), "columns": columns}


def _number(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: 'nan', 'inf', '-inf' (as run.json writes them)."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
