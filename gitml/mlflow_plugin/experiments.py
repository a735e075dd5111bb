"""MLflow's experiments on gitml's: an experiment is a name runs are filed under, and
its MLflow id is derived from the name, so every clone gives it the same id.

MLflow's own default experiment, "Default", has the id "0" that MLflow clients ask
for when a script chooses none; any other name's id is derived from the name
(`gitml.tracking.record.experiment_id`, which gitml's own API uses too). An
experiment exists when a run is filed under it, or once it has a record.

The record, `refs/gitml/experiments/<id>`, is what MLflow says of an experiment
beyond its runs: a commit whose tree holds one file, `experiment.json` (format,
id, every name it has had, the last one current, `active` or `deleted`, tags,
creation time). MLflow's create_experiment (and set_experiment of a new name),
experiment tags, delete, restore and rename each write one: a change is a child
commit of the last, so the ref only fast-forwards and travels with `gitml push`
and `gitml fetch` (one changed on both sides is left as it is, and said so).
The id is the first name's: a renamed experiment keeps it, its runs keep the
name they were filed under (their commits never change) and count as its runs,
and runs started in it since are filed under its new name. A record fetched
from elsewhere is hostile: one that does not parse, whose id is not its first
name's, or that says what no clone writes (the default experiment deleted, another
renamed "Default", a creation time out of range) is left out. Names MLflow
created here before records existed are read from `.git/gitml/mlflow-experiments.jsonl`.
No mlflow here.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gitml.errors import (
    ExperimentExistsError,
    ExperimentNotFoundError,
    InvalidValueError,
    RecordError,
    RunStateError,
)
from gitml.store.gitcmd import run_git
from gitml.store.layout import MLFLOW_EXPERIMENTS_FILE
from gitml.store.refs import EXPERIMENTS_PREFIX
from gitml.store.repository import Repository
from gitml.tracking.record import (
    MAX_MS,
    MLFLOW_DEFAULT_EXPERIMENT,
    RunSummary,
    check_experiment,
    validate_key,
    validate_value,
)
from gitml.tracking.record import experiment_id as experiment_id  # one derivation, shared

DEFAULT_NAME = MLFLOW_DEFAULT_EXPERIMENT
DEFAULT_ID = experiment_id(DEFAULT_NAME)
ACTIVE, DELETED = "active", "deleted"
FORMAT = 1
RECORD_FILE = "experiment.json"
MAX_RECORD_BYTES = 1 << 20
MAX_NAMES = 100  # names an experiment has had
MAX_TAGS = 1000
MAX_RECORDS = 10_000  # read at most


@dataclass(frozen=True)
class Experiment:
    name: str  # the current name
    created_ms: int  # its first run's start, or when its record was made if earlier
    updated_ms: int  # its last run's start
    names: tuple[str, ...] = ()  # every name it has had, oldest first (its id is the first's)
    lifecycle: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    sha: str | None = None  # its record's commit, when it has one

    @property
    def id(self) -> str:
        return experiment_id(self.names[0] if self.names else self.name)

    @property
    def all_names(self) -> tuple[str, ...]:
        return self.names or (self.name,)


def experiments(repo: Repository, runs: list[RunSummary]) -> list[Experiment]:
    """Every experiment: "Default", those with a record, those of `runs`; by name."""
    records = read_records(repo)
    owners = name_owners(records)
    times: dict[str, list[int]] = {}
    for record in records:
        times.setdefault(record.name, []).append(record.created_ms)
    found = [(DEFAULT_NAME, 0), *_created(repo).items()]
    found += [(run.experiment, run.start_ms) for run in runs]
    for name, ms in found:
        owner = owners.get(name)
        times.setdefault(owner.name if owner else name, []).append(ms)
    by_name = {record.name: record for record in records}
    listed = []
    for name, every in sorted(times.items()):
        kept = by_name.get(name)
        if kept is None:
            listed.append(Experiment(name, min(every), max(every)))
        else:
            listed.append(replace(kept, created_ms=min(every), updated_ms=max(every)))
    return listed


def name_owners(records: list[Experiment]) -> dict[str, Experiment]:
    """The experiment each name of a record belongs to: the one whose id is derived from
    it, else the record of the lowest id naming it (a name is one experiment's)."""
    owners: dict[str, Experiment] = {}
    for record in sorted(records, key=lambda record: record.id):
        for name in record.all_names:
            if name not in owners or record.id == experiment_id(name):
                owners[name] = record
    return owners


def run_names(experiment: Experiment, owners: dict[str, Experiment]) -> tuple[str, ...]:
    """The names the runs of `experiment` are filed under, oldest first: each name it
    has had that is its own (`name_owners`: a name two records hold from clones is one
    experiment's)."""
    return tuple(
        name for name in experiment.all_names if owners.get(name, experiment).id == experiment.id
    )


def id_names(repo: Repository) -> Callable[[str], tuple[str, ...]]:
    """What the runs of an experiment id are filed under (`run_names`; none for an id no
    experiment has), the experiments listed at the first id asked (a search whose
    filter names no id lists nothing)."""
    from gitml.tracking.catalog import list_runs

    @functools.cache
    def listing() -> tuple[list[Experiment], dict[str, Experiment]]:
        return experiments(repo, list_runs(repo)), name_owners(read_records(repo))

    def names_of(experiment_id: str) -> tuple[str, ...]:
        listed, owners = listing()
        found = next((e for e in listed if e.id == experiment_id), None)
        return () if found is None else run_names(found, owners)

    return names_of


def find(listed: list[Experiment], experiment_id: str) -> Experiment:
    """The experiment of id `experiment_id` among `listed` (`experiments`)."""
    for experiment in listed:
        if experiment.id == str(experiment_id):
            return experiment
    raise ExperimentNotFoundError(f"no experiment has the id {str(experiment_id)!r}")


def active(listed: list[Experiment], experiment_id: str) -> Experiment:
    """`find`, refusing a deleted experiment (no run starts, nothing changes in it)."""
    experiment = find(listed, experiment_id)
    if experiment.lifecycle != ACTIVE:
        raise RunStateError(
            f"experiment {experiment.name!r} ({experiment.id}) is deleted; restore it first "
            "(restore_experiment)"
        )
    return experiment


def check_free(listed: list[Experiment], name: str, renamed: Experiment | None = None) -> str:
    """`name` if no experiment of `listed` (deleted ones too) has or had it, other than
    `renamed`; ExperimentExistsError otherwise."""
    for experiment in listed:
        if name in experiment.all_names and experiment.id != getattr(renamed, "id", None):
            also = f" (as {experiment.name!r})" if experiment.name != name else ""
            raise ExperimentExistsError(f"experiment {name!r} already exists{also}")
    return name


def create_experiment(repo: Repository, name: str, tags: dict[str, str] | None = None) -> str:
    """Record experiment `name` (no run yet), with `tags`; its id."""
    now = int(time.time() * 1000)
    made = Experiment(check_experiment(name), now, now, (name,), ACTIVE, dict(tags or {}))
    _save(repo, made, f"experiment {made.id}: created\n")
    return made.id


def set_tag(repo: Repository, experiment: Experiment, key: str, value: str) -> None:
    tags = {**experiment.tags, key: value}
    _save(repo, replace(experiment, tags=tags), f"experiment {experiment.id}: tag {key} set\n")


def delete_tag(repo: Repository, experiment: Experiment, key: str) -> None:
    if key not in experiment.tags:
        raise ExperimentNotFoundError(f"No tag with name: {key!r} in experiment {experiment.id}")
    tags = {k: v for k, v in experiment.tags.items() if k != key}
    _save(repo, replace(experiment, tags=tags), f"experiment {experiment.id}: tag removed\n")


def delete(repo: Repository, experiment: Experiment) -> None:
    """Mark `experiment` deleted (its runs stay); never the default one."""
    if experiment.id == DEFAULT_ID:
        raise InvalidValueError("the default experiment (id 0) cannot be deleted")
    _save(repo, replace(experiment, lifecycle=DELETED), f"experiment {experiment.id}: deleted\n")


def restore(repo: Repository, experiment: Experiment) -> None:
    if experiment.lifecycle != DELETED:
        raise InvalidValueError(f"experiment {experiment.name!r} ({experiment.id}) is not deleted")
    _save(repo, replace(experiment, lifecycle=ACTIVE), f"experiment {experiment.id}: active\n")


def rename(repo: Repository, experiment: Experiment, new_name: str) -> None:
    """Experiment `experiment` is called `new_name` from now on (its id stays)."""
    names = (*experiment.all_names, check_experiment(new_name))
    if len(names) > MAX_NAMES:
        raise InvalidValueError(f"experiment {experiment.name!r} has had {MAX_NAMES} names")
    changed = replace(experiment, name=new_name, names=names)
    _save(repo, changed, f"experiment {experiment.id}: renamed\n")


def _save(repo: Repository, experiment: Experiment, message: str) -> None:
    """A new record commit of `experiment` on top of its last one; compare-and-swap, so
    a change made meanwhile by another writer is never lost (RecordError)."""
    from gitml.store.objects import ObjectStore
    from gitml.tracking.identity import user_identity

    tags = {validate_key("tag", k): validate_value("tag", k, v) for k, v in experiment.tags.items()}
    data = {
        "format": FORMAT,
        "id": experiment.id,
        "names": list(experiment.all_names),
        "lifecycle": experiment.lifecycle,
        "tags": tags,
        "created_ms": experiment.created_ms,
    }
    if len(tags) > MAX_TAGS:
        raise InvalidValueError(f"an experiment keeps at most {MAX_TAGS} tags")
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode()
    old = experiment.sha or ""
    with ObjectStore(repo) as store:
        tree = store.write_tree_of_files({RECORD_FILE: text})
        parents = [old.encode()] if old else []
        commit = store.write_commit(tree, parents, message, user_identity(repo)).decode()
    ref = EXPERIMENTS_PREFIX + experiment.id
    done = run_git(["update-ref", "-m", message.strip(), ref, commit, old], repo.cwd, check=False)
    if done.returncode != 0:
        raise RecordError(
            f"experiment {experiment.name!r} was changed by another writer meanwhile; "
            "read it again and retry"
        )


class RecordCache:
    """The records last read, kept while the refs they came from are unchanged: a search
    asks for them each time, and reading them costs a git process or two."""

    def __init__(self) -> None:
        self._stamp: tuple | None = None
        self._records: list[Experiment] = []

    def records(self, repo: Repository) -> list[Experiment]:
        stamp = _refs_stamp(repo)
        if stamp is None or stamp != self._stamp:
            self._records = read_records(repo)
            self._stamp = stamp
        return self._records


def _refs_stamp(repo: Repository) -> tuple | None:
    """What changes whenever an experiment ref does: packed-refs' stamp and each loose
    ref file's (git replaces a ref's file by renaming a new one over it: a new inode);
    None when refs are not files (reftable), so nothing is kept."""
    from gitml.store.refs import files_backend, packed_refs_stamp

    if not files_backend(repo):
        return None
    loose = []
    try:
        with os.scandir(repo.common_dir / EXPERIMENTS_PREFIX) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                loose.append((entry.name, info.st_ino, info.st_size, info.st_mtime_ns))
    except (FileNotFoundError, NotADirectoryError):
        pass
    return packed_refs_stamp(repo), tuple(sorted(loose))


def read_records(repo: Repository) -> list[Experiment]:
    """Every experiment record that can be read; one that cannot is left out."""
    from gitml.store.blobs import ObjectReader

    listing = run_git(
        ["for-each-ref", "--format=%(refname)%00%(objectname)", EXPERIMENTS_PREFIX], repo.cwd
    ).stdout.decode(errors="replace")
    found = []
    with ObjectReader(repo) as objects:
        for line in listing.splitlines()[:MAX_RECORDS]:
            ref, _, sha = line.partition("\x00")
            record = _read(objects, ref[len(EXPERIMENTS_PREFIX) :], sha)
            if record is not None:
                found.append(record)
    owners = name_owners(found)
    return [_named_as_its_own(record, owners) for record in found]


def _named_as_its_own(record: Experiment, owners: dict[str, Experiment]) -> Experiment:
    """`record` under the last of its names that is its own (`name_owners`): two clones
    may rename two experiments to one name before they meet (and a remote may say so),
    and MLflow lists one experiment per name. Its first name is always its own."""
    name = next(name for name in reversed(record.all_names) if owners[name] is record)
    return record if name == record.name else replace(record, name=name)


def _read(objects, ref_id: str, sha: str) -> Experiment | None:
    commit = objects.commit(sha, 4096)
    tree = objects.tree(commit.tree) if commit is not None else None
    entry = next((e for e in tree or [] if e.name == RECORD_FILE and e.is_file), None)
    blob = objects.read(entry.id, MAX_RECORD_BYTES, kind="blob") if entry else None
    if blob is None or blob.data is None:
        return None
    try:
        data = json.loads(blob.data)
        names = tuple(check_experiment(name) for name in data["names"])
        tags = {
            validate_key("tag", k): validate_value("tag", k, v) for k, v in data["tags"].items()
        }
        created = data["created_ms"]
        valid = (
            data["format"] == FORMAT
            and data["id"] == ref_id
            and 0 < len(names) <= MAX_NAMES
            and experiment_id(names[0]) == ref_id
            and data["lifecycle"] in (ACTIVE, DELETED)
            and len(tags) <= MAX_TAGS
            and type(created) is int
            and 0 <= created <= MAX_MS
            and (ref_id == DEFAULT_ID or DEFAULT_NAME not in names)  # none other is "Default"
            and not (ref_id == DEFAULT_ID and data["lifecycle"] == DELETED)  # nor it deleted
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, InvalidValueError):
        return None
    if not valid:
        return None
    return Experiment(names[-1], created, created, names, data["lifecycle"], tags, sha)


def _created(repo: Repository) -> dict[str, int]:
    """Names MLflow created here before experiments had records (local state)."""
    try:
        text = (repo.state_dir / MLFLOW_EXPERIMENTS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found: dict[str, int] = {}
    for line in text.splitlines():
        try:
            item = json.loads(line)
            name, created = item["name"], int(item["created_ms"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash
        if isinstance(name, str) and name not in found:
            found[name] = created
    return found
