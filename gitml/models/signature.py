"""Input signatures: inferred from an example when a model is saved, checked at predict time.

Two kinds, as in MLflow:
- columns: `[{"name": "f0", "type": "double"}, ...]` for tables (DataFrames, records);
- tensor: `{"type": "tensor", "dtype": "float32", "shape": [-1, 4]}` for arrays.

A check returns the input ready for the model (columns in the signature's order, numbers
widened to the declared type) or raises `ModelInputError` naming the column at fault.
"""

from collections.abc import Iterable
from typing import Any

from gitml.errors import DocumentError, ModelError, ModelInputError

COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")
_NUMPY_TYPE = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
}
# dtype kinds each column type takes without losing information
_ACCEPTED_KINDS = {
    "boolean": "b",
    "integer": "iu",
    "long": "iu",
    "float": "fiu",
    "double": "fiu",
    "datetime": "M",
}


def infer_signature(model_input: Any, model_output: Any = None) -> dict | None:
    """The signature of an input example (DataFrame, array, records or dict of columns)
    and, as in MLflow, of an output example when given (recorded; only inputs are checked)."""
    signature = {"inputs": _schema(model_input)}
    if model_output is not None:
        signature["outputs"] = _schema(model_output)
    return signature


def _schema(example):
    import numpy as np

    from gitml.models.inputs import to_model_input

    data = to_model_input(example)
    if isinstance(data, np.ndarray):
        shape = [-1, *data.shape[1:]]
        return {"type": "tensor", "dtype": str(data.dtype), "shape": shape}
    return [{"name": str(name), "type": _column_type(data[name])} for name in data.columns]


def _column_type(series) -> str:
    import pandas as pd

    kind = series.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer" if series.dtype.itemsize <= 4 else "long"
    if kind == "f":
        return "float" if series.dtype.itemsize <= 4 else "double"
    if kind == "M":
        return "datetime"
    values = series.dropna()
    if len(values) and all(isinstance(v, bytes) for v in values):
        return "binary"
    if pd.api.types.is_string_dtype(series.dtype) or all(isinstance(v, str) for v in values):
        return "string"
    raise ModelInputError(
        f"cannot infer a signature for column {series.name!r} of type {series.dtype}; "
        "pass signature= explicitly"
    )


def validate_signature(signature: dict) -> dict:
    """`signature` itself if its inputs are a column list or a tensor spec, else ModelError."""
    import numpy as np

    from gitml.documents import load_json

    spec = signature.get("inputs")
    if isinstance(spec, str):
        try:
            spec = load_json(spec, "the signature's inputs")
        except DocumentError:
            spec = None
    if isinstance(spec, dict) and spec.get("type") == "tensor":
        try:
            np.dtype(spec.get("dtype"))
        except TypeError:
            raise ModelError(
                f"the signature's tensor dtype {spec.get('dtype')!r} is not a numpy dtype"
            ) from None
        shape = spec.get("shape", [])
        if isinstance(shape, list) and all(isinstance(n, int) for n in shape):
            return signature
    elif isinstance(spec, list) and spec and all(isinstance(c, dict) for c in spec):
        for column in spec:
            if column.get("type") not in COLUMN_TYPES:
                raise ModelError(
                    f"the signature's column {column.get('name', '?')!r} has type "
                    f"{column.get('type')!r}; column types are: {', '.join(COLUMN_TYPES)}"
                )
        return signature
    raise ModelError(
        "the signature's inputs must be a list of {'name': …, 'type': …} columns or a "
        "{'type': 'tensor', 'dtype': …, 'shape': […]} spec "
        "(gitml.models.signature.infer_signature builds one)"
    )


def check_input(signature: dict | None, data: Any) -> Any:
    """`data` (a DataFrame or an array) made to fit `signature`, or a clear error."""
    spec = (signature or {}).get("inputs")
    if not spec:
        return data
    if isinstance(spec, str):  # MLflow writes the spec as a JSON string
        from gitml.documents import load_json

        spec = load_json(spec, "the model's signature (inputs)")
    if isinstance(spec, dict):
        return _check_tensor(spec, data)
    return _check_columns(spec, data)


def _check_columns(spec: list[dict], data):
    import numpy as np
    import pandas as pd

    from gitml.models.inputs import NamedArray

    names = [column["name"] for column in spec if "name" in column]
    if isinstance(data, NamedArray):
        checked = _check_named_array(spec, names, data)
        if checked is not None:
            return checked
        data = data.to_frame()
    if isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] != len(spec):
            raise ModelInputError(
                f"the model expects {len(spec)} named columns ({', '.join(names)}); got an "
                f"array of shape {list(data.shape)}: send a table with these columns"
            )
        data = pd.DataFrame(data, columns=names or None)
    if names and list(data.columns) != names:
        check_columns_present(names, data.columns)
        data = data[names]
    dtypes = data.dtypes
    casts = {}
    for position, column in enumerate(spec):
        name = column.get("name", data.columns[position])
        target = _check_column(name, column["type"], dtypes.iloc[position], data, position)
        if target is not None:
            casts[name] = target
    return data.astype(casts) if casts else data


def check_columns_present(expected: list[str], columns: Iterable[object]) -> None:
    """Refuse input that lacks some of the `expected` columns, in the one wording every
    path uses (the signature check, and flavors that know the names they were fitted on)."""
    present = set(columns)
    missing = [name for name in expected if name not in present]
    if missing:
        raise ModelInputError(
            f"input column {missing[0]!r} is missing"
            + (f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
            + f"; the model's signature expects: {', '.join(expected)}"
        )


def _check_named_array(spec: list[dict], names: list[str], data):
    """The array cast to the one numeric type all columns declare, or None to check a frame."""
    from gitml.models.inputs import NamedArray

    types = {column["type"] for column in spec}
    if data.columns != names or len(types) != 1:
        return None
    (wanted,) = types
    if wanted not in _NUMPY_TYPE or data.values.dtype.kind not in _ACCEPTED_KINDS[wanted]:
        return None
    target = _NUMPY_TYPE[wanted]
    values = data.values if data.values.dtype == target else data.values.astype(target)
    return NamedArray(names, values)


def _check_column(name: str, wanted: str, dtype, data, position: int) -> str | None:
    """The numpy dtype to cast the column to, None to keep it; an error if it does not fit."""
    accepted = _ACCEPTED_KINDS.get(wanted)
    if len(data) == 0:  # an empty batch: no value can be wrong
        target = _NUMPY_TYPE.get(wanted)
        return target if target and dtype != target else None
    if accepted is not None:
        if dtype.kind in accepted:
            target = _NUMPY_TYPE.get(wanted)
            return target if target and dtype != target else None
        series = data.iloc[:, position]
        if wanted == "datetime" and _is_text(series):
            return "datetime64[ns]"
    else:
        series = data.iloc[:, position]
        if wanted == "string" and _is_text(series):
            return None
        if wanted == "binary" and all(isinstance(v, bytes | bytearray) for v in series.dropna()):
            return None
    raise ModelInputError(
        f"input column {name!r} has {_describe(series)} values but the model's "
        f"signature expects {wanted}"
    )


def _is_text(series) -> bool:
    import pandas as pd

    if pd.api.types.is_string_dtype(series.dtype) and series.dtype.kind != "O":
        return True
    return series.dtype.kind == "O" and all(isinstance(v, str) for v in series.dropna())


def _describe(series) -> str:
    kind = series.dtype.kind
    if kind in "OUS" or _is_text(series):
        values = series.dropna()
        return f"text ({values.iloc[0]!r})" if len(values) else "missing"
    return {"b": "boolean", "i": "integer", "u": "integer", "f": "floating-point"}.get(
        kind, str(series.dtype)
    )


def _check_tensor(spec: dict, data):
    import numpy as np

    if not isinstance(data, np.ndarray):  # a DataFrame, or a NamedArray
        data = data.to_numpy() if hasattr(data, "to_numpy") else data.values
    dtype = np.dtype(spec["dtype"])
    shape = spec.get("shape") or []
    if data.ndim != len(shape) or any(
        want not in (-1, got) for want, got in zip(shape, data.shape, strict=False)
    ):
        raise ModelInputError(
            f"input has shape {list(data.shape)} but the model's signature expects {shape} "
            "(-1 means any size)"
        )
    if data.dtype == dtype:
        return data
    if not np.can_cast(data.dtype, dtype, casting="same_kind") and not (
        data.dtype.kind in "iu" and dtype.kind == "f"
    ):
        raise ModelInputError(
            f"input has {data.dtype} values but the model's signature expects {dtype}"
        )
    return data.astype(dtype)
