"""A signature as the `MLmodel` file holds it: MLflow's form, each schema a JSON string.

MLflow writes `signature: {inputs: '<json>', outputs: '<json>', params: '<json>'}`:
columns as `[{"type": "double", "name": "a", "required": true}, …]`, a tensor as
`[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]`, params as
`[{"name", "type", "default", "shape"}]`. gitml works on the same content as plain
values (columns as a list, a tensor as one `{"type": "tensor", "dtype", "shape"}`;
MLflow's nested array, object and map columns as `any`, whose values are not checked), and
folders gitml wrote before it used MLflow's form hold those plain values in the YAML
itself: both are read.

A signature is read before anything of the model is loaded, and bounded: a schema string
over MAX_SCHEMA_CHARS is refused rather than parsed.
"""

import json

from gitml.errors import DocumentError, ModelError
from gitml.models.signature import ANY

SCHEMA_KEYS = ("inputs", "outputs", "params")
_UNCHECKED = ("array", "object", "map", "sparkml_vector")  # MLflow's nested types: not checked
MAX_SCHEMA_CHARS = 4 << 20  # a table of 50,000 named columns takes about 3 MiB


def to_mlmodel(signature: dict | None) -> dict | None:
    """`signature` in MLflow's form: each schema a JSON string (None when absent)."""
    if signature is None:
        return None
    written: dict[str, str | None] = {}
    for key in SCHEMA_KEYS:
        value = signature.get(key)
        if not value:
            written[key] = None
        elif key == "params":
            written[key] = json.dumps(value)
        else:
            written[key] = json.dumps(_schema_to_mlflow(value))
    return written


def _schema_to_mlflow(spec: list | dict) -> list[dict]:
    if isinstance(spec, dict):  # a tensor
        tensor = {"dtype": spec["dtype"], "shape": list(spec.get("shape") or [])}
        return [{"type": "tensor", "tensor-spec": tensor}]
    columns = []
    for column in spec:
        written = {"type": column["type"]}
        if "name" in column:
            written["name"] = column["name"]
        written["required"] = column.get("required", True)
        columns.append(written)
    return columns


def from_mlmodel(signature: object, where: str) -> dict | None:
    """A signature in MLflow's form (or gitml's older one) as gitml works on it (see the
    module's doc), or ModelError saying what is wrong with it; `where` names it
    ("<folder>: the MLmodel's signature")."""
    if signature is None:
        return None
    if not isinstance(signature, dict):
        raise ModelError(f"{where} is not a mapping of inputs, outputs and params")
    read: dict = {}
    for key in SCHEMA_KEYS:
        value = signature.get(key)
        if isinstance(value, str):
            value = _parse(value, f"{where} {key}")
            if key != "params" and value is not None:
                value = _schema_from_mlflow(value, f"{where} {key}")
        if value:
            read[key] = value
    if not read.get("inputs"):
        return None if not read.get("params") else read
    return read


def _parse(text: str, where: str) -> object:
    from gitml.documents import load_json

    if len(text) > MAX_SCHEMA_CHARS:
        raise ModelError(
            f"{where} is {len(text):,} characters of JSON; gitml reads at most "
            f"{MAX_SCHEMA_CHARS:,} (is this MLmodel file damaged, or not from a model tool?)"
        )
    try:
        return load_json(text, where)
    except DocumentError as error:
        raise ModelError(str(error)) from None


def _schema_from_mlflow(value: object, where: str) -> list | dict:
    """MLflow's list of column or tensor specs as gitml's columns or one tensor."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ModelError(f"{where} is not a list of column or tensor specs")
    tensors = [item for item in value if item.get("type") == "tensor"]
    if not tensors:
        columns = []
        for item in value:
            column = {"name": item["name"]} if isinstance(item.get("name"), str) else {}
            kind = item.get("type")
            column["type"] = ANY if kind in _UNCHECKED else kind
            if item.get("required") is False:
                column["required"] = False
            columns.append(column)
        return columns
    if len(value) != 1:
        raise ModelError(
            f"{where} declares {len(value)} named tensors; gitml checks and feeds one tensor "
            "(or a table of columns)"
        )
    spec = tensors[0].get("tensor-spec")
    if not isinstance(spec, dict):
        raise ModelError(f"{where}: a tensor spec has no 'tensor-spec' entry")
    return {"type": "tensor", "dtype": spec.get("dtype"), "shape": spec.get("shape") or []}
