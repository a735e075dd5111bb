"""The Starlette app: routes, the guard around them, the index page and static files."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gitml.errors import GitmlError
from gitml.ui import compare_api, events, models_api, runs_api, views_api
from gitml.ui.answers import BadRequest, error, gitml_error
from gitml.ui.security import Guard, token_meta
from gitml.ui.state import Ui

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 << 10  # bytes of a request body: views and registry writes are small

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gitml</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<main id="app"><p>gitml ui: the pages are not installed; the JSON API is at /api/runs.</p></main>
<script src="/vendor/plotly.min.js"></script>
<script src="/static/app.js" type="module"></script>
</body>
</html>
"""
_HEAD = re.compile(rb"<head[^>]*>", re.IGNORECASE)


def index_html(token: str) -> bytes:
    """The index page with this launch's token in `<meta name="gitml-token">`, put
    first in `<head>` (static/index.html, or a minimal shell when it is missing)."""
    try:
        page = (STATIC / "index.html").read_bytes()
    except OSError:
        page = _SHELL.encode()
    meta = token_meta(token).encode()
    found = _HEAD.search(page)
    if found is None:
        return meta + page
    return page[: found.end()] + meta + page[found.end() :]


def index(request: Request) -> Response:
    page = index_html(request.app.state.ui.token)
    return HTMLResponse(page, headers={"cache-control": "no-store"})


def plotly_js(request: Request) -> Response:
    """plotly.min.js from the installed plotly package (never copied into gitml)."""
    path = plotly_path()
    if path is None:
        return error(404, "plotly is not installed: pip install 'gitml[ui]'")
    return FileResponse(path, media_type="text/javascript")


def plotly_path() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    return None


def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return error(exc.status_code, str(exc.detail))
    return error(404, "not found")


def _unexpected(request: Request, exc: Exception) -> Response:
    return error(500, f"unexpected error: {type(exc).__name__}: {exc}")


def routes() -> list:
    get = ["GET"]
    return [
        Route("/", index, methods=get),
        Route("/api/runs", runs_api.runs, methods=get),
        Route("/api/select", runs_api.select, methods=get),
        Route("/api/runs/{run}", runs_api.record, methods=get),
        Route("/api/runs/{run}/metrics/{key:path}", runs_api.metric, methods=get),
        Route("/api/runs/{run}/artifacts", runs_api.artifacts, methods=get),
        Route("/api/runs/{run}/artifacts/{path:path}", runs_api.artifact, methods=get),
        Route("/api/runs/{run}/output", runs_api.output, methods=get),
        Route("/api/runs/{run}/code", runs_api.code, methods=get),
        Route("/api/runs/{run}/environment", runs_api.environment, methods=get),
        Route("/api/diff", compare_api.diff, methods=get),
        Route("/api/diff/code", compare_api.code_diff, methods=get),
        Route("/api/models", models_api.models, methods=get),
        # model names may hold '/' (team/churn): the name is all but the last part
        Route("/api/models/{name:path}/history", models_api.history, methods=get),
        Route("/api/models/{name:path}/at", models_api.at, methods=get),
        Route("/api/models/{name:path}/{action}", models_api.write, methods=["POST"]),
        Route("/api/views", views_api.listing, methods=get),
        Route("/api/views", views_api.save, methods=["POST"]),
        Route("/api/views/{name}", views_api.delete, methods=["DELETE"]),
        Route("/api/events", events.stream, methods=get),
        Route("/vendor/plotly.min.js", plotly_js, methods=get),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False)),
        Route("/api/{rest:path}", _no_endpoint),
        Route("/{page:path}", index, methods=get),  # the pages' own paths (/run/<id>, ...)
    ]


def _no_endpoint(request: Request) -> Response:
    return error(404, f"no API endpoint {request.url.path}")


def create_app(ui: Ui, hosts: frozenset[str]) -> Guard:
    app = Starlette(
        routes=routes(),
        exception_handlers={
            GitmlError: gitml_error,
            BadRequest: gitml_error,
            HTTPException: _not_found,
            Exception: _unexpected,
        },
        max_body_size=MAX_BODY,
    )
    app.state.ui = ui
    return Guard(app, hosts, ui.token)
