"""`/api/views`: saved named views (`gitml.ui.views`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gitml.ui.answers import BadRequest, answer
from gitml.ui.models_api import _json_body


def listing(request: Request) -> Response:
    """`GET /api/views`: every view: name, query (null if unreadable), problem."""
    from gitml.ui.views import list_views

    return answer({"views": [view.to_json() for view in list_views(request.app.state.ui.repo)]})


async def save(request: Request) -> Response:
    """`POST /api/views` `{"name", "query"}`: save (or replace) a view."""
    from gitml.ui.views import save_view

    body = await _json_body(request)
    view = await run_in_threadpool(
        save_view, request.app.state.ui.repo, body.get("name"), body.get("query")
    )
    return answer(view.to_json())


async def delete(request: Request) -> Response:
    """`DELETE /api/views/<name>`."""
    from gitml.ui.views import delete_view

    name = request.path_params["name"]
    if not await run_in_threadpool(delete_view, request.app.state.ui.repo, name):
        raise BadRequest(404, f"no view named {name[:100]!r}")
    return answer({"deleted": name})
