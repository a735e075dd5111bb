"""Builders shared by the model and serving tests (this module holds no tests).

Models are trained here on tiny generated data; servers are real `gitml serve`
processes on a free 127.0.0.1 port, stopped with SIGTERM.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.utils import free_port

COLUMNS = ["a", "b", "c"]


def train_sklearn():
    """A LogisticRegression fitted on 40 rows of columns a, b, c; returns (model, X)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=COLUMNS)
    y = (X["a"] - X["b"] > 0).astype(int)
    return LogisticRegression().fit(X, y), X


def tiny_net_class():
    import torch

    class TinyNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(3, 4)
            self.out = torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.out(torch.relu(self.hidden(x)))

    return TinyNet


def train_torch():
    """A 3→4→1 network fitted for a few steps on 32 rows; returns (model, X as float32)."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    X = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    y = torch.as_tensor(X.sum(axis=1, keepdims=True))
    model = tiny_net_class()()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(torch.as_tensor(X)), y)
        loss.backward()
        optimizer.step()
    return model.eval(), X


class Server:
    """A real `gitml serve` process; use as a context manager."""

    def __init__(self, uri: str, cwd: Path, *extra: str):
        self.port = free_port()
        self.command = [sys.executable, "-m", "gitml", "serve", uri, "--port", str(self.port)]
        self.command += list(extra)
        self.cwd = cwd
        self.env: dict | None = None  # the server's environment (default: this process's)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=self.env,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gitml serve exited: {self.proc.stderr.read()}")
            try:
                if self.request("GET", "/ping")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("gitml serve did not answer /ping within 90 s")

    def request(self, method: str, path: str, body=None, content_type="application/json"):
        """(status, decoded JSON or text) of one request on a new connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            return send(conn, method, path, body, content_type)
        finally:
            conn.close()

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then (exit code, stderr)."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError("gitml serve ignored SIGTERM for 30 s") from None
        return self.proc.returncode, err

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.stop()


def send(conn, method: str, path: str, body=None, content_type="application/json"):
    if isinstance(body, dict | list):
        body = json.dumps(body)
    headers = {"Content-Type": content_type} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read().decode()
    if response.getheader("content-type") == "application/json":
        return response.status, json.loads(data)
    return response.status, data


def split_payload(frame) -> dict:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}
