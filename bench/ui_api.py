"""`gitml ui`'s JSON API over a large repository: the runs table, a filter, a long metric.

    python bench/ui_api.py            # 10,000 runs x (20 params, 10 metrics of 100 steps)
    python bench/ui_api.py --quick    # 1,000 runs, 100,000-point metric: to check the script

The runs are written in gitml's format by one `git fast-import` stream
(`_common.import_synthetic_runs`: one commit per run on a run ref, whose trailers carry
its params and last metric values, and whose `.gitml/` holds its run.json and each
metric's 100 points in `metrics/`), then packed with `git gc`. One more run holds a
metric of 1,000,000 points.

Measured against a real `gitml ui --port 0` process, over HTTP on 127.0.0.1 (a new
connection per request, as a page's first load), medians of several requests:
- as the server starts: `GET /api/runs` asked at once (it waits for the listing the
  server prepares as it starts), timed from the process's start; the long metric asked
  at once by another server just started (its parse ahead has hardly begun); how long
  after its start a server has parsed the long metric ahead (nobody asking), and that
  metric's first view then;
- `GET /api/runs`: the steady state (cached answer), a request after a new run was
  recorded (its summary read and the answer spliced); its size plain and gzipped
  (the page's browser sends Accept-Encoding: gzip);
- `GET /api/select` with a filter (what a keystroke in the filter box asks);
- `GET /api/runs/<run>/metrics/big?points=2000` of the 1,000,000-point metric: cold
  (parsed by the request: the cache file removed and the server's memory of it pushed
  out by four other metrics before each), warm from the disk cache (only the memory
  pushed out: as after a restart), warm in memory, and zooms into a range;
baselines, in the same run: `gitml ls --all --json` of the same repository (for the
runs table), and `git cat-file blob` of the long metric's file (reading its bytes, the
floor under any first view of it). Each answer's own Server-Timing metric (listing or
points: where it came from) is printed beside it. `--repo PATH` measures again a
repository an earlier run wrote.
Goals (issue 13): /api/runs <= 150 ms and <= 3 MB; a 1,000,000-point chart <= 1 s.
"""

import gzip
import http.client
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import (  # noqa: E402
    PYTHON,
    environment,
    git,
    import_synthetic_runs,
    median,
    new_repo,
    report,
    timed,
)

QUICK = "--quick" in sys.argv
RUNS = 1_000 if QUICK else 10_000
PARAMS, METRICS, STEPS = 20, 10, 100
BIG_POINTS = 100_000 if QUICK else 1_000_000
REPEAT = 5 if QUICK else 11
GITML = [PYTHON, "-m", "gitml"]
FILTER = "metrics.m0 > 0.5 and (params.p1 = 'a' or params.p2 in ('b', 'c'))"


def metric_file(rng: random.Random, steps: int, start_ms: int) -> bytes:
    return "".join(
        f"{step}\t{rng.random()!r}\t{start_ms + step}\n" for step in range(steps)
    ).encode()


def run_json(summary, points: int) -> bytes:
    """The run's record, as every run has one: its metric summaries count `points`
    points each (what the server reads to find the long metrics to parse ahead)."""
    import json
    from dataclasses import replace

    from gitml.tracking.model import RunRecord
    from gitml.tracking.record import MetricSummary

    record = RunRecord.standing_in_for(summary)
    metrics = {key: MetricSummary(value, 0.0, 1.0, points, points - 1)
               for key, value in summary.metrics.items()}  # fmt: skip
    return json.dumps(replace(record, metrics=metrics).to_json()).encode()


def write_repo() -> tuple[Path, str]:
    """The repository, and the id of the run holding the long metric."""
    repo = new_repo("gitml-bench-ui-")
    rng = random.Random(13)
    started = time.perf_counter()
    import_synthetic_runs(
        repo,
        RUNS,
        lambda i: {
            "params": {f"p{k}": rng.choice(["a", "b", "c", str(k * i)]) for k in range(PARAMS)},
            "metrics": {f"m{k}": rng.random() for k in range(METRICS)},
        },
        lambda i, summary: {
            "run.json": run_json(summary, STEPS),
            **{
                f"metrics/m{k}.tsv": metric_file(rng, STEPS, summary.start_ms)
                for k in range(METRICS)
            },
        },
    )
    (big,) = import_synthetic_runs(
        repo,
        1,
        lambda i: {"params": {"kind": "long"}, "metrics": {"big": 0.0}},
        lambda i, summary: {
            "run.json": run_json(summary, BIG_POINTS),
            "metrics/big.tsv": metric_file(rng, BIG_POINTS, summary.start_ms),
        },
        name="long",
    )
    git(repo, "gc", "-q")
    print(f"wrote {RUNS + 1} runs in {time.perf_counter() - started:.1f} s", flush=True)
    return repo, big


class Server:
    def __init__(self, repo: Path):
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [*GITML, "ui", "--no-browser", "--port", "0", str(repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment(),
            text=True,
        )
        self.server_times: list[float] = []
        self.sources: list[str] = []  # the desc of each answer's own Server-Timing metric
        line = self.process.stdout.readline()
        self.port = int(re.search(r":(\d+)/$", line.strip()).group(1))

    def get(self, path: str, gzipped: bool = True) -> tuple[float, bytes]:
        """(seconds, body) of one request on a new connection; the server's own time
        (its Server-Timing header) is kept in `server_times`."""
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if gzipped:
            headers["Accept-Encoding"] = "gzip"
        start = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        connection.close()
        assert response.status == 200, body[:300]
        timing = response.getheader("server-timing", "app;dur=nan")
        app, _, own = timing.partition(", ")
        self.server_times.append(float(app.partition("dur=")[2]) / 1000)
        self.sources.append(own.partition('desc="')[2].rstrip('"'))
        return elapsed, body

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def main() -> None:
    repo, big = write_repo() if "--repo" not in sys.argv else reuse()
    baseline = [timed([*GITML, "ls", "--all", "--json"], repo) for _ in range(REPEAT)]
    blob = git(repo, "rev-parse", f"refs/gitml/runs/{big}:.gitml/metrics/big.tsv").strip()
    floor = [timed(["git", "cat-file", "blob", blob], repo) for _ in range(REPEAT)]
    cached = repo / ".git" / "gitml" / "cache" / "points" / blob
    others = git(repo, "for-each-ref", "--count=4", "--format=%(refname:lstrip=3)",
                 "refs/gitml/runs/").split()  # fmt: skip
    metric = f"/api/runs/{big}/metrics/big?points=2000"
    results: dict[str, tuple[list[float], list[float]]] = {}
    sources: dict[str, str] = {}
    server: Server

    def measure(label: str, path: str, before=None, times: int = REPEAT) -> bytes:
        """Ask `path` `times` times (after `before()` each time): round trips and the
        server's own times, under `label`."""
        trips, spent = results.setdefault(label, ([], []))
        for _ in range(times):
            if before is not None:
                before()
            elapsed, body = server.get(path)
            trips.append(elapsed)
            spent.append(server.server_times[-1])
            sources[label] = server.sources[-1]
        return body

    def since_start(label: str, path: str) -> bytes:
        """Ask `path` once, timed from the server process's start."""
        _, body = server.get(path)
        results[label] = ([time.perf_counter() - server.started], [server.server_times[-1]])
        sources[label] = server.sources[-1]
        return body

    def new_run() -> None:
        import_synthetic_runs(
            repo, 1, lambda i: {"params": {"p0": "a"}, "metrics": {"m0": 1.0}}, name="new"
        )

    big_label = f"GET metric of {BIG_POINTS:,} points to ~2,000"
    # a server asked for the long metric at once: its parse ahead has hardly begun
    cached.unlink(missing_ok=True)
    server = Server(repo)
    try:
        since_start(f"{big_label}, asked as the server starts (from its start)", metric)
    finally:
        server.stop()
    cached.unlink(missing_ok=True)
    server = Server(repo)
    try:
        zipped = since_start("GET /api/runs, asked as the server starts (from its start)",
                             "/api/runs")  # fmt: skip
        while not cached.exists():  # parsed ahead, nobody asking
            time.sleep(0.05)
        results[f"{big_label}: parsed ahead, {BIG_POINTS:,} points, from the server's start"] = (
            [time.perf_counter() - server.started], [float("nan")])  # fmt: skip
        measure(f"{big_label}, first view once parsed ahead", metric, times=1)
        measure("GET /api/runs, steady state (nothing changed)", "/api/runs")
        _, plain = server.get("/api/runs", gzipped=False)
        measure("GET /api/runs after each new run (listed again)", "/api/runs", new_run, 5)
        query = "/api/select?filter=" + FILTER.replace(" ", "%20").replace("'", "%27")
        query = query.replace("(", "%28").replace(")", "%29").replace(",", "%2C")
        chosen = measure("GET /api/select with a filter", query).count(b'","') + 1

        def forget(on_disk: bool):
            def before() -> None:
                if on_disk:
                    cached.unlink(missing_ok=True)
                for other in others:  # push the long metric out of the server's memory
                    server.get(f"/api/runs/{other}/metrics/m0")

            return before

        cold = max(3, REPEAT // 3)  # each parses a million points
        body = measure(f"{big_label}, cold (parsed by the request)", metric, forget(True), cold)
        measure(f"{big_label}, warm from the disk cache", metric, forget(False))
        measure(f"{big_label}, warm in memory", metric)
        for span in (50_000, BIG_POINTS // 2):
            zoom = f"{metric}&start={BIG_POINTS // 4}&end={BIG_POINTS // 4 + span}"
            measure(f"GET metric zoomed into {span:,} of them (warm)", zoom)
    finally:
        server.stop()
    count = RUNS + 1
    assert len(gzip.decompress(zipped)) == len(plain)
    print(f"{count} runs x ({PARAMS} params, {METRICS} metrics of {STEPS} steps)", flush=True)
    report(f"gitml ls --all --json, {count} runs (baseline)", median(baseline))
    report(f"git cat-file blob of the {BIG_POINTS:,}-point metric (baseline)", median(floor))
    for label, (trips, spent) in results.items():
        against, name = (floor, "git cat-file") if "metric" in label else (baseline, "gitml ls")
        source = f"; answered from {sources[label]}" if sources.get(label) else ""
        report(
            label,
            median(spent),
            extra=f"server time; round trip {median(trips) * 1000:.1f} ms; "
            f"ratio {median(trips) / median(against):.3f} vs {name}{source}",
        )
    report("GET /api/runs size, plain", len(plain) / 1e6, "MB")
    report("GET /api/runs size, gzipped (what a browser receives)", len(zipped) / 1e6, "MB")
    print(f"the filter chose {chosen} runs; the metric answer held {body.count(b',') // 3} points")


def reuse() -> tuple[Path, str]:
    """`--repo PATH`: a repository an earlier run of this script wrote (its long run is
    `long-0`), to measure again without writing 10,000 runs."""
    repo = Path(sys.argv[sys.argv.index("--repo") + 1])
    listed = git(repo, "for-each-ref", "--format=%(refname:lstrip=3) %(contents:subject)",
                 "refs/gitml/runs/")  # fmt: skip
    big = next(line.split()[0] for line in listed.splitlines() if line.split()[1] == "long-0:")
    return repo, big


if __name__ == "__main__":
    main()
