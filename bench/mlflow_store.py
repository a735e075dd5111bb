"""MLflow's client on the gitml store against MLflow's default sqlite store (issue 12).
Run: python bench/mlflow_store.py [--quick]

One logging script, run in child processes against `gitml:REPO` and against
`sqlite:///…/mlflow.db` (MLflow's default store) in the same bench run, the stores
taking turns (this machine is shared and noisy):
  1. log_metric throughput: `mlflow.log_metric` in a loop inside one run (goal: the
     gitml store >= 10x sqlite's points per second). Median over repetitions.
  2. `mlflow.search_runs` over 1,000 runs (each with 3 params, 2 metrics, 1 tag),
     a filter and an order_by, warm (after one call): median of repeated calls
     (goal: the gitml store >= 5x faster). It returns a pandas DataFrame, which
     MLflow builds the same way whatever the store (about half the time here), so
     `MlflowClient.search_runs` (Run objects: the store's own part) is timed too, and
     the difference of the two (MLflow's conversion) with the best ratio any store
     could reach against it.
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
SEARCHES = 5 if QUICK else 15

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

SEARCH = """
import json, sys, time
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
experiment = mlflow.get_experiment_by_name("bench").experiment_id
FILTER, ORDER = "metrics.acc > 0.5 and params.model = 'rf'", ["metrics.loss DESC"]
client = mlflow.MlflowClient()
def timings(search):
    search()
    times = []
    for _ in range(int(sys.argv[2])):
        start = time.perf_counter()
        search()
        times.append(time.perf_counter() - start)
    return times
frame = lambda: mlflow.search_runs([experiment], FILTER, order_by=ORDER)
store = lambda: client.search_runs([experiment], FILTER, order_by=ORDER, max_results=5000)
print(json.dumps({
    "times": timings(frame), "client_times": timings(store), "found": len(frame()),
    "total": len(mlflow.search_runs([experiment])),
}))
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
    searched = {}
    for name, uri in stores.items():
        answer = child(SEARCH, uri, SEARCHES)
        assert answer["total"] == RUNS, answer
        searched[name] = answer
        report(
            f"mlflow.search_runs over {RUNS} runs, {name} store (median, warm)",
            median(answer["times"]),
            extra=f"{answer['found']} found, as a DataFrame",
        )
        report(
            f"MlflowClient.search_runs over {RUNS} runs, {name} store (median, warm)",
            median(answer["client_times"]),
            extra="Run objects: the store's part",
        )
    assert searched["gitml"]["found"] == searched["sqlite"]["found"]
    speedup = median(searched["sqlite"]["times"]) / median(searched["gitml"]["times"])
    report("mlflow.search_runs, sqlite time / gitml time", speedup, "x", "goal >= 5x")
    client = median(searched["sqlite"]["client_times"]) / median(searched["gitml"]["client_times"])
    report("MlflowClient.search_runs, sqlite time / gitml time", client, "x")
    conversion = {}
    for name, answer in searched.items():
        conversion[name] = median(answer["times"]) - median(answer["client_times"])
        report(
            f"MLflow's DataFrame conversion in mlflow.search_runs, {name} store",
            conversion[name],
            extra="mlflow.search_runs minus MlflowClient.search_runs: MLflow's own code",
        )
    bound = median(searched["sqlite"]["times"]) / conversion["gitml"]
    report(
        "mlflow.search_runs ratio with a gitml store taking no time",
        bound,
        "x",
        "sqlite time / the conversion alone: no store can pass it",
    )


if __name__ == "__main__":
    main()
