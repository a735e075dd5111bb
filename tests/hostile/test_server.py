"""Hostile clients of `gitml serve`: a real server on 127.0.0.1, real sockets, no mocks.

Workers killed in a row, connections that never finish their request (slowloris), and
large bodies sent at once must neither stop the service, hold its connections forever,
make health checks wait for predictions, nor grow its memory without bound.
"""

import contextlib
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

import gitml
from tests.models_helpers import Server, send, split_payload, train_sklearn

MIB = 1 << 20


def _live_workers(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children() if c.status() != psutil.STATUS_ZOMBIE]


def _wait_for_workers(pid: int, count: int, gone: int) -> list[psutil.Process]:
    """The server's live workers once there are `count` of them and `gone` is not one."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = _live_workers(pid)
        if len(live) == count and gone not in {worker.pid for worker in live}:
            return live
        time.sleep(0.05)
    raise AssertionError(f"no {count} live workers within 60 s: {_live_workers(pid)}")


def test_workers_killed_twice_in_a_row_are_restarted_and_the_service_stays_up(tmp_path):
    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    server = Server(str(tmp_path / "m"), tmp_path, "--workers", "2").start()
    try:
        victim = _live_workers(server.proc.pid)[0]
        for _ in range(2):  # the second victim is the worker started a moment ago
            victim.kill()
            live = _wait_for_workers(server.proc.pid, 2, gone=victim.pid)
            victim = max(live, key=lambda worker: worker.create_time())
        for start in range(0, 10, 2):
            rows = X.iloc[start : start + 2]
            answer = server.request("POST", "/invocations", split_payload(rows))
            assert answer == (200, {"predictions": model.predict(rows).tolist()})
        assert server.proc.poll() is None
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert err.count("died (status 9); starting another") == 2, err
    assert "stopping" not in err


def _half_sent(port: int, number: int) -> socket.socket:
    """A connection that sends part of a request and then nothing more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    if number % 2:  # headers complete, 10 bytes of a promised 1000-byte body
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"inputs":'
        )
    else:  # half a header
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Ty")
    return sock


def _read_until_closed(socks: list[socket.socket], seconds: float) -> dict:
    """What each socket received before the server closed it; fails on any still open."""
    received = {sock: b"" for sock in socks}
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            try:
                chunk = key.fileobj.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                received[key.fileobj] += chunk
            else:
                selector.unregister(key.fileobj)
    still_open = len(selector.get_map())
    assert still_open == 0, f"{still_open} half-sent connections still open after {seconds} s"
    return received


@pytest.mark.slow
def test_half_sent_requests_are_timed_out_and_cannot_starve_real_clients(tmp_path):
    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    options = ("--request-timeout", "3", "--max-connections", "50")
    server = Server(str(tmp_path / "m"), tmp_path, *options).start()
    held = []
    try:
        held = [_half_sent(server.port, number) for number in range(200)]
        rows = X.iloc[:3]
        answer = server.request("POST", "/invocations", split_payload(rows))
        assert answer == (200, {"predictions": model.predict(rows).tolist()})
        received = _read_until_closed(held, seconds=60)
    finally:
        for sock in held:
            sock.close()
        code, err = server.stop()
    assert code == 0, err
    answers = [data for data in received.values() if data]
    statuses = {data.split(b" ", 2)[1] for data in answers}
    assert statuses <= {b"408", b"503"}, statuses
    assert b"408" in statuses  # the last ones in were not pushed out: their time ran out
    for data in answers:
        error = json.loads(data.split(b"\r\n\r\n", 1)[1])
        assert error["error_code"] in ("REQUEST_TIMEOUT", "TEMPORARILY_UNAVAILABLE")


def test_endless_headers_are_refused_without_being_kept(tmp_path):
    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    with Server(str(tmp_path / "m"), tmp_path) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        try:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Filler: ")
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                for _ in range(256):  # up to 16 MiB of one header line
                    sock.sendall(b"a" * 65536)
            answer = _read_until_closed([sock], seconds=60)[sock]
        finally:
            sock.close()
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        error = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert error == {
            "error_code": "REQUEST_TOO_LARGE",
            "message": "the request headers are over 64 KiB",
        }
        rows = X.iloc[:1]
        answer = server.request("POST", "/invocations", split_payload(rows))
        assert answer == (200, {"predictions": model.predict(rows).tolist()})


MALFORMED = {
    "two lengths": b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "negative length": b"Content-Length: -1\r\n\r\n{}",
    "length and chunked": b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\n{}\r\n0\r\n\r\n",
    "bad chunk": b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
}


def test_requests_that_are_no_http_get_mlflow_s_error_and_write_no_log_line(tmp_path):
    """uvicorn answered them in plain text and wrote `Invalid HTTP request received.` on the
    server's stderr for each: any client could fill the log."""
    gitml.save_model(lambda rows: rows.sum(axis=1), tmp_path / "m")
    server = Server(str(tmp_path / "m"), tmp_path).start()
    try:
        for name, rest in MALFORMED.items():
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            try:
                sock.sendall(head + rest)
                answer = _read_until_closed([sock], seconds=30)[sock]
            finally:
                sock.close()
            assert answer.startswith(b"HTTP/1.1 400 "), (name, answer[:200])
            error = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert error["error_code"] == "BAD_REQUEST", name
            assert error["message"].startswith("the request is not valid HTTP/1.1"), name
        answer = server.request("POST", "/invocations", json.dumps({"inputs": [[1, 2]]}))
        assert answer == (200, {"predictions": [3]})
    finally:
        code, err = server.stop()
    assert code == 0 and len(err.splitlines()) == 1 and "serving on" in err, err


@pytest.mark.slow
def test_health_checks_answer_while_a_big_prediction_runs(tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    started_path, release_path = str(started), str(release)

    def slow_sum(rows):  # blocks until the test lets it go
        import os
        import time

        open(started_path, "w").close()
        while not os.path.exists(release_path):
            time.sleep(0.01)
        return rows.sum(axis=1)

    gitml.save_model(slow_sum, tmp_path / "slow")
    rows = [[float(i), 0.5, 0.25, 0.125] for i in range(300_000)]  # about 9 MiB of JSON
    body = json.dumps({"inputs": rows})
    assert len(body) > 8 * MIB
    results = []

    def predict():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        results.append(send(conn, "POST", "/invocations", body))
        conn.close()

    server = Server(str(tmp_path / "slow"), tmp_path).start()
    client = threading.Thread(target=predict)
    try:
        client.start()
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the prediction did not start within 60 s"
        # the prediction is blocked: each of these would wait for it (and time out)
        assert server.request("GET", "/ping") == (200, "\n")
        assert server.request("GET", "/health") == (200, "\n")
        assert server.request("GET", "/version") == (200, gitml.__version__)
        assert not release.exists() and results == []
    finally:
        release.touch()
        client.join(timeout=120)
        code, err = server.stop()
    assert code == 0, err
    status, answer = results[0]
    assert status == 200 and len(answer["predictions"]) == len(rows)
    assert answer["predictions"][:2] == [0.875, 1.875]


def _not_reading(port: int) -> socket.socket:
    """A connection that sends small requests for large answers, pipelined (each without
    waiting for the answer to the one before), and reads none of the answers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = b'{"inputs": [[1.0]]}'
    head = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    sock.sendall((f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body) * 8)
    assert sock.recv(12, socket.MSG_PEEK) == b"HTTP/1.1 200"  # looked at, not read
    return sock


@pytest.mark.slow
def test_clients_that_never_read_their_answers_cannot_hold_the_server(tmp_path):
    """A client that asks for large answers and reads none of them leaves the server
    waiting to write: counted as being answered, such connections were never pushed
    out, and two of them made every new one a 503, for ever."""

    def wide(rows):
        return [0.5] * 1_000_000  # about 5 MiB of JSON, whatever the input

    gitml.save_model(wide, tmp_path / "wide")
    options = ("--request-timeout", "2", "--max-connections", "2")
    server = Server(str(tmp_path / "wide"), tmp_path, *options).start()
    held = []
    try:
        held = [_not_reading(server.port) for _ in range(2)]
        deadline, status = time.monotonic() + 60, None
        while status != 200 and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                status = server.request("GET", "/ping")[0]
            time.sleep(0.2)
        assert status == 200, "the server still answered every new client with a 503"
    finally:
        for sock in held:
            sock.close()
        code, err = server.stop()
    assert code == 0, err


def _csv_body(megabytes: int) -> bytes:
    """A CSV of columns a, b, c of about `megabytes` MiB (18 bytes a row or less)."""
    rows = "".join(f"{i * 0.001:.3f},1.5,-2.25\n" for i in range(megabytes * MIB // 18))
    return ("a,b,c\n" + rows).encode()


def _sample_rss(pid: int, stop: threading.Event, samples: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        samples.append(process.memory_info().rss)
        time.sleep(0.01)


@pytest.mark.slow
def test_memory_stays_bounded_under_many_large_bodies_at_once(tmp_path):
    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    options = ("--max-body", "16m", "--max-inflight", "32m")
    server = Server(str(tmp_path / "m"), tmp_path, *options).start()
    body, too_big_body = _csv_body(12), _csv_body(20)
    assert 11 * MIB < len(body) < 12 * MIB and len(too_big_body) > 16 * MIB
    results, samples, stop = [], [], threading.Event()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        results.append(send(conn, "POST", "/invocations", body, "text/csv"))
        conn.close()

    try:
        for warm_up in ("a,b,c\n1,2,3\n", X.iloc[:2].to_csv(index=False)):  # pandas loaded
            assert server.request("POST", "/invocations", warm_up, "text/csv")[0] == 200
        before = psutil.Process(server.proc.pid).memory_info().rss
        sampler = threading.Thread(target=_sample_rss, args=(server.proc.pid, stop, samples))
        sampler.start()
        clients = [threading.Thread(target=client) for _ in range(12)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=300)
        stop.set()
        sampler.join()
        too_big = server.request("POST", "/invocations", too_big_body, "text/csv")
        small = server.request("POST", "/invocations", split_payload(X.iloc[:2]))
    finally:
        stop.set()
        code, err = server.stop()
    assert code == 0, err
    statuses = [status for status, _ in results]
    assert len(statuses) == 12 and set(statuses) <= {200, 503}, statuses
    assert 200 in statuses
    for status, answer in results:
        if status == 503:
            assert answer["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert "--max-inflight" in answer["message"]
        else:
            assert len(answer["predictions"]) == body.count(b"\n") - 1
    # measured here: 12 bodies read at once (--max-inflight 1g) grow the server by about
    # 190 MiB; two at a time (32 MiB) and one parse at a time by about 80 MiB
    grown = (max(samples) - before) / MIB
    assert grown < 128, f"the server grew by {grown:.0f} MiB"
    assert too_big[0] == 413 and too_big[1]["error_code"] == "REQUEST_TOO_LARGE"
    assert small == (200, {"predictions": model.predict(X.iloc[:2]).tolist()})


def test_restarts_back_off_up_to_a_few_seconds():
    from gitml.models.supervisor import restart_delay

    delays = [restart_delay(deaths) for deaths in range(9)]
    assert delays == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_limits_that_would_refuse_every_request_are_one_line_errors(tmp_path):
    from tests.utils import gitml as gitml_cli

    model, _ = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    serve = ("serve", str(tmp_path / "m"), "--port", "0")
    out = gitml_cli(tmp_path, *serve, "--max-body", "2m", "--max-inflight", "1m", check=False)
    assert out.returncode == 1
    assert out.stderr == (
        "gitml: error: --max-inflight (1048576 bytes) is below --max-body (2097152 bytes): "
        "a body of the largest allowed size could never be read; raise --max-inflight or "
        "lower --max-body\n"
    )
    out = gitml_cli(tmp_path, *serve, "--max-body", "lots", check=False)
    assert out.returncode != 0 and "'lots' is not a size" in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_a_worker_that_ignores_the_stop_is_killed_and_the_service_ends(tmp_path):
    """A worker stuck in its shutdown (or one whose stop signal was lost) cannot keep
    `gitml serve` from ending: past the deadline the supervisor kills it."""
    code = (
        "import os, signal, sys, time\n"
        "from gitml.models.supervisor import supervise\n"
        "def stubborn():\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    time.sleep(600)\n"
        "    return 0\n"
        "sys.exit(supervise(stubborn, 2, lambda line: print(line, flush=True), kill_after=1))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    time.sleep(1.5)  # both workers forked and ignoring SIGTERM
    child.send_signal(signal.SIGTERM)
    try:
        out, _ = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        raise AssertionError("the supervisor waited for ever on workers ignoring SIGTERM") from None
    assert child.returncode == 0
    assert "2 worker(s) still running 1 s after the stop: killed" in out
