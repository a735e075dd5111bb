"""Listing, search and recording with many runs (issue 14).
Run: python bench/many_runs.py [--sizes 10000,100000] [--repeat 5]

The runs are synthetic, written by `tests.utils.write_runs_fast`: one `git fast-import`
of run commits whose messages are gitml's own (`build_message`: the same trailers) and
whose trees are HEAD's plus `.gitml/run.json`, `params.yaml` and `metrics/<key>.tsv` as
gitml writes them, their refs written as lines of packed-refs (as after `git gc`).
Each run has 4 params (model: one of 4, lr, depth, seed), 3 metrics (acc uniform in
[0.5, 1), loss, f1) and a tag, and an adjective-noun name as gitml picks them (a number
added once the pairs run out).

For each size: the time to write the runs and the disk they take, the first `gitml ls`
(which builds the run index) and the index's size; then the median of REPEAT timings of

  - `git for-each-ref refs/gitml/runs/` (the raw baseline: what listing from refs costs)
  - `gitml --version` (the interpreter's start and gitml's imports, which every
    command below pays whatever the number of runs)
  - `gitml ls --limit 20`
  - `gitml ls --filter "params.model = 'rf' and metrics.acc > 0.95" --sort -metrics.acc
    --limit 20` (goal at 1M: <= 0.3 s)
  - `gitml ls --all --json`, every run (goal at 100k: <= 1.5 s)
  - `gitml show NAME`, `gitml diff A B`
  - `gitml run -- python -c pass`, timed alternately with the same command in a
    repository without runs (goal: <= 1.1x of it)

Every command is a real process (interpreter start and imports included).
"""

import argparse
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import PYTHON, environment, median, new_repo, report, timed  # noqa: E402

from gitml.tracking.ids import new_run_name  # noqa: E402
from tests.utils import write_runs_fast  # noqa: E402

GITML = [PYTHON, "-m", "gitml"]
FILTER = "params.model = 'rf' and metrics.acc > 0.95"
MODELS = ["rf", "gbm", "svm", "linear"]


def run_fields(seed: int):
    rng = random.Random(seed)
    taken: set[str] = set()

    def fields(i: int) -> dict:
        name = new_run_name(taken, rng)
        taken.add(name)
        acc = 0.5 + rng.random() / 2
        return {
            "name": name,
            "params": {
                "model": MODELS[i % 4],
                "lr": f"{rng.choice([0.001, 0.01, 0.1]):g}",
                "depth": str(rng.randrange(2, 12)),
                "seed": str(i),
            },
            "metrics": {"acc": acc, "loss": 1 - acc, "f1": acc * 0.98},
            "tags": {"sweep": f"s{i // 1000}"},
        }

    return fields


def disk(path: Path) -> int:
    return int(
        subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0]
    )


def gitml_out(repo: Path, *args: str) -> str:
    return subprocess.run(
        [*GITML, *args], cwd=repo, env=environment(), check=True, capture_output=True, text=True
    ).stdout


def bench_size(count: int, repeat: int, empty: Path) -> None:
    repo = new_repo(f"gitml-bench-{count}-")
    start = time.perf_counter()
    write_runs_fast(repo, count, run_fields(count))
    report(f"{count} runs: written by fast-import", time.perf_counter() - start)
    report(f"{count} runs: .git size", disk(repo / ".git") / 2**20, "MiB")
    build = timed([*GITML, "ls", "--limit", "1"], repo)
    report(f"{count} runs: first gitml ls (builds the index)", build)
    index = repo / ".git" / "gitml" / "cache" / "runs.sqlite"
    report(f"{count} runs: index size", index.stat().st_size / 2**20, "MiB")
    names = gitml_out(repo, "ls", "--limit", "2", "--columns", "name", "--csv").split()[1:]
    figures: dict[str, list[float]] = {}
    commands = {
        "raw git for-each-ref refs/gitml/runs/": ["git", "for-each-ref", "refs/gitml/runs/"],
        "gitml --version (start and imports: every command's floor)": [*GITML, "--version"],
        "gitml ls --limit 20": [*GITML, "ls", "--limit", "20"],
        "gitml ls --filter --sort --limit 20": [
            *GITML,
            "ls",
            "--filter",
            FILTER,
            "--sort",
            "-metrics.acc",
            "--limit",
            "20",
        ],  # fmt: skip
        "gitml ls --all --json": [*GITML, "ls", "--all", "--json"],
        "gitml show NAME": [*GITML, "show", names[0]],
        "gitml diff A B": [*GITML, "diff", names[0], names[1]],
    }
    run = [*GITML, "run", "--", PYTHON, "-c", "pass"]
    for _ in range(repeat):
        for label, command in commands.items():
            figures.setdefault(label, []).append(timed(command, repo))
        figures.setdefault("run: empty", []).append(timed(run, empty))
        figures.setdefault("run: many", []).append(timed(run, repo))
    for label in commands:
        report(f"{count} runs: {label} (median)", median(figures[label]))
    empty_run, many_run = median(figures["run: empty"]), median(figures["run: many"])
    report(f"{count} runs: gitml run -- python -c pass, no runs (median)", empty_run)
    report(
        f"{count} runs: gitml run -- python -c pass (median)",
        many_run,
        extra=f"{many_run / empty_run:.2f}x of the repository without runs (goal <= 1.1x)",
    )
    shutil.rmtree(repo)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    empty = new_repo("gitml-bench-empty-")
    timed([*GITML, "run", "--", PYTHON, "-c", "pass"], empty)  # its index and caches
    for count in (int(size) for size in args.sizes.split(",")):
        bench_size(count, args.repeat, empty)
    shutil.rmtree(empty)


if __name__ == "__main__":
    main()
