"""JSON answers and errors: one shape of error for every endpoint.

An error is `{"error": {"message", "field", "position"}}`: `field` names the run field
the problem is about (`metrics.acc`), `position` the 0-based offset in the filter where
parsing stopped; either may be null. gitml's own errors map to statuses here, once.
"""

from __future__ import annotations

import json
import re

from starlette.requests import Request
from starlette.responses import Response

from gitml.errors import (
    FilterSyntaxError,
    GitmlError,
    InvalidValueError,
    RegistryError,
    RunNotFoundError,
    RunStateError,
    UnknownKeyError,
    UnsafePathError,
)

JSON = "application/json"


def dumps(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def answer(data: object, status: int = 200) -> Response:
    return Response(dumps(data), status, media_type=JSON)


def error(
    status: int, message: str, field: str | None = None, position: int | None = None
) -> Response:
    return answer({"error": {"message": message, "field": field, "position": position}}, status)


class BadRequest(Exception):
    """A request the API refuses: the status and message to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def gitml_error(request: Request, exc: Exception) -> Response:
    """gitml's errors as answers: not found 404, a run still running 409, the rest 400."""
    if isinstance(exc, BadRequest):
        return error(exc.status, exc.message)
    if isinstance(exc, FilterSyntaxError):
        position = exc.column - 1
        message = f"{exc.reason} (at column {exc.column})"
        return error(400, message, field_near(exc.expression, position), position)
    if isinstance(exc, UnknownKeyError):
        return error(400, str(exc), exc.key)
    if isinstance(exc, RunNotFoundError):
        return error(404, str(exc))
    if isinstance(exc, RunStateError):
        return error(409, str(exc))
    if isinstance(exc, (InvalidValueError, UnsafePathError, RegistryError, GitmlError)):
        return error(400, str(exc))
    raise exc


_FIELD = re.compile(
    r"(?i)\b(?:metrics?|params?|parameters|tags?|attributes?|attr|run)\s*\.\s*"
    r"(?:`(?:[^`]|``)*`|\"[^\"]*\"|'[^']*'|[A-Za-z0-9_][A-Za-z0-9_\-/:]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-/:]*)*)"
)


def field_near(text: str, position: int) -> str | None:
    """The field of the comparison a filter error at `position` is in: the last
    `kind.key` that starts before it, in the grammar's spelling; None if there is none."""
    from gitml.compare.search import field_text, parse_field

    found = None
    for match in _FIELD.finditer(text):
        if match.start() > position:
            break
        found = match.group(0)
    if found is None:
        return None
    try:
        return field_text(parse_field(found))
    except GitmlError:
        return None
