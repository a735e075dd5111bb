"""`GET /api/events`: Server-Sent Events as runs appear, change and end.

Once a second the stream compares the repository's fingerprints (`gitml.ui.watch`):
- `runs` when a run ref is created, moved or deleted, or a run starts or ends: the
  page reloads `/api/runs`;
- `run:<id>` when run `<id>`, in progress, logs something (a metric, output, an
  artifact): a page showing it reloads its metrics or output;
- `models` when a tag is written or removed (registry events).
Each event's data is a JSON object (`{"id": …}` for `run:<id>`). A comment line every
15 s keeps proxies from closing the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gitml.ui.answers import error
from gitml.ui.watch import Watcher

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
MAX_STREAMS = 32  # open at once: a page holds one; each polls the repository once a second


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _state(watcher: Watcher) -> tuple:
    return watcher.run_refs(), watcher.running(), watcher.tags()


async def changes(watcher: Watcher, poll: float = POLL_SECONDS) -> AsyncIterator[bytes]:
    """The events of `watcher`'s repository, for ever (the caller stops reading)."""
    refs, running, tags = await run_in_threadpool(_state, watcher)
    yield b"retry: 2000\n\n"
    quiet = 0.0
    while True:
        await asyncio.sleep(poll)
        new_refs, new_running, new_tags = await run_in_threadpool(_state, watcher)
        sent = False
        if new_refs != refs or new_running.keys() != running.keys():
            yield _event("runs", {})
            sent = True
        for run_id, stamp in new_running.items():
            if run_id in running and running[run_id] != stamp:
                yield _event(f"run:{run_id}", {"id": run_id})
                sent = True
        if new_tags != tags:
            yield _event("models", {})
            sent = True
        refs, running, tags = new_refs, new_running, new_tags
        quiet = 0.0 if sent else quiet + poll
        if quiet >= KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            quiet = 0.0


async def stream(request: Request) -> Response:
    """The event stream; 503 while MAX_STREAMS are open (a flood of connections would
    poll the repository as many times a second). Streams are counted while their body
    runs, so one whose client left before it started holds no place."""
    state = request.app.state
    watcher = state.ui.watcher
    if getattr(state, "event_streams", 0) >= MAX_STREAMS:
        return error(503, f"{MAX_STREAMS} event streams are open already; close a page")

    async def body() -> AsyncIterator[bytes]:
        if getattr(state, "event_streams", 0) >= MAX_STREAMS:
            return  # others took the places meanwhile
        state.event_streams = getattr(state, "event_streams", 0) + 1
        try:
            async for chunk in changes(watcher):
                if await request.is_disconnected():
                    return
                yield chunk
        finally:
            state.event_streams -= 1

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
