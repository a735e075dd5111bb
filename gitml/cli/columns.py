"""Runs as rows of chosen columns: the `--columns` table and `--csv` of `gitml ls`."""

import csv
import io

from gitml.cli import format as fmt
from gitml.compare.query import check_columns
from gitml.compare.search import Field, field_text, parse_columns
from gitml.compare.sorting import column_values, default_columns
from gitml.store.repository import Repository
from gitml.tracking.record import RunSummary


def header(field: Field) -> str:
    return field.key if field.kind == "attributes" else field_text(field)


def chosen_columns(
    repo: Repository, columns: str | None, selected: list[RunSummary]
) -> list[Field]:
    """The fields named by --columns (checked against every run), or all of them."""
    if columns is None:
        return default_columns(selected)
    fields = parse_columns(columns)
    check_columns(repo, fields)
    return fields


def columns_table(runs: list[RunSummary], fields: list[Field]) -> str:
    rows = [
        [_cell(f, value) for f, value in zip(fields, row, strict=True)]
        for row in column_values(runs, fields)
    ]
    return fmt.table([header(f) for f in fields], rows, fixed=min(2, len(fields)))


def columns_csv(runs: list[RunSummary], fields: list[Field]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header(f) for f in fields])
    for row in column_values(runs, fields):
        writer.writerow(["" if value is None else _raw(value) for value in row])
    return out.getvalue().rstrip("\n")


def _raw(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _cell(field: Field, value) -> str:
    if value is None:
        return "-"
    if field.kind == "attributes" and field.key in ("start_time", "end_time"):
        return fmt.when(value)
    if field.kind == "attributes" and field.key == "duration":
        return fmt.duration(value)
    if isinstance(value, float):
        return fmt.number(value)
    return str(value)
