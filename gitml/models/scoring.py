"""One scoring request, read and answered the same way by `gitml serve` and `gitml predict`.

A body in one of the protocol's formats (JSON, CSV, Parquet) becomes model input and
params; the input is checked against the model's signature, the params are those the
signature declares, and the model predicts. Input with no rows is answered with no
predictions without calling the model (many libraries refuse an empty batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitml.models.inputs import NO_LIMITS, BodyLimits

if TYPE_CHECKING:
    from gitml.models.load import PyFuncModel

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)


@dataclass
class Scored:
    """The answer to one request."""

    predictions: object
    rows: int
    ignored_params: list[str] = field(default_factory=list)  # given, but not declared


def read_request(
    content_type: str,
    body: bytes | bytearray,
    signature: dict | None,
    limits: BodyLimits = NO_LIMITS,
) -> tuple[Any, dict | None]:
    """(model input, params) from a body of one of CONTENT_TYPES."""
    from gitml.models.inputs import parse_csv, parse_json_request

    if content_type == JSON:
        return parse_json_request(body, limits, signature)
    if content_type == CSV:
        return parse_csv(body, signature, limits), None
    from gitml.models.parquet import read_parquet

    return read_parquet(body, limits, signature), None


def score(model: PyFuncModel, data: Any, params: object) -> Scored:
    """`model`'s predictions for `data` (checked) with the params its signature declares."""
    checked = model.check_input(data)
    accepted, ignored = model.accepted_params(params)
    rows = count_rows(checked)
    predictions = [] if rows == 0 else model.predict_checked(checked, accepted)
    return Scored(predictions, rows, ignored)


def count_rows(data: Any) -> int:
    """Rows of a table or an array (a 0-d array is one value)."""
    try:
        return len(data)
    except TypeError:
        return 1
