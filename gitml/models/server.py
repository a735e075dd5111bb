"""The scoring server: MLflow's protocol over HTTP, on uvicorn.

Routes: `GET /ping` and `GET /health` (200 once the model is loaded), `GET /version`,
`POST /invocations` (JSON in the scoring-protocol shapes, `text/csv` or Parquet, read as
`gitml.models.scoring` says), answering `{"predictions": ...}`. Bad requests get a 4xx
JSON error `{"error_code", "message"}` (MLflow's codes: BAD_REQUEST for a body that
cannot be read, INVALID_PARAMETER_VALUE for input the signature refuses) and the server
goes on serving.

The app is a bare ASGI callable (no framework): a request costs uvicorn's HTTP parsing
plus the model's work. Bodies are read on the event loop; parsing and prediction run on
one thread of their own (`PredictionThread`), so the loop keeps answering health checks,
reading other requests and timing out stalled clients while a model works. `workers`
processes (forked after the model is loaded, sharing one listening socket) give
parallelism. Memory is bounded per worker: a body over `max_body_bytes` gets a 413, and
the bodies being read, parsed or predicted on at once never add up to more than
`max_inflight_bytes` (a request that would pass it gets a 503). Stalled and surplus
connections are handled by `gitml.models.connections`.
"""

import asyncio
import contextlib
import queue
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitml.errors import MissingExtraError, ModelInputError, ServeError, SignatureMismatchError
from gitml.models.connections import error_body
from gitml.models.inputs import MAX_COLUMNS, BodyLimits
from gitml.models.scoring import CONTENT_TYPES
from gitml.models.scoring import JSON as JSON_TYPE

JSON = JSON_TYPE.encode()
_ACCEPTED = tuple(kind.encode() for kind in CONTENT_TYPES)


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    max_body_bytes: int = 64 << 20
    max_inflight_bytes: int = 128 << 20
    request_timeout: float = 30.0
    max_connections: int = 1000
    keep_alive_seconds: int = 5

    @property
    def body_limits(self) -> BodyLimits:
        """What a body may hold decoded: a Parquet one about what a --max-body of JSON or
        CSV can carry (a quarter of a value per byte, four times the bytes
        decompressed); a table at most MAX_COLUMNS columns, or the signature's."""
        return BodyLimits(
            values=self.max_body_bytes // 4,
            decompressed_bytes=4 * self.max_body_bytes,
            columns=MAX_COLUMNS,
        )

    def check(self) -> None:
        """Refuse limits that would turn every request away."""
        if self.max_inflight_bytes < self.max_body_bytes:
            raise ServeError(
                f"--max-inflight ({self.max_inflight_bytes} bytes) is below --max-body "
                f"({self.max_body_bytes} bytes): a body of the largest allowed size could "
                "never be read; raise --max-inflight or lower --max-body"
            )


class ScoringApp:
    """The ASGI application serving one loaded model."""

    def __init__(
        self,
        model,
        version: str,
        options: ServeOptions | None = None,
        report: Callable[[str], None] | None = None,
    ):
        options = options or ServeOptions()
        self.model = model
        self.version = version.encode()
        self.max_body_bytes = options.max_body_bytes
        self.body_limits = options.body_limits
        self.inflight = ByteBudget(options.max_inflight_bytes)
        self.predictions = PredictionThread()
        self.report = report or (lambda _line: None)
        self.warned_params = False  # undeclared params are reported once per worker

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
                try:
                    status, body = await self._invocations(scope, receive)
                except ClientGone:
                    return
            kind = JSON
        else:
            status, body = _error(
                404, "NOT_FOUND", f"no route {path}: use /ping, /health, /version, /invocations"
            )
            kind = JSON
        headers = [(b"content-type", kind), (b"content-length", b"%d" % len(body))]
        if status == 503:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _get(self, method: str, body: bytes, kind: bytes):
        if method not in ("GET", "HEAD"):
            return *_error(405, "METHOD_NOT_ALLOWED", "use GET"), JSON
        return 200, body, kind

    async def _invocations(self, scope, receive) -> tuple[int, bytes]:
        content_type, declared = b"", None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.split(b";", 1)[0].strip().lower()
            elif name == b"content-length" and value.isdigit():
                declared = int(value)
        if content_type not in _ACCEPTED:
            shown = content_type.decode(errors="replace") or "none"
            return _error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"content type {shown!r} is not supported: send {', '.join(CONTENT_TYPES)}",
            )
        if declared is not None and declared > self.max_body_bytes:
            return self._too_large()
        held = Holding(self.inflight)
        try:
            body = await _read_body(receive, self.max_body_bytes, held)
            if body is None:
                return self._too_large()
            if body is _OVER_BUDGET:
                return _error(
                    503,
                    "TEMPORARILY_UNAVAILABLE",
                    f"the server is reading and predicting on {self.inflight.limit} bytes of "
                    "requests at once (gitml serve --max-inflight); retry later",
                )
            return await self.predictions.run(self.invoke, content_type, body)
        finally:
            held.release()

    def _too_large(self) -> tuple[int, bytes]:
        return _error(
            413,
            "REQUEST_TOO_LARGE",
            f"the body is over {self.max_body_bytes} bytes (gitml serve --max-body)",
        )

    def invoke(self, content_type: bytes, body: bytes | bytearray) -> tuple[int, bytes]:
        """(status, JSON answer) for a request body; runs on the prediction thread."""
        from gitml.documents import collector_paused

        with collector_paused():  # and the request's objects are freed before it resumes
            return self._answer(content_type, body)

    def _answer(self, content_type: bytes, body: bytes | bytearray) -> tuple[int, bytes]:
        from gitml.models.inputs import dumps
        from gitml.models.scoring import read_request, score

        try:
            data, params = read_request(
                content_type.decode(), body, self.model.signature, self.body_limits
            )
            scored = score(self.model, data, params)
        except MissingExtraError as error:
            return _error(415, "UNSUPPORTED_MEDIA_TYPE", f"this server cannot read it: {error}")
        except SignatureMismatchError as error:
            return _error(400, "INVALID_PARAMETER_VALUE", str(error))
        except ModelInputError as error:
            return _error(400, "BAD_REQUEST", str(error))
        except Exception as error:  # the model's own code refused the input
            failure = f"{type(error).__name__}: {error}"
            return _error(400, "BAD_REQUEST", f"the model failed on this input: {failure}")
        if scored.ignored_params and not self.warned_params:
            from gitml.models.load import ignored_params_note

            self.warned_params = True
            self.report(
                f"warning: a request's {ignored_params_note(scored.ignored_params)} "
                "(said once: later requests with undeclared params are not reported)"
            )
        try:
            return 200, dumps(scored.predictions)
        except (TypeError, ValueError) as error:
            return _error(
                500, "INTERNAL_ERROR", f"the predictions cannot be written as JSON: {error}"
            )


class ClientGone(Exception):
    """The client closed the connection before its request was whole."""


_OVER_BUDGET = object()


async def _read_body(receive, limit: int, held: "Holding"):
    """The request body; None once it grows past `limit` bytes; `_OVER_BUDGET` when the
    worker's in-flight budget cannot take the next chunk. The bytes read are held in
    `held` until the caller releases them."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if len(body) + len(chunk) > limit:
            return None
        if not held.take(len(chunk)):
            return _OVER_BUDGET
        body += chunk
        if not message.get("more_body"):
            return body


class ByteBudget:
    """The request bytes a worker holds at once, read, parsed or predicted on.

    Only the event loop's thread takes and gives, so a plain counter is enough. Taking
    never waits: a request that does not fit is answered 503 at once, which keeps a
    client that reads slowly from holding others up and leaves no way to deadlock.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> bool:
        if self.used + count > self.limit:
            return False
        self.used += count
        return True

    def give(self, count: int) -> None:
        self.used -= count


class Holding:
    """The part of a `ByteBudget` one request holds."""

    def __init__(self, budget: ByteBudget):
        self.budget = budget
        self.count = 0

    def take(self, count: int) -> bool:
        if not self.budget.take(count):
            return False
        self.count += count
        return True

    def release(self) -> None:
        self.budget.give(self.count)
        self.count = 0


class PredictionThread:
    """Runs predictions one at a time on a thread of its own, off the event loop.

    One thread, not a pool: a model's `predict` is never called twice at once (as when
    predictions ran on the loop; a `PythonModel` need not be thread-safe), and
    `--workers` processes give parallelism. The thread starts with the first prediction,
    so each forked worker has its own. It is a daemon thread: a prediction still running
    at shutdown does not keep the process alive.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, function: Callable, *args: Any) -> Any:
        """`function(*args)`, computed on the prediction thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="gitml-predict", daemon=True)
            self._thread.start()
        self._jobs.put((loop, future, function, args))
        return await future

    def _work(self) -> None:
        while True:
            loop, future, function, args = self._jobs.get()
            outcome: tuple[object, BaseException | None]
            try:
                outcome = (function(*args), None)
            except BaseException as error:  # handed to the request that asked for it
                outcome = (None, error)
            with contextlib.suppress(RuntimeError):  # the loop closed at shutdown
                loop.call_soon_threadsafe(_settle, future, *outcome)
            del loop, future, function, args, outcome  # a request's body is not kept


def _settle(future: asyncio.Future, result, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, error_body(code, message)


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


def serve(app: ScoringApp, options: ServeOptions, report: Callable[[str], None]) -> int:
    """Serve `app` until SIGTERM or SIGINT; returns the exit code. `report` gets news lines."""
    from gitml.models.connections import protocol_class

    try:
        import uvicorn
    except ImportError:
        raise ServeError("serving needs uvicorn: pip install 'gitml[serve]'") from None
    options.check()
    connections = connection_limit(options.max_connections)
    if connections < options.max_connections:
        report(
            f"warning: at most {connections} connections per worker, not "
            f"{options.max_connections}: the process may open only {connections + 64} files "
            "(ulimit -n)"
        )
    protocol = protocol_class(options.request_timeout, connections)
    sock = bind(options.host, options.port)
    config = uvicorn.Config(
        app,
        http=protocol,
        ws="none",
        lifespan="off",
        log_config=None,
        # not "warning": uvicorn logs a line for each request that is no HTTP (answered 400)
        # or asks for a websocket, so any client could fill the server's log
        log_level="error",
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
    from gitml.models.supervisor import supervise

    code = supervise(lambda: _run_worker(uvicorn, config, sock), options.workers, report)
    sock.close()
    return code


def connection_limit(wanted: int) -> int:
    """`wanted`, or fewer when the process may not open that many files (after raising
    its soft limit as far as the hard one allows): a connection beyond the file limit
    would fail at accept, where the server cannot push out a stalled one."""
    import resource

    spare = 64  # the listening socket, the model's files, pipes
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + spare:
        raised = wanted + spare if hard == resource.RLIM_INFINITY else min(hard, wanted + spare)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - spare))


def _stop_quietly(signum, frame) -> None:
    raise SystemExit(0)


def _run_worker(uvicorn, config, sock: socket.socket) -> int:
    # uvicorn re-raises the signal that stopped it once it is done: this handler turns
    # that into exit 0 after a clean shutdown. It must stop the process, not ignore the
    # signal: one that arrives before uvicorn has put its own handlers in place (a
    # worker still starting) was swallowed, and the worker then served for ever.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_quietly)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
