"""Tracking-core figures (issue 2). Run: python bench/bench_tracking.py [--quick]

Each figure is a median over repetitions, with its baseline measured in the
same run (this machine is shared and noisy):
  1. `gitml run -- python -c pass` vs bare `python -c pass`, repo of 1,000 files
     with a few uncommitted edits: added wall time (goal ≤ 150 ms).
  2. `import gitml` in a fresh process vs `python -c pass` (goal ≤ 50 ms).
  3. 100,000 `log_metric` calls in one run, final commit included (goal ≤ 1 s).
  4. 200 runs of 5 params + 5 metrics in one process, repo of 100 files
     (goal ≤ 20 ms per run).
  5. `gitml ls --json` over 10,000 runs (goal ≤ 1 s) vs raw `git for-each-ref`;
     recording the 10,000th run vs the 10th (timed alternately in two repositories).
  6. Repository growth per run whose code did not change, after `git gc`
     (goal ≤ 3 KB), from `git count-objects -v`.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    PYTHON,
    environment,
    git,
    make_repo,
    median,
    report,
    timed,
    write_synthetic_runs,
)

QUICK = "--quick" in sys.argv
REPEAT = 5 if QUICK else 15
GITML = [PYTHON, "-m", "gitml"]


def run_overhead() -> None:
    repo = make_repo(1000)
    bare, wrapped = [], []
    for _ in range(REPEAT):
        bare.append(timed([PYTHON, "-c", "pass"], repo))
        wrapped.append(timed([*GITML, "run", "--", PYTHON, "-c", "pass"], repo))
    added = median(wrapped) - median(bare)
    report("bare python -c pass (median)", median(bare))
    report("gitml run -- python -c pass (median)", median(wrapped))
    report("gitml run added wall time", added, extra="goal <= 150 ms")


def import_time() -> None:
    repo = make_repo(1)
    bare = [timed([PYTHON, "-c", "pass"], repo) for _ in range(REPEAT)]
    imported = [timed([PYTHON, "-c", "import gitml"], repo) for _ in range(REPEAT)]
    report(
        "import gitml (added to interpreter start)",
        median(imported) - median(bare),
        extra="goal <= 50 ms",
    )


LOG_100K = """
import time, gitml
start = time.perf_counter()
with gitml.start_run():
    for i in range(100_000):
        gitml.log_metric("loss", 1.0 / (i + 1), step=i)
print(time.perf_counter() - start)
"""

RUNS_200 = """
import time, gitml
times = []
for r in range(200):
    start = time.perf_counter()
    with gitml.start_run(params={f"p{i}": i for i in range(5)}):
        gitml.log_metrics({f"m{i}": r * i for i in range(5)})
    times.append(time.perf_counter() - start)
times.sort()
print(times[len(times) // 2], sum(times) / len(times))
"""


def in_process(script: str, repo: Path) -> list[float]:
    out = subprocess.run(
        [PYTHON, "-c", script],
        cwd=repo,
        env=environment(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [float(x) for x in out.split()]


def log_throughput() -> None:
    repo = make_repo(100)
    values = [in_process(LOG_100K, repo)[0] for _ in range(3)]
    report("100,000 log_metric + commit (median of 3)", median(values), extra="goal <= 1 s")


def runs_per_process() -> None:
    repo = make_repo(100)
    per_run, mean = in_process(RUNS_200, repo)
    report(
        "one run of 5 params + 5 metrics, 200 in one process (median)",
        per_run,
        extra=f"mean {mean * 1000:.1f} ms; goal <= 20 ms",
    )
    return repo


def growth() -> None:
    repo = make_repo(100, dirty=0)
    (repo / "notes.txt").unlink()
    git(repo, "gc", "-q")
    before = _size(repo)
    runs = 100
    in_process(
        f"import gitml\nfor r in range({runs}):\n"
        "    with gitml.start_run(params={f'p{i}': i for i in range(5)}):\n"
        "        gitml.log_metrics({f'm{i}': r * i for i in range(5)})\n",
        repo,
    )
    git(repo, "gc", "-q", "--prune=now")
    after = _size(repo)
    report(
        "repository growth per unchanged-code run after gc",
        (after - before) / runs * 1024,
        unit="B",
        extra="goal <= 3072 B",
    )


def _size(repo: Path) -> int:
    stats = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    return int(stats["size"]) + int(stats["size-pack"])  # KiB


def listing(count: int = 10_000) -> None:
    """Recording at run #count vs at run #10, timed alternately (one small and one big
    repository) so that the machine's drift hits both alike; then listing."""
    small = make_repo(100)
    _record_runs_timed(small, 9)
    repo = make_repo(100)
    write_synthetic_runs(
        repo,
        count - 1 - REPEAT,
        lambda i: {
            "params": {f"p{k}": str(k) for k in range(5)},
            "metrics": {f"m{k}": i * k / 7 for k in range(5)},
        },
    )
    _record_runs_timed(repo, 1)  # builds the caches a user's repository already has
    tenth, later = [], []
    for _ in range(REPEAT):
        tenth.append(timed([*GITML, "run", "--", PYTHON, "-c", "pass"], small))
        later.append(timed([*GITML, "run", "--", PYTHON, "-c", "pass"], repo))
    report(f"gitml run at runs #10-#{9 + REPEAT} (median of {REPEAT})", median(tenth))
    report(
        f"gitml run at runs #{count - REPEAT + 1}-#{count} (median of {REPEAT}, alternating)",
        median(later),
        extra=f"ratio {median(later) / median(tenth):.2f}; goal: no slower",
    )
    raw = [
        timed(
            ["git", "for-each-ref", "--format=%(refname)%00%(contents)", "refs/gitml/runs/"], repo
        )
        for _ in range(REPEAT)
    ]
    ls = [timed([*GITML, "ls", "--all", "--json"], repo) for _ in range(REPEAT)]
    report(f"raw git for-each-ref with messages, {count} runs", median(raw))
    report(
        f"gitml ls --all --json, {count} runs",
        median(ls),
        extra=f"ratio {median(ls) / median(raw):.2f}; goal <= 1 s",
    )


def _record_runs_timed(repo: Path, runs: int) -> float:
    times = []
    for _ in range(max(runs, REPEAT)):
        times.append(timed([*GITML, "run", "--", PYTHON, "-c", "pass"], repo))
    return median(times[-REPEAT:])


if __name__ == "__main__":
    run_overhead()
    import_time()
    log_throughput()
    runs_per_process()
    growth()
    listing(2_000 if QUICK else 10_000)
