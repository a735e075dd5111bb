"""Helpers for the benchmark scripts: temporary repositories, timing, medians."""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PYTHON = sys.executable
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


BYTECODE_CACHE = tempfile.mkdtemp(prefix="gitml-bench-pycache-")


def environment() -> dict[str, str]:
    """The bench's environment: a fixed git identity, and Python's bytecode cache on
    (an installed gitml has compiled bytecode; PYTHONDONTWRITEBYTECODE=1 would make
    every command recompile gitml's sources and measure that instead)."""
    env = dict(os.environ)
    env.update(GIT_ENV)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = BYTECODE_CACHE
    return env


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=environment(), check=True, capture_output=True, text=True
    ).stdout


def new_repo(prefix: str) -> Path:
    """A repository on `main` with one commit holding train.py."""
    repo = Path(tempfile.mkdtemp(prefix=prefix))
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('train')\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def make_repo(files: int, dirty: int = 3) -> Path:
    """A repository of `files` committed files with `dirty` uncommitted edits and one new file."""
    repo = Path(tempfile.mkdtemp(prefix="gitml-bench-"))
    git(repo, "init", "-q", "-b", "main")
    for i in range(files):
        folder = repo / "src" / f"pkg{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"module{i}.py").write_text(f"VALUE = {i}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    for i in range(min(dirty, files)):
        path = repo / "src" / "pkg0" / f"module{i}.py"
        path.write_text(path.read_text() + "# edited\n")
    (repo / "notes.txt").write_text("untracked\n")
    # As in a repository in use: files older than the index, whose stat data git
    # has refreshed (`git status`). Files written in the second the index was
    # written are "racily clean", and every snapshot would re-read all of them.
    time.sleep(1.1)
    git(repo, "status", "--short")
    return repo


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment(), check=True, capture_output=True)
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, value: float, unit: str = "s", extra: str = "") -> None:
    shown = f"{value * 1000:.1f} ms" if unit == "s" else f"{value:.2f} {unit}"
    print(f"RESULT {name}: {shown}{('  ' + extra) if extra else ''}", flush=True)


def write_synthetic_runs(
    repo: Path,
    count: int,
    fields: Callable[[int], dict],
    record_files: Callable[[int, object], dict[str, bytes]] | None = None,
) -> None:
    """`count` finished runs on HEAD, written straight into the object store in gitml's
    format, to reach thousands of runs in seconds. `fields(i)` gives run i's summary
    fields (params, metrics, ...); `record_files(i, summary)` its `.gitml/` files, if any
    (without, the run's tree is HEAD's)."""
    from gitml.store.ids import new_run_id
    from gitml.store.objects import Identity, ObjectStore
    from gitml.store.repository import open_repository
    from gitml.tracking.record import RunSummary, build_message

    head = git(repo, "rev-parse", "HEAD").strip()
    base_tree = git(repo, "rev-parse", "HEAD^{tree}").strip().encode()
    first_ms = int(time.time() * 1000) - count * 1000
    lines = []
    with ObjectStore(open_repository(repo)) as store:
        for i in range(count):
            start = first_ms + i * 1000
            summary = RunSummary(
                id=new_run_id(start),
                name=f"run-{i}",
                experiment="main",
                status="finished",
                start_ms=start,
                end_ms=start + 500,
                exit_code=0,
                base=head,
                user="bench",
                command="python train.py",
                **fields(i),
            )
            tree = base_tree
            if record_files is not None:
                record = store.write_tree_of_files(record_files(i, summary))
                tree = store.with_entry(base_tree, ".gitml", record)
            commit = store.write_commit(
                tree, [head.encode()], build_message(summary), Identity("bench", "b@example.com")
            )
            lines.append(f"create refs/gitml/runs/{summary.id} {commit.decode()}\n")
    subprocess.run(
        ["git", "update-ref", "--stdin"], cwd=repo, input="".join(lines).encode(), check=True
    )


def import_synthetic_runs(
    repo: Path,
    count: int,
    fields: Callable[[int], dict],
    record_files: Callable[[int, object], dict[str, bytes]] | None = None,
    name: str = "run",
) -> list[str]:
    """As `write_synthetic_runs`, through one `git fast-import` stream: git writes one pack
    instead of a loose file per object (10,000 runs of 10 metric files each in about a
    minute, not a quarter of an hour). The ids of the runs written."""
    from gitml.store.ids import new_run_id
    from gitml.tracking.record import RunSummary, build_message

    head = git(repo, "rev-parse", "HEAD").strip()
    first_ms = int(time.time() * 1000) - count * 1000
    ids = []
    importer = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=repo,
        env=environment(),
        stdin=subprocess.PIPE,
    )
    assert importer.stdin is not None
    out = importer.stdin
    for i in range(count):
        start = first_ms + i * 1000
        summary = RunSummary(
            id=new_run_id(start),
            name=f"{name}-{i}",
            experiment="main",
            status="finished",
            start_ms=start,
            end_ms=start + 500,
            exit_code=0,
            base=head,
            user="bench",
            command="python train.py",
            **fields(i),
        )
        ids.append(summary.id)
        message = build_message(summary).encode()
        out.write(f"commit refs/gitml/runs/{summary.id}\n".encode())
        out.write(f"committer bench <b@example.com> {start // 1000} +0000\n".encode())
        out.write(b"data %d\n%s\nfrom %s\n" % (len(message), message, head.encode()))
        for path, data in (record_files(i, summary) if record_files else {}).items():
            out.write(
                b"M 100644 inline .gitml/%s\ndata %d\n%s\n" % (path.encode(), len(data), data)
            )
        out.write(b"\n")
    out.write(b"done\n")
    out.close()
    if importer.wait() != 0:
        raise RuntimeError("git fast-import failed")
    return ids


# Runs a command and prints its seconds and peak RSS (KiB). A child's ru_maxrss starts
# from its parent's at fork, so the command is started by this small process and not
# by the bench, which holds the data it wrote.
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "elapsed = time.perf_counter() - start\n"
    "print(code, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measure(command: list[str], repo: Path, timeout: float = 600) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one command, its output thrown away; a command
    over `timeout` seconds, or failing, stops the bench."""
    result = subprocess.run(
        [PYTHON, "-c", MEASURE, *command],
        cwd=repo,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    code, elapsed, peak = result.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)} exited {code}: {result.stderr[-500:]}")
    return float(elapsed), int(peak) / 1024
