"""Serving benchmark: `gitml serve` under the load of MLflow's serving anchor.

usage: python bench/bench_serve.py [--clients 8] [--seconds 15] [--warmup 2] [--seq 500]
                                   [--workers 1] [--loads 5] [--starts 3]
                                   [--mlflow-python PYTHON]

Trains LogisticRegression on 200 random rows x 10 features (seed 0), logs it with
`gitml.log_model` (input example of 2 rows) in a run of a temporary repository, then
starts `gitml serve runs:/<run>/model` on a free 127.0.0.1 port in its own process group
and measures, as the anchor does (`../shared/anchors/g_mlflow_serve.py`):
  - start-up: launch of the CLI to the first 200 on GET /ping (median of --starts);
  - sequential: one keep-alive client, R POSTs of one row (`dataframe_split`), p50/p99;
  - concurrent: N keep-alive clients for W s unmeasured then S s measured: req/s, p50, p99;
  - peak resident memory of the server's process tree (psutil, every 0.25 s);
  - `load_model` of the same model in a fresh Python process (median of --loads runs).
The baseline is MLflow 3.17 serving the same model on this machine: run the anchor
with --mlflow-python (a Python that has mlflow) to measure it in the same run, else the
figures recorded in issue 7 are used (and said so).
"""

import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import environment, git  # noqa: E402

from tests.utils import free_port  # noqa: E402

HOST = "127.0.0.1"
ANCHOR = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "g_mlflow_serve.py"
# MLflow 3.17, `mlflow models serve --env-manager local`, one worker, measured on this machine
RECORDED_MLFLOW = {
    "rps": 88.0,
    "p50": 90.0,
    "p99": 146.0,
    "seq_p50": 11.6,
    "startup": 10.0,
    "rss": 506.0,
}
TRAIN = """
import numpy as np, pandas as pd, gitml
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
cols = [f"f{i}" for i in range(10)]
X = pd.DataFrame(rng.normal(size=(200, 10)), columns=cols)
y = (X["f0"] + 0.5 * X["f1"] - X["f2"] + rng.normal(scale=0.5, size=200) > 0).astype(int)
model = LogisticRegression(max_iter=1000).fit(X, y)
with gitml.start_run(name="bench-serve"):
    info = gitml.log_model(model, name="model", input_example=X.iloc[:2])
X.to_json("rows.json", orient="split", index=False)
print(info.model_uri)
"""
LOAD = """
import time; t = time.perf_counter()
import gitml
model = gitml.load_model({uri!r})
print(time.perf_counter() - t)
"""
# what any loader of this model pays: importing the estimator's module (scikit-learn imports
# scipy and pandas, and pandas imports pyarrow when it is installed)
IMPORT_ONLY = """
import time; t = time.perf_counter()
import sklearn.linear_model
print(time.perf_counter() - t)
"""


def parse_args(argv):
    opts = {
        "clients": 8,
        "seconds": 15.0,
        "warmup": 2.0,
        "seq": 500,
        "workers": 1,
        "loads": 5,
        "starts": 3,
        "mlflow-python": None,
    }
    kinds = {
        "clients": int,
        "seconds": float,
        "warmup": float,
        "seq": int,
        "workers": int,
        "loads": int,
        "starts": int,
        "mlflow-python": str,
    }
    args = list(argv)
    while args:
        key = args.pop(0).removeprefix("--")
        if key not in opts or not args:
            raise SystemExit(__doc__)
        opts[key] = kinds[key](args.pop(0))
    return opts


def pct(sorted_values, q):
    if not sorted_values:
        return float("nan")
    rank = int(round(q / 100.0 * len(sorted_values) + 0.5)) - 1
    return sorted_values[max(0, min(len(sorted_values) - 1, rank))]


class Client:
    """One keep-alive connection posting one-row requests."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def post(self, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        start = time.perf_counter()
        try:
            self.conn.request(
                "POST", "/invocations", body=body, headers={"Content-Type": "application/json"}
            )
            response = self.conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - start
            return response.status == 200 and "predictions" in json.loads(data), elapsed
        except (OSError, http.client.HTTPException, ValueError):
            self.conn.close()
            self.conn = None
            return False, time.perf_counter() - start

    def close(self):
        if self.conn is not None:
            self.conn.close()


class RssSampler(threading.Thread):
    """Peak summed RSS of the server's process tree, and its peak summed PSS.

    RSS counts a page shared by forked workers once per worker; PSS divides it among
    them, so it is the memory the tree really holds.
    """

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_pss, self.done = pid, 0, 0, threading.Event()

    def run(self):
        import psutil

        while not self.done.is_set():
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
                pss = sum(getattr(p.memory_full_info(), "pss", 0) for p in tree)
                self.peak_pss = max(self.peak_pss, pss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
            self.done.wait(0.25)


def wait_ready(proc, port, timeout=60.0):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/ping")
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    return False


def concurrent(port, bodies, clients, warmup, seconds):
    results = [None] * clients
    barrier = threading.Barrier(clients + 1)
    marks = {}

    def work(index):
        client, rng, latencies, errors = Client(port), random.Random(index), [], 0
        barrier.wait()
        while (now := time.perf_counter()) < marks["end"]:
            ok, elapsed = client.post(bodies[rng.randrange(len(bodies))])
            if now >= marks["measure"]:
                latencies.append(elapsed)
                errors += not ok
        client.close()
        results[index] = (latencies, errors)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    marks["measure"] = time.perf_counter() + warmup
    marks["end"] = marks["measure"] + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    return latencies, sum(err for _, err in results)


def start_server(command, repo, env, port):
    """(the server process, seconds from launch to the first 200 on /ping)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if not wait_ready(proc, port):
        os.killpg(proc.pid, signal.SIGKILL)
        raise SystemExit(f"gitml serve did not start: {proc.stderr.read().decode()[-2000:]}")
    return proc, time.perf_counter() - start


def measure_gitml(opts):
    repo = Path(tempfile.mkdtemp(prefix="gitml-bench-serve-"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    env = environment()
    uri = (
        subprocess.run(
            [sys.executable, "-c", TRAIN],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    split = json.loads((repo / "rows.json").read_text())
    bodies = [
        json.dumps({"dataframe_split": {"columns": split["columns"], "data": [row]}}).encode()
        for row in split["data"]
    ]

    def fresh(code):
        return float(
            subprocess.run(
                [sys.executable, "-c", code],
                cwd=repo,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )

    loads, imports = [], []
    for _ in range(opts["loads"]):  # interleaved, so both see the same machine load
        loads.append(fresh(LOAD.format(uri=uri)))
        imports.append(fresh(IMPORT_ONLY))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gitml",
        "serve",
        uri,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(opts["workers"]),
    ]
    startups = []
    for _ in range(opts["starts"] - 1):  # extra start-ups, for a median
        proc, seconds = start_server(command, repo, env, port)
        startups.append(seconds)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    proc, seconds = start_server(command, repo, env, port)
    startups.append(seconds)
    sampler = RssSampler(proc.pid)
    sampler.start()
    try:
        client = Client(port)
        for i in range(20):
            client.post(bodies[i % len(bodies)])
        seq, seq_errors = [], 0
        for i in range(opts["seq"]):
            ok, elapsed = client.post(bodies[i % len(bodies)])
            seq.append(elapsed)
            seq_errors += not ok
        client.close()
        seq.sort()
        latencies, errors = concurrent(
            port, bodies, opts["clients"], opts["warmup"], opts["seconds"]
        )
    finally:
        sampler.done.set()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    return {
        "rps": len(latencies) / opts["seconds"],
        "p50": pct(latencies, 50) * 1000,
        "p99": pct(latencies, 99) * 1000,
        "errors": errors + seq_errors,
        "requests": len(latencies) + len(seq),
        "seq_p50": pct(seq, 50) * 1000,
        "seq_p99": pct(seq, 99) * 1000,
        "startup": statistics.median(startups),
        "rss": sampler.peak / 2**20,
        "pss": sampler.peak_pss / 2**20,
        "load": statistics.median(loads),
        "import": statistics.median(imports),
        "stop_rc": proc.returncode,
    }


def measure_mlflow(opts):
    """Run the MLflow anchor with its own Python; its RESULT line parsed into figures."""
    import re

    args = [
        opts["mlflow-python"],
        str(ANCHOR),
        "--clients",
        str(opts["clients"]),
        "--seconds",
        str(opts["seconds"]),
        "--warmup",
        str(opts["warmup"]),
        "--seq",
        str(opts["seq"]),
    ]
    if opts["workers"] > 1:
        args += ["--workers", str(opts["workers"])]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT g"))
    number = lambda pattern: float(re.search(pattern, line).group(1))  # noqa: E731
    return {
        "rps": number(r"([\d.]+) req/s"),
        "p50": number(r"req/s, p50 ([\d.]+) ms"),
        "p99": number(r"p99 ([\d.]+) ms, errors"),
        "seq_p50": number(r"sequential 1 client p50 ([\d.]+) ms"),
        "startup": number(r"start-up ([\d.]+) s"),
        "rss": number(r"peak RSS server tree ([\d.]+) MiB"),
    }


def main():
    opts = parse_args(sys.argv[1:])
    if opts["mlflow-python"]:
        baseline, source = measure_mlflow(opts), "measured now"
    else:
        baseline, source = RECORDED_MLFLOW, "recorded in issue 7 (pass --mlflow-python to measure)"
    ours = measure_gitml(opts)
    rows = [
        ("throughput, 8 clients (req/s)", "rps", "{:.0f}", False),
        ("p50 latency, 8 clients (ms)", "p50", "{:.2f}", True),
        ("p99 latency, 8 clients (ms)", "p99", "{:.2f}", True),
        ("p50 latency, sequential (ms)", "seq_p50", "{:.2f}", True),
        ("start-up to /ping 200, median (s)", "startup", "{:.2f}", True),
        ("peak RSS, server tree (MiB)", "rss", "{:.0f}", True),
    ]
    print(f"gitml serve (workers={opts['workers']}) vs mlflow models serve ({source})")
    for label, key, shape, lower_is_better in rows:
        ratio = baseline[key] / ours[key] if lower_is_better else ours[key] / baseline[key]
        print(
            f"  {label:34} gitml {shape.format(ours[key]):>8}   mlflow "
            f"{shape.format(baseline[key]):>8}   {ratio:.1f}x better"
        )
    print(
        f"  sequential p99 {ours['seq_p99']:.2f} ms; errors {ours['errors']}/{ours['requests']}; "
        f"exit code after SIGTERM {ours['stop_rc']}; peak PSS {ours['pss']:.0f} MiB"
    )
    print(
        f"  load_model in a fresh process: median {ours['load']:.3f} s of {opts['loads']} runs; "
        f"for scale, importing sklearn.linear_model alone takes {ours['import']:.3f} s "
        "(a linear model loads from its numbers with numpy, without scikit-learn)"
    )


if __name__ == "__main__":
    main()
