"""The scoring server: MLflow's protocol over HTTP, on uvicorn.

Routes: `GET /ping` and `GET /health` (200 once the model is loaded), `GET /version`,
`POST /invocations` (JSON in the scoring-protocol shapes, or `text/csv`), answering
`{"predictions": ...}`. Bad requests get a 4xx JSON error `{"error_code", "message"}`
and the server goes on serving.

The app is a bare ASGI callable (no framework): a request costs uvicorn's HTTP parsing
plus the model's work. Predictions run on the event loop itself; a prediction is CPU
work that holds the GIL anyway, and `workers` processes (forked after the model is
loaded, sharing one listening socket) give parallelism. Every accepted connection gets
TCP_NODELAY, so a response on a kept-alive connection is not held back by Nagle's
algorithm waiting for the client's delayed ACK.
"""

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from gitml.errors import ModelInputError, ServeError

JSON = b"application/json"


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    max_body_bytes: int = 64 << 20
    keep_alive_seconds: int = 5


class ScoringApp:
    """The ASGI application serving one loaded model."""

    def __init__(self, model, version: str, max_body_bytes: int = 64 << 20):
        self.model = model
        self.version = version.encode()
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in ("/ping", "/health"):
            status, body, kind = self._get(method, b"\n", b"text/plain")
        elif path == "/version":
            status, body, kind = self._get(method, self.version, b"text/plain")
        elif path == "/invocations":
            if method != "POST":
                status, body = _error(405, "METHOD_NOT_ALLOWED", "use POST for /invocations")
            else:
                status, body = await self._invocations(scope, receive)
            kind = JSON
        else:
            status, body = _error(
                404, "NOT_FOUND", f"no route {path}: use /ping, /health, /version, /invocations"
            )
            kind = JSON
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", kind), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _get(self, method: str, body: bytes, kind: bytes):
        if method not in ("GET", "HEAD"):
            return *_error(405, "METHOD_NOT_ALLOWED", "use GET"), JSON
        return 200, body, kind

    async def _invocations(self, scope, receive) -> tuple[int, bytes]:
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.split(b";", 1)[0].strip().lower()
        if content_type not in (JSON, b"text/csv"):
            shown = content_type.decode(errors="replace") or "none"
            return _error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"content type {shown!r} is not supported: send application/json or text/csv",
            )
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            return _error(413, "REQUEST_TOO_LARGE", f"the body is over {self.max_body_bytes} bytes")
        return self.invoke(content_type, body)

    def invoke(self, content_type: bytes, body: bytes) -> tuple[int, bytes]:
        from gitml.models.inputs import dumps, parse_csv, parse_json_request

        try:
            if content_type == JSON:
                data, params = parse_json_request(body)
            else:
                data, params = parse_csv(body), None
            predictions = self.model.predict(data, params)
        except ModelInputError as error:
            return _error(400, "BAD_REQUEST", str(error))
        except Exception as error:  # the model's own code refused the input
            failure = f"{type(error).__name__}: {error}"
            return _error(400, "BAD_REQUEST", f"the model failed on this input: {failure}")
        try:
            return 200, dumps(predictions)
        except (TypeError, ValueError) as error:
            return _error(
                500, "INTERNAL_ERROR", f"the predictions cannot be written as JSON: {error}"
            )


async def _read_body(receive, limit: int) -> bytes | None:
    """The request body, or None once it grows past `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    import json

    return status, json.dumps({"error_code": code, "message": message}).encode()


# running


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback one (127.0.0.0/8, ::1)."""
    import ipaddress

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; `proto` set explicitly so accepted sockets report TCP."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise ServeError(f"cannot resolve host {host!r}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port}: {error.strerror} (choose another --port)"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _protocol_class():
    """uvicorn's fastest HTTP protocol, with TCP_NODELAY set on each connection."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base

    class NoDelayProtocol(Base):
        def connection_made(self, transport) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

    return NoDelayProtocol


def serve(app: ScoringApp, options: ServeOptions, report: Callable[[str], None]) -> int:
    """Serve `app` until SIGTERM or SIGINT; returns the exit code. `report` gets news lines."""
    try:
        import uvicorn
    except ImportError:
        raise ServeError("serving needs uvicorn: pip install 'gitml[serve]'") from None
    sock = bind(options.host, options.port)
    config = uvicorn.Config(
        app,
        http=_protocol_class(),
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=options.keep_alive_seconds,
        timeout_graceful_shutdown=10,
    )
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    workers = f" with {options.workers} workers" if options.workers > 1 else ""
    report(f"serving on http://{shown}:{port}{workers} (POST /invocations; Ctrl-C stops)")
    if options.workers <= 1:
        return _run_worker(uvicorn, config, sock)
    return _supervise(uvicorn, config, sock, options.workers, report)


def _run_worker(uvicorn, config, sock: socket.socket) -> int:
    # uvicorn re-raises the signal that stopped it once it is done; a no-op handler
    # turns that into a plain return, so the process exits 0 after a clean shutdown
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _supervise(uvicorn, config, sock: socket.socket, workers: int, report) -> int:
    """Fork `workers` servers on the shared socket; restart one that dies, stop all on a signal."""
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _run_worker(uvicorn, config, sock)
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        spawn()
    code = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        if time.monotonic() - started < 2:  # dying at start-up: restarting would loop
            report(f"worker {pid} failed at start-up; stopping")
            code = 1
            stop(signal.SIGTERM, None)
        else:
            report(f"worker {pid} died (status {status}); starting another")
            spawn()
    sock.close()
    return code
