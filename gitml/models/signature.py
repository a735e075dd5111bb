"""Input signatures: inferred from an example when a model is saved, checked at predict time.

Two kinds, as in MLflow:
- columns: `[{"name": "f0", "type": "double"}, ...]` for tables (DataFrames, records);
- tensor: `{"type": "tensor", "dtype": "float32", "shape": [-1, 4]}` for arrays.

A check returns the input ready for the model (columns in the signature's order, numbers
widened to the declared type) or raises `SignatureMismatchError` naming the column at fault.
Floats holding whole numbers fit an integer type (a JSON client may write `3.0`); a
fraction, a missing value or a number out of the type's range is refused, never truncated
or wrapped. Input with no rows has nothing to check beyond the columns it names.

A signature may also declare the params `predict` takes (`gitml.models.params`).
"""

from collections.abc import Iterable
from typing import Any

from gitml.errors import ModelError, ModelInputError, SignatureMismatchError

PARAM_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")
# "any": MLflow's AnyType, and what its array, object and map columns are read as (the
# column must be there; its values reach the model as they are)
ANY = "any"
COLUMN_TYPES = (*PARAM_TYPES, ANY)
_NUMPY_TYPE = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
}
INTEGER_TYPES = ("integer", "long")
# dtype kinds each column type takes without losing information
_ACCEPTED_KINDS = {
    "boolean": "b",
    "integer": "iu",
    "long": "iu",
    "float": "fiu",
    "double": "fiu",
    "datetime": "M",
}


class ModelSignature(dict):
    """MLflow's `ModelSignature`, as gitml holds one: a dict with `inputs` (a list of
    `{"name", "type"}` columns or a `{"type": "tensor", "dtype", "shape"}` spec) and, when
    known, `outputs` and `params`; the attributes of the same names read those entries.
    `to_dict()` gives the form the MLmodel file holds (each schema a JSON string, as in
    MLflow), `ModelSignature.from_dict` reads it back."""

    def __init__(self, inputs: Any = None, outputs: Any = None, params: Any = None):
        super().__init__()
        for key, value in (("inputs", inputs), ("outputs", outputs), ("params", params)):
            if value is not None:
                self[key] = value

    @property
    def inputs(self) -> Any:
        return self.get("inputs")

    @property
    def outputs(self) -> Any:
        return self.get("outputs")

    @property
    def params(self) -> Any:
        return self.get("params")

    def to_dict(self) -> dict:
        from gitml.models.signature_json import to_mlmodel

        return to_mlmodel(self) or {}

    @classmethod
    def from_dict(cls, signature_dict: dict) -> "ModelSignature":
        from gitml.models.signature_json import from_mlmodel

        return cls(**(from_mlmodel(signature_dict, "the signature") or {}))


def infer_signature(
    model_input: Any, model_output: Any = None, params: dict | None = None
) -> ModelSignature:
    """The signature of an input example (DataFrame, array, records or dict of columns)
    and, as in MLflow, of an output example when given (recorded; only inputs are checked)
    and of the params `predict` takes (`{name: default}`; their types come from the values)."""
    signature = ModelSignature(_schema(model_input))
    if model_output is not None:
        signature["outputs"] = _schema(model_output)
    if params:
        from gitml.models.params import infer_param_specs

        signature["params"] = infer_param_specs(params)
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
    """`signature` (in MLflow's form, schemas as JSON strings, it is read first) if its
    inputs are a column list or a tensor spec, else ModelError."""
    import numpy as np

    from gitml.models.signature_json import SCHEMA_KEYS, from_mlmodel

    if any(isinstance(signature.get(key), str) for key in SCHEMA_KEYS):
        signature = from_mlmodel(signature, "the signature") or {}
    if signature.get("params") is not None:
        from gitml.models.params import validate_param_specs

        validate_param_specs(signature["params"])
    spec = signature.get("inputs")
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
            if not isinstance(column.get("name", ""), str):
                raise ModelError(f"the signature's column name {column['name']!r} is not text")
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


def input_spec(signature: dict | None) -> list | dict | None:
    """The signature's inputs: a list of columns, a tensor spec, or None."""
    return (signature or {}).get("inputs") or None


def check_input(signature: dict | None, data: Any) -> Any:
    """`data` (a DataFrame or an array) made to fit `signature`, or a clear error."""
    spec = input_spec(signature)
    if not spec:
        return data
    if isinstance(spec, dict):
        return _check_tensor(spec, data)
    return _check_columns(spec, data)


def _check_columns(spec: list[dict], data):
    import numpy as np
    import pandas as pd

    from gitml.models.inputs import NamedArray

    present = getattr(data, "columns", None)
    if present is not None and any(column.get("required") is False for column in spec):
        given = set(present)  # an optional column (MLflow's required: false) may be left out
        spec = [c for c in spec if c.get("required", True) or c.get("name") in given]
    names = [column["name"] for column in spec if "name" in column]
    if isinstance(data, NamedArray):
        checked = _check_named_array(spec, names, data)
        if checked is not None:
            return checked
        data = data.to_frame()
    if isinstance(data, np.ndarray) and data.ndim == 1 and len(data) == 0:
        data = pd.DataFrame()  # an empty list: no rows, and no columns named
    if isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] != len(spec):
            raise SignatureMismatchError(
                f"the model expects {len(spec)} named columns ({', '.join(names)}); got an "
                f"array of shape {list(data.shape)}: send a table with these columns"
            )
        data = pd.DataFrame(data, columns=names or None)
    if len(data) == 0 and len(data.columns) == 0:  # no rows, no columns named: none missing
        data = pd.DataFrame({name: pd.Series(dtype=object) for name in names or range(len(spec))})
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
        raise SignatureMismatchError(
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
    if wanted in INTEGER_TYPES and data.values.dtype != target:
        return None  # a narrower integer type: the frame's check names a value out of range
    values = data.values if data.values.dtype == target else data.values.astype(target)
    return NamedArray(names, values)


def _check_column(name: str, wanted: str, dtype, data, position: int) -> str | None:
    """The numpy dtype to cast the column to, None to keep it; an error if it does not fit."""
    accepted = _ACCEPTED_KINDS.get(wanted)
    if wanted == ANY:
        return None
    if len(data) == 0:  # an empty batch: no value can be wrong
        target = _NUMPY_TYPE.get(wanted)
        return target if target and dtype != target else None
    if accepted is not None:
        target = _NUMPY_TYPE.get(wanted)
        if dtype.kind in accepted:
            if wanted in INTEGER_TYPES and dtype != target:
                column = data.iloc[:, position].to_numpy()
                _fit_integers(column, _NUMPY_TYPE[wanted], f"input column {name!r}")
            return target if target and dtype != target else None
        series = data.iloc[:, position]
        if wanted in INTEGER_TYPES and dtype.kind == "f":
            _fit_integers(series.to_numpy(), _NUMPY_TYPE[wanted], f"input column {name!r}", wanted)
            return _NUMPY_TYPE[wanted]
        if wanted == "datetime" and _is_text(series):
            return "datetime64[ns]"
    else:
        series = data.iloc[:, position]
        if wanted == "string" and _is_text(series):
            return None
        if wanted == "binary" and all(isinstance(v, bytes | bytearray) for v in series.dropna()):
            return None
    raise SignatureMismatchError(
        f"input column {name!r} has {_describe(series)} values but the model's "
        f"signature expects {wanted}"
    )


def _fit_integers(values, target: str, where: str, expects: str = "") -> None:
    """Refuse values the integer type `target` cannot hold as they are: a fraction, a
    missing value, a number out of its range (numpy's cast would truncate or wrap them)."""
    import numpy as np

    expects = expects or target
    if values.size == 0 or values.dtype.kind not in "iuf":
        return
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(values) & (np.floor(values) == values)
        if not whole.all():
            bad = float(values[~whole].flat[0])
            if bad != bad:
                raise SignatureMismatchError(
                    f"{where} has a missing value (NaN) but the model's signature expects "
                    f"{expects}, which cannot hold one"
                )
            raise SignatureMismatchError(
                f"{where} has the value {bad!r}, not a whole number, but the model's "
                f"signature expects {expects}"
            )
    limits = np.iinfo(target)
    low, high = int(values.min()), int(values.max())
    if low < limits.min or high > limits.max:
        bad = low if low < limits.min else high
        raise SignatureMismatchError(
            f"{where} has the value {bad}, outside the range of {expects} "
            f"({limits.min} to {limits.max})"
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
    if data.ndim == 1 and len(data) == 0 and len(shape) > 1:  # an empty list: no rows
        return np.empty([0, *(max(size, 0) for size in shape[1:])], dtype=dtype)
    if data.ndim != len(shape) or any(
        want not in (-1, got) for want, got in zip(shape, data.shape, strict=False)
    ):
        raise SignatureMismatchError(
            f"input has shape {list(data.shape)} but the model's signature expects {shape} "
            "(-1 means any size)"
        )
    if data.dtype == dtype:
        return data
    if dtype.kind in "iu" and data.dtype.kind in "iuf":
        _fit_integers(data, str(dtype), "input")
        return data.astype(dtype)
    if not np.can_cast(data.dtype, dtype, casting="same_kind") and not (
        data.dtype.kind in "iu" and dtype.kind == "f"
    ):
        raise SignatureMismatchError(
            f"input has {data.dtype} values but the model's signature expects {dtype}"
        )
    return data.astype(dtype)
