"""Big but legal data (issue 16, point 12). Run: python bench/bench_limits.py [--quick]

Each figure is the median of REPEAT runs (5; --quick 3; BENCH_REPEAT=N) of a whole
command, with its peak resident memory (ru_maxrss of the command and of its own
children, such as a `git cat-file` it reads through: the largest of them), and a
baseline measured in the same run:
  1. `gitml metrics RUN loss` (the human summary) and `gitml metrics RUN loss --csv`
     (every point, to /dev/null) for a run whose metric has 5,000,000 points
     (--quick: 1,000,000); baseline `git cat-file -p` of the metric's .tsv blob.
  2. `gitml ls -a` with one run of 20,000 params among 100 runs of 5 params
     (--quick: 5,000 params); baseline `git for-each-ref` of the run refs with their
     messages (all that `gitml ls` needs to read).

Runs are written straight into the object store in gitml's format by
`write_synthetic_runs` (commit message trailers, `.gitml/run.json`,
`.gitml/params.yaml` and `.gitml/metrics/loss.tsv` as `gitml run` writes them), not
through `gitml run`: logging 5,000,000 points through the API would take minutes
before anything is measured.
"""

import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import (  # noqa: E402
    PYTHON,
    git,
    measure,
    median,
    new_repo,
    write_synthetic_runs,
)

QUICK = "--quick" in sys.argv
REPEAT = int(os.environ.get("BENCH_REPEAT", 3 if QUICK else 5))
POINTS = 1_000_000 if QUICK else 5_000_000
PARAMS = 5_000 if QUICK else 20_000
GITML = [PYTHON, "-m", "gitml"]
RAW_LISTING = ["git", "for-each-ref", "--format=%(refname)%00%(contents)", "refs/gitml/runs/"]


def metric_file(points: int, seed: int = 1) -> tuple[bytes, dict]:
    """A loss curve of `points` points as `step<TAB>value<TAB>unix_ms` lines, and its
    summary as run.json keeps it."""
    rng = random.Random(seed)
    start_ms = 1_800_000_000_000
    values = [1 / (1 + step / 1000) + rng.random() / 100 for step in range(points)]
    lines = [f"{step}\t{value!r}\t{start_ms + step}\n" for step, value in enumerate(values)]
    summary = {
        "last": values[-1],
        "min": min(values),
        "max": max(values),
        "count": points,
        "last_step": points - 1,
    }
    return "".join(lines).encode(), summary


def write_metric_run(repo: Path, points: int) -> str:
    """One finished run (named run-0) whose metric `loss` has `points` points."""
    data, summary = metric_file(points)

    def files(_, run) -> dict[str, bytes]:
        record = {**run.to_json(), "format": 1, "metric_summaries": {"loss": summary}}
        return {
            "run.json": json.dumps(record).encode(),
            "params.yaml": b"{}\n",
            "metrics/loss.tsv": data,
        }

    write_synthetic_runs(repo, 1, lambda _: {"metrics": {"loss": summary["last"]}}, files)
    git(repo, "gc", "-q")
    return git(repo, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/").strip()


def write_param_runs(repo: Path, params: int, others: int = 100) -> None:
    """`others` runs of 5 params and one run (the newest) of `params` params."""
    counts = [5] * others + [params]
    write_synthetic_runs(
        repo,
        len(counts),
        lambda i: {
            "params": {f"p{k}": str(k * i % 97) for k in range(counts[i])},
            "metrics": {"loss": 1 / (i + 1)},
        },
    )
    git(repo, "gc", "-q")


def report(name: str, command: list[str], repo: Path, repeat: int = REPEAT) -> None:
    figures = [measure(command, repo) for _ in range(repeat)]
    seconds = median([s for s, _ in figures])
    memory = median([m for _, m in figures])
    print(f"RESULT {name}: {seconds:.3f} s, peak RSS {memory:.0f} MiB (median of {repeat})")


def metrics(points: int = POINTS) -> None:
    repo = new_repo("gitml-bench-limits-")
    started = time.perf_counter()
    run_id = write_metric_run(repo, points)
    print(f"(wrote a run of {points:,} points in {time.perf_counter() - started:.1f} s)")
    blob = git(repo, "rev-parse", f"refs/gitml/runs/{run_id}:.gitml/metrics/loss.tsv").strip()
    report(
        f"baseline git cat-file -p of the {points:,}-point .tsv",
        ["git", "cat-file", "-p", blob],
        repo,
    )
    report(f"gitml metrics RUN loss, {points:,} points", [*GITML, "metrics", "run-0", "loss"], repo)
    report(
        f"gitml metrics RUN loss --csv, {points:,} points",
        [*GITML, "metrics", "run-0", "loss", "--csv"],
        repo,
    )
    report(
        f"gitml metrics RUN loss --json, {points:,} points",
        [*GITML, "metrics", "run-0", "loss", "--json"],
        repo,
    )
    shutil.rmtree(repo)


def listing(params: int = PARAMS) -> None:
    repo = new_repo("gitml-bench-limits-")
    write_param_runs(repo, params)
    report("baseline git for-each-ref with messages, 101 runs", RAW_LISTING, repo)
    report(f"gitml ls -a, 101 runs, one of {params:,} params", [*GITML, "ls", "-a"], repo)
    shutil.rmtree(repo)


if __name__ == "__main__":
    only = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    for name, function in (("metrics", metrics), ("ls", listing)):
        if not only or name in only:
            function()
