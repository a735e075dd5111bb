"""What differs between two runs, or between a run and a commit.

A side is a run (id, prefix or name) or, for the code part only, any commit
git can name (branch, tag, sha). Params, metrics and tags come from the run
commits' trailers; environment and artifacts from their `.gitml/` records;
code from `git diff` of the two trees with `.gitml/` left out.
"""

import difflib
import math
from dataclasses import asdict, dataclass, field

from gitml.errors import InvalidValueError
from gitml.project_file import repository_project
from gitml.store.gitcmd import run_git
from gitml.store.layout import ENV_DIR, ENV_FREEZE_FILE, RECORD_DIR
from gitml.store.repository import Repository
from gitml.tracking.model import ArtifactEntry
from gitml.tracking.readers import RunReader, open_run
from gitml.tracking.record import MAX_RECORD_BYTES, RunSummary, json_float
from gitml.tracking.sides import Side

# difflib's time grows faster than the lines it compares (two conda.yaml files of 400,000
# lines, fetched with two runs, took a minute); a real one has a few dozen lines.
MAX_DIFF_LINES = 5_000


@dataclass
class DiffOptions:
    code: bool = True  # compare the snapshots at all
    patch: bool = True  # the unified diff, not only file names and counts


@dataclass
class Change:
    key: str
    status: str  # added | removed | changed | same
    a: object = None
    b: object = None


@dataclass
class MetricChange:
    key: str
    a: float | None
    b: float | None
    delta: float | None = None
    relative: float | None = None
    goal: str | None = None  # min | max, when the project states one
    better: str | None = None  # a | b | None (equal, unknown or no goal)

    def to_json(self) -> dict:
        data = asdict(self)
        for name in ("a", "b", "delta", "relative"):
            if data[name] is not None:
                data[name] = json_float(data[name])
        return data


@dataclass
class ArtifactChange:
    path: str
    status: str  # added | removed | changed
    size_a: int | None = None
    size_b: int | None = None
    sha256_a: str | None = None
    sha256_b: str | None = None


@dataclass
class FileChange:
    path: str
    status: str  # git's letter: A, D, M, T
    added: int | None = None  # None for binary files
    removed: int | None = None

    @property
    def binary(self) -> bool:
        return self.added is None


@dataclass
class RunDiff:
    a: Side
    b: Side
    params: list[Change] = field(default_factory=list)
    same_params: list[str] = field(default_factory=list)  # keys equal in both runs
    metrics: list[MetricChange] = field(default_factory=list)
    tags: list[Change] = field(default_factory=list)
    conda: str = ""  # unified diff of env/conda.yaml
    packages: list[Change] = field(default_factory=list)
    artifacts: list[ArtifactChange] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    patch: str = ""
    compared_records: bool = False  # both sides are runs
    compared_code: bool = False

    def to_json(self) -> dict:
        return {
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "params": [asdict(c) for c in self.params],
            "same_params": self.same_params,
            "metrics": [m.to_json() for m in self.metrics],
            "tags": [asdict(c) for c in self.tags],
            "environment": {"conda": self.conda, "packages": [asdict(c) for c in self.packages]},
            "artifacts": [asdict(c) for c in self.artifacts],
            "files": [{**asdict(f), "binary": f.binary} for f in self.files],
            "patch": self.patch,
        }


# the diff


def diff_sides(repo: Repository, a: Side, b: Side, options: DiffOptions) -> RunDiff:
    if a.commit == b.commit:
        raise InvalidValueError(
            f"{a.label} and {b.label} are the same {'run' if a.run else 'commit'}: "
            "give two different ones, or one run to compare it with its base"
        )
    result = RunDiff(a, b)
    if a.run is not None and b.run is not None:
        result.compared_records = True
        result.params = changes(a.run.params, b.run.params)
        result.same_params = sorted(
            key for key, value in a.run.params.items() if b.run.params.get(key) == value
        )
        result.tags = changes(a.run.tags, b.run.tags)
        result.metrics = metric_changes(a.run.metrics, b.run.metrics, metric_goals(repo))
        _compare_records(repo, a.run, b.run, result)
    if options.code:
        result.compared_code = True
        result.files = changed_files(repo, a.commit, b.commit)
        if options.patch and result.files:
            result.patch = code_patch(repo, a.commit, b.commit)
    return result


def changes(a: dict, b: dict) -> list[Change]:
    """Keys added, removed or changed from `a` to `b` (sorted)."""
    found = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            found.append(Change(key, "added", None, b[key]))
        elif key not in b:
            found.append(Change(key, "removed", a[key], None))
        elif a[key] != b[key]:
            found.append(Change(key, "changed", a[key], b[key]))
    return found


def metric_changes(a: dict, b: dict, goals: dict[str, str]) -> list[MetricChange]:
    """Every metric of either run with its change; `better` follows the stated goal."""
    found = []
    for key in sorted(set(a) | set(b)):
        change = MetricChange(key, a.get(key), b.get(key), goal=goals.get(key))
        if change.a is not None and change.b is not None:
            change.delta, change.relative = _delta(change.a, change.b)
            change.better = _better(change.a, change.b, change.goal)
        found.append(change)
    return found


def _delta(a: float, b: float) -> tuple[float, float | None]:
    """(b - a, the change relative to |a|). Equal values change by 0, infinities
    included (inf - inf would be nan); a change that overflows or involves an
    infinity has no relative change, nor one that would overflow itself."""
    if a == b:
        return 0.0, (0.0 if a != 0 else None)
    delta = b - a
    if a == 0 or not math.isfinite(a) or not math.isfinite(delta):
        return delta, None
    relative = delta / abs(a)
    return delta, relative if math.isfinite(relative) else None


def _better(a: float, b: float, goal: str | None) -> str | None:
    """Which side the goal prefers, from the values themselves (so infinities and
    overflowing differences compare too); None without a goal, when equal or with NaN."""
    if goal is None or a == b or math.isnan(a) or math.isnan(b):
        return None
    return "b" if (b < a) == (goal == "min") else "a"


def metric_goals(repo: Repository) -> dict[str, str]:
    """Which way each metric should go (`metrics: {loss: min, acc: max}` in the
    project file at the repository root), when the project says."""
    project = repository_project(repo)
    return project.metric_goals if project else {}


def _compare_records(repo: Repository, a: RunSummary, b: RunSummary, result: RunDiff) -> None:
    """Environment and artifacts, from each run's record and `env/` files."""
    with open_run(repo, a) as reader_a, open_run(repo, b) as reader_b:
        conda = [_text(reader, f"{ENV_DIR}/conda.yaml") for reader in (reader_a, reader_b)]
        freeze = [_text(reader, f"{ENV_DIR}/{ENV_FREEZE_FILE}") for reader in (reader_a, reader_b)]
        artifacts = [reader.record().artifacts for reader in (reader_a, reader_b)]
    if conda[0] != conda[1]:
        result.conda = _unified_diff(conda, f"{a.name}/conda.yaml", f"{b.name}/conda.yaml")
    result.packages = changes(_packages(freeze[0]), _packages(freeze[1]))
    result.artifacts = artifact_changes(*artifacts)


def _unified_diff(texts: list[str], label_a: str, label_b: str) -> str:
    """The line diff of two texts; of texts over MAX_DIFF_LINES, a line saying so."""
    lines = [text.splitlines(True) for text in texts]
    if max(map(len, lines)) > MAX_DIFF_LINES:
        return (
            f"{label_a} ({len(lines[0]):,} lines) and {label_b} ({len(lines[1]):,} lines) "
            f"differ; over {MAX_DIFF_LINES:,} lines, gitml does not compare them line by line\n"
        )
    return "".join(difflib.unified_diff(lines[0], lines[1], label_a, label_b))


def _text(reader: RunReader, path: str) -> str:
    """A file's text; a missing one, or one too large to read, as none."""
    data = reader.read_file(path, MAX_RECORD_BYTES)
    return data.decode(errors="replace") if data else ""


def _packages(freeze: str) -> dict[str, str]:
    """`name==version` lines to {normalized name: version}."""
    from gitml.envs.versions import freeze_versions

    return freeze_versions(freeze.splitlines())


def artifact_changes(a: list[ArtifactEntry], b: list[ArtifactEntry]) -> list[ArtifactChange]:
    """Artifacts added, removed, or whose content hash changed."""
    old = {entry.path: entry for entry in a}
    new = {entry.path: entry for entry in b}
    found = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before and after and before.sha256 == after.sha256:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        found.append(
            ArtifactChange(
                path,
                status,
                before.size if before else None,
                after.size if after else None,
                before.sha256 if before else None,
                after.sha256 if after else None,
            )
        )
    return found


# code


def _pathspec() -> list[str]:
    return ["--", ".", f":(exclude){RECORD_DIR}"]


def changed_files(repo: Repository, a: str, b: str) -> list[FileChange]:
    """Files that differ between two commits (`.gitml/` left out), with line counts:
    one `git diff --raw --numstat -z` (raw records give the status, numstat the counts)."""
    out = _git_text(repo, ["diff", "--raw", "--numstat", "--no-renames", "-z", a, b, *_pathspec()])
    items = out.split("\0")
    statuses: dict[str, str] = {}
    files = []
    index = 0
    while index < len(items):
        item = items[index]
        if item.startswith(":"):  # ":<mode> <mode> <sha> <sha> <status>" then the path
            statuses[items[index + 1]] = item.rsplit(" ", 1)[-1]
            index += 2
            continue
        if item:  # "<added>\t<removed>\t<path>"; '-' counts for binary files
            added, removed, path = item.split("\t", 2)
            binary = added == "-"
            files.append(
                FileChange(
                    path,
                    statuses.get(path, "M"),
                    None if binary else int(added),
                    None if binary else int(removed),
                )
            )
        index += 1
    return files


def code_patch(repo: Repository, a: str, b: str) -> str:
    """The unified diff of the code; binary files appear as one summary line."""
    return _git_text(
        repo, ["diff", "--no-color", "--no-renames", "--no-ext-diff", a, b, *_pathspec()]
    )


def _git_text(repo: Repository, args: list[str]) -> str:
    return run_git(args, repo.cwd).stdout.decode(errors="replace")
