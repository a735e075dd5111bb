"""The run record: one typed shape of a run, in progress or committed.

`RunRecord` holds a run's one field list; `to_json` and `from_json` are its only JSON
forms. `.gitml/run.json` is `to_json(stored=True)` (the fields a run says about itself);
`gitml show --json` and `get_run` give `to_json()` (those plus what reading the run
adds: its commit, why it is damaged, the files it changed), with the same keys while
the run goes on and after it ends. A listing row (`RunSummary`, `gitml ls --json`) is
its summary part under the same names: `summary()`.

A run.json may come from a clone that wrote it wrong: `from_json` checks every field
it reads and raises RecordError saying which one is not of its shape.

Imported by the logging API (`get_run` in a script): Python 3.8 syntax, PEP 563.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from gitml.envs import LOCAL
from gitml.errors import RecordError
from gitml.tracking.record import (
    DAMAGED,
    FORMAT_VERSION,
    LISTED_STATUSES,
    MAX_MS,
    MetricSummary,
    RunSummary,
    is_branch_name,
    shown,
)


@dataclass(frozen=True)
class ArtifactEntry:
    """A file the run stored under `.gitml/artifacts/`: a symbolic link has `link`, its
    target (then `size` and `sha256` are those of the target's text, the link's blob)."""

    path: str
    size: int
    sha256: str | None = None
    link: str | None = None
    store: str | None = None  # stored by content: the shared store (its tree holds a pointer)

    def to_json(self) -> dict:
        data: dict = {"path": self.path, "size": self.size, "sha256": self.sha256}
        if self.link is not None:
            data["link"] = self.link
        if self.store is not None:
            data["store"] = self.store
        return data

    @classmethod
    def from_json(cls, data: object) -> ArtifactEntry:
        problem = "has an artifact list that is not one of paths and sizes"
        if not (isinstance(data, dict) and isinstance(data.get("path"), str)):
            raise RecordError(problem)
        size, sha256, link = data.get("size"), data.get("sha256"), data.get("link")
        store = data.get("store")
        if not isinstance(size, int) or isinstance(size, bool):
            raise RecordError(problem)
        if not all(v is None or isinstance(v, str) for v in (sha256, link, store)):
            raise RecordError(problem)
        return cls(data["path"], size, sha256, link, store)


@dataclass(frozen=True)
class StoredFile:
    """A file a run holds, as its reader finds it (what is there, not what the record
    says): its path, whether it is a symbolic link (its content is then the target's
    text), and an id that changes with its content (git's blob id)."""

    path: str
    link: bool
    id: str

    @property
    def mode(self) -> int:
        return 0o120000 if self.link else 0o100644


@dataclass(frozen=True)
class ChangedFile:
    """A file the run's snapshot changed against its base: git's status letter (A, D,
    M, T) and its path."""

    status: str
    path: str

    def to_json(self) -> dict:
        return {"status": self.status, "path": self.path}


@dataclass(frozen=True, eq=False)
class RunRecord(Mapping):
    """Everything recorded about one run. Read as a mapping it is its `to_json()` (so
    `get_run(...)["metrics"]["loss"]["last"]` works as it always has)."""

    id: str
    name: str
    experiment: str
    status: str  # running | finished | failed | killed | damaged
    start_ms: int
    format: int = FORMAT_VERSION
    exit_code: int | None = None
    command: list[str] = field(default_factory=list)
    cwd: str | None = None  # where the command ran, from the root ("."); None: outside
    entry_point: str | None = None
    note: str = ""
    reproduces: str | None = None  # the id of the run this one reruns
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    end_ms: int | None = None
    user: str | None = None
    host: str | None = None
    python: str | None = None
    platform: str | None = None
    base: str | None = None  # the commit the run started from
    branch: str | None = None
    dirty: bool | None = None  # the snapshot differs from its base (None: not known yet)
    env_hash: str | None = None
    env_manager: str | None = LOCAL
    env_vars: dict[str, str] = field(default_factory=dict)
    artifacts: list[ArtifactEntry] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=lambda: {"large": [], "secret": []})
    snapshot_lost: bool = False  # the tree holds the base commit's code instead
    # what reading the run adds; never stored in run.json
    commit: str | None = None  # None while the run is in progress
    damage: str | None = None  # why the run is DAMAGED, if it is
    files_changed: list[ChangedFile] = field(default_factory=list)

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_ms is None else self.end_ms - self.start_ms

    def to_json(self, stored: bool = False) -> dict:
        """The record as JSON; `stored`: as run.json holds it (what the run says about
        itself, in the order gitml has always written it)."""
        data = {
            "format": self.format,
            "id": self.id,
            "name": self.name,
            "experiment": self.experiment,
            "status": self.status,
            "exit_code": self.exit_code,
            "command": list(self.command),
            "cwd": self.cwd,
            "entry_point": self.entry_point,
            "note": self.note,
            "reproduces": self.reproduces,
            "params": dict(self.params),
            "tags": dict(self.tags),
            "metrics": {key: summary.to_json() for key, summary in self.metrics.items()},
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "duration_ms": self.duration_ms,
            "user": self.user,
            "host": self.host,
            "python": self.python,
            "platform": self.platform,
            "base": self.base,
            "branch": self.branch,
            "dirty": self.dirty,
            "env_hash": self.env_hash,
            "env_manager": self.env_manager,
            "env_vars": dict(self.env_vars),
            "artifacts": [entry.to_json() for entry in self.artifacts],
            "skipped": {key: list(paths) for key, paths in self.skipped.items()},
        }
        if stored:
            if self.snapshot_lost:
                data["snapshot_lost"] = True
            return data
        data["snapshot_lost"] = self.snapshot_lost
        data["commit"] = self.commit
        data["damage"] = self.damage
        data["files_changed"] = [change.to_json() for change in self.files_changed]
        return data

    @classmethod
    def from_json(cls, data: object) -> RunRecord:
        """The record `data` holds (run.json, or `to_json()`'s output); RecordError names
        the first field that is not of its shape. Fields a record written by an older
        gitml lacks take their defaults."""
        if not isinstance(data, dict):
            raise RecordError("holds no record (not a JSON object)")
        status = data.get("status")
        if status not in LISTED_STATUSES:
            raise RecordError(f"has the status {shown(str(status))}")
        text = {key: _text(data, key) for key in _TEXT_FIELDS}
        name, experiment = text["name"], text["experiment"]  # every gitml writes them
        if name is None or experiment is None:
            raise RecordError(f"has no {'name' if name is None else 'experiment'}")
        times = {key: _int(data, key, time=True) for key in ("start_ms", "end_ms")}
        numbers = {key: _int(data, key) for key in ("format", "exit_code", "duration_ms")}
        command = data.get("command", [])
        if not _is_words(command):
            raise RecordError("has a command that is not a list of words")
        pairs = {key: _pairs(data, key) for key in ("params", "tags", "env_vars")}
        metrics = data.get("metrics", {})
        if not isinstance(metrics, dict):
            raise RecordError(_METRICS_PROBLEM)
        metrics = {key: _metric(value) for key, value in metrics.items()}
        artifacts = data.get("artifacts", [])
        if not isinstance(artifacts, list):
            raise RecordError("has an artifact list that is not one of paths and sizes")
        artifacts = [ArtifactEntry.from_json(item) for item in artifacts]
        skipped = data.get("skipped", {"large": [], "secret": []})
        if not (isinstance(skipped, dict) and all(map(_is_words, skipped.values()))):
            raise RecordError("has a skipped list that is not one of paths")
        for key in ("dirty", "snapshot_lost"):
            if data.get(key) is not None and not isinstance(data[key], bool):
                raise RecordError(f"has a {key} flag that is not true or false")
        changed = data.get("files_changed", [])
        if not (isinstance(changed, list) and all(map(_is_change, changed))):
            raise RecordError("has a files_changed list that is not one of statuses and paths")
        return cls(
            id=_required_text(data, "id"),
            name=name,
            experiment=experiment,
            status=status,
            start_ms=times["start_ms"] or 0,
            format=numbers["format"] or FORMAT_VERSION,
            exit_code=numbers["exit_code"],
            command=list(command),
            cwd=text["cwd"],
            entry_point=text["entry_point"],
            note=text["note"] or "",
            reproduces=text["reproduces"],
            params=pairs["params"],
            tags=pairs["tags"],
            metrics=metrics,
            end_ms=times["end_ms"],
            user=text["user"],
            host=text["host"],
            python=text["python"],
            platform=text["platform"],
            base=text["base"],
            branch=text["branch"],
            dirty=data.get("dirty"),
            env_hash=text["env_hash"],
            env_manager=text["env_manager"] if "env_manager" in data else LOCAL,
            env_vars=pairs["env_vars"],
            artifacts=artifacts,
            skipped={key: list(paths) for key, paths in skipped.items()},
            snapshot_lost=bool(data.get("snapshot_lost")),
            commit=text["commit"],
            damage=text["damage"],
            files_changed=[ChangedFile(item["status"], item["path"]) for item in changed],
        )

    @classmethod
    def standing_in_for(cls, summary: RunSummary) -> RunRecord:
        """The record a run's summary (its commit message) gives when its run.json cannot
        be read: the fields the summary has, last values for metrics."""
        return cls(
            **_shared_fields(summary),
            command=_words(summary.command),
            params=dict(summary.params),
            tags=dict(summary.tags),
            metrics={key: MetricSummary(value) for key, value in summary.metrics.items()},
            user=summary.user or None,
            branch=summary.branch,
            env_manager=None,
            commit=summary.sha,
        )

    def damaged(self, reason: str) -> RunRecord:
        """This record, DAMAGED for `reason` (added to any reason it has already)."""
        reasons = "; ".join(r for r in (self.damage, reason) if r)
        return replace(self, status=DAMAGED, damage=reasons)

    def summary(self) -> RunSummary:
        """What `gitml ls` lists of this run (`RunSummary`): the command as one line, the
        last value of each metric."""
        return RunSummary(
            **_shared_fields(self),
            user=self.user or "",
            # a name git allows that a listing would not take back (a C1 control): unknown
            branch=self.branch if self.branch and is_branch_name(self.branch) else None,
            command=shlex.join(self.command),
            params=dict(self.params),
            metrics={key: summary.last for key, summary in self.metrics.items()},
            tags=dict(self.tags),
            sha=self.commit,
        )

    # read as a mapping: its JSON form

    @cached_property
    def _json(self) -> dict:
        return self.to_json()

    def __getitem__(self, key: str) -> object:
        return self._json[key]

    def __iter__(self):
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)

    def __repr__(self) -> str:
        return f"<RunRecord {self.name or self.id} ({self.id}) {self.status}>"


# The fields a RunSummary and a RunRecord hold under the same name, as the same value;
# the conversions between them spell out only the rest.
_SHARED_FIELDS = (
    "id", "name", "experiment", "status", "start_ms", "end_ms", "exit_code", "base", "damage",
)  # fmt: skip


def _shared_fields(source: RunSummary | RunRecord) -> dict[str, Any]:
    return {key: getattr(source, key) for key in _SHARED_FIELDS}


# checks of what a record read back holds

_TEXT_FIELDS = (
    "name", "experiment", "note", "user", "host", "python", "platform", "base", "branch",
    "env_hash", "entry_point", "env_manager", "cwd", "reproduces", "commit", "damage",
)  # fmt: skip
_METRICS_PROBLEM = "has metrics that are not summaries of numbers"


def _text(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise RecordError(f"has a {key} that is not text")
    return value


def _required_text(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise RecordError(f"has a {key} that is not text")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(data: dict, key: str, time: bool = False) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise RecordError(f"has a {key} that is not a whole number")
    if time and not 0 <= value <= MAX_MS:
        raise RecordError(f"has a {key} out of range")
    return value


def _pairs(data: dict, key: str) -> dict[str, str]:
    value = data.get(key, {})
    if not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
        raise RecordError(f"has {key} that are not text keys and values")
    return dict(value)


def _is_words(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_change(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("status"), str)
        and isinstance(value.get("path"), str)
    )


def _number(value: object) -> float:
    """A number as run.json writes it (NaN and infinities as strings, see json_float)."""
    if isinstance(value, bool):
        raise RecordError(_METRICS_PROBLEM)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    raise RecordError(_METRICS_PROBLEM)


def _metric(value: object) -> MetricSummary:
    if not isinstance(value, dict) or "last" not in value:
        raise RecordError(_METRICS_PROBLEM)
    low, high = value.get("min"), value.get("max")
    count, last_step = value.get("count"), value.get("last_step")
    known = [statistic is not None for statistic in (low, high, count, last_step)]
    if any(known) and not all(known):  # all or none beside `last`
        raise RecordError(_METRICS_PROBLEM)
    if not all(n is None or _is_int(n) for n in (count, last_step)):
        raise RecordError(_METRICS_PROBLEM)
    return MetricSummary(
        last=_number(value["last"]),
        min=None if low is None else _number(low),
        max=None if high is None else _number(high),
        count=count,
        last_step=last_step,
    )


def _words(command: str) -> list[str]:
    """A command line read back as words; text shlex cannot split (a trailer a clone
    wrote wrong) as one word."""
    try:
        return shlex.split(command)
    except ValueError:
        return [command] if command else []
