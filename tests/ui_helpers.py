"""A real `gitml ui` process on a free 127.0.0.1 port, and requests to it."""

import http.client
import json
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

_URL = re.compile(r"gitml ui: serving .* at http://127\.0\.0\.1:(\d+)/$")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class UiServer:
    """`gitml ui --no-browser --port 0 REPO` in a child process."""

    def __init__(self, repo: Path, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gitml", "ui", "--no-browser", "--port", "0", *args, str(repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.first_line = _first_line(self.process)
        found = _URL.match(self.first_line)
        if found is None:
            self.stop()
            raise AssertionError(f"no address: {self.first_line!r} {self.process.stderr.read()}")
        self.port = int(found.group(1))
        page = self.get("/").body.decode()
        self.token = re.search(r'<meta name="gitml-token" content="([^"]+)">', page).group(1)

    def request(
        self, method: str, path: str, body: object = None, headers: dict | None = None
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        # bytes are sent as they are (a body no JSON encoder would write)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, data, sent)
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def get(self, path: str, headers: dict | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, body: object, token: str | None = "mine") -> Answer:
        headers = (
            {} if token is None else {"X-Gitml-Token": self.token if token == "mine" else token}
        )
        return self.request("POST", path, body, headers)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _first_line(process: subprocess.Popen, timeout: float = 60) -> str:
    """The first line the server prints (its address), waiting at most `timeout` s."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line:
        process.kill()
        raise AssertionError("gitml ui printed no address")
    return line[0].rstrip("\n")
