"""`gitml import mlflow` against MLflow reading the same store (issue 12, point 6).
Run: python bench/mlflow_import.py [--quick]

An MLflow sqlite store of RUNS runs (3 params, a tag, a 50-point metric history and a
small artifact each) is made once by MLflow's client. Then, taking turns in the same
bench run (this machine is shared and noisy):
  - the baseline: a child process reads everything the import needs with MLflow's
    own client (the runs by page, every metric history, every artifact downloaded),
    timed as a whole process as the import is (Python and MLflow's import included);
  - `gitml import mlflow sqlite:///…` as a whole command, into a fresh repository.
Medians of REPEAT turns; the ratio import / read is what writing gitml runs (one
staging folder and commit each) costs over reading the store at all.

--quick: 20 runs, 3 turns (to check that it works).
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import PYTHON, environment, median, new_repo, report  # noqa: E402

QUICK = "--quick" in sys.argv
RUNS = 20 if QUICK else 200
REPEAT = 3 if QUICK else 5

MAKE = """
import json, os, sys, tempfile, time
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.create_experiment("bench")
folder = tempfile.mkdtemp()
with open(os.path.join(folder, "notes.txt"), "w") as handle:
    handle.write("notes" * 100)
start = time.perf_counter()
for i in range(int(sys.argv[2])):
    run = client.create_run(experiment, run_name=f"run-{i}").info.run_id
    points = [Metric("loss", 1 / (s + 1), 1_700_000_000_000 + s, s) for s in range(50)]
    params = [Param("lr", str(i / 1000)), Param("depth", str(i % 7)), Param("model", "rf")]
    client.log_batch(run, metrics=points, params=params, tags=[RunTag("team", "a")])
    client.log_artifact(run, os.path.join(folder, "notes.txt"))
    client.set_terminated(run)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

READ = """
import sys, tempfile
from mlflow import MlflowClient
from mlflow.entities import ViewType
client = MlflowClient(tracking_uri=sys.argv[1])
scratch = tempfile.mkdtemp()
for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
    token = None
    while True:
        runs = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
        for run in runs:
            for key in run.data.metrics:
                client.get_metric_history(run.info.run_id, key)
            for info in client.list_artifacts(run.info.run_id):
                client.download_artifacts(run.info.run_id, info.path, scratch)
        token = runs.token
        if not token:
            break
"""


def child(script: str, folder: Path, *args: object) -> dict:
    """Run `script` in `folder` (MLflow's sqlite store puts artifacts in ./mlruns)."""
    result = subprocess.run(
        [PYTHON, "-c", script, *map(str, args)],
        cwd=folder,
        env=environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def read_once(uri: str, folder: Path) -> float:
    """The baseline: MLflow's client reading the store, as a whole process, in seconds."""
    start = time.perf_counter()
    subprocess.run(
        [PYTHON, "-c", READ, uri], cwd=folder, env=environment(), capture_output=True, check=True
    )
    return time.perf_counter() - start


def import_once(uri: str) -> float:
    """The whole `gitml import mlflow` command into a fresh repository, in seconds."""
    repo = new_repo("gitml-bench-import-")
    try:
        start = time.perf_counter()
        result = subprocess.run(
            [PYTHON, "-m", "gitml", "import", "mlflow", uri],
            cwd=repo,
            env=environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - start
        assert result.stdout.startswith(f"imported {RUNS} runs"), result.stdout
        return seconds
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="gitml-bench-mlflow-"))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    made = child(MAKE, folder, uri, RUNS)["seconds"]
    report(f"MLflow logging {RUNS} runs into sqlite (for information)", made / RUNS, "s", "per run")
    reads, imports = [], []
    for _ in range(REPEAT):
        reads.append(read_once(uri, folder))
        imports.append(import_once(uri))
    read, imported = median(reads), median(imports)
    report(f"MLflow's client reading the {RUNS} runs (median)", read)
    report(f"gitml import mlflow of the {RUNS} runs, whole command (median)", imported)
    report("per run imported", imported / RUNS)
    report("import / read", imported / read, "x", "what writing gitml runs adds to reading")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
