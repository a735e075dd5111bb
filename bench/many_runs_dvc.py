"""DVC's experiments (`refs/exps`) holding as many runs as bench/many_runs.py gives gitml
(issue 14's side-by-side figures).
Run: python bench/many_runs_dvc.py --dvc PATH/TO/dvc [--sizes 1000,10000] [--repeat 3]

DVC is not a dependency of gitml: install it apart (`python3 -m venv /tmp/dvc-venv &&
/tmp/dvc-venv/bin/pip install dvc`) and name its `dvc` with --dvc.

The experiments are the same synthetic runs (`many_runs.run_fields`), written as DVC
keeps experiments: a DVC project whose `dvc.yaml` declares the params and `metrics.json`,
and per run a commit on the baseline whose tree changes `params.yaml` and `metrics.json`,
under `refs/exps/<baseline[:2]>/<baseline[2:]>/<name>`, all through one
`git fast-import`. Then the median of REPEAT timings of

  - `dvc --version` (every dvc command's floor)
  - `dvc exp list` (beside `gitml ls --limit 20`: DVC has no limit)
  - `dvc exp show --json` (every experiment with its params and metrics: beside
    `gitml ls --all --json`)

Put the output beside `python bench/many_runs.py --sizes …` run on the same machine.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import environment, git, median, report  # noqa: E402
from many_runs import run_fields  # noqa: E402

DVC_YAML = """stages:
  train:
    cmd: python train.py
    params:
    - model
    - lr
    - depth
    - seed
    metrics:
    - metrics.json:
        cache: false
"""


def dvc_project(dvc: str) -> Path:
    """A git repository on `main` that is a DVC project with one stage."""
    repo = Path(tempfile.mkdtemp(prefix="dvc-bench-"))
    git(repo, "init", "-q", "-b", "main")
    subprocess.run([dvc, "init", "-q"], cwd=repo, env=environment(), check=True)
    (repo / "train.py").write_text("print('train')\n")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("model: rf\nlr: 0.1\ndepth: 2\nseed: 0\n")
    (repo / "metrics.json").write_text('{"acc": 0.5, "loss": 0.5, "f1": 0.49}\n')
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "baseline")
    return repo


def write_experiments(repo: Path, count: int) -> None:
    """`count` experiments on the baseline HEAD, through one `git fast-import`."""
    fields = run_fields(count)
    baseline = git(repo, "rev-parse", "HEAD").strip()
    stream = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], cwd=repo,
                              stdin=subprocess.PIPE, env=environment())  # fmt: skip
    assert stream.stdin is not None

    def data(text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    for i in range(count):
        run = fields(i)
        params = "".join(f"{key}: {value}\n" for key, value in run["params"].items())
        ref = f"refs/exps/{baseline[:2]}/{baseline[2:]}/{run['name']}"
        when = 1_700_000_000 + i
        stream.stdin.write(
            f"commit {ref}\ncommitter bench <bench@example.com> {when} +0000\n".encode()
            + data(f"exp {run['name']}")
            + f"from {baseline}\n".encode()
            + b"M 100644 inline params.yaml\n"
            + data(params)
            + b"M 100644 inline metrics.json\n"
            + data(json.dumps(run["metrics"]))
            + b"\n"
        )
    stream.stdin.write(b"done\n")
    stream.stdin.close()
    assert stream.wait() == 0


def timed_dvc(command: list[str], repo: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=repo, env=environment(), check=True, capture_output=True,
                          text=True)  # fmt: skip
    return time.perf_counter() - start, done.stdout


def bench_size(dvc: str, count: int, repeat: int) -> None:
    repo = dvc_project(dvc)
    start = time.perf_counter()
    write_experiments(repo, count)
    report(f"{count} DVC experiments: written by fast-import", time.perf_counter() - start)
    commands = {
        "dvc --version": [dvc, "--version"],
        "dvc exp list": [dvc, "exp", "list"],
        "dvc exp show --json": [dvc, "exp", "show", "--json"],
    }
    figures: dict[str, list[float]] = {}
    for _ in range(repeat):
        for label, command in commands.items():
            seconds, output = timed_dvc(command, repo)
            figures.setdefault(label, []).append(seconds)
            if label == "dvc exp list":
                assert output.count("\n") >= count, "dvc does not see the experiments"
    for label in commands:
        report(f"{count} DVC experiments: {label} (median)", median(figures[label]))
    shutil.rmtree(repo)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dvc", default="dvc", help="the dvc command (installed apart)")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for count in (int(size) for size in args.sizes.split(",")):
        bench_size(args.dvc, count, args.repeat)


if __name__ == "__main__":
    main()
