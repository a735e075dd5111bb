"""MLflow stores made by MLflow's own client, in a child process (MLflow's global state
stays out of the test process): the material `gitml import mlflow` reads."""

import json
import subprocess
import sys
from pathlib import Path

# Two experiments; runs with params, metric histories with their own steps and times,
# tags, artifacts (one over the 1 KiB limit the tests set), a run-artifact model and
# an MLflow 3 logged model, each registered; stages and an alias.
MAKE_STORE = r"""
import json, os, sys, tempfile
from mlflow import MlflowClient

uri, commit = sys.argv[1], sys.argv[2]
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
wine = client.create_experiment("wine")
scratch = tempfile.mkdtemp()

def files(folder, contents):
    for name, text in contents.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    return folder

alpha = client.create_run(wine, start_time=1_700_000_000_000, run_name="alpha",
                          tags={"team": "a", "mlflow.source.git.commit": commit})
a = alpha.info.run_id
client.log_param(a, "lr", "0.1")
for step in range(5):
    client.log_metric(a, "loss", 1.0 / (step + 1), timestamp=1_700_000_001_000 + step,
                      step=step * 10)
client.log_artifacts(a, files(os.path.join(scratch, "alpha"), {
    "notes/readme.txt": "hello",
    "big.bin": "x" * 4096,
    "model/MLmodel": "flavors: {}\n",
}))
client.set_terminated(a, "FINISHED", end_time=1_700_000_060_000)

beta = client.create_run(wine, start_time=1_700_000_100_000, run_name="beta",
                         tags={"mlflow.source.git.commit": "f" * 40})
b = beta.info.run_id
client.log_param(b, "lr", "0.2")
client.log_metric(b, "loss", 0.25, timestamp=1_700_000_101_000, step=0)
logged = client.create_logged_model(wine, name="clf", source_run_id=b)
client.log_model_artifacts(logged.model_id, files(os.path.join(scratch, "clf"), {
    "MLmodel": "flavors: {}\n", "model.pkl": "weights",
}))
client.finalize_logged_model(logged.model_id, "READY")
client.set_terminated(b, "FAILED", end_time=1_700_000_130_000)

plain = client.create_run("0", start_time=1_700_000_200_000, run_name="plain run!")
client.set_terminated(plain.info.run_id, "KILLED", end_time=1_700_000_200_500)

client.create_registered_model("Wine Model")
client.create_model_version("Wine Model", f"runs:/{a}/model", run_id=a)
client.create_model_version("Wine Model", f"models:/{logged.model_id}", run_id=b,
                            model_id=logged.model_id)
client.transition_model_version_stage("Wine Model", "1", "Staging")
client.transition_model_version_stage("Wine Model", "2", "Production")
client.set_registered_model_alias("Wine Model", "champion", "2")
print(json.dumps({"alpha": a, "beta": b, "plain": plain.info.run_id, "model": logged.model_id}))
"""


def make_store(uri: str, commit: str, cwd: Path) -> dict:
    """Fill the MLflow store at `uri` (see MAKE_STORE); the MLflow ids of what it made."""
    env = {
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_TRACKING_URI": uri,  # MLflow's registry finds logged models through it
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
    }
    result = subprocess.run(
        [sys.executable, "-c", MAKE_STORE, uri, commit],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
