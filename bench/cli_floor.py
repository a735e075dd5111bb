"""The floor every gitml command pays: the interpreter's start and gitml's imports (issue 14).
Run: PYTHONPATH=. python bench/cli_floor.py [--repeat 15] [--against DIR]

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

With --against DIR (a checkout of another gitml, e.g. `git worktree add --detach
/tmp/old <commit>`), each gitml command also runs with that checkout first on
PYTHONPATH, alternately with this one, and the figures of both are printed.

Each figure is wall time and CPU time (user + system, of the command and the processes
it started): on a shared machine the wall time waits for the other processes too.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import PYTHON, environment, git, median, new_repo, write_synthetic_runs  # noqa: E402

GITML = [PYTHON, "-m", "gitml"]


def timed(command: list[str], cwd: Path, path: str | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children) of one run; `path`
    first on PYTHONPATH when given."""
    env = environment()
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
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
    parser.add_argument("--against", help="another gitml checkout, measured alternately")
    options = parser.parse_args()
    versions: list[tuple[str, str | None]] = [("", None)]
    if options.against:
        versions.append((" [against]", str(Path(options.against).resolve())))

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

    fetch_runs = ["git", "fetch", "-q", "origin", "refs/gitml/runs/*:refs/gitml/runs/*"]
    raw = {"python -c pass": [PYTHON, "-c", "pass"], "git fetch of the run pattern": fetch_runs}
    ours = {
        "gitml --version": [*GITML, "--version"],
        "gitml fetch (nothing new)": [*GITML, "fetch"],
        "gitml ls --limit 20": [*GITML, "ls", "--limit", "20"],
        "gitml show NAME": [*GITML, "show", name],
        "gitml run -- python -c pass": [*GITML, "run", "--", PYTHON, "-c", "pass"],
    }
    push_key, raw_push = "gitml push (one new run)", "git push origin <ref>"
    keys = [*raw, raw_push, *(key + label for key in [*ours, push_key] for label, _ in versions)]
    times: dict[str, list[tuple[float, float]]] = {key: [] for key in keys}
    for i in range(options.repeat):
        ref = f"refs/gitml/runs/{new_runs(repo, 1)[0]}"
        # the raw push first: `gitml push` sends every new run, so each finds one
        times[raw_push].append(timed(["git", "push", "-q", "origin", f"{ref}:{ref}"], repo))
        order = versions if i % 2 == 0 else versions[::-1]
        for label, path in order:
            new_runs(repo, 1)
            times[push_key + label].append(timed([*GITML, "push"], repo, path))
        for key, command in raw.items():
            times[key].append(timed(command, repo))
        for key, command in ours.items():
            for label, path in order:
                times[key + label].append(timed(command, repo, path))

    wall = {key: median([w for w, _ in values]) for key, values in times.items()}
    cpu = {key: median([c for _, c in values]) for key, values in times.items()}
    print(f"medians of {options.repeat}, wall / CPU (user + system, children included)")
    for key in times:
        print(f"RESULT {key}: {wall[key] * 1000:.1f} ms / {cpu[key] * 1000:.1f} ms CPU")
    floor = "python -c pass"
    for label, _ in versions:
        for kind, figures in (("wall", wall), ("CPU", cpu)):
            push, version = figures[push_key + label], figures["gitml --version" + label]
            print(
                f"RESULT push ratio{label} ({kind}): {push / figures[raw_push]:.2f}x (goal "
                f"<= 1.5x); interpreter floor (python -c pass + raw push) / raw push: "
                f"{(figures[floor] + figures[raw_push]) / figures[raw_push]:.2f}x; "
                f"gitml --version / python -c pass: {version / figures[floor]:.2f}x"
            )


if __name__ == "__main__":
    main()
