"""Sharing figures (issue 4). Run: python bench/bench_sharing.py [--quick] [--runs N]

Each figure is a median over repetitions, against a baseline measured in the
same run (this machine is shared and noisy), over file:// and over smart HTTP
(`git http-backend` behind a small server on 127.0.0.1):
  1. `gitml push URL` of 1,000 new runs to an empty bare remote vs a raw
     `git push URL 'refs/gitml/runs/*:refs/gitml/runs/*'` of the same refs
     (goal: ratio <= 1.5).
  2. `gitml fetch URL` of those 1,000 runs into an empty repository vs a raw
     `git fetch URL 'refs/gitml/runs/*:refs/gitml/runs/*'` (goal: ratio <= 1.5).
  3. `gitml push URL` when the remote has every run already (goal <= 0.3 s),
     with the raw `git push` of nothing new beside it.
Runs are written directly with the store functions (same format as recorded
runs: each has its own run.json, params.yaml and a 100-point metric file).
"""

import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _common import PYTHON, git, make_repo, median, report, timed, write_synthetic_runs  # noqa: E402

from tests.gitservers import SmartHttpServer  # noqa: E402

QUICK = "--quick" in sys.argv
RUNS = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1000
REPEAT = 3 if QUICK else 7
GITML = [PYTHON, "-m", "gitml"]
ALL_RUNS = "refs/gitml/runs/*:refs/gitml/runs/*"


def write_runs(repo: Path, count: int) -> None:
    """`count` finished runs on top of HEAD, each with its own record files."""
    import json

    def record(i: int, summary) -> dict[str, bytes]:
        points = "".join(f"{s}\t{1 / (i + s + 1)!r}\t{summary.start_ms + s}\n" for s in range(100))
        return {
            "run.json": json.dumps(summary.to_json(), indent=2).encode(),
            "params.yaml": f"lr: '{i / 1000}'\nepochs: '10'\n".encode(),
            "metrics/loss.tsv": points.encode(),
        }

    write_synthetic_runs(
        repo,
        count,
        lambda i: {
            "params": {"lr": str(i / 1000), "epochs": "10"},
            "metrics": {"loss": 1 / (i + 1)},
        },
        record,
    )


def empty_bare(base: Path, name: str) -> Path:
    path = base / name
    git(base, "init", "-q", "--bare", name)
    return path


def measure(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process it waited for, servers included).

    CPU time is reported beside wall time because this machine is shared:
    other work stretches wall times far more than CPU times.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(argv, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(what: str, ours: list[tuple[float, float]], raw: list[tuple[float, float]]) -> None:
    for index, kind in ((0, "wall"), (1, "cpu")):
        mine, base = median([m[index] for m in ours]), median([m[index] for m in raw])
        report(f"raw git {what} ({kind})", base)
        report(f"gitml {what} ({kind})", mine, extra=f"ratio {mine / base:.2f}; goal <= 1.5")


def compare_push(label: str, work: Path, base: Path, url_of) -> None:
    ours, raw = [], []
    for round_ in range(REPEAT):
        for command, times in (("gitml", ours), ("raw", raw)):
            name = f"{label.split(':')[0].split()[0]}-{command}-{round_}.git"
            empty_bare(base, name)
            url = url_of(name)
            argv = [*GITML, "push", url]
            if command == "raw":
                argv = ["git", "push", "-q", url, ALL_RUNS]
            times.append(measure(argv, work))
    compare(f"push of {RUNS} new runs, {label}", ours, raw)


def compare_fetch(label: str, base: Path, url: str) -> None:
    ours, raw = [], []
    for round_ in range(REPEAT):
        for command, times in (("gitml", ours), ("raw", raw)):
            target = base / f"fetch-{label.split(':')[0].split()[0]}-{command}-{round_}"
            git(base, "init", "-q", str(target))
            argv = [*GITML, "fetch", url]
            if command == "raw":
                argv = ["git", "fetch", "-q", url, ALL_RUNS]
            times.append(measure(argv, target))
    compare(f"fetch of {RUNS} runs, {label}", ours, raw)


def nothing_new(label: str, work: Path, url: str) -> None:
    ours = [measure([*GITML, "push", url], work) for _ in range(REPEAT)]
    raw = [measure(["git", "push", "-q", url, ALL_RUNS], work) for _ in range(REPEAT)]
    python = [measure([PYTHON, "-c", "pass"], work) for _ in range(REPEAT)]
    for index, kind in ((0, "wall"), (1, "cpu")):
        report(f"python -c pass, for scale ({kind})", median([m[index] for m in python]))
        report(f"raw git push with nothing new, {label} ({kind})", median([m[index] for m in raw]))
        report(
            f"gitml push with nothing new, {label} ({kind})",
            median([m[index] for m in ours]),
            extra="goal <= 300 ms",
        )


def main() -> None:
    work = make_repo(100)
    started = time.perf_counter()
    write_runs(work, RUNS)
    print(f"# wrote {RUNS} runs in {time.perf_counter() - started:.1f} s", flush=True)
    base = Path(tempfile.mkdtemp(prefix="gitml-bench-remotes-"))
    compare_push("file://", work, base, lambda name: (base / name).as_uri())
    full = empty_bare(base, "full.git")
    git(work, "push", "-q", full.as_uri(), ALL_RUNS)
    compare_fetch("file://", base, full.as_uri())
    nothing_new("file://", work, full.as_uri())
    with SmartHttpServer(base) as server:
        compare_push("http 127.0.0.1", work, base, server.url)
        compare_fetch("http 127.0.0.1", base, server.url("full.git"))
        nothing_new("http 127.0.0.1", work, server.url("full.git"))


if __name__ == "__main__":
    main()
