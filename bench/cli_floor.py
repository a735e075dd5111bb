"""The floor every gitml command pays: the interpreter's start and gitml's imports (issue 14).
Run: PYTHONPATH=. python bench/cli_floor.py [--repeat 15]

In a repository with one run pushed to a bare remote on this machine
(gitml.remoteLiveRuns raised so that no push folds), the median of REPEAT timings,
each command a real process, measured alternately in the same run:

  - `python -c pass`: the interpreter's start, which any Python command pays
  - `gitml --version`: that and gitml's command line (click, the root group)
  - the raw `git push origin <ref>` of one new run against `gitml push` of another
    new run (goal: <= 1.5x), and the floor of that ratio: (`python -c pass` + the raw
    push) / the raw push, the lowest ratio any command line in Python could reach
  - `gitml fetch` with nothing new against the raw `git fetch` of the run pattern
  - `gitml ls --limit 20`, `gitml show NAME`, `gitml run -- python -c pass`

Each figure is wall time and CPU time (user + system, of the command and the processes
it started): on a shared machine the wall time waits for the other processes too.
"""

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import PYTHON, environment, git, median, new_repo, write_synthetic_runs  # noqa: E402

GITML = [PYTHON, "-m", "gitml"]


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment(), check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def new_runs(repo: Path, count: int) -> list[str]:
    """`count` new finished runs (refs only here); their ids."""
    before = set(git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs/").split())
    write_synthetic_runs(repo, count, lambda i: {"params": {"i": str(i)}})
    after = set(git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/runs/").split())
    return [ref.rpartition("/")[2] for ref in sorted(after - before)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    repeat = parser.parse_args().repeat

    repo = new_repo("gitml-floor-")
    remote = repo.parent / f"{repo.name}-remote.git"
    git(repo.parent, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "config", "gitml.remoteLiveRuns", "100000")  # no push folds: one push measured
    subprocess.run([*GITML, "run", "--", PYTHON, "-c", "pass"], cwd=repo, env=environment(),
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([*GITML, "push"], cwd=repo, env=environment(), check=True, capture_output=True)
    name = git(repo, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/").split()[0]

    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "gitml --version": [*GITML, "--version"],
        "gitml fetch (nothing new)": [*GITML, "fetch"],
        "git fetch of the run pattern": ["git", "fetch", "-q", "origin",
                                         "refs/gitml/runs/*:refs/gitml/runs/*"],  # fmt: skip
        "gitml ls --limit 20": [*GITML, "ls", "--limit", "20"],
        "gitml show NAME": [*GITML, "show", name],
        "gitml run -- python -c pass": [*GITML, "run", "--", PYTHON, "-c", "pass"],
    }
    times: dict[str, list[tuple[float, float]]] = {key: [] for key in commands}
    times["git push origin <ref>"] = []
    times["gitml push (one new run)"] = []
    for _ in range(repeat):
        ref = f"refs/gitml/runs/{new_runs(repo, 2)[0]}"
        # the raw push first: `gitml push` sends every new run, so it finds one
        times["git push origin <ref>"].append(
            timed(["git", "push", "-q", "origin", f"{ref}:{ref}"], repo)
        )
        times["gitml push (one new run)"].append(timed([*GITML, "push"], repo))
        for key, command in commands.items():
            times[key].append(timed(command, repo))

    wall = {key: median([w for w, _ in values]) for key, values in times.items()}
    cpu = {key: median([c for _, c in values]) for key, values in times.items()}
    print(f"medians of {repeat}, wall / CPU (user + system, children included)")
    for key in times:
        print(f"RESULT {key}: {wall[key] * 1000:.1f} ms / {cpu[key] * 1000:.1f} ms CPU")
    raw, ours, floor = "git push origin <ref>", "gitml push (one new run)", "python -c pass"
    for label, figures in (("wall", wall), ("CPU", cpu)):
        print(
            f"RESULT push ratio ({label}): {figures[ours] / figures[raw]:.2f}x "
            f"(goal <= 1.5x); interpreter floor (python -c pass + raw push) / raw push: "
            f"{(figures[floor] + figures[raw]) / figures[raw]:.2f}x; "
            f"gitml --version / python -c pass: {figures['gitml --version'] / figures[floor]:.2f}x"
        )


if __name__ == "__main__":
    main()
