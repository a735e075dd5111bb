"""Sweep overhead per trial (issue 15). Run: python bench/sweep.py [--trials N] [--repeat R]
[--dvc PATH-TO-DVC] [--slurm] [--ray]

Every workload runs N trivial trials, 2 at a time, of the same objective: one Python
process per trial (`python objective.py X`) that computes (x - 0.3)^2. Each workload is
one whole process, timed from start to end (imports included), median of R repeats:

  optuna   Optuna alone, no tracking: study.optimize(n_jobs=2), the objective runs the
           script as a subprocess (the baseline)
  mlflow   the same with MLflow's MLflowCallback, into an sqlite tracking store
  gitml    gitml sweep --jobs 2: each trial a run of the sweep's snapshot, in its job's
           temporary worktree, reset between trials (the script logs the metric with gitml)
  dvc      (with --dvc) dvc exp run --queue, N times, then dvc queue start -j 2, until
           the queue is empty
  slurm    (with --slurm) gitml sweep --launcher slurm --slurm-executor local --jobs 2:
           two workers as a job array of submitit's local executor
  ray      (with --ray) gitml sweep --launcher ray --jobs 2: each trial a Ray task, on a
           Ray head this script starts on 127.0.0.1 (its start is not timed)

Overhead per trial = (workload - optuna) / N. Goal: gitml <= 0.2 s per trial.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import PYTHON, environment, git, median, new_repo  # noqa: E402


def option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


TRIALS = int(option("--trials", "200"))
REPEAT = int(option("--repeat", "3"))
DVC = option("--dvc", "")
RAY_ADDRESS = ""  # set by main() when --ray starts a head

OBJECTIVE = """\
import os, sys
x = float(sys.argv[1]) if len(sys.argv) > 1 else float(open("params.yaml").read().split()[-1])
value = (x - 0.3) ** 2
if os.environ.get("GITML_RUN_DIR"):
    import gitml
    gitml.log_metric("loss", value)
if os.path.exists("dvc.yaml"):
    open("metrics.json", "w").write('{"loss": %r}' % value)
print(value)
"""

OPTUNA = """\
import subprocess, sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
def objective(trial):
    x = trial.suggest_float("x", 0, 1)
    out = subprocess.run([sys.executable, "objective.py", repr(x)], capture_output=True, text=True)
    return float(out.stdout)
callbacks = []
if sys.argv[2] == "mlflow":
    from optuna.integration.mlflow import MLflowCallback
    callbacks.append(MLflowCallback(tracking_uri="sqlite:///mlflow.db", metric_name="loss"))
study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(objective, n_trials=int(sys.argv[1]), n_jobs=2, callbacks=callbacks)
"""


def fresh_repo() -> Path:
    repo = new_repo("gitml-bench-sweep-")
    (repo / "objective.py").write_text(OBJECTIVE)
    (repo / "optuna_driver.py").write_text(OPTUNA)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "objective")
    return repo


def run(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr[-2000:]}")
    return elapsed


def optuna_alone(repo: Path) -> float:
    return run([PYTHON, "optuna_driver.py", str(TRIALS), "none"], repo)


def optuna_mlflow(repo: Path) -> float:
    return run([PYTHON, "optuna_driver.py", str(TRIALS), "mlflow"], repo)


def gitml_sweep(repo: Path, *launcher: str) -> float:
    command = [PYTHON, "-m", "gitml", "sweep", "-P", "x=uniform(0, 1)", "--metric", "loss"]
    command += ["--minimize", "--trials", str(TRIALS), "--jobs", "2", "--sampler", "random"]
    command += ["--pruner", "none", "--seed", "0", *launcher]
    return run([*command, "--", "python", "objective.py", "{x}"], repo)


def gitml_slurm(repo: Path) -> float:
    return gitml_sweep(repo, "--launcher", "slurm", "--slurm-executor", "local")


def gitml_ray(repo: Path) -> float:
    return gitml_sweep(repo, "--launcher", "ray", "--ray-address", RAY_ADDRESS)


@contextlib.contextmanager
def ray_head():
    """A Ray head on 127.0.0.1 in a process group of its own, ended as a whole."""
    global RAY_ADDRESS
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray = str(Path(PYTHON).parent / "ray")
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats"],
        env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    RAY_ADDRESS = f"127.0.0.1:{port}"
    probe = f"import ray; ray.init(address={RAY_ADDRESS!r})"
    try:
        while subprocess.run([PYTHON, "-c", probe], capture_output=True).returncode:
            if head.poll() is not None:
                raise RuntimeError("ray start failed")
            time.sleep(1)
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, sig)
                time.sleep(10)
        head.wait()


def dvc_queue(repo: Path) -> float:
    dvc = [DVC]
    env = environment()  # its queue's workers start `dvc` from PATH
    env["PATH"] = f"{Path(DVC).parent}{os.pathsep}{env['PATH']}"
    run([*dvc, "init", "-q"], repo)
    (repo / "params.yaml").write_text("x: 0.5\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: python objective.py\n    deps: [objective.py]\n"
        "    params: [x]\n    metrics:\n    - metrics.json:\n        cache: false\n"
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "dvc")
    start = time.perf_counter()
    for i in range(TRIALS):
        subprocess.run(
            [*dvc, "exp", "run", "--queue", "-q", "-S", f"x={(i + 0.5) / TRIALS!r}"],
            cwd=repo, env=env, check=True, capture_output=True,
        )  # fmt: skip
    subprocess.run([*dvc, "queue", "start", "-j", "2"], cwd=repo, env=env, check=True)
    while True:
        status = subprocess.run(
            [*dvc, "queue", "status"], cwd=repo, env=env, capture_output=True, text=True
        ).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(1)
    return time.perf_counter() - start


def main() -> None:
    print(f"{TRIALS} trials, 2 at a time, median of {REPEAT}; {tempfile.gettempdir()}")
    workloads = {"optuna": optuna_alone, "mlflow": optuna_mlflow, "gitml": gitml_sweep}
    if DVC:
        workloads["dvc"] = dvc_queue
    if "--slurm" in sys.argv:
        workloads["slurm"] = gitml_slurm
    with ray_head() if "--ray" in sys.argv else contextlib.nullcontext():
        if "--ray" in sys.argv:
            workloads["ray"] = gitml_ray
        measure(workloads)


def measure(workloads: dict) -> None:
    times: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(REPEAT):  # interleaved: each repeat meets the machine's load of then
        for name, workload in workloads.items():
            times[name].append(workload(fresh_repo()))
    for name, values in times.items():
        shown = ", ".join(f"{t:.1f}" for t in values)
        print(f"  {name:8} {median(values):7.1f} s for {TRIALS} trials ({shown})", flush=True)
    base = median(times["optuna"])
    overheads = {name: (median(times[name]) - base) / TRIALS for name in workloads}
    for name, overhead in overheads.items():
        if name != "optuna":
            print(f"RESULT sweep {name}: {overhead * 1000:.0f} ms overhead per trial", flush=True)
    verdict = "met" if overheads["gitml"] <= 0.2 else "NOT met"
    print(f"RESULT sweep goal (gitml <= 200 ms per trial): {verdict}")
    if "dvc" in overheads:
        ratio = overheads["dvc"] / max(overheads["gitml"], 1e-9)
        print(f"RESULT sweep dvc / gitml overhead: {ratio:.1f}x")


if __name__ == "__main__":
    main()
