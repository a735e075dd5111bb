"""Listing, search and recording with many runs (issue 14).
Run: python bench/many_runs.py [--sizes 10000,100000] [--repeat 5]

The runs are synthetic, written by `tests.utils.write_runs_fast`: one `git fast-import`
of run commits whose messages are gitml's own (`build_message`: the same trailers) and
whose trees are HEAD's plus `.gitml/run.json`, `params.yaml` and `metrics/<key>.tsv` as
gitml writes them, their refs written as lines of packed-refs (as after `git gc`).
Each run has 4 params (model: one of 4, lr, depth, seed), 3 metrics (acc uniform in
[0.5, 1), loss, f1) and a tag, and an adjective-noun name as gitml picks them (a number
added once the pairs run out).

For each size: the time to write the runs and the disk they take; the first `gitml ls`,
which builds the run index from the run refs, its peak resident memory (with git's) and
the index's size; `gitml archive` folding all but 1,000 of them (half gitml.liveRuns'
default, as `gitml run` would fold them, the index updated in place); then, runs folded
as `gitml run` keeps them, the median of REPEAT timings of

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

and last the index built again from the archives, and its peak memory (goal: the same
whatever the number of runs). --keep keeps the repository of runs (and skips that last
step); --reuse PATH times such a kept repository again without writing it anew (with
--folded too: its runs are pushed to a new remote, which is removed after).

With --folded, the same synthetic runs are folded into archive commits (`gitml
archive`, keeping gitml.liveRuns' default half, 1,000 run refs) and pushed by
`gitml push` to a bare remote, which folds all but the newest few of those 1,000 too
(gitml.remoteLiveRuns: the remote keeps at most 32 run refs); then, against a remote
and clones holding only the code (the baseline, measured in the same run,
alternately), the median of REPEAT timings of the user's own git work (goal: <= 1.2x
of the baseline):

  - `git push origin main` of a new commit, from a clone of the code
  - `git fetch origin` with nothing new, from that clone
  - `git clone` of the remote (the code: git's default refspec)
  - `git gc` in that clone (the repository that made the runs holds their objects:
    its gc packs them, whatever the refs)
  - `gitml push` of one new run, against the raw `git push origin <its ref>` of another
    new run of the same repository (goal: <= 1.5x); then, once, a `gitml push` of one
    run that takes the remote over its budget, so that it folds (every 16th push)

Every command is a real process (interpreter start and imports included).
"""

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import (  # noqa: E402
    PYTHON,
    environment,
    git,
    measure,
    median,
    new_repo,
    report,
    timed,
)

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


def write_and_fold(count: int) -> Path:
    """A repository of `count` synthetic runs, indexed and folded (all but 1,000)."""
    repo = new_repo(f"gitml-bench-{count}-")
    start = time.perf_counter()
    write_runs_fast(repo, count, run_fields(count))
    report(f"{count} runs: written by fast-import", time.perf_counter() - start)
    report(f"{count} runs: .git size", disk(repo / ".git") / 2**20, "MiB")
    build, peak = measure([*GITML, "ls", "--limit", "1"], repo, timeout=3600)
    report(f"{count} runs: first gitml ls (builds the index from run refs)", build)
    report(f"{count} runs: its peak RSS", peak, "MiB")
    report(f"{count} runs: index size", index_of(repo).stat().st_size / 2**20, "MiB")
    start = time.perf_counter()
    gitml_out(repo, "archive")
    report(f"{count} runs: gitml archive (all but 1,000)", time.perf_counter() - start)
    return repo


def count_runs(repo: Path) -> int:
    return len(gitml_out(repo, "ls", "--all", "--columns", "id", "--csv").split()) - 1


def index_of(repo: Path) -> Path:
    return repo / ".git" / "gitml" / "cache" / "runs.sqlite"


def bench_size(count: int, repeat: int, empty: Path, repo: Path | None, keep: bool) -> None:
    """Time the commands on `repo` (made now when None); keep it when `keep` is set, to
    time it again with --reuse (at 1M runs, writing and folding take half an hour)."""
    repo = repo or write_and_fold(count)
    index = index_of(repo)
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
    if keep:
        print(f"kept: {repo} (time it again with --reuse {repo})", flush=True)
        return
    for stale in index.parent.glob("runs.sqlite*"):
        stale.unlink()
    build, peak = measure([*GITML, "ls", "--limit", "1"], repo, timeout=3600)
    report(f"{count} runs folded: first gitml ls (builds the index from archives)", build)
    report(f"{count} runs folded: its peak RSS", peak, "MiB")
    shutil.rmtree(repo)


def bench_folded(count: int, repeat: int, kept: Path | None = None) -> None:
    """The user's git work with `count` runs folded, against a repository without runs;
    the runs written and folded now, or those of a repository `kept` by --keep."""
    made = kept or new_repo(f"gitml-bench-folded-{count}-")
    if not kept:
        start = time.perf_counter()
        write_runs_fast(made, count, run_fields(count))
        report(f"{count} folded: runs written by fast-import", time.perf_counter() - start)
        start = time.perf_counter()
        gitml_out(made, "archive")
        report(f"{count} folded: gitml archive (all but 1,000)", time.perf_counter() - start)
    plain = new_repo("gitml-bench-plain-")
    remotes = {}
    for label, repo in (("runs", made), ("plain", plain)):
        remotes[label] = Path(tempfile.mkdtemp(prefix=f"gitml-bench-{label}-")) / "r.git"
        git(repo, "init", "-q", "--bare", "-b", "main", str(remotes[label]))
        git(repo, "remote", "add", "origin", remotes[label].as_uri())
        git(repo, "push", "-q", "origin", "main")
    start = time.perf_counter()
    gitml_out(made, "push")
    report(f"{count} folded: first gitml push of them all", time.perf_counter() - start)
    clones = {
        label: Path(tempfile.mkdtemp(prefix=f"gitml-bench-clone-{label}-")) / "c"
        for label in remotes
    }
    measure_folded(count, repeat, made, remotes, clones)
    if kept:
        git(made, "remote", "remove", "origin")
    for path in ([] if kept else [made]) + [plain, *(r.parent for r in remotes.values())]:
        shutil.rmtree(path)


def measure_folded(
    count: int, repeat: int, made: Path, remotes: dict[str, Path], clones: dict[str, Path]
) -> None:
    """The timings of `bench_folded` (see the module's docstring). Clones go through
    file:// URIs, as over a network: a clone of a local path would hard-link every object
    of the remote, runs included. Automatic gc is off, so none runs under a timing."""
    refs = git(remotes["runs"], "for-each-ref", "--format=%(refname)").splitlines()
    report(f"{count} folded: refs on the remote", len(refs), "refs")
    for label, clone in clones.items():
        git(clone.parent, "clone", "-q", remotes[label].as_uri(), str(clone))
        git(clone, "config", "gc.auto", "0")
    git(made, "config", "gc.auto", "0")
    figures: dict[str, list[float]] = {}

    def add(label: str, value: float) -> None:
        figures.setdefault(label, []).append(value)

    for i in range(repeat):
        for label in ("runs", "plain"):  # alternately
            clone = clones[label]
            git(clone, "commit", "-q", "--allow-empty", "-m", f"work {i}")
            push = ["git", "push", "-q", "origin", "main"]
            add(f"git push origin main: {label}", timed(push, clone))
            add(f"git fetch origin: {label}", timed(["git", "fetch", "-q", "origin"], clone))
            target = Path(tempfile.mkdtemp(prefix="gitml-bench-clone-")) / "c"
            cloning = ["git", "clone", "-q", remotes[label].as_uri(), str(target)]
            add(f"git clone: {label}", timed(cloning, target.parent))
            shutil.rmtree(target.parent)
            add(f"git gc: {label}", timed(["git", "gc", "-q"], clone))
        for how in ("gitml", "raw"):
            gitml_out(made, "run", "--", PYTHON, "-c", "pass")
            listing = gitml_out(made, "ls", "--limit", "1", "--columns", "id", "--csv")
            (run_id,) = listing.split()[1:]
            full = git(made, "for-each-ref", "--format=%(refname)", f"refs/gitml/runs/{run_id}*")
            ref = full.strip()
            if how == "gitml":
                add("push one run: gitml push", timed([*GITML, "push"], made))
            else:
                raw = ["git", "push", "-q", "origin", f"{ref}:{ref}"]
                add("push one run: raw git push", timed(raw, made))
    live = git(remotes["runs"], "for-each-ref", "--format=%(refname)", "refs/gitml/runs/")
    report(f"{count} folded: run refs on the remote after the pushes", len(live.split()), "refs")
    git(made, "config", "gitml.remoteLiveRuns", str(len(live.split())))
    gitml_out(made, "run", "--", PYTHON, "-c", "pass")
    folding = timed([*GITML, "push"], made)
    git(made, "config", "--unset", "gitml.remoteLiveRuns")
    for what in ("git push origin main", "git fetch origin", "git clone", "git gc"):
        runs, base = median(figures[f"{what}: runs"]), median(figures[f"{what}: plain"])
        report(f"{count} folded: {what}, no runs (median)", base)
        report(f"{count} folded: {what} (median)", runs, extra=f"{runs / base:.2f}x (goal <= 1.2x)")
    mine = median(figures["push one run: gitml push"])
    raw_push = median(figures["push one run: raw git push"])
    report(f"{count} folded: raw git push of one run ref (median)", raw_push)
    extra = f"{mine / raw_push:.2f}x (goal <= 1.5x)"
    report(f"{count} folded: gitml push of one new run (median)", mine, extra=extra)
    extra = f"{folding / raw_push:.2f}x (one timing)"
    report(f"{count} folded: gitml push of one new run that folds", folding, extra=extra)
    for clone in clones.values():
        shutil.rmtree(clone.parent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--folded", action="store_true", help="the user's git work, runs folded")
    parser.add_argument("--keep", action="store_true", help="keep the repository of runs")
    parser.add_argument("--reuse", type=Path, help="time a repository kept by --keep")
    args = parser.parse_args()
    if args.folded and args.reuse:
        bench_folded(count_runs(args.reuse), args.repeat, args.reuse)
        return
    if args.folded:
        for count in (int(size) for size in args.sizes.split(",")):
            bench_folded(count, args.repeat)
        return
    empty = new_repo("gitml-bench-empty-")
    timed([*GITML, "run", "--", PYTHON, "-c", "pass"], empty)  # its index and caches
    if args.reuse:
        bench_size(count_runs(args.reuse), args.repeat, empty, args.reuse, keep=True)
    else:
        for count in (int(size) for size in args.sizes.split(",")):
            bench_size(count, args.repeat, empty, None, args.keep)
    shutil.rmtree(empty)


if __name__ == "__main__":
    main()
