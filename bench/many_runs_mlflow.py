"""MLflow's sqlite store holding as many runs as bench/many_runs.py gives gitml (issue 14's
side-by-side figures). Run: python bench/many_runs_mlflow.py [--sizes 10000,100000] [--repeat 5]

The runs are the same synthetic runs (`many_runs.run_fields`: 4 params, 3 metrics, a tag
and a name each), written straight into the tables of a store MLflow created itself
(`mlflow.db`, experiment `bench`): one transaction of executemany inserts into `runs`,
`params`, `metrics`, `latest_metrics` and `tags`, as MLflow's own writes leave them.

For each size, the median of REPEAT timings of a fresh process (interpreter start and
`import mlflow` included, as every gitml figure includes gitml's) running

  - `import mlflow` alone (every MLflow command's floor)
  - `mlflow.search_runs(max_results=20)` (beside `gitml ls --limit 20`)
  - `mlflow.search_runs(filter_string=FILTER, order_by=["metrics.acc DESC"], max_results=20)`
    (beside `gitml ls --filter FILTER --sort -metrics.acc --limit 20`)
  - `MlflowClient().search_runs` paging through every run (beside `gitml ls --all --json`)

Put the output beside `python bench/many_runs.py --sizes …` run on the same machine.
"""

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import PYTHON, environment, median, report  # noqa: E402
from many_runs import FILTER, run_fields  # noqa: E402

CREATE = """
import mlflow
mlflow.set_tracking_uri("sqlite:///mlflow.db")
print(mlflow.create_experiment("bench"))
"""
SETUP = 'import mlflow\nmlflow.set_tracking_uri("sqlite:///mlflow.db")\n'
QUERIES = {
    "import mlflow": "",
    "search_runs(max_results=20)": (
        "assert len(mlflow.search_runs(['{experiment}'], max_results=20)) == 20"
    ),
    "search_runs(filter, order_by, max_results=20)": (
        "found = mlflow.search_runs(['{experiment}'], filter_string={filter!r}, "
        "order_by=['metrics.acc DESC'], max_results=20)\n"
        "assert len(found) == 20 and found['metrics.acc'].is_monotonic_decreasing"
    ),
    "MlflowClient.search_runs, every page": (
        "client = mlflow.MlflowClient()\n"
        "token, seen = None, 0\n"
        "while True:\n"
        "    page = client.search_runs(['{experiment}'], max_results=50000, page_token=token)\n"
        "    token, seen = page.token, seen + len(page)\n"
        "    if not token:\n"
        "        break\n"
        "assert seen == {count}\n"
    ),
}


def fill(store: Path, experiment: str, count: int) -> None:
    """`count` finished runs of `experiment`, inserted as MLflow's writes leave them."""
    fields = run_fields(count)
    runs, params, metrics, latest, tags = [], [], [], [], []
    start = 1_700_000_000_000
    for i in range(count):
        run = fields(i)
        run_id = uuid.uuid4().hex
        began = start + i * 1000
        runs.append(
            (run_id, run["name"], "LOCAL", "train.py", "", "bench", "FINISHED", began,
             began + 500, "", "active", f"{store.parent}/mlruns/{experiment}/{run_id}/artifacts",
             int(experiment))
        )  # fmt: skip
        params += [(key, value, run_id) for key, value in run["params"].items()]
        for key, value in run["metrics"].items():
            metrics.append((key, value, began + 400, run_id, 0, 0))
            latest.append((key, value, began + 400, 0, 0, run_id))
        tags += [(key, value, run_id) for key, value in run["tags"].items()]
        tags.append(("mlflow.runName", run["name"], run_id))
    with sqlite3.connect(store) as db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            runs,
        )
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?,?,?,?,?,?)",
            metrics,
        )
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?,?,?,?,?,?)",
            latest,
        )
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)


def timed_python(code: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], cwd=cwd, env=environment(), check=True)
    return time.perf_counter() - start


def bench_size(count: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix=f"mlflow-bench-{count}-"))
    experiment = subprocess.run(
        [PYTHON, "-c", CREATE], cwd=folder, env=environment(), check=True, capture_output=True,
        text=True,
    ).stdout.split()[-1]  # fmt: skip
    start = time.perf_counter()
    fill(folder / "mlflow.db", experiment, count)
    report(f"{count} runs: MLflow sqlite store filled by inserts", time.perf_counter() - start)
    report(f"{count} runs: mlflow.db size", (folder / "mlflow.db").stat().st_size / 2**20, "MiB")
    figures: dict[str, list[float]] = {}
    for _ in range(repeat):
        for label, query in QUERIES.items():
            code = SETUP + query.format(experiment=experiment, filter=FILTER, count=count)
            figures.setdefault(label, []).append(timed_python(code, folder))
    for label in QUERIES:
        report(f"{count} runs: MLflow sqlite {label} (median)", median(figures[label]))
    shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for count in (int(size) for size in args.sizes.split(",")):
        bench_size(count, args.repeat)


if __name__ == "__main__":
    main()
