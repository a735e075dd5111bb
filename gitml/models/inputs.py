"""Turning what callers send into what models take, and predictions back into JSON.

Python callers may pass a pandas DataFrame, a numpy array, a list of records (dicts), a
list of rows or a dict of columns. HTTP callers send MLflow's scoring protocol: a JSON
object with exactly one of `dataframe_split`, `dataframe_records`, `instances`, `inputs`
(and optionally `params`), or a CSV body.
"""

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from gitml.errors import DocumentError, ModelInputError

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
# A table's columns past which `gitml serve` refuses a body, unless the signature
# declares more: pandas builds a table column by column (25 to 60 us each here), so a
# CSV line of a million columns, 14 MB, held a worker for 25 s. A tensor
# ({"inputs": [[...]]}) is one array whatever its width.
MAX_COLUMNS = 10_000


@dataclass(frozen=True)
class BodyLimits:
    """The most a request body may hold once decoded (None: no limit). `gitml serve`
    sets them; `gitml predict` reads the user's own files without."""

    values: int | None = None  # cells, counted over every column (Parquet)
    decompressed_bytes: int | None = None  # Parquet
    columns: int | None = None  # of a table: see MAX_COLUMNS


NO_LIMITS = BodyLimits()


def check_columns(what: str, count: int, limits: BodyLimits, signature: dict | None) -> None:
    """Refuse a table of `count` columns past `limits.columns` and the signature's own."""
    if limits.columns is None or count <= limits.columns:
        return
    from gitml.models.signature import input_spec

    spec = input_spec(signature)
    if isinstance(spec, list) and count <= len(spec):
        return
    raise ModelInputError(
        f"{what} holds a table of {count:,} columns; the server takes at most "
        f"{max(limits.columns, len(spec) if isinstance(spec, list) else 0):,} (or as many as "
        'the model\'s signature declares): send wide rows as a tensor, {"inputs": [[...], ...]}'
    )


class NamedArray:
    """A 2-D array of numbers with column names: a table without building a DataFrame.

    A one-row request spends more time in pandas building and checking a DataFrame than
    in the model itself; numeric tables stay in this form through the signature check
    and reach the models that can take plain arrays. Any other model gets `to_frame()`.
    """

    __slots__ = ("columns", "values")

    def __init__(self, columns: list[str], values):
        self.columns = columns
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.values, columns=self.columns)


def to_model_input(data: Any) -> Any:
    """A DataFrame or a NamedArray (tables), or a numpy array (everything else), for `data`."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame | np.ndarray | NamedArray):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        return _frame_from_columns(data)
    if isinstance(data, list | tuple):
        if data and all(isinstance(item, dict) for item in data):
            return pd.DataFrame.from_records(list(data))
        try:
            array = np.asarray(data)
        except ValueError as error:
            raise ModelInputError(f"input rows do not form a regular array: {error}") from None
        return array if array.ndim > 1 else array.reshape(-1, 1)
    if hasattr(data, "__array__"):
        return np.asarray(data)
    raise ModelInputError(
        f"cannot predict on a {type(data).__name__}: pass a pandas DataFrame, a numpy array, "
        "a list of records or a dict of columns"
    )


def _frame_from_columns(columns: dict):
    import pandas as pd

    try:
        return pd.DataFrame({key: _as_column(value) for key, value in columns.items()})
    except ValueError as error:
        raise ModelInputError(f"input columns do not form a table: {error}") from None


def _as_column(value):
    """A column's values; a single value (text included) is a column of one."""
    return value if hasattr(value, "__len__") and not isinstance(value, str | bytes) else [value]


# the scoring protocol


def parse_json_request(
    body: bytes | bytearray, limits: BodyLimits = NO_LIMITS, signature: dict | None = None
) -> tuple[Any, dict | None]:
    """(model input, params) from a scoring-protocol JSON body."""
    from gitml.documents import load_json

    try:
        payload = load_json(body, "the request body")
    except DocumentError as error:
        raise ModelInputError(f"the request body is {error.problem}") from None
    return parse_payload(payload, limits, signature)


def parse_payload(
    payload: object, limits: BodyLimits = NO_LIMITS, signature: dict | None = None
) -> tuple[Any, dict | None]:
    """(model input, params) from a decoded scoring-protocol object."""
    if not isinstance(payload, dict):
        raise ModelInputError(_shape_hint(f"got a JSON {type(payload).__name__}"))
    keys = [key for key in INPUT_KEYS if key in payload]
    unknown = sorted(set(payload) - set(INPUT_KEYS) - {"params"})
    if len(keys) != 1 or unknown:
        found = ", ".join(sorted(payload)) or "no keys"
        raise ModelInputError(_shape_hint(f"got {found}"))
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise ModelInputError("'params' must be a JSON object of name: value")
    key = keys[0]
    check_columns(key, _width(payload[key], key), limits, signature)
    return _READERS[key](payload[key]), params


def _width(value: object, key: str) -> int:
    """The columns a table in `value` would have, counted before it is built (0 for what
    is no table: an array, or a shape the reader refuses)."""
    if isinstance(value, dict):
        if key != "dataframe_split":
            return len(value)  # a dict of columns
        columns, rows = value.get("columns"), value.get("data")
        if isinstance(columns, list):
            return len(columns)
        if isinstance(rows, list):
            return max((len(row) for row in rows if isinstance(row, list | dict)), default=0)
        return 0
    if isinstance(value, list) and value and isinstance(value[0], dict):
        names: set = set()
        for row in value:  # records: the union of their keys
            if isinstance(row, dict):
                names.update(row)
        return len(names)
    return 0


def _shape_hint(found: str) -> str:
    return (
        "the request must be a JSON object with exactly one of dataframe_split, "
        f"dataframe_records, instances or inputs (plus optional params); {found}"
    )


def _read_split(value):
    import pandas as pd

    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise ModelInputError(
            'dataframe_split must be {"columns": [...], "data": [[...], ...]} (index optional)'
        )
    columns, rows = value.get("columns"), value["data"]
    if columns is not None and not isinstance(columns, list):
        raise ModelInputError("dataframe_split.columns must be a list of column names")
    if rows and all(isinstance(row, list) for row in rows):
        widths = {len(row) for row in rows}
        if columns is not None and widths != {len(columns)}:
            raise ModelInputError(
                f"dataframe_split has {len(columns)} columns but rows of "
                f"{', '.join(map(str, sorted(widths)))} values"
            )
        numbers = _numeric_array(rows)
        if numbers is not None and columns is not None and all(isinstance(c, str) for c in columns):
            return NamedArray(columns, numbers)
    try:
        return pd.DataFrame(rows, columns=columns, index=value.get("index"))
    except (ValueError, TypeError) as error:
        raise ModelInputError(f"dataframe_split does not form a table: {error}") from None


def _numeric_array(rows: list):
    """Rows of plain numbers (no bools, no text) as one float or int array, else None."""
    import numpy as np

    try:
        array = np.asarray(rows)
    except ValueError:
        return None
    if array.dtype.kind not in "if" or array.ndim != 2:
        return None
    if any(value is True or value is False for row in rows for value in row):
        return None  # numpy reads booleans as numbers; the signature check must see them
    return array


def _read_records(value):
    import pandas as pd

    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise ModelInputError("dataframe_records must be a list of {column: value} objects")
    return pd.DataFrame.from_records(value)


def _read_instances(value):
    """TF-serving style: a list of rows or values, or a dict / list of dicts of columns."""
    if isinstance(value, dict):
        return _frame_from_columns(value)
    if not isinstance(value, list):
        raise ModelInputError(f"'instances'/'inputs' must be a list or an object, not {value!r}")
    if value and all(isinstance(item, dict) for item in value):
        import pandas as pd

        return pd.DataFrame.from_records(value)
    return _array(value)


def _array(value):
    import numpy as np

    try:
        array = np.asarray(value)
    except ValueError as error:
        raise ModelInputError(f"the input rows do not form a regular array: {error}") from None
    if array.dtype == object:
        raise ModelInputError("the input rows do not form a regular array of numbers or text")
    return array


_READERS = {
    "dataframe_split": _read_split,
    "dataframe_records": _read_records,
    "instances": _read_instances,
    "inputs": _read_instances,
}


def parse_csv(
    body: bytes | bytearray, signature: dict | None = None, limits: BodyLimits = NO_LIMITS
) -> Any:
    """A DataFrame from a CSV body, whose first line is always its header.

    Data is never dropped in silence: a first line of numbers only (other than pandas'
    default labels 0, 1, 2, …, or names the signature declares) is a row of data with no
    header, and is refused; so is any CSV for a tensor signature, as in MLflow (a tensor
    has no column names, and CSV no types).
    """
    import pandas as pd

    from gitml.models.signature import input_spec

    spec = input_spec(signature)
    if isinstance(spec, dict):
        raise ModelInputError(
            f"the model takes a tensor ({spec.get('dtype')}, shape {spec.get('shape')}), and "
            "CSV is a table whose first line names its columns: send the rows as JSON "
            '({"inputs": [[...], ...]}) or Parquet'
        )
    try:
        if limits.columns is not None:
            check_columns("the CSV body", len(_csv_header(body)), limits, signature)
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as error:
        raise ModelInputError(f"the CSV body cannot be read: {error}") from None
    declared = [column["name"] for column in spec or [] if "name" in column]
    header = [str(name) for name in frame.columns]
    defaults = [str(number) for number in range(len(header))]
    if (
        header
        and all(_NUMBER.match(name) for name in header)
        and header != defaults
        and not set(header) <= set(declared)
    ):
        shown = ", ".join(name[:24] for name in header[:5]) + (", …" if len(header) > 5 else "")
        wanted = f" ({', '.join(declared)})" if declared else ""
        raise ModelInputError(
            f"the CSV's first line ({shown}) holds only numbers, so it is a row of data, not a "
            f"header: start the CSV with a line naming the columns{wanted} "
            "(pandas' DataFrame.to_csv(index=False) writes one)"
        )
    return frame


def _csv_header(body: bytes | bytearray) -> list[str]:
    """The fields of a CSV's first record (its quoted fields may span lines)."""
    text = io.TextIOWrapper(io.BytesIO(body), encoding="utf-8", newline="")
    return next(csv.reader(text), [])


_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


# outputs


def to_jsonable(predictions: Any) -> Any:
    """Predictions as plain JSON values (lists, numbers, strings, dicts)."""
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):  # a DataFrame
        return _clean(predictions.to_dict(orient="records"))
    if hasattr(predictions, "tolist"):  # numpy arrays and scalars, Series, torch tensors
        return _clean(predictions.tolist())
    if isinstance(predictions, dict):
        return {str(key): to_jsonable(value) for key, value in predictions.items()}
    if isinstance(predictions, list | tuple):
        return [to_jsonable(item) for item in predictions]
    return _clean(predictions)


def _clean(value):
    """NaN and infinities become null, so the answer stays valid JSON."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    return value


def dumps(predictions: Any) -> bytes:
    return json.dumps({"predictions": to_jsonable(predictions)}, allow_nan=False).encode()
