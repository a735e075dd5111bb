"""Choosing and ordering runs: sorting, columns, and a query that does both.

Sort keys and column lists are parsed by the filter grammar (`gitml.compare.search`:
`parse_sort_key`, `parse_columns`); `-key` or `key DESC` sorts descending.
Runs that lack a key sort after those that have it, whichever the direction.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from gitml.compare.search import (
    ATTRIBUTES,
    Field,
    SortKey,
    compile_filter,
    field_text,
    parse_filter,
    parse_sort_key,
    value_getter,
)
from gitml.errors import UnknownKeyError
from gitml.tracking.record import RunSummary


@dataclass
class RunQuery:
    """What to select and in which order; the same for `gitml ls` and `search_runs`."""

    filter: str | None = None
    order_by: list[str] = field(default_factory=list)
    experiment: str | None = None
    status: str | None = None
    max_results: int | None = None
    experiments: list[str] | None = None  # runs of any of these (search_runs' experiment_names)


def sort_runs(runs: list[RunSummary], keys: list[SortKey]) -> list[RunSummary]:
    """Runs ordered by `keys` (first key first); ties keep their order; missing last."""
    ordered = list(runs)
    for key in reversed(keys):
        ordered.sort(key=_ranking(value_getter(key.field), key.descending), reverse=key.descending)
    return ordered


def _ranking(
    get: Callable[[RunSummary], object], descending: bool
) -> Callable[[RunSummary], tuple]:
    """A run's sort key by the field `get` reads (a descending sort is reversed: there a
    missing value must rank lowest, see `_rank`)."""
    return lambda run: _rank(get(run), descending)


def _rank(value, descending: bool) -> tuple:
    """(where missing goes, numbers before text, the value); NaN counts as missing."""
    number = None if value is None else _number(value)
    present = value is not None and not (number is not None and math.isnan(number))
    missing_rank = present if descending else not present
    if not present:
        return (missing_rank, 0, 0.0, "")
    numbers_first = 1 if descending else 0
    if number is None:
        return (missing_rank, 1 - numbers_first, 0.0, str(value))
    return (missing_rank, numbers_first, number, "")


def _number(value) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        return None


# keys that exist


def known_keys(runs: list[RunSummary]) -> list[str]:
    """Every field some run has, in the grammar's spelling: attributes, params, metrics, tags."""
    found: dict[str, None] = {f"attributes.{name}": None for name in ATTRIBUTES}
    for kind in ("params", "metrics", "tags"):
        for run in runs:
            for key in getattr(run, kind):
                found.setdefault(field_text(Field(kind, key)), None)
    return list(found)


def check_known(fields: list[Field], runs: list[RunSummary], purpose: str) -> None:
    """Refuse a param, metric or tag key that no run has (attributes always exist)."""
    if not runs:
        return
    for wanted in fields:
        if wanted.kind == "attributes":
            continue
        if not any(wanted.key in getattr(run, wanted.kind) for run in runs):
            raise UnknownKeyError(purpose, field_text(wanted), known_keys(runs))


def default_columns(runs: list[RunSummary]) -> list[Field]:
    """Attributes, then every param, metric and tag some run has."""
    fields = [Field("attributes", name) for name in ATTRIBUTES]
    for kind in ("params", "metrics", "tags"):
        seen: dict[str, None] = {}
        for run in runs:
            seen.update(dict.fromkeys(getattr(run, kind)))
        fields += [Field(kind, key) for key in seen]
    return fields


def column_values(runs: list[RunSummary], fields: list[Field]) -> list[list[object]]:
    """One row per run: the value of each field, None where the run lacks it."""
    getters = [value_getter(f) for f in fields]
    return [[get(run) for get in getters] for run in runs]


# the query


def select_runs(runs: list[RunSummary], query: RunQuery) -> list[RunSummary]:
    """Filter, then sort, then cut; every key is checked before any run is looked at."""
    predicate = compile_filter(parse_filter(query.filter or ""))
    keys = [parse_sort_key(text) for text in query.order_by]
    check_known([key.field for key in keys], runs, "sort by")
    selected = [
        run
        for run in runs
        if (query.experiment is None or run.experiment == query.experiment)
        and (query.experiments is None or run.experiment in query.experiments)
        and (query.status is None or run.status == query.status)
        and predicate(run)
    ]
    selected = sort_runs(selected, keys)
    return selected if query.max_results is None else selected[: query.max_results]
