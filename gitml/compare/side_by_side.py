"""Several runs side by side: one column per run, one row per key."""

from dataclasses import dataclass

from gitml.compare.search import Field, value_getter
from gitml.tracking.record import RunSummary

SHOWN_ATTRIBUTES = ("status", "experiment", "start_time", "duration")


@dataclass
class Row:
    field: Field
    values: list  # one per run, None where the run lacks the key

    @property
    def differs(self) -> bool:
        return len({repr(v) for v in self.values}) > 1


def side_by_side(runs: list[RunSummary]) -> list[Row]:
    """Rows for a few attributes, then every param, metric and tag of any of the runs."""
    fields = [Field("attributes", name) for name in SHOWN_ATTRIBUTES]
    for kind in ("params", "metrics", "tags"):
        keys = sorted({key for run in runs for key in getattr(run, kind)})
        fields += [Field(kind, key) for key in keys]
    rows = []
    for field in fields:
        get = value_getter(field)
        rows.append(Row(field, [get(run) for run in runs]))
    return rows
