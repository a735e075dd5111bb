"""A run in progress: an append-only folder under `.git/gitml/runs/<id>/`.

The logging API writes here and nothing else, so logging stays a file append
and imports no git library. Every write is durable as soon as it returns, so a
crash of the script or of gitml loses nothing already logged; the folder is
turned into a commit when the run ends, or later by recovery.

Layout:
    meta.json      written once at start (who, what, where, snapshot tree)
    params.jsonl   [key, value] per line, later lines win
    tags.jsonl     [key, value] per line, later lines win; [key, null] deletes the tag
    metrics/       one file per key (see record.key_to_filename), lines
                   step<TAB>value<TAB>unix_ms: the record's format already
    artifacts/     files logged so far (symbolic links kept as links)
    env/           environment spec and installed packages
    output.txt     captured stdout+stderr (bounded)
    end.json       status, exit code and end time, once known
    declared.json  the status a script under `gitml run` gave gitml.end_run
    registrations.jsonl  [model name, artifact path] per line: models logged with
                   `registered_model_name=`, registered once the run is committed
"""

from __future__ import annotations

import json
import operator
import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gitml.errors import ArtifactError, InvalidValueError, shortened
from gitml.store.cas.folder import FolderStore, Stored
from gitml.store.cas.pointer import LFS, Pointer, build_pointer, looks_like_pointer
from gitml.store.layout import (
    ARTIFACTS_DIR,
    ENV_DIR,
    META_FILE,
    METRICS_DIR,
    OBJECTS_DIR,
    OUTPUT_FILE,
    RUNS_DIR,
)
from gitml.store.paths import is_git_name
from gitml.store.secret_files import SecretRule
from gitml.tracking.record import (
    MetricSummary,
    filename_to_key,
    key_to_filename,
    summarize_metric,
    validate_key,
    validate_value,
)
from gitml.values import is_utf8, shown

MAX_FILENAME = 255  # bytes in a file name on common file systems
MAX_ARTIFACT_DEPTH = 100  # parts of an artifact's path: deeper, Python's own walks fail
OUTPUT_LIMIT = 1 << 20  # bytes of output kept: the tail
DECLARED_FILE = "declared.json"
REGISTRATIONS_FILE = "registrations.jsonl"


@dataclass
class StagedRun:
    """Everything a staging folder holds, read back."""

    meta: dict
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, bytes] = field(default_factory=dict)  # key → complete TSV lines
    artifacts: dict[str, Path] = field(default_factory=dict)
    env_files: dict[str, Path] = field(default_factory=dict)
    output: bytes = b""
    end: dict | None = None

    def metric_summaries(self) -> dict[str, MetricSummary]:
        return {key: summarize_metric(data) for key, data in self.metrics.items()}


def runs_dir(state_dir: Path) -> Path:
    return state_dir / RUNS_DIR


def check_artifact_name(name: str) -> str:
    """A relative posix path inside the artifacts folder; `..`, absolute paths and `.git`
    parts (which make git fsck, and remotes that check pushes, refuse the run) refused."""
    path = PurePosixPath(name.replace(os.sep, "/"))
    if not name or path.is_absolute() or ".." in path.parts or str(path) in ("", "."):
        raise ArtifactError(
            f"artifact path {name!r} must be relative and stay inside the run "
            "(no leading '/', no '..')"
        )
    if "\x00" in name:
        raise ArtifactError(f"artifact path {shown(name)} holds a NUL byte, which no file name can")
    if not is_utf8(name):
        raise ArtifactError(
            f"artifact path {shown(name)} is not valid UTF-8 text (a file name with bytes "
            "no UTF-8 can record); rename it"
        )
    if any(map(is_git_name, path.parts)):
        raise ArtifactError(
            f"artifact path {name!r} has a .git part, which git refuses in a tree; rename it"
        )
    if len(path.parts) > MAX_ARTIFACT_DEPTH:
        raise ArtifactError(
            f"artifact path {_shortened(name)!r} is nested more than {MAX_ARTIFACT_DEPTH} "
            f"levels deep (gitml stores at most {MAX_ARTIFACT_DEPTH})"
        )
    return str(path)


def _shortened(name: str) -> str:
    return name if len(name) <= 80 else f"{name[:40]}...{name[-37:]}"


def _highest_step(path: Path) -> int | None:
    """The highest step in a metric file, None if it has no point yet."""
    highest = None
    with open(path, "rb") as file:
        for line in file:
            step, _, rest = line.partition(b"\t")
            if rest.endswith(b"\n") and step.lstrip(b"-").isdigit():
                highest = max(int(step), highest if highest is not None else int(step))
    return highest


class Staging:
    """Append-only writer and reader of one run's staging folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._metric_fds: dict[str, int] = {}
        self._metric_sizes: dict[str, int] = {}  # bytes of each metric file open here
        self._metric_limit = 0  # `metric_limit`, read when the first metric file opens
        self._steps: dict[str, int] = {}
        self._meta: dict | None = None

    @classmethod
    def create(cls, state_dir: Path, meta: dict) -> Staging:
        path = runs_dir(state_dir) / meta["id"]
        path.mkdir(parents=True)
        staging = cls(path)
        try:
            write_json_atomic(path / META_FILE, meta)
        except BaseException:
            import shutil

            shutil.rmtree(path, ignore_errors=True)  # no half-made run for recovery to find
            raise
        staging._meta = meta  # so the run's id and name stay readable once it is committed
        return staging

    @property
    def meta(self) -> dict:
        if self._meta is None:
            self._meta = json.loads((self.path / META_FILE).read_text())
        return self._meta

    @property
    def size_limit(self) -> int | None:
        """The largest artifact the run stores; None: no limit (a folder made by a gitml
        before large artifacts were stored by content has 10 MiB)."""
        limit = self.meta.get("size_limit", 10 << 20)
        return None if limit is None else int(limit)

    @property
    def large_threshold(self) -> int | None:
        """Artifacts over this many bytes are stored by content (None: none is)."""
        threshold = self.meta.get("large_threshold")
        return None if threshold is None else int(threshold)

    @property
    def metric_limit(self) -> int:
        """The largest metric file the run writes (gitml.metricHistoryLimit at its start)."""
        from gitml.tracking.limits import DEFAULT_METRIC_HISTORY_LIMIT

        return int(self.meta.get("metric_limit") or DEFAULT_METRIC_HISTORY_LIMIT)

    def objects(self) -> FolderStore:
        """The repository's own store of large artifacts (`.git/gitml/objects/`)."""
        return FolderStore(self.path.parents[1] / OBJECTS_DIR)

    @property
    def secrets(self) -> SecretRule:
        """The run's secret rule, with the patterns its user allowed at start."""
        return SecretRule(tuple(self.meta.get("allow_secrets") or ()))

    # writing

    def log_param(self, key: str, value: object) -> None:
        self._append_json(
            "params.jsonl", [validate_key("param", key), validate_value("param", key, value)]
        )

    def set_tag(self, key: str, value: object) -> None:
        self._append_json(
            "tags.jsonl", [validate_key("tag", key), validate_value("tag", key, value)]
        )

    def delete_tag(self, key: str) -> None:
        """Remove tag `key` (MLflow's delete_tag): a later line without a value."""
        self._append_json("tags.jsonl", [validate_key("tag", key), None])

    def log_metric(
        self, key: str, value: object, step: int | None = None, timestamp: int | None = None
    ) -> None:
        number = to_metric_value(key, value)
        step = None if step is None else to_integer(key, "step", step)
        ms = (
            int(time.time() * 1000)
            if timestamp is None
            else to_integer(key, "timestamp", timestamp)
        )
        fd = self._metric_fds.get(key)
        if fd is None:
            fd = self._open_metric_file(key)
        if step is None:
            step = self._steps.get(key, -1) + 1
        line = f"{step}\t{number!r}\t{ms}\n".encode()
        size = self._metric_sizes[key] + len(line)
        if size > self._metric_limit:
            from gitml.errors import MetricTooLargeError

            label = f"run {self.meta.get('name')} ({self.meta.get('id')})"
            raise MetricTooLargeError(label, key, size, self._metric_limit, "would grow to")
        self._steps[key] = max(step, self._steps.get(key, -1))
        os.write(fd, line)
        self._metric_sizes[key] = size

    def _open_metric_file(self, key: str) -> int:
        validate_key("metric", key)
        filename = key_to_filename(key)
        if len(filename) > MAX_FILENAME:
            raise InvalidValueError(
                f"metric key {key!r} is too long: as a file name ('/', spaces and non-ASCII "
                f"escaped) it takes {len(filename)} characters, over {MAX_FILENAME}; shorten it"
            )
        folder = self.path / METRICS_DIR
        folder.mkdir(exist_ok=True)
        path = folder / filename
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._metric_fds[key] = fd
        self._metric_sizes[key] = os.fstat(fd).st_size
        self._metric_limit = self.metric_limit
        if key not in self._steps and self._metric_sizes[key]:  # points logged by an earlier
            last = _highest_step(path)  # attach: steps go on from them
            if last is not None:
                self._steps[key] = last
        return fd

    def add_artifact_file(self, source: Path, name: str) -> None:
        """Copy file `source` into the run as `name`; a file named like a secret (by
        `name` or by the path it is read from) is refused unless the run allows it."""
        name = check_artifact_name(name)
        self._refuse_secret(name, str(source))
        size = source.stat().st_size
        self.check_sizes([(name, size)])
        target = self._artifact_target(name)
        if self._by_content(size, _head(source)):
            self._write_pointer(target, name, self.objects().put_file(source))
        else:
            import shutil  # with its archive modules: not for commands that only read runs

            shutil.copyfile(source, target)

    def _by_content(self, size: int, head: bytes) -> bool:
        """Whether an artifact is stored by content: over the threshold, or (so that no
        file of a run is ever mistaken for a pointer) beginning as a pointer does."""
        threshold = self.large_threshold
        return (threshold is not None and size > threshold) or looks_like_pointer(head)

    def _write_pointer(self, target: Path, name: str, stored: Stored) -> None:
        """The pointer to a stored object, in the artifact's place: written after the
        object, so that no pointer ever names an object that is not there."""
        store = self.meta.get("large_store") or LFS
        pointer = Pointer(name, stored.sha256, stored.size, store)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(build_pointer(pointer))
        os.replace(tmp, target)

    def _refuse_secret(self, name: str, *sources: str) -> None:
        """ArtifactError when `name` (or a path its bytes are read from) is named like a
        secret and the run does not allow it: the one rule for every way of storing."""
        for path in (name, *sources):
            pattern = self.secrets.secret_pattern(path)
            if pattern is not None:
                raise ArtifactError(
                    f"artifact {name!r} looks like a secret (it matches {pattern!r}) and "
                    f"was not stored; {self.secrets.how_to_allow(path)}"
                )

    def add_artifact_bytes(self, name: str, data: bytes) -> None:
        """Store `data` as artifact `name` (log_text, log_dict, log_figure): a name like a
        secret's is refused as for a file."""
        name = check_artifact_name(name)
        self._refuse_secret(name)
        self.check_sizes([(name, len(data))])
        target = self._artifact_target(name)
        if self._by_content(len(data), data):
            self._write_pointer(target, name, self.objects().put_bytes(data))
            return
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def add_artifact_link(self, name: str, link_target: str) -> None:
        """Store a symbolic link as a link (the run's tree holds its target text, as git
        stores a link), never what it points at."""
        name = check_artifact_name(name)
        self.check_sizes([(name, len(os.fsencode(link_target)))])
        os.symlink(link_target, self._artifact_target(name))

    def _artifact_target(self, name: str) -> Path:
        """Where artifact `name` goes, its folders made. A stored link is replaced, never
        written through, and never used as a folder: its target is not the run's."""
        folder = self.path / ARTIFACTS_DIR
        target = folder / name
        for parent in reversed(list(target.relative_to(folder).parents)[:-1]):
            if (folder / parent).is_symlink():
                raise ArtifactError(
                    f"artifact {name!r} would go inside {parent.as_posix()!r}, which the run "
                    "stores as a symbolic link; choose another name"
                )
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        return target

    def add_env_file(self, name: str, data: bytes) -> None:
        target = self.path / ENV_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def append_output(self, data: bytes) -> None:
        """Append to the captured output, trimming to the tail once it doubles the limit."""
        target = self.path / OUTPUT_FILE
        with open(target, "ab") as handle:
            handle.write(data)
            size = handle.tell()
        if size > 2 * OUTPUT_LIMIT:
            with open(target, "rb") as handle:
                handle.seek(-OUTPUT_LIMIT, os.SEEK_END)
                tail = handle.read()
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(tail)
            os.replace(tmp, target)

    def write_end(self, status: str, exit_code: int | None, end_ms: int | None = None) -> None:
        end = {
            "status": status,
            "exit_code": exit_code,
            "end_ms": int(time.time() * 1000) if end_ms is None else end_ms,
        }
        write_json_atomic(self.path / "end.json", end)

    def declare_status(self, status: str) -> None:
        """Keep the status a script gave `gitml.end_run` for the `gitml run` that owns
        the run: the script knows a failure its exit code may not show."""
        write_json_atomic(self.path / DECLARED_FILE, {"status": status})

    def declared_status(self) -> str | None:
        try:
            return json.loads((self.path / DECLARED_FILE).read_text())["status"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def request_registration(self, model: str, artifact_path: str) -> None:
        """Register the model logged at `artifact_path` as `model` once the run is committed
        (whoever commits it does: `gitml.end_run`, or the `gitml run` that wraps it)."""
        self._append_json(REGISTRATIONS_FILE, [model, artifact_path])

    def registration_requests(self) -> list[tuple[str, str]]:
        """The (model name, artifact path) pairs `request_registration` kept, in order."""
        lines = _read_jsonl(self.path / REGISTRATIONS_FILE)
        return [(str(line[0]), str(line[1])) for line in lines if len(line) == 2]

    def close(self) -> None:
        for fd in self._metric_fds.values():
            os.close(fd)
        self._metric_fds.clear()

    def _append_json(self, filename: str, item: list) -> None:
        with open(self.path / filename, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")

    def check_sizes(self, sizes: list[tuple[str, int]], whole: str | None = None) -> None:
        """Refuse, naming every one, the (name, size) pairs over the size limit; `whole`
        names the folder artifact they belong to, of which nothing is then stored."""
        most = self.size_limit
        if most is None:
            return
        over = [(name, size) for name, size in sizes if size > most]
        limit = f"the limit of {size_text(most)} per artifact (gitml.artifactSizeLimit)"
        raise_it = "raise the limit with `git config gitml.artifactSizeLimit <bytes>`"
        if over and whole is None:
            name, size = over[0]
            raise ArtifactError(
                f"artifact {name!r} is {size_text(size)}, over {limit}; log its location "
                f"instead, or {raise_it}"
            )
        if over:
            listed = shortened([f"{name} ({size_text(size)})" for name, size in over], 10)
            raise ArtifactError(
                f"artifact {whole!r} holds files over {limit}: {listed}; nothing of it was "
                f"stored. Leave them out of the folder, or {raise_it}"
            )

    def remove_artifacts(self, names: list[str]) -> None:
        """Take back artifacts stored a moment ago (a folder artifact that failed half-way)."""
        for name in names:
            (self.path / ARTIFACTS_DIR / name).unlink(missing_ok=True)

    # reading

    def metric_files(self) -> dict[str, Path]:
        """Each metric's file (key → path), for reading its points without loading them."""
        folder = self.path / METRICS_DIR
        if not folder.is_dir():
            return {}
        return {filename_to_key(path.name): path for path in folder.iterdir()}

    def artifact_paths(self) -> dict[str, Path]:
        """Each artifact logged so far (name → its file or link), without reading them."""
        return _files_under(self.path / ARTIFACTS_DIR)

    def read_params(self) -> dict[str, str]:
        """The params logged so far (without reading the rest of the run)."""
        return dict(_read_jsonl(self.path / "params.jsonl"))

    def read(self) -> StagedRun:
        staged = StagedRun(meta=self.meta)
        staged.params = self.read_params()
        tags = dict(_read_jsonl(self.path / "tags.jsonl"))
        staged.tags = {key: value for key, value in tags.items() if value is not None}
        staged.metrics = _read_metrics(self.path / METRICS_DIR)
        staged.artifacts = _files_under(self.path / ARTIFACTS_DIR)
        staged.env_files = _files_under(self.path / ENV_DIR)
        output = self.path / OUTPUT_FILE
        if output.exists():
            data = output.read_bytes()
            staged.output = data[-OUTPUT_LIMIT:]
        end = self.path / "end.json"
        if end.exists():
            staged.end = json.loads(end.read_text())
        return staged


def _head(path: Path) -> bytes:
    """The first bytes of a file, enough to tell a pointer."""
    with open(path, "rb") as file:
        return file.read(64)


def size_text(count: int) -> str:
    """Bytes in the largest unit that keeps a digit before the point (a 1k limit is
    "1.0 KiB", not "0.0 MiB")."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.1f} {unit}"
    return f"{count} bytes"


def to_metric_value(key: str, value: object) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidValueError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        ) from None
    except OverflowError:
        raise InvalidValueError(
            f"metric {key!r} is too large for a float (a 64-bit double): log it scaled"
        ) from None


def to_integer(key: str, what: str, value: object) -> int:
    """`value` as an int (numpy integers too) of 64 bits, as MLflow keeps steps and
    timestamps; floats, text and booleans are refused."""
    unit = " (milliseconds since the epoch)" if what == "timestamp" else ""
    try:
        if not isinstance(value, bool):
            number = operator.index(value)  # type: ignore[arg-type]
            if -(1 << 63) <= number < 1 << 63:
                return number
            raise InvalidValueError(
                f"metric {key!r}: {what} {number} is out of range: it must fit 64 bits{unit}"
            )
    except TypeError:
        pass
    raise InvalidValueError(
        f"metric {key!r}: {what} must be an integer{unit}, got {type(value).__name__} {value!r}"
    )


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    os.replace(tmp, path)


def _read_jsonl(path: Path) -> list[list]:
    if not path.exists():
        return []
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return items


def _read_metrics(folder: Path) -> dict[str, bytes]:
    """Each metric's complete lines; a last line cut short by a crash is dropped."""
    if not folder.is_dir():
        return {}
    metrics = {}
    for path in folder.iterdir():
        data = path.read_bytes()
        data = data[: data.rfind(b"\n") + 1]
        if data:
            metrics[filename_to_key(path.name)] = data
    return metrics


def _files_under(folder: Path) -> dict[str, Path]:
    """Files and symbolic links (stored as links, see `add_artifact_link`) under `folder`."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))  # does not descend into linked folders
        if (path.is_symlink() or path.is_file()) and not path.name.endswith(".tmp")
    }
