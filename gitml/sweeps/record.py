"""A sweep's record: what it searches, how, and on which code.

`refs/gitml/sweeps/<id>` names a record commit whose tree holds one file,
`sweep.json`, and whose first parent is the sweep's snapshot: a commit of the work
tree as it was when the sweep started (its parent the HEAD of then), which every
trial runs. When the sweep ends, a new record commit (parents: the snapshot, then the
previous record) keeps its status and best trial; the ref only fast-forwards, so it
travels with `gitml push` like a run. A record fetched from elsewhere is checked
before use: one that does not parse is listed as damaged, never an error for the
command reading it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field

from gitml.errors import GitmlError, InvalidValueError, RecordError
from gitml.store.repository import Repository

FORMAT = 1
RECORD_FILE = "sweep.json"
MAX_RECORD = 1 << 20
DIRECTIONS = ("minimize", "maximize")
STATUSES = ("running", "finished", "stopped")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass
class SweepRecord:
    id: str
    name: str
    experiment: str
    snapshot: str  # the commit every trial runs
    base: str | None  # HEAD when the sweep started
    params: dict[str, str]  # name → form (gitml.sweeps.space), fixed values as they are
    metric: str
    direction: str  # minimize | maximize
    trials: int
    sampler: str
    pruner: str
    storage: str  # "journal" (a file under .git/gitml/sweeps/<id>/) or a URL, no password
    command: list[str] = field(default_factory=list)  # with {param} fields; or else:
    entry_point: str | None = None
    folder: str = "."  # where the command runs, relative to the repository root
    env_manager: str | None = None
    seed: int | None = None
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    status: str = "running"
    best: dict | None = None  # {"trial", "run", "value"} once the sweep has ended
    format: int = FORMAT
    sha: str | None = None  # the record commit it was read from (not stored)
    damage: str | None = None  # why the record could not be read (not stored)

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("damage")
        data.pop("sha")
        return data

    @classmethod
    def from_json(cls, data: object, sweep_id: str) -> SweepRecord:
        """The record `data` claims, every field checked; RecordError if one is wrong."""
        if not isinstance(data, dict):
            raise RecordError(f"sweep {sweep_id}: the record is not a JSON object")
        if data.get("format") != FORMAT:
            raise RecordError(f"sweep {sweep_id}: record format {data.get('format')!r} unknown")
        if data.get("id") != sweep_id:
            raise RecordError(f"sweep {sweep_id}: the record names another sweep")
        texts = ("id", "name", "experiment", "snapshot", "metric", "sampler", "pruner")
        for key in (*texts, "storage", "folder"):
            _expect(data, key, str, sweep_id)
        for key in ("base", "entry_point", "env_manager"):
            _expect(data, key, (str, type(None)), sweep_id)
        _expect(data, "trials", int, sweep_id)
        _expect(data, "created_ms", int, sweep_id)
        _expect(data, "seed", (int, type(None)), sweep_id)
        _expect(data, "best", (dict, type(None)), sweep_id)
        if data.get("direction") not in DIRECTIONS or data.get("status") not in STATUSES:
            raise RecordError(f"sweep {sweep_id}: direction or status is not one gitml knows")
        params, command = data.get("params"), data.get("command")
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise RecordError(f"sweep {sweep_id}: params must map names to text")
        if not isinstance(command, list) or not all(isinstance(w, str) for w in command):
            raise RecordError(f"sweep {sweep_id}: the command must be a list of words")
        _check_places(data, sweep_id)
        known = {name for name in cls.__dataclass_fields__ if name not in ("sha", "damage")}
        return cls(**{key: value for key, value in data.items() if key in known})

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"


def _check_places(data: dict, sweep_id: str) -> None:
    """The commits and the folder a fetched record names reach git and the file system:
    shas only (never an option), a folder inside the work tree."""
    from gitml.store.paths import tree_path_problem

    for key in ("snapshot", "base"):
        if data[key] is not None and not _SHA.fullmatch(data[key]):
            raise RecordError(f"sweep {sweep_id}: {key} is not a commit id")
    folder = data["folder"]
    problem = None if folder == "." else tree_path_problem(folder)
    if problem:
        raise RecordError(f"sweep {sweep_id}: its folder {problem}")


def _expect(data: dict, key: str, kinds, sweep_id: str) -> None:
    if not isinstance(data.get(key), kinds) or isinstance(data.get(key), bool):
        raise RecordError(f"sweep {sweep_id}: field {key!r} is missing or of the wrong type")


def write_record(repo: Repository, record: SweepRecord, previous: str | None = None) -> str:
    """Write `record` as a record commit on top of `previous` (the ref's current commit,
    None for a new sweep) and move the sweep's ref to it, compare-and-swap. Returns the
    new commit."""
    from gitml.store.objects import ObjectStore
    from gitml.store.refs import create_ref, sweep_ref, update_ref
    from gitml.tracking.identity import user_identity

    text = json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n"
    parents = [record.snapshot.encode()] + ([previous.encode()] if previous else [])
    with ObjectStore(repo) as store:
        tree = store.write_tree_of_files({RECORD_FILE: text.encode()})
        commit = store.write_commit(
            tree=tree,
            parents=parents,
            message=f"sweep {record.name}: {record.status}\n",
            author=user_identity(repo),
        ).decode()
    ref = sweep_ref(record.id)
    if previous is None:
        create_ref(repo, ref, commit, message=f"gitml: sweep {record.name}")
    else:
        update_ref(repo, ref, commit, previous, message=f"gitml: sweep {record.name}")
    record.sha = commit
    return commit


def list_sweeps(repo: Repository) -> list[SweepRecord]:
    """Every sweep of the repository, newest first; a record that does not read is
    listed with its damage."""
    from gitml.store.blobs import ObjectReader
    from gitml.store.gitcmd import git_output
    from gitml.store.refs import SWEEPS_PREFIX, parse_sweep_ref

    listing = git_output(
        ["for-each-ref", "--sort=-refname", "--format=%(refname)%00%(objectname)", SWEEPS_PREFIX],
        repo.cwd,
    )
    found = []
    with ObjectReader(repo) as objects:
        for line in filter(None, listing.splitlines()):
            ref, _, sha = line.partition("\0")
            sweep_id = parse_sweep_ref(ref)
            if sweep_id is not None:
                found.append(_read(objects, sweep_id, sha))
    return found


def _read(objects, sweep_id: str, sha: str) -> SweepRecord:
    from gitml.documents import load_json

    try:
        commit = objects.read(sha, MAX_RECORD, "commit")
        if commit is None or commit.data is None:
            raise RecordError("the ref names no commit")
        headers = commit.data.split(b"\n\n", 1)[0].split(b"\n")
        tree_sha = headers[0].removeprefix(b"tree ").decode(errors="replace")
        tree = objects.read(tree_sha, MAX_RECORD, "tree")
        if tree is None or tree.data is None:
            raise RecordError("its tree is missing")
        blob_id = _tree_entry(tree.data, RECORD_FILE.encode())
        blob = objects.read(blob_id, MAX_RECORD, "blob") if blob_id else None
        if blob is None or blob.data is None:
            raise RecordError(f"no {RECORD_FILE} under {MAX_RECORD:,} bytes")
        record = SweepRecord.from_json(load_json(blob.data, f"sweep {sweep_id}"), sweep_id)
    except (GitmlError, ValueError) as error:
        return _damaged(sweep_id, sha, str(error))
    record.sha = sha
    return record


def _tree_entry(data: bytes, wanted: bytes) -> str | None:
    """The object id of entry `wanted` of a tree's raw content (`MODE NAME\\0` then 20
    bytes of id per entry), or None."""
    index = 0
    while index < len(data):
        space, nul = data.find(b" ", index), data.find(b"\0", index)
        if space < 0 or nul < space or nul + 21 > len(data):
            raise RecordError("its tree is damaged")
        if data[space + 1 : nul] == wanted:
            return data[nul + 1 : nul + 21].hex()
        index = nul + 21
    return None


def _damaged(sweep_id: str, sha: str, why: str) -> SweepRecord:
    return SweepRecord(
        id=sweep_id,
        name=sweep_id,
        experiment="",
        snapshot="",
        base=None,
        params={},
        metric="",
        direction="minimize",
        trials=0,
        sampler="",
        pruner="",
        storage="",
        sha=sha,
        damage=why,
    )


def resolve_sweep(repo: Repository, text: str) -> SweepRecord:
    """The sweep `text` names: its id, a unique id prefix, or its name."""
    sweeps = list_sweeps(repo)
    exact = [s for s in sweeps if text in (s.id, s.name)]
    matches = exact or [s for s in sweeps if len(text) >= 4 and s.id.startswith(text)]
    if not matches:
        raise InvalidValueError(f"no sweep named {text!r} (`gitml sweep ls` lists them)")
    if len(matches) > 1:
        raise InvalidValueError(
            f"{text!r} names {len(matches)} sweeps; give more of the id "
            f"({', '.join(s.id for s in matches[:5])})"
        )
    if matches[0].damage:
        raise RecordError(f"sweep {text} is damaged: {matches[0].damage}")
    return matches[0]
