"""`/api/models…`: the registry board, each model's history, the stages at a date, and
the writes (register, promote, unassign: the tags `gitml model` writes)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from gitml.ui.answers import BadRequest, answer


def _repo(request: Request):
    return request.app.state.ui.repo


def models(request: Request) -> Response:
    """`GET /api/models`: every model with its latest version, stages and versions."""
    from gitml.registry.operations import list_models

    found = list_models(_repo(request), include_deprecated=True)
    return answer({"models": [model.to_json() for model in found]})


def history(request: Request) -> Response:
    """`GET /api/models/<name>/history`: every event, oldest first: who, when, message."""
    from gitml.registry.operations import history as events

    name = request.path_params["name"]
    return answer({"model": name, "events": [e.to_json() for e in events(_repo(request), name)]})


def at(request: Request) -> Response:
    """`GET /api/models/<name>/at?date=ISO`: the versions each stage held at that date,
    replayed from the events written until then."""
    from gitml.registry.events import replay_model
    from gitml.registry.operations import find_model

    name = request.path_params["name"]
    when = _date(request.query_params.get("date", ""))
    model = find_model(_repo(request), name)
    moment = when.timestamp()
    then = replay_model(name, [event for event in model.events if event.time <= moment])
    return answer(
        {
            "model": name,
            "date": when.isoformat(),
            "stages": {stage: list(held) for stage, held in then.stages.items() if held},
            "latest": then.latest.version if then.latest else None,
            "events": len(then.events),
        }
    )


def _date(text: str) -> datetime:
    """An ISO 8601 date or time; without a zone, the server's local time; a date alone
    means its end (what was there on that day)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(400, f"date must be an ISO date or time, got {text[:40]!r}") from None
    if len(text) <= 10:  # YYYY-MM-DD: the end of that day
        when = when.replace(hour=23, minute=59, second=59)
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(UTC)


_ACTIONS = ("register", "promote", "unassign")


async def write(request: Request) -> Response:
    """`POST /api/models/<name>/register|promote|unassign` with a JSON body."""
    from starlette.concurrency import run_in_threadpool

    action = request.path_params["action"]
    if action not in _ACTIONS:
        raise BadRequest(404, f"no registry action {action[:40]!r}: use {', '.join(_ACTIONS)}")
    body = await _json_body(request)
    events = await run_in_threadpool(
        _write, _repo(request), request.path_params["name"], action, body
    )
    return answer({"events": [event.to_json() for event in events]})


def _write(repo, name: str, action: str, body: dict) -> list:
    from gitml.registry import operations as registry

    message = _text(body, "message") or ""
    if action == "register":
        options = registry.RegisterOptions(
            version=_text(body, "version"),
            bump=_text(body, "bump") or "patch",
            path=_text(body, "path"),
            message=message,
        )
        return [registry.register(repo, name, _required(body, "run"), options)]
    if action == "promote":
        promote = registry.PromoteOptions(
            message=message, keep_previous=bool(body.get("keep_previous")), path=_text(body, "path")
        )
        version, stage = _required(body, "version"), _required(body, "stage")
        return registry.promote(repo, name, version, stage, promote)
    version, stage = _required(body, "version"), _required(body, "stage")
    return [registry.unassign(repo, name, version, stage, message)]


async def _json_body(request: Request) -> dict:
    from gitml.documents import load_json
    from gitml.errors import DocumentError

    try:
        body = load_json(await request.body(), "the body")
    except DocumentError:  # not JSON, or nested too deep
        raise BadRequest(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object")
    return body


def _text(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(400, f"{key} must be text")
    return value


def _required(body: dict, key: str) -> str:
    value = _text(body, key)
    if not value:
        raise BadRequest(400, f"give {key}")
    return value
