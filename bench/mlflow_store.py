"""MLflow's client on the gitml store against MLflow's default sqlite store (issue 12).
Run: python bench/mlflow_store.py [--quick]

One logging script, run in child processes against `gitml:REPO` and against
`sqlite:///…/mlflow.db` (MLflow's default store) in the same bench run, the stores
taking turns (this machine is shared and noisy):
  1. log_metric throughput: `mlflow.log_metric` in a loop inside one run (goal: the
     gitml store >= 10x sqlite's points per second). Median over repetitions.
  2. `mlflow.search_runs` over 1,000 runs (each with 3 params, 2 metrics, 1 tag),
     warm (after one call), in the shapes users run (goal: the gitml store >= 5x
     faster):
       a. a filter and an order_by (about 250 found);
       b. the best run: order_by a metric, max_results=1 (MLflow's docs' usual call);
       c. the top 20 of a filter, by a metric;
       d. every run, unfiltered.
     Median of repeated calls, the stores taking turns over a few rounds. It returns
     a pandas DataFrame, which MLflow builds the same way whatever the store, so
     `MlflowClient.search_runs` (Run objects: the store's own part) is timed too, and
     the difference of the two (MLflow's conversion) with the best ratio any store
     could reach against it. Both stores must return the same runs in the same order
     (their `lr` params).
     The runs are logged by the same script through each store first; that logging
     is timed too, for information.

--quick: 200 points, 100 runs, fewer repetitions (to check that it works).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import PYTHON, environment, median, new_repo, report  # noqa: E402

QUICK = "--quick" in sys.argv
POINTS = 200 if QUICK else 1000
RUNS = 100 if QUICK else 1000
REPEAT = 3 if QUICK else 5
SEARCHES = 5 if QUICK else 7  # calls of each shape in each round
ROUNDS = 1 if QUICK else 3  # the stores take turns

LOG_METRICS = """
import json, sys, time
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
points = int(sys.argv[2])
with mlflow.start_run():
    mlflow.log_metric("warm", 0.0)
    start = time.perf_counter()
    for step in range(points):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    seconds = time.perf_counter() - start
print(json.dumps({"per_second": points / seconds}))
"""

LOG_RUNS = """
import json, sys, time
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("bench")
start = time.perf_counter()
for i in range(int(sys.argv[2])):
    with mlflow.start_run():
        mlflow.log_params({"lr": i / 1000, "model": ("rf", "lr")[i % 2], "depth": i % 7})
        mlflow.log_metrics({"acc": (i % 100) / 100, "loss": 1 / (i + 1)})
        mlflow.set_tag("team", ("a", "b", "c")[i % 3])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

# name → (filter, order_by, max_results of mlflow.search_runs; None: its default)
SHAPES = {
    "a": ("metrics.acc > 0.5 and params.model = 'rf'", ["metrics.loss DESC"], None),
    "b": ("", ["metrics.acc DESC"], 1),
    "c": ("params.model = 'rf'", ["metrics.acc DESC"], 20),
    "d": ("", None, None),
}
SHAPE_NAMES = {
    "a": "filter + order_by",
    "b": "the best run (order_by a metric, max_results=1)",
    "c": "top 20 of a filter",
    "d": "every run, unfiltered",
}

SEARCH = """
import json, sys, time
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
experiment = mlflow.get_experiment_by_name("bench").experiment_id
client = mlflow.MlflowClient()
def timings(search):
    search()
    times = []
    for _ in range(int(sys.argv[2])):
        start = time.perf_counter()
        search()
        times.append(time.perf_counter() - start)
    return times
found = {}
for name, (text, order, most) in json.loads(sys.argv[3]).items():
    sized = {} if most is None else {"max_results": most}
    frame = lambda: mlflow.search_runs([experiment], text, order_by=order, **sized)
    store = lambda: client.search_runs([experiment], text, order_by=order, max_results=most or 5000)
    found[name] = {
        "times": timings(frame), "client_times": timings(store), "found": len(frame()),
        "lrs": [run.data.params["lr"] for run in store()],
    }
found["total"] = len(mlflow.search_runs([experiment]))
print(json.dumps(found))
"""


def child(script: str, *args: object) -> dict:
    result = subprocess.run(
        [PYTHON, "-c", script, *map(str, args)],
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"bench script failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    repo = new_repo("gitml-bench-mlflow-")
    folder = Path(tempfile.mkdtemp(prefix="gitml-bench-sqlite-"))
    stores = {"gitml": f"gitml:{repo}", "sqlite": f"sqlite:///{folder}/mlflow.db"}
    child(
        "import mlflow; mlflow.set_tracking_uri(__import__('sys').argv[1]); "
        "mlflow.search_experiments(); print('{}')",
        stores["sqlite"],
    )  # migrations, once

    rates: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(REPEAT):
        for name, uri in stores.items():
            rates[name].append(child(LOG_METRICS, uri, POINTS)["per_second"])
    for name in stores:
        report(f"log_metric x{POINTS}, {name} store (median)", median(rates[name]), "points/s")
    ratio = median(rates["gitml"]) / median(rates["sqlite"])
    report("log_metric throughput, gitml / sqlite", ratio, "x", "goal >= 10x")

    for name, uri in stores.items():
        seconds = child(LOG_RUNS, uri, RUNS)["seconds"]
        report(f"logging {RUNS} runs, {name} store", seconds / RUNS, "s", "per run")
    searched = {
        name: {shape: {"times": [], "client_times": []} for shape in SHAPES} for name in stores
    }
    for _ in range(ROUNDS):
        for name, uri in stores.items():
            answer = child(SEARCH, uri, SEARCHES, json.dumps(SHAPES))
            assert answer.pop("total") == RUNS, answer
            for shape, found in answer.items():
                kept = searched[name][shape]
                kept["times"] += found["times"]
                kept["client_times"] += found["client_times"]
                kept["found"], kept["lrs"] = found["found"], found["lrs"]
    for shape in SHAPES:
        assert searched["gitml"][shape]["lrs"] == searched["sqlite"][shape]["lrs"], shape
        report_shape(shape, {name: searched[name][shape] for name in stores})


def report_shape(shape: str, answers: dict[str, dict]) -> None:
    """The medians of one search shape in both stores, their ratios and the best ratio
    MLflow's own DataFrame conversion leaves any store."""
    title = f"search {shape} ({SHAPE_NAMES[shape]}) over {RUNS} runs"
    for name, answer in answers.items():
        report(
            f"{title}: mlflow.search_runs, {name} store (median, warm)",
            median(answer["times"]),
            extra=f"{answer['found']} found, as a DataFrame",
        )
        report(
            f"{title}: MlflowClient.search_runs, {name} store (median, warm)",
            median(answer["client_times"]),
            extra="Run objects: the store's part",
        )
    gitml, sqlite = answers["gitml"], answers["sqlite"]
    speedup = median(sqlite["times"]) / median(gitml["times"])
    report(f"{title}: mlflow.search_runs, sqlite time / gitml time", speedup, "x", "goal >= 5x")
    client = median(sqlite["client_times"]) / median(gitml["client_times"])
    report(f"{title}: MlflowClient.search_runs, sqlite time / gitml time", client, "x")
    conversion = {}
    for name, answer in answers.items():
        conversion[name] = median(answer["times"]) - median(answer["client_times"])
        report(
            f"{title}: MLflow's DataFrame conversion, {name} store",
            conversion[name],
            extra="mlflow.search_runs minus MlflowClient.search_runs: MLflow's own code",
        )
    bound = median(sqlite["times"]) / max(conversion["gitml"], 1e-6)
    report(
        f"{title}: mlflow.search_runs ratio with a gitml store taking no time",
        bound,
        "x",
        "sqlite time / the conversion alone: no store can pass it",
    )


if __name__ == "__main__":
    main()
