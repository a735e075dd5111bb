"""Compare-runs figures (issue 3). Run: python bench/bench_compare.py [--quick]

Each figure is a median over repetitions, with a baseline measured in the same
run (this machine is shared and noisy):
  1. `gitml.search_runs(filter="metrics.m0 > 0.5", order_by=["metrics.m1 DESC"])`
     in-process over 1,000 runs of 5 params + 5 metrics (goal <= 0.1 s; MLflow
     3.17 takes 0.79 s with SQLite, 1.5 s with its file store, on this machine).
     Baseline: the raw `git for-each-ref` of the same refs with their messages.
  2. `gitml ls --filter "metrics.m0 > 0.5 and (params.p1 = 'a' or params.p2 = 'b')"
     --sort -metrics.m1 --json` as a whole command over 10,000 runs of 20 params
     + 10 metrics (goal <= 1 s), against the same raw `git for-each-ref`.
  3. `gitml diff A B` (whole command) of two runs with 100 changed files
     (goal <= 0.5 s), against `git diff A B` of the same commits and against
     `gitml --version` (what starting Python and the CLI costs).

Runs are written directly as commits (the format `gitml run` writes), with
`git update-ref --stdin`, then packed as `git gc` would.
"""

import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import PYTHON, git, median, new_repo, report, timed, write_synthetic_runs  # noqa: E402

QUICK = "--quick" in sys.argv
REPEAT = 5 if QUICK else 11
GITML = [PYTHON, "-m", "gitml"]
RAW_LISTING = ["git", "for-each-ref", "--format=%(refname)%00%(contents)", "refs/gitml/runs/"]


def write_runs(repo: Path, count: int, params: int, metrics: int, seed: int = 1) -> None:
    """`count` finished runs with random params (p1, p2 in a/b/c) and metrics in [0, 1)."""
    rng = random.Random(seed)
    write_synthetic_runs(
        repo,
        count,
        lambda i: {
            "params": {f"p{k}": rng.choice("abc") for k in range(params)},
            "metrics": {f"m{k}": rng.random() for k in range(metrics)},
        },
    )
    git(repo, "gc", "-q")


def search_api(count: int = 1000) -> None:
    import gitml

    repo = new_repo("gitml-bench-compare-")
    write_runs(repo, count, params=5, metrics=5)
    raw = [timed(RAW_LISTING, repo) for _ in range(REPEAT)]
    api = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        found = gitml.search_runs(
            filter="metrics.m0 > 0.5", order_by=["metrics.m1 DESC"], repo=repo
        )
        api.append(time.perf_counter() - start)
    assert 0 < len(found) < count
    report(f"raw git for-each-ref with messages, {count} runs", median(raw))
    report(
        f"gitml.search_runs(filter, order_by), {count} runs of 5+5 ({len(found)} found)",
        median(api),
        extra=(
            f"ratio {median(api) / median(raw):.2f} vs raw git; "
            f"MLflow 3.17 SQLite 0.79 s -> {0.79 / median(api):.0f}x faster; goal <= 100 ms"
        ),
    )


def search_cli(count: int = 10_000) -> None:
    repo = new_repo("gitml-bench-compare-")
    write_runs(repo, count, params=20, metrics=10)
    command = [
        *GITML,
        "ls",
        "--filter",
        "metrics.m0 > 0.5 and (params.p1 = 'a' or params.p2 = 'b')",
        "--sort",
        "-metrics.m1",
        "--json",
    ]
    raw = [timed(RAW_LISTING, repo) for _ in range(REPEAT)]
    ls = [timed(command, repo) for _ in range(REPEAT)]
    unfiltered = [timed([*GITML, "ls", "--json"], repo) for _ in range(REPEAT)]
    report(f"raw git for-each-ref with messages, {count} runs", median(raw))
    report(f"gitml ls --json (no filter), {count} runs", median(unfiltered))
    report(
        f"gitml ls --filter ... --sort -metrics.m1 --json, {count} runs of 20+10",
        median(ls),
        extra=f"ratio {median(ls) / median(raw):.2f} vs raw git; goal <= 1 s",
    )


def diff_runs(files: int = 100) -> None:
    """Two runs whose snapshots differ in `files` files (out of 2 x `files`)."""
    import json

    from gitml.store.ids import new_run_id
    from gitml.store.objects import Identity, ObjectStore
    from gitml.store.repository import open_repository
    from gitml.tracking.record import RunSummary, build_message

    repo = new_repo("gitml-bench-compare-")
    base_files = {
        f"src/module{i}.py": "".join(f"LINE_{j} = {j}\n" for j in range(50)).encode()
        for i in range(2 * files)
    }
    head = git(repo, "rev-parse", "HEAD").strip()
    lines = []
    with ObjectStore(open_repository(repo)) as store:
        for index, name in enumerate(("first", "second")):
            snapshot = dict(base_files)
            for i in range(files):
                path = f"src/module{i}.py"
                snapshot[path] = snapshot[path].replace(b"LINE_7 = 7", f"LINE_7 = {index}".encode())
            summary = RunSummary(
                id=new_run_id(),
                name=name,
                experiment="main",
                status="finished",
                start_ms=1000 * index,
                end_ms=1000 * index + 500,
                base=head,
                params={"lr": str(0.1 * (index + 1))},
                metrics={"loss": 1.0 / (index + 1), "acc": 0.5 + index / 10},
            )
            record = {"artifacts": [{"path": "model.bin", "size": 3, "sha256": str(index)}]}
            snapshot[".gitml/run.json"] = json.dumps(record).encode()
            snapshot[".gitml/env/pip-freeze.txt"] = f"numpy==1.{index}\n".encode()
            tree = store.write_tree_of_files(snapshot)
            commit = store.write_commit(
                tree, [head.encode()], build_message(summary), Identity("b", "b@example.com")
            )
            lines.append(f"create refs/gitml/runs/{summary.id} {commit.decode()}\n")
            time.sleep(0.002)  # distinct ids in time order
    subprocess.run(
        ["git", "update-ref", "--stdin"], cwd=repo, input="".join(lines).encode(), check=True
    )
    shas = [line.split()[2] for line in lines]
    out = subprocess.run(
        [*GITML, "diff", "first", "second", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert len(json.loads(out)["files"]) == files
    raw = [timed(["git", "diff", shas[0], shas[1]], repo) for _ in range(REPEAT)]
    startup = [timed([*GITML, "--version"], repo) for _ in range(REPEAT)]
    ours = [timed([*GITML, "diff", "first", "second"], repo) for _ in range(REPEAT)]
    report(f"raw git diff of two run commits, {files} changed files", median(raw))
    report("gitml --version (interpreter and CLI start-up, the floor)", median(startup))
    report(
        f"gitml diff first second, {files} changed files",
        median(ours),
        extra=(
            f"ratio {median(ours) / median(raw):.2f} vs raw git; "
            f"{(median(ours) - median(startup)) * 1000:.0f} ms over start-up; goal <= 500 ms"
        ),
    )


if __name__ == "__main__":
    search_api()
    diff_runs()
    search_cli()
