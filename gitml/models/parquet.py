"""Reading a Parquet body (`gitml serve`, `gitml predict -i x.parquet`) within bounds.

A Parquet file is compressed and encoded: a few kilobytes can stand for billions of
values (run-length encoding) or a gigabyte of text (one long string, compressed, used by
every row). So the footer is read first, and a file whose values or decompressed size
pass the caller's limits is refused before any column is decoded; text and binary
columns are read as dictionaries (each distinct value once), so a value repeated over
many rows costs its size once. Nested columns (lists, structs, maps) are refused: a
model's input here is a flat table.
"""

from typing import Any

from gitml.errors import MissingExtraError, ModelInputError
from gitml.models.inputs import NO_LIMITS, BodyLimits, check_columns


def read_parquet(
    body: bytes | bytearray, limits: BodyLimits = NO_LIMITS, signature: dict | None = None
) -> Any:
    """A DataFrame from the Parquet file in `body`; ModelInputError for a file that cannot
    be read or passes `limits`, MissingExtraError without pyarrow."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtraError("reading Parquet", "pyarrow", "parquet") from None
    buffer = pa.py_buffer(body)
    try:
        schema = pq.read_schema(pa.BufferReader(buffer))
        check_columns("the Parquet body", len(schema), limits, signature)
        _check_flat(schema, pa)
        texts = [f.name for f in schema if _is_text(f.type, pa)]
        parquet = pq.ParquetFile(pa.BufferReader(buffer), read_dictionary=texts)
        _check_size(parquet.metadata, limits)
        frame = parquet.read(use_threads=False).to_pandas()
    except (pa.ArrowException, OSError, ValueError, TypeError) as error:
        raise ModelInputError(f"the Parquet body cannot be read: {error}") from None
    for name in texts:  # each row points at its dictionary value: no copy per row
        frame[name] = frame[name].astype(object)
    return frame


def _is_text(kind, pa) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _check_flat(schema, pa) -> None:
    for field in schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_nested(kind):
            raise ModelInputError(
                f"Parquet column {field.name!r} holds {kind}; a model's input is a table of "
                "plain values (numbers, booleans, text, dates): send nested values as JSON"
            )


def _check_size(metadata, limits: BodyLimits) -> None:
    values = decompressed = 0
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            values += max(chunk.num_values, row_group.num_rows)  # a footer may understate one
            decompressed += chunk.total_uncompressed_size
    if limits.values is not None and values > limits.values:
        raise ModelInputError(
            f"the Parquet body holds {values} values; the server takes at most "
            f"{limits.values} in one request (gitml serve --max-body raises it)"
        )
    if limits.decompressed_bytes is not None and decompressed > limits.decompressed_bytes:
        raise ModelInputError(
            f"the Parquet body decompresses to {decompressed} bytes; the server takes at most "
            f"{limits.decompressed_bytes} in one request (gitml serve --max-body raises it)"
        )
