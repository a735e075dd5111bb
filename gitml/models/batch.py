"""Batch prediction: a file in (CSV, JSON, Parquet), predictions out (JSON or CSV)."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitml.errors import DocumentError, ModelInputError
from gitml.models.scoring import CSV, PARQUET, Scored

if TYPE_CHECKING:
    from gitml.models.load import PyFuncModel

INPUT_SUFFIXES = (".csv", ".json", ".parquet")
_TABLES = {".csv": CSV, ".parquet": PARQUET}  # read as a served body of that type
OUTPUT_SUFFIXES = (".json", ".csv")


def read_input_file(path: Path, signature: dict | None = None) -> Any:
    """(model input, params) in `path`, by its suffix, read as `gitml serve` reads a body
    (`gitml.models.scoring`).

    A JSON file holds a scoring-protocol request (`{"dataframe_split": …}` etc.), a list
    of records, or an object of columns.
    """
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise ModelInputError(
            f"{path}: cannot read {suffix or 'a file without suffix'} input; "
            f"use {', '.join(INPUT_SUFFIXES)}"
        )
    if not path.is_file():
        raise ModelInputError(f"{path}: no such input file")
    if suffix in _TABLES:
        from gitml.models.scoring import read_request

        try:
            return read_request(_TABLES[suffix], path.read_bytes(), signature)
        except ModelInputError as error:
            message = str(error).replace("the CSV body", "the file")
            message = message.replace("the Parquet body", "the file")
            raise ModelInputError(f"{path}: {message}") from None
    from gitml.documents import load_json

    try:
        payload = load_json(path.read_bytes(), str(path))
    except DocumentError as error:
        raise ModelInputError(str(error)) from None
    from gitml.models.inputs import INPUT_KEYS, parse_payload, to_model_input

    if isinstance(payload, dict) and any(key in payload for key in INPUT_KEYS):
        return parse_payload(payload)
    return to_model_input(payload), None


def check_output_path(path: Path) -> None:
    """Refuse an output file that could not be written, before any work is done."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ModelInputError(
            f"{path}: cannot write {suffix or 'a file without suffix'} output; use .json or .csv"
        )
    folder = path.parent
    if not folder.is_dir():
        raise ModelInputError(f"{path}: the folder {folder} does not exist; create it first")


def write_predictions(predictions: Any, path: Path | None) -> str | None:
    """Predictions to `path` (.json or .csv), or as JSON text returned when `path` is None."""
    from gitml.models.inputs import to_jsonable

    if path is None:
        return json.dumps({"predictions": to_jsonable(predictions)})
    check_output_path(path)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"predictions": to_jsonable(predictions)}) + "\n")
    else:
        _as_frame(predictions).to_csv(path, index=False)
    return None


def _as_frame(predictions):
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.to_frame(name=predictions.name or "prediction")
    array = np.asarray(predictions)
    if array.ndim <= 1:
        return pd.DataFrame({"prediction": array.reshape(-1)})
    return pd.DataFrame(array.reshape(len(array), -1)).rename(columns=lambda i: f"prediction_{i}")


def predict_file(
    model: "PyFuncModel", input_path: Path, output_path: Path | None
) -> tuple["Scored", str | None]:
    """(what was scored, JSON text when no output file) for one input file."""
    from gitml.models.scoring import score

    data, params = read_input_file(input_path, model.signature)
    scored = score(model, data, params)
    return scored, write_predictions(scored.predictions, output_path)
