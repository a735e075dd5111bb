"""`gitml ui`'s pages in headless Chromium over a large repository, and `mlflow ui` over
the same runs, timed the same way.

    python bench/ui_browser.py    # 10,000 runs x (20 params, 10 metrics of 100 steps)
    python bench/ui_browser.py --runs 500 --big 100000 --repeat 3   # small: to check the script
    python bench/ui_browser.py --no-mlflow    # gitml only

Runs: gitml's written by one `git fast-import` stream (bench/_common.py), one more run
holding a metric of --big points; MLflow's written with its own client (MlflowClient:
create_run, log_batch of the 20 params and 1,000 points, set_terminated) into a sqlite
store, the same values. Debian's chromium (/usr/bin/chromium) driven by Playwright,
a new browser context (cold cache) per page load; medians of --repeat:
- runs page drawn: from navigation start to the first rows of the runs table in the
  page (in-page `performance.now()`, polled every animation frame);
- filter keystroke: from the input event of one more character in the filter box
  (`metrics.m0 > 0.5` -> `metrics.m0 > 0.55`, and back) to the table re-drawn with
  the new count, plus one frame (the page tests such a filter itself, static/filter.js);
  baseline in the same page: the same for a filter the page leaves to the server
  (`name like 'run-1%'` -> `name like 'run-12%'`: LIKE is read by the server only);
- a 1,000,000-point chart: from navigation to the run's metric page until its chart
  is drawn (Plotly loaded, the history downsampled by the server), and redrawn in the
  page (x axis switched: request, downsampling, drawing);
- `mlflow ui` (MLflow 3, the same runs): from navigation to its runs table showing run
  names; a filter submitted in its search box (Enter) until the table shows the
  matching runs.
Goals (issue 13): table <= 1.5 s, keystroke <= 100 ms, 1,000,000-point chart <= 1 s.
"""

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import PYTHON, environment, git, import_synthetic_runs, median, new_repo, report  # noqa: E402

from tests.utils import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PARAMS, METRICS, STEPS = 20, 10, 100
FILTERS = ("metrics.m0 > 0.5", "metrics.m0 > 0.55")
SERVER_FILTERS = ("name like 'run-1%'", "name like 'run-12%'")  # answered by /api/select
MLFLOW_FILTERS = ("metrics.m0 > 0.99", "metrics.m0 < 0.01")
FRAME = "() => new Promise((done) => requestAnimationFrame(() => done(performance.now())))"
# in the page: seconds from an input event in the filter box to the count (drawn with the
# rows) changing, plus a frame
KEYSTROKE = """async (text) => {
  const box = document.querySelector('input.filter');
  const label = document.querySelector('.count');
  const before = label.textContent;
  const start = performance.now();
  box.value = text;
  box.dispatchEvent(new Event('input'));
  await new Promise((done) => {
    const check = () => (label.textContent !== before ? done() : requestAnimationFrame(check));
    check();
  });
  await new Promise((done) => requestAnimationFrame(done));
  return (performance.now() - start) / 1000;
}"""
# in the page: seconds from switching the long chart's x axis to its redraw, plus a frame
SWITCH_AXIS = """async (axis) => {
  const chart = document.querySelector('.chart[data-metric=big]');
  const select = document.querySelector('select[aria-label="x axis"]');
  const start = performance.now();
  select.value = axis;
  select.dispatchEvent(new Event('change'));
  const wanted = axis === 'time' ? 'date' : 'linear';
  await new Promise((done) => {
    const drawn = () => chart.layout.xaxis.type === wanted;
    const check = () => (drawn() ? done() : requestAnimationFrame(check));
    check();
  });
  await new Promise((done) => requestAnimationFrame(done));
  return (performance.now() - start) / 1000;
}"""
# MLflow's runs page: its first run name and its "N matching runs"
MLFLOW_STATE = """(() => {
  const text = document.body.innerText;
  const first = (text.match(/run-\\d+/) || [''])[0];
  return first + '/' + (text.match(/(\\d+) matching runs/) || [''])[0];
})()"""


def run_values(i: int) -> tuple[dict[str, str], list[list[tuple[int, float]]]]:
    """Run i's params and metric histories (the same for gitml and MLflow)."""
    rng = random.Random(i)
    params = {f"p{k}": rng.choice(["a", "b", "c", str(k * i)]) for k in range(PARAMS)}
    histories = [[(step, rng.random()) for step in range(STEPS)] for _ in range(METRICS)]
    return params, histories


def tsv(points: list[tuple[int, float]], start_ms: int) -> bytes:
    return "".join(f"{step}\t{value!r}\t{start_ms + step}\n" for step, value in points).encode()


def write_gitml(runs: int, big: int) -> tuple[Path, str]:
    repo = new_repo("gitml-bench-ui-browser-")
    started = time.perf_counter()

    def fields(i: int) -> dict:
        params, histories = run_values(i)
        return {"params": params, "metrics": {f"m{k}": h[-1][1] for k, h in enumerate(histories)}}

    def files(i: int, summary) -> dict[str, bytes]:
        _, histories = run_values(i)
        return {f"metrics/m{k}.tsv": tsv(h, summary.start_ms) for k, h in enumerate(histories)}

    import_synthetic_runs(repo, runs, fields, files)
    rng = random.Random(0)
    long_metric = [(step, rng.random()) for step in range(big)]
    (long_run,) = import_synthetic_runs(
        repo,
        1,
        lambda i: {"params": {"kind": "long"}, "metrics": {"big": long_metric[-1][1]}},
        lambda i, summary: {"metrics/big.tsv": tsv(long_metric, summary.start_ms)},
        name="long",
    )
    git(repo, "gc", "-q")
    print(f"gitml: wrote {runs + 1} runs in {time.perf_counter() - started:.1f} s", flush=True)
    return repo, long_run


def write_mlflow(runs: int, folder: Path, steps: int) -> tuple[str, str]:
    """The same runs in an MLflow sqlite store, through MLflow's client, each metric's
    last `steps` points; the store's URI and the experiment's id."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench", artifact_location=str(folder / "artifacts"))
    started = time.perf_counter()
    first_ms = int(time.time() * 1000) - runs * 1000
    for i in range(runs):
        params, histories = run_values(i)
        start = first_ms + i * 1000
        run = client.create_run(experiment, start_time=start, run_name=f"run-{i}")
        metrics = [
            Metric(f"m{k}", value, start + step, step)
            for k, history in enumerate(histories)
            for step, value in history[-steps:]
        ]
        run_id = run.info.run_id
        client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
        client.set_terminated(run_id, end_time=start + 500)
        if (i + 1) % 1000 == 0:
            print(f"mlflow: {i + 1} runs, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"mlflow: wrote {runs} runs in {time.perf_counter() - started:.1f} s", flush=True)
    return uri, experiment


class Process:
    """A server in its own process, stopped at the end."""

    def __init__(self, command: list[str], cwd: Path | None = None):
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def gitml_ui(repo: Path) -> tuple[Process, str]:
    server = Process([PYTHON, "-m", "gitml", "ui", "--no-browser", "--port", "0", str(repo)])
    line = server.process.stdout.readline()
    found = re.search(r"at (http://127\.0\.0\.1:\d+)/$", line.strip())
    if found is None:
        server.stop()
        raise RuntimeError(f"gitml ui printed {line!r}")
    return server, found.group(1)


def mlflow_ui(uri: str) -> tuple[Process, str]:
    import http.client

    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    server = Process(
        [str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)]
    )
    deadline = time.time() + 600  # its workers take minutes to start on a busy machine
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError("mlflow ui did not answer within 600 s")


def drawn_after_navigation(browser, url: str, ready: str, context=None) -> float:
    """Seconds from navigation start until `ready` (a JS expression) holds: in a new
    context (nothing cached), or in `context` (what it cached kept)."""
    own = context is None
    context = context or browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_function(f"() => ({ready})", polling="raf", timeout=120_000)
        seconds = page.evaluate(FRAME) / 1000
        page.close()
        return seconds
    finally:
        if own:
            context.close()


def gitml_pages(
    browser, base: str, long_run: str, runs: int, repeat: int
) -> dict[str, list[float]]:
    rows = "document.querySelector('.runs-table .vt-body .vt-row:not([hidden])') !== null"
    table = [drawn_after_navigation(browser, base + "/", rows) for _ in range(repeat)]
    chart_ready = (
        "document.querySelector('.chart[data-metric=big]')?.dataset.returned !== undefined"
    )
    chart_page = f"{base}/run/{long_run}?tab=metrics"
    chart = [drawn_after_navigation(browser, chart_page, chart_ready) for _ in range(repeat)]
    warm = browser.new_context(viewport={"width": 1400, "height": 900})
    drawn_after_navigation(browser, chart_page, chart_ready, warm)  # plotly.min.js cached
    chart_warm = [
        drawn_after_navigation(browser, chart_page, chart_ready, warm) for _ in range(repeat)
    ]
    warm.close()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(base + "/")
    page.wait_for_function(f"() => {rows}", timeout=120_000)
    box = page.locator("input.filter")
    box.fill(FILTERS[0])
    page.wait_for_function("() => / of /.test(document.querySelector('.count').textContent)")
    keystroke = []
    for k in range(repeat * 2):
        text = FILTERS[(k + 1) % 2]
        keystroke.append(page.evaluate(KEYSTROKE, text))
    box.fill(SERVER_FILTERS[0])
    page.wait_for_function("() => / of /.test(document.querySelector('.count').textContent)")
    by_server = []
    for k in range(repeat * 2):
        by_server.append(page.evaluate(KEYSTROKE, SERVER_FILTERS[(k + 1) % 2]))
    # the long chart redrawn in a page that has Plotly: switch its x axis
    page.goto(f"{base}/run/{long_run}?tab=metrics")
    page.wait_for_function(f"() => {chart_ready}", timeout=120_000)
    redraw = []
    for k in range(repeat):
        axis = "time" if k % 2 == 0 else "step"
        redraw.append(page.evaluate(SWITCH_AXIS, axis))
    label = page.locator(".chart-card[data-card=big] .points-label").inner_text()
    context.close()
    print(f"gitml: the long chart says {label!r}", flush=True)
    return {
        "table": table,
        "keystroke": keystroke,
        "keystroke_server": by_server,
        "chart": chart,
        "chart_warm": chart_warm,
        "redraw": redraw,
    }


def mlflow_pages(browser, base: str, experiment: str, repeat: int) -> dict[str, list[float]]:
    """MLflow's runs page (its first 100 runs, as it loads them), and its search box: a
    filter typed, then Enter, until the table shows other runs."""
    runs_page = f"{base}/#/experiments/{experiment}/runs?workflowType=machine_learning"
    names = "/run-\\d+/.test(document.body.innerText)"
    table = [drawn_after_navigation(browser, runs_page, names) for _ in range(repeat)]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(runs_page)
    page.wait_for_function(f"() => {names}", timeout=120_000)
    search = page.get_by_placeholder(re.compile("metrics"))
    submit = []
    for k in range(repeat * 2):
        before = page.evaluate(f"() => {MLFLOW_STATE}")
        search.fill(MLFLOW_FILTERS[k % 2])
        start = time.perf_counter()
        search.press("Enter")
        page.wait_for_function(
            f"(before) => {MLFLOW_STATE} !== before", arg=before, polling="raf", timeout=120_000
        )
        page.evaluate(FRAME)
        submit.append(time.perf_counter() - start)
    context.close()
    return {"table": table, "filter": submit}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument(
        "--mlflow-steps",
        type=int,
        default=STEPS,
        help="points of each metric written to MLflow's store (its runs page reads only the "
        "last; its client writes 1,000 points a run in about 0.6 s on this machine)",
    )
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    repo, long_run = write_gitml(args.runs, args.big)
    mlflow_store = None
    if not args.no_mlflow:
        folder = Path(tempfile.mkdtemp(prefix="gitml-bench-ui-mlflow-"))
        mlflow_store = write_mlflow(args.runs, folder, args.mlflow_steps)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        server, base = gitml_ui(repo)
        try:
            gitml = gitml_pages(browser, base, long_run, args.runs, args.repeat)
        finally:
            server.stop()
        mlflow = None
        if mlflow_store:
            server, base = mlflow_ui(mlflow_store[0])
            try:
                mlflow = mlflow_pages(browser, base, mlflow_store[1], args.repeat)
            finally:
                server.stop()
        browser.close()
    count = args.runs + 1
    if mlflow:
        report(
            f"mlflow ui: runs page drawn (its first 100 of {args.runs} runs; baseline)",
            median(mlflow["table"]),
        )
        report("mlflow ui: filter submitted (Enter) to table re-drawn", median(mlflow["filter"]))
    ratio = (
        f"ratio {median(gitml['table']) / median(mlflow['table']):.2f} vs mlflow ui"
        if mlflow
        else ""
    )
    report(
        f"gitml ui: runs table drawn after navigation, {count} runs",
        median(gitml["table"]),
        extra=ratio,
    )
    report(
        "gitml ui: filter keystroke answered by the server (LIKE; baseline)",
        median(gitml["keystroke_server"]),
    )
    ratio = f"ratio {median(gitml['keystroke']) / median(gitml['keystroke_server']):.2f} vs server"
    if mlflow:
        ratio += f", {median(gitml['keystroke']) / median(mlflow['filter']):.3f} vs mlflow ui"
    report("gitml ui: filter keystroke to table re-drawn", median(gitml["keystroke"]), extra=ratio)
    big = f"{args.big:,}-point chart"
    report(f"gitml ui: {big} drawn after navigation, new browser", median(gitml["chart"]))
    report(
        f"gitml ui: {big} drawn after navigation, plotly.min.js in the browser's cache",
        median(gitml["chart_warm"]),
    )
    report(
        f"gitml ui: {args.big:,}-point chart redrawn in the page (x axis switched)",
        median(gitml["redraw"]),
    )


if __name__ == "__main__":
    main()
