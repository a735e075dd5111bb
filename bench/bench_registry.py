"""Model registry figures (issue 6). Run: python bench/bench_registry.py [--quick]

Medians over repetitions, each with a baseline measured in the same run
(this machine is shared and noisy):
  1. `gitml model register` and `gitml model promote` as whole commands
     (goal <= 150 ms each), against `git tag -a` (the least a tag costs),
     `python -c pass` (interpreter start) and `gitml --version` (interpreter
     start, click and gitml's imports: what every gitml command pays).
  2. `gitml model ls` and `gitml model which` with 1,500 registry tags
     (50 models x 30 events) plus 1,000 unrelated tags (goal <= 300 ms), against
     one raw `git for-each-ref` reading the same tags.
  3. `gitml fetch` of those 1,500 registry tags from a file:// remote into a
     repository that has the runs already, against a raw
     `git fetch URL 'refs/tags/*:refs/tags/*'` (which also brings the 1,000
     unrelated tags). No goal in the issue; it guards against git's quadratic
     matching of one explicit refspec per tag (8.9 s here before the fix).

Commands run with Python's bytecode cache on (in a temporary folder), as an
installed gitml runs; with PYTHONDONTWRITEBYTECODE=1 every command would also
pay for compiling gitml's sources (about 80 ms here).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import PYTHON, environment, git, make_repo, median, report, timed  # noqa: E402

QUICK = "--quick" in sys.argv
REPEAT = 5 if QUICK else 15
GITML = [PYTHON, "-m", "gitml"]
MODELS, EVENTS, VERSIONS, UNRELATED = 50, 30, 10, 1000
STAGES = ("dev", "staging", "production", "archived")

MAKE_RUNS = """
import sys, gitml
for i in range(int(sys.argv[1])):
    with gitml.start_run(name=f"run{i}"):
        gitml.log_text(f"w={i}\\n", "model.txt")
"""


def make_runs(repo: Path, count: int) -> list[str]:
    """`count` finished runs holding model.txt; returns their commits, oldest first."""
    subprocess.run([PYTHON, "-c", MAKE_RUNS, str(count)], cwd=repo, env=environment(), check=True)
    out = git(repo, "for-each-ref", "--sort=refname", "--format=%(objectname)", "refs/gitml/runs")
    return out.split()


def command_speed() -> None:
    repo = make_repo(100)
    commits = make_runs(repo, 2)
    bare, startup, tagging, register, promote = [], [], [], [], []
    for i in range(REPEAT):
        bare.append(timed([PYTHON, "-c", "pass"], repo))
        startup.append(timed([*GITML, "--version"], repo))
        tagging.append(
            timed(["git", "tag", "-a", f"plain-{i}", "-m", "Registered.", commits[0]], repo)
        )
        register.append(timed([*GITML, "model", "register", f"model-{i}", "run0"], repo))
        promote.append(
            timed([*GITML, "model", "promote", f"model-{i}", "v0.0.1", STAGES[i % 4]], repo)
        )
    base = median(tagging)
    report("python -c pass (median)", median(bare))
    report("gitml --version (median, what every command costs)", median(startup))
    report("git tag -a (median, baseline)", base)
    for name, values in (("register", register), ("promote", promote)):
        value = median(values)
        report(
            f"gitml model {name} (median)",
            value,
            extra=f"{value / base:.1f}x git tag -a; "
            f"{(value - median(startup)) * 1000:.0f} ms over gitml --version; goal <= 150 ms",
        )


def fast_import_stream(commits: list[str]) -> bytes:
    """1,500 registry tags (50 models x 30 events) and 1,000 unrelated tags."""
    from gitml.registry.tags import TagMessage, build_message

    chunks = []
    when = 1_700_000_000

    def tag(name: str, commit: str, message: str) -> None:
        nonlocal when
        when += 1
        data = message.encode()
        chunks.append(
            f"tag {name}\nfrom {commit}\ntagger Bench <bench@example.com> {when} +0000\n"
            f"data {len(data)}\n".encode()
            + data
            + b"\n"
        )

    for m in range(MODELS):
        model = f"model-{m:02d}"
        counter = 0
        for v in range(VERSIONS):
            counter += 1
            version = f"v0.0.{v + 1}"
            text = build_message(
                TagMessage(
                    f"Registered {model} {version}.", "r" * 26, "model.txt", version, counter
                )
            )
            tag(f"{model}@{version}", commits[v], text)
        for e in range(EVENTS - VERSIONS):
            counter += 1
            v = e % VERSIONS
            text = build_message(
                TagMessage(f"Promoted {model}.", "r" * 26, "model.txt", f"v0.0.{v + 1}")
            )
            tag(f"{model}#{STAGES[e % 4]}#{counter}", commits[v], text)
    for i in range(UNRELATED // 2):
        tag(f"release-{i}", commits[0], f"Release {i}.\n")
    for i in range(UNRELATED // 2):
        chunks.append(f"reset refs/tags/light-{i}\nfrom {commits[0]}\n\n".encode())
    return b"".join(chunks)


def listing_speed() -> Path:
    repo = make_repo(10)
    commits = make_runs(repo, VERSIONS)
    stream = fast_import_stream(commits)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream, check=True)
    count = len(git(repo, "for-each-ref", "--format=x", "refs/tags").split())
    print(f"repository: {count} tags ({MODELS * EVENTS} registry, {UNRELATED} unrelated)")
    raw, ls, which = [], [], []
    fields = "%(refname)%00%(objecttype)%00%(*objectname)%00%(contents)"
    for _ in range(REPEAT):
        raw.append(timed(["git", "for-each-ref", f"--format={fields}", "refs/tags"], repo))
        ls.append(timed([*GITML, "model", "ls"], repo))
        which.append(timed([*GITML, "model", "which", "model-25@production"], repo))
    base = median(raw)
    report("git for-each-ref over all tags (median, baseline)", base)
    for name, values in (("ls", ls), ("which", which)):
        value = median(values)
        report(
            f"gitml model {name} (median)",
            value,
            extra=f"{value / base:.1f}x the raw listing; goal <= 300 ms",
        )
    return repo


def transfer_speed(repo: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="gitml-bench-registry-"))
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", remote.as_uri(), "refs/gitml/*:refs/gitml/*", "refs/tags/*:refs/tags/*")
    raw, ours = [], []
    for i in range(min(REPEAT, 5)):
        for name, times, argv in (
            ("raw", raw, ["git", "fetch", "-q", remote.as_uri(), "refs/tags/*:refs/tags/*"]),
            ("gitml", ours, [*GITML, "fetch", remote.as_uri()]),
        ):
            target = base / f"{name}-{i}"
            git(base, "init", "-q", str(target))
            git(target, "fetch", "-q", remote.as_uri(), "refs/gitml/*:refs/gitml/*")
            times.append(timed(argv, target))
    report("raw git fetch of every tag (median, baseline)", median(raw))
    value = median(ours)
    report(
        "gitml fetch of the 1,500 registry tags (median)",
        value,
        extra=f"{value / median(raw):.2f}x the raw fetch",
    )


if __name__ == "__main__":
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="gitml-bench-pycache-")
    command_speed()
    transfer_speed(listing_speed())
