"""What keeps the pages' origin to itself: the Host check, the write token, the headers.

- DNS rebinding: a hostile page whose name resolves to 127.0.0.1 would reach the server
  from the browser as same-origin; its requests carry that name in `Host`, so only the
  names the server was started under are answered (else 400).
- Cross-site writes: every request that writes carries `X-Gitml-Token`, a secret made
  at launch and given to the pages in the index HTML (a page of another origin cannot
  read it, nor send the header without a CORS preflight the server never allows); else 403.
- Every answer has a strict Content-Security-Policy (scripts and styles only from the
  server itself), `nosniff`, no framing; an artifact's bytes are served under a sandbox
  policy of their own (`ARTIFACT_POLICY`), so no script a run stored runs on this origin.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time

TOKEN_HEADER = b"x-gitml-token"
# plotly draws with inline styles and <style> elements it adds; scripts only from here
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ARTIFACT_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
_SAFE_METHODS = (b"GET", b"HEAD")
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def allowed_hosts(host: str) -> frozenset[str]:
    """The names a request may give in `Host`: the one the server listens on, and the
    loopback names (the browser is opened on 127.0.0.1; users type localhost). Listening
    on every address (0.0.0.0, ::), the machine's own names and addresses too."""
    names = {"localhost", "127.0.0.1", "[::1]", _bracketed(host)}
    if host.strip("[]") in ("0.0.0.0", "::"):
        names |= {_bracketed(name) for name in _machine_names()}
    return frozenset(names)


def _bracketed(host: str) -> str:
    """An IPv6 address as `Host` writes it: in brackets."""
    host = host.lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _machine_names() -> set[str]:
    import socket

    names = {socket.gethostname(), socket.getfqdn()}
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except OSError:
        infos = []
    names |= {str(info[4][0]) for info in infos}
    return names


def host_name(value: str) -> str:
    """`Host` without its port: `127.0.0.1:5050` → `127.0.0.1`, `[::1]:80` → `[::1]`.
    Only a port of digits is taken off: anything else after the name (`localhost:80@evil`,
    `[::1]evil`) is kept, so the value names no host the server answers."""
    value = value.strip().lower()
    if value.startswith("[") and "]" in value:
        name, rest = value[: value.find("]") + 1], value[value.find("]") + 1 :]
    elif value.count(":") == 1:
        name, rest = value.split(":")[0], ":" + value.split(":")[1]
    else:
        return value
    return name if rest == "" or (rest[:1] == ":" and rest[1:].isdecimal()) else value


class Guard:
    """ASGI middleware: the Host check and the token check before the app; the security
    headers on every answer."""

    def __init__(self, app, hosts: frozenset[str], token: str):
        self.app = app
        self.hosts = hosts
        self.token = token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        name = host_name(hosts[0].decode("latin-1")) if len(hosts) == 1 else None
        if name not in self.hosts:
            await _refuse(send, 400, "this server answers only under the name it was started with")
            return
        if scope["method"].encode() not in _SAFE_METHODS:
            given = next((v for n, v in scope["headers"] if n == TOKEN_HEADER), b"")
            if not hmac.compare_digest(given, self.token):
                await _refuse(
                    send, 403, "a request that writes needs this launch's X-Gitml-Token header"
                )
                return

        started = time.perf_counter()

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _HEADERS if n not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                # the server's own time to the answer's start, for the browser's devtools
                # and the benches (a streamed body goes on after it)
                spent = (time.perf_counter() - started) * 1000
                timing = b"app;dur=%.1f" % spent
                # an endpoint's own metrics follow it, in the same header
                timing = b", ".join([timing, *(v for n, v in headers if n == b"server-timing")])
                headers = [(n, v) for n, v in headers if n != b"server-timing"]
                headers.append((b"server-timing", timing))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "field": None, "position": None}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers + _HEADERS})
    await send({"type": "http.response.body", "body": body})


def token_meta(token: str) -> str:
    return f'<meta name="gitml-token" content="{token}">'
