"""Connections of the scoring server: deadlines and a bound for clients that stall.

uvicorn times out only idle kept-alive connections: a client that opens a connection and
sends half a request (slowloris), or headers and part of a body, holds it forever, and
enough of them exhaust the server's file descriptors. gitml's HTTP protocol, a subclass
of uvicorn's httptools one, adds:

- a request deadline: from a connection's opening (or the first byte of a later
  request) to the last byte of the request, `request_timeout` seconds; past it the
  client gets a 408 and the connection is closed. Time the server spends on an earlier
  request of the same connection does not count against the client;
- a reading deadline: a client that reads nothing of what it was sent for
  `request_timeout` seconds (the socket's buffers are full: it pipelined requests, or
  asked for a large response, and stopped reading) loses its connection; it held the
  connection for ever, counted as being answered, so a few such clients got every new
  one a 503;
- a header bound: headers longer than 64 KiB get a 431 and the connection is closed;
- bytes that are no HTTP request get a 400 in MLflow's JSON shape (uvicorn's is text),
  and the connection is closed;
- a connection bound: at `max_connections`, a new connection pushes out the one that
  has waited longest for its client (idle or still sending); when every connection is
  being answered, the new one gets a 503. So held connections cannot starve new clients.

Every accepted connection also gets TCP_NODELAY, so a response on a kept-alive
connection is not held back by Nagle's algorithm waiting for the client's delayed ACK.
"""

import asyncio
import http
import socket

from gitml.errors import ServeError

MAX_HEADER_BYTES = 64 << 10


def error_body(code: str, message: str) -> bytes:
    """MLflow's JSON error: {"error_code": ..., "message": ...}."""
    import json

    return json.dumps({"error_code": code, "message": message}).encode()


def protocol_class(request_timeout: float, max_connections: int) -> type:
    """uvicorn's httptools protocol with gitml's deadlines and connection bound."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        raise ServeError("serving needs httptools: pip install 'gitml[serve]'") from None

    class GuardedProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None  # the timer of the request the client owes
        _receiving: bool  # part of a request arrived, not all of it
        _headers_done: bool  # the current request's headers arrived
        _header_bytes: int
        _waiting_since: float  # when the connection last had nothing left to answer
        _stalled: asyncio.TimerHandle | None  # the timer of a client that stopped reading

        # uvicorn narrows asyncio's BaseTransport to a Transport, ignoring [override] too
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._deadline = None
            self._stalled = None
            self._receiving = False
            self._headers_done = False
            self._header_bytes = 0
            self._waiting_since = self.loop.time()
            super().connection_made(transport)
            self._arm()
            if len(self.connections) > max_connections:
                self._make_room()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._reading_again()
            super().connection_lost(exc)

        def pause_writing(self) -> None:
            """The transport's buffer is full: the client must read within the deadline."""
            if self._stalled is None:
                self._stalled = self.loop.call_later(request_timeout, self._not_reading)
            super().pause_writing()

        def resume_writing(self) -> None:
            self._reading_again()
            super().resume_writing()

        def _reading_again(self) -> None:
            if self._stalled is not None:
                self._stalled.cancel()
                self._stalled = None

        def _not_reading(self) -> None:
            """Drop a client that read nothing for `request_timeout` seconds: a response
            under way cannot become an error, and the rest could never reach it."""
            self._stalled = None
            self._disarm()
            self.transport.abort()

        def data_received(self, data: bytes) -> None:
            self._arm()
            if not self._headers_done:
                self._header_bytes += len(data)
            super().data_received(data)
            if not self._headers_done and self._header_bytes > MAX_HEADER_BYTES:
                self._give_up(431, "REQUEST_TOO_LARGE", "the request headers are over 64 KiB")

        def on_message_begin(self) -> None:
            self._arm()  # a pipelined request begins in the data of the one before
            self._receiving = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._headers_done = True
            self._header_bytes = 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            self._receiving = self._headers_done = False
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._waiting_since = self.loop.time()
            super().on_response_complete()

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(request_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _busy(self) -> bool:
            """True while the server owes this connection a response to a whole request."""
            cycle = self.cycle
            answering = cycle is not None and not cycle.more_body and not cycle.response_complete
            return answering or bool(self.pipeline)

        def _timed_out(self) -> None:
            self._deadline = None
            if self._busy():  # the client waits for us: it is not late
                self._arm()
                return
            self._give_up(
                408,
                "REQUEST_TIMEOUT",
                f"the request did not arrive within {request_timeout:g} s "
                "(gitml serve --request-timeout)",
            )

        def _make_room(self) -> None:
            waiting = [
                c
                for c in self.connections
                if isinstance(c, GuardedProtocol) and c is not self and not c._busy()
            ]
            if not waiting:
                self._give_up(
                    503,
                    "TEMPORARILY_UNAVAILABLE",
                    f"the server is answering {max_connections} connections "
                    "(gitml serve --max-connections); retry later",
                    answer=True,
                )
                return
            oldest = min(waiting, key=lambda connection: connection._waiting_since)
            oldest._give_up(
                503,
                "TEMPORARILY_UNAVAILABLE",
                f"the server is at its limit of {max_connections} connections and this one "
                "waited longest for its request (gitml serve --max-connections)",
            )

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to bytes that are no HTTP request, in MLflow's shape (it was
            plain text), and the connection is closed."""
            self._give_up(
                400,
                "BAD_REQUEST",
                "the request is not valid HTTP/1.1: its request line, a header or its framing "
                "cannot be read (two Content-Lengths, a negative one, one beside "
                "Transfer-Encoding, a malformed chunk)",
                answer=True,
            )

        def _give_up(self, status: int, code: str, message: str, answer: bool = False) -> None:
            """Close the connection, first answering the request it was sending, if any
            (or, with `answer`, the request it has not sent yet)."""
            self._disarm()
            if self.transport.is_closing():
                return
            unanswered = self._receiving and not (
                self._headers_done and self.cycle is not None and self.cycle.response_started
            )
            if unanswered or answer:
                body = error_body(code, message)
                self.transport.write(
                    b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                    % (status, http.HTTPStatus(status).phrase.encode(), len(body), body)
                )
            self.transport.close()

    return GuardedProtocol
