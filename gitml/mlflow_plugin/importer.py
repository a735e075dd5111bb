"""`gitml import mlflow SOURCE`: MLflow's runs and registry, written as gitml's (docs/mlflow.md).

MLflow's own client reads the source (an `mlruns` folder, an `sqlite:///` database, a
tracking server), so mlflow is needed for importing only. Each run is written through
`tracking.run.record_imported_run` (the staging folder and commit every run has), with
MLflow's times; its MLflow id stays in tag `gitml.mlflow.run_id`, which is how a later
import knows it and adds nothing. Registered versions, stages and aliases follow
(`gitml.mlflow_plugin.registry_import`).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.errors import (
    GitmlError,
    InvalidValueError,
    MetricTooLargeError,
    MissingExtraError,
    MlflowImportError,
)
from gitml.mlflow_plugin import mlruns
from gitml.mlflow_plugin.mlruns import Point
from gitml.store.gitcmd import run_git
from gitml.store.repository import Repository, open_repository
from gitml.tracking.catalog import list_runs
from gitml.tracking.record import RunSummary
from gitml.tracking.run import ImportedRun, record_imported_run
from gitml.tracking.staging import MAX_ARTIFACT_DEPTH, Staging, check_artifact_name
from gitml.values import shown

IMPORT_TAG = "gitml.mlflow.run_id"  # the MLflow run an imported run was made from
GIT_COMMIT_TAG = "mlflow.source.git.commit"
NOTE_TAG = "mlflow.note.content"
_STATUSES = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_PAGE = 1000
_POINTS_PAGE = 25_000  # MLflow's own page of a metric's history

Progress = Callable[[str], None]


@dataclass
class ImportReport:
    """What an import wrote (or, with `dry_run`, would write) and what it left out."""

    dry_run: bool
    imported: list[dict] = field(default_factory=list)  # mlflow_run_id, id, name, experiment
    already: list[str] = field(default_factory=list)  # MLflow run ids imported before
    registry: list[str] = field(default_factory=list)  # registry events, as sentences
    skipped: list[str] = field(default_factory=list)  # each thing left out, with why

    def to_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "imported": self.imported,
            "already_imported": self.already,
            "registry": self.registry,
            "skipped": self.skipped,
        }


def import_mlflow(
    repo: Repository | str,
    source: str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Write every active run of every active experiment of MLflow store `source`, then
    its registered versions, stages and aliases, into `repo`; what is there already is
    left as it is."""
    repo = open_repository(repo)
    report = ImportReport(dry_run)
    tell = progress or (lambda line: None)
    with _opened_source(source) as mlflow_source:
        known = imported_runs(repo)
        for experiment in mlflow_source.experiments():
            _import_experiment(repo, mlflow_source, experiment, known, report, tell)
        from gitml.mlflow_plugin.registry_import import import_registry

        import_registry(repo, mlflow_source, imported_runs(repo), report, tell)
    return report


def imported_runs(repo: Repository) -> dict[str, RunSummary]:
    """The runs of `repo` made by an import, by the MLflow run id they came from."""
    return {run.tags[IMPORT_TAG]: run for run in list_runs(repo) if IMPORT_TAG in run.tags}


# the source


class MlflowSource:
    """An MLflow store read through MLflow's client; MLflow's errors become one
    MlflowImportError naming the source."""

    def __init__(self, client: Any, uri: str, shown_as: str, local_root: Path):
        self.client = client
        self.uri = uri
        self.shown_as = shown_as
        self.local_root = local_root  # local artifact folders are read inside it only

    @contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """MLflow's errors, and whatever else its readers raise on a damaged store (a
        ValueError for a metric line that is no number), as one MlflowImportError."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except GitmlError:
            raise
        except MlflowException as error:
            raise MlflowImportError(self._cannot(what, str(error.message))) from None
        except Exception as error:  # noqa: BLE001 - any failure of MLflow's reading
            said = f"{type(error).__name__}: {error}"
            raise MlflowImportError(self._cannot(what, said)) from None

    def _cannot(self, what: str, said: str) -> str:
        first = said.strip().splitlines()[0][:500] if said.strip() else ""
        return f"cannot read {what} from {self.shown_as}: {first}"

    def experiments(self) -> list:
        from mlflow.entities import ViewType

        return self.pages(
            "its experiments",
            lambda token: self.client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=_PAGE, page_token=token
            ),
        )

    def runs(self, experiment_id: str) -> list:
        from mlflow.entities import ViewType

        return self.pages(
            f"the runs of experiment {experiment_id}",
            lambda token: self.client.search_runs(
                [experiment_id],
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=_PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            ),
        )

    def logged_models(self, experiment_id: str) -> list:
        """MLflow 3's logged models (where `log_model` puts a model) of an experiment."""
        return self.pages(
            f"the logged models of experiment {experiment_id}",
            lambda token: self.client.search_logged_models(
                experiment_ids=[experiment_id], max_results=100, page_token=token
            ),
        )

    def metric_points(self, info: Any, key: str) -> Iterator[Point | str]:
        """The points of metric `key` of run `info`, a page at a time (a folder's a line
        at a time); a point that cannot be read gives the reason instead."""
        if self.uri.startswith("file:"):
            if not isinstance(info.experiment_id, str):
                yield f"its experiment id is {_kind(info.experiment_id)}, not text"
                return
            yield from mlruns.metric_points(self.local_root, info.experiment_id, info.run_id, key)
            return
        store = self.client._tracking_client.store  # MLflow's client would gather all pages
        token = None
        while True:
            with self.reading(f"the history of metric {key!r} of MLflow run {info.run_id}"):
                page = store.get_metric_history(
                    info.run_id, key, max_results=_POINTS_PAGE, page_token=token
                )
            for point in page:
                yield point.value, point.step, point.timestamp
            token = page.token
            if not token:
                return

    def pages(self, what: str, page: Callable[[str | None], Any]) -> list:
        items: list = []
        token = None
        with self.reading(what):
            while True:
                found = page(token)
                items.extend(found)
                token = found.token
                if not token:
                    return items

    def artifact_files(
        self, root_uri: str, skipped: list[str], label: str
    ) -> Iterator[tuple[str, int | None, Callable[[Path], Path]]]:
        """(path, size or None, fetch) of each file under artifact location `root_uri`;
        `fetch(scratch)` gives a local file holding it. A local folder is read only
        inside the source's folder, and never through a symbolic link."""
        problem = self.location_problem(root_uri)
        if problem is not None:
            skipped.append(f"{label}: {problem}")
            return
        local = _local_path(root_uri)
        if local is not None:
            yield from self._local_files(local, skipped, label)
            return
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        with self.reading(f"the artifacts of {label}"):
            repository = get_artifact_repository(root_uri, tracking_uri=self.uri)
            yield from _remote_files(repository, None, 0, skipped, label)

    def location_problem(self, uri: str) -> str | None:
        """Why the artifacts at `uri` are not read; None when they are. A folder of this
        machine is read only inside the source's folder, and not through a symbolic link.
        MLflow sends this machine's tracking credentials
        (MLFLOW_TRACKING_TOKEN, _USERNAME and _PASSWORD) to whatever http(s) host an
        artifact location names, and a store made by hand may name any: so http(s) and
        mlflow-artifacts locations are read from the tracking server being imported
        only, cloud object stores with their own credentials, and nothing else."""
        local = _local_path(uri)
        if local is not None:
            root = self.local_root.resolve()
            if local.is_symlink() or not local.resolve().is_relative_to(root):
                return (
                    f"artifacts at {shown(str(local), 200)} are outside {root}, the folder "
                    "of the source, or reached through a symbolic link; not read"
                )
            return None
        parsed = urllib.parse.urlparse(uri)
        scheme = parsed.scheme.lower()
        if scheme in _OBJECT_STORES:
            return None
        server = urllib.parse.urlparse(self.uri)
        if server.scheme in ("http", "https") and scheme in ("http", "https", "mlflow-artifacts"):
            if scheme == "mlflow-artifacts" and not parsed.netloc:
                return None  # the server's own, as MLflow resolves it
            if _address(parsed) == _address(server):
                return None
        return (
            f"artifacts at {shown(uri, 200)} are not read: only a tracking server imported "
            "from is asked for artifacts over HTTP (MLflow would send it this machine's "
            "tracking credentials), and only s3, gs, Azure, OSS or HDFS stores otherwise"
        )

    def top_artifact_names(self, run_id: str) -> set[str]:
        """The first parts of the paths of a run's own artifacts, where they are read."""
        uri = self.client.get_run(run_id).info.artifact_uri
        if not isinstance(uri, str) or self.location_problem(uri) is not None:
            return set()
        return {info.path.split("/", 1)[0] for info in self.client.list_artifacts(run_id)}

    def _local_files(
        self, folder: Path, skipped: list[str], label: str
    ) -> Iterator[tuple[str, int | None, Callable[[Path], Path]]]:
        if not folder.exists():
            return
        for current, folders, files in os.walk(folder):
            here = Path(current)
            if len(here.relative_to(folder).parts) >= MAX_ARTIFACT_DEPTH:
                skipped.append(
                    f"{label}: artifacts under {shown(here.relative_to(folder).as_posix())} "
                    f"are nested deeper than {MAX_ARTIFACT_DEPTH} levels; not read"
                )
                folders.clear()  # os.walk recurses: a tree 1,000 deep was a RecursionError
                continue
            for name in sorted(folders + files):
                path = here / name
                relative = path.relative_to(folder).as_posix()
                if path.is_symlink():
                    skipped.append(
                        f"{label}: artifact {relative!r} is a symbolic link; not followed"
                    )
                elif path.is_file():
                    yield relative, path.lstat().st_size, _already_local(path)
            folders.sort()


_OBJECT_STORES = ("s3", "gs", "wasbs", "wasb", "abfss", "oss", "hdfs", "viewfs")


def _address(url: urllib.parse.ParseResult) -> tuple[str | None, int | None]:
    default = 443 if url.scheme == "https" else 80
    try:
        return url.hostname, url.port or default
    except ValueError:  # a port that is no number
        return None, None


def _already_local(path: Path) -> Callable[[Path], Path]:
    def fetch(scratch: Path) -> Path:
        return path

    return fetch


def _remote_files(
    repository: Any, folder: str | None, depth: int, skipped: list[str], label: str
) -> Iterator[tuple[str, int | None, Callable[[Path], Path]]]:
    if depth > MAX_ARTIFACT_DEPTH:
        skipped.append(f"{label}: artifacts nested deeper than {MAX_ARTIFACT_DEPTH} levels")
        return
    for info in repository.list_artifacts(folder):
        if info.is_dir:
            yield from _remote_files(repository, info.path, depth + 1, skipped, label)
        else:

            def fetch(scratch: Path, path: str = info.path) -> Path:
                return Path(repository.download_artifacts(path, dst_path=str(scratch)))

            yield info.path, info.file_size, fetch


def _local_path(uri: str) -> Path | None:
    """The folder an artifact URI names on this machine, None for any other store."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


@contextmanager
def _opened_source(source: str) -> Iterator[MlflowSource]:
    """The MLflow store `source` names, opened read-only where MLflow would write: a
    database is read from a copy (MLflow upgrades an older schema as it opens one)."""
    with tempfile.TemporaryDirectory(prefix="gitml-import-") as scratch:
        uri, local_root = _tracking_uri(source, Path(scratch))
        with _quiet_reading(uri):
            try:
                from mlflow import MlflowClient
            except ImportError:
                raise MissingExtraError("gitml import mlflow", "mlflow", "mlflow") from None
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            yield MlflowSource(client, uri, source, local_root)


def _tracking_uri(source: str, scratch: Path) -> tuple[str, Path]:
    """The URI MLflow's client reads, and the folder local artifacts must lie in."""
    if source.startswith("sqlite:"):
        database = Path(urllib.parse.unquote(source.removeprefix("sqlite:").removeprefix("///")))
        if not source.startswith("sqlite:///") or not database.is_file():
            raise InvalidValueError(
                f"{source!r} names no database file: give sqlite:///PATH of an MLflow "
                "database (sqlite:////abs/path for an absolute one)"
            )
        copy = scratch / "mlflow.db"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as original:
            target = sqlite3.connect(copy)
            original.backup(target)
            target.close()
        return f"sqlite:///{copy}", database.resolve().parent
    if source.startswith(("http://", "https://")):
        _check_server(source)
        return source.rstrip("/"), Path.cwd()
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme not in ("", "file"):
        raise InvalidValueError(
            f"gitml imports from an mlruns folder, sqlite:///PATH or an http(s):// tracking "
            f"server, not {source!r}"
        )
    folder = _local_path(source) or Path(source)
    if not folder.is_dir():
        hint = f"; for a database give sqlite:///{source}" if folder.is_file() else ""
        raise InvalidValueError(f"{source!r} is no folder of MLflow runs (an mlruns folder){hint}")
    folder = folder.resolve()
    mlruns.check_mlruns(folder)
    return folder.as_uri(), folder


def _check_server(url: str) -> None:
    """One quick request, so that a wrong URL is one line (MLflow's client would retry for
    minutes)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=10) as answer:
            answer.read(64)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise MlflowImportError(f"no MLflow tracking server answers at {url}: {reason}") from None


@contextmanager
def _quiet_reading(uri: str) -> Iterator[None]:
    """MLflow set up to read `uri`, quietly (its warnings and INFO logs are not the
    user's business here), for the time of the import; all is restored after.

    MLflow 3 refuses its folder store unless MLFLOW_ALLOW_FILE_STORE is set, and its
    folder registry reads logged models through the process's tracking URI (without
    one, it would create mlflow.db in the current folder)."""
    import logging
    import warnings

    # no tqdm bar of MLflow's per downloaded artifact: the import says one line per run
    wanted = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    if uri.startswith("file:"):
        wanted["MLFLOW_ALLOW_FILE_STORE"] = "true"
    before = {name: os.environ.get(name) for name in wanted}
    logger = logging.getLogger("mlflow")
    level = logger.level
    os.environ.update(wanted)
    logger.setLevel(logging.WARNING)  # not its INFO lines about database tables
    try:
        with warnings.catch_warnings():  # MLflow's about its plugins and deprecations
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# runs


def _import_experiment(
    repo: Repository,
    source: MlflowSource,
    experiment: Any,
    known: dict[str, RunSummary],
    report: ImportReport,
    tell: Progress,
) -> None:
    if not isinstance(experiment.name, str):
        report.skipped.append(
            f"experiment {experiment.experiment_id!r}: its name is {_kind(experiment.name)}, "
            "not text: its runs are not imported"
        )
        return
    runs = []
    for run in source.runs(experiment.experiment_id):
        if isinstance(run.info.run_id, str):
            runs.append(run)
        else:
            report.skipped.append(
                f"a run of experiment {experiment.name!r}: its run id is "
                f"{_kind(run.info.run_id)}, not text: not imported"
            )
    fresh = [run for run in runs if run.info.run_id not in known]
    report.already.extend(run.info.run_id for run in runs if run.info.run_id in known)
    if not fresh:
        return
    models: dict[str, list] = {}
    for model in source.logged_models(experiment.experiment_id):
        models.setdefault(model.source_run_id, []).append(model)
    for position, run in enumerate(fresh, 1):
        label = f"MLflow run {run.info.run_id}"
        counted = f"[{position}/{len(fresh)}] {experiment.name}: {label}"
        if report.dry_run:
            tell(f"{counted} would be imported")
            report.imported.append(_entry(run, None, experiment.name))
            continue
        try:
            summary = _import_run(repo, source, experiment.name, run, models, report)
        except GitmlError as error:
            report.skipped.append(f"{label}: not imported: {error}")
            tell(f"{counted} not imported: {error}")
            continue
        known[run.info.run_id] = summary
        report.imported.append(_entry(run, summary, experiment.name))
        tell(f"{counted} imported as run {summary.name} ({summary.id})")


def _entry(run: Any, summary: RunSummary | None, experiment: str) -> dict:
    return {
        "mlflow_run_id": run.info.run_id,
        "id": summary.id if summary else None,
        "name": summary.name if summary else run.info.run_name,
        "experiment": experiment,
    }


def _import_run(
    repo: Repository,
    source: MlflowSource,
    experiment: str,
    run: Any,
    models: dict[str, list],
    report: ImportReport,
) -> RunSummary:
    info, tags = run.info, dict(run.data.tags)
    label = f"MLflow run {info.run_id}"
    status_text = _text_field(info.status, "status") or ""
    status = _STATUSES.get(status_text.upper())
    if status is None:
        report.skipped.append(f"{label}: MLflow shows it {status_text!r}: imported as killed")
        status = "killed"
    start_ms = _ms_field(info.start_time, "start time") or 0
    end_ms = _ms_field(info.end_time, "end time") or start_ms
    artifact_uri = _text_field(info.artifact_uri, "artifact location")
    base = _commit_here(repo, tags.get(GIT_COMMIT_TAG))
    if tags.get(GIT_COMMIT_TAG) and base is None:
        report.skipped.append(
            f"{label}: its commit {str(tags[GIT_COMMIT_TAG])[:40]!r} is not in this "
            "repository: imported without its code"
        )
    imported = ImportedRun(
        name=_text_field(info.run_name, "name"),
        experiment=experiment,
        start_ms=start_ms,
        end_ms=max(end_ms, start_ms),
        status=status,
        base=base,
        user=_text_field(info.user_id, "user") or tags.get("mlflow.user"),
        note=str(tags.get(NOTE_TAG) or ""),
    )

    def fill(staging: Staging) -> None:
        skipped = report.skipped
        _each(skipped, label, "param", run.data.params.items(), staging.log_param)
        tags[IMPORT_TAG] = info.run_id
        _each(skipped, label, "tag", tags.items(), staging.set_tag)
        for key in sorted(run.data.metrics):
            _log_history(source, staging, info, key, skipped, label)
        top = _copy_artifacts(source, staging, artifact_uri, "", skipped, label)
        for model in models.get(info.run_id, []):
            folder = model_folder(model, top)
            _copy_artifacts(source, staging, model.artifact_location, folder, skipped, label)

    return record_imported_run(repo, imported, fill)


def _text_field(value: object, what: str) -> str | None:
    """A field of an MLflow record that is text, or None when absent. A hand-made
    meta.yaml may hold a list or a mapping there (a YAML alias bomb among them, which
    MLflow reads as shared lists): it is refused, never turned into text."""
    if value is None or isinstance(value, str):
        return value
    raise InvalidValueError(f"its {what} is {_kind(value)}, not text")


def _ms_field(value: object, what: str) -> int | None:
    """A time of an MLflow record in milliseconds, or None when absent."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidValueError(f"its {what} is {_kind(value)}, not a whole number of milliseconds")


def _kind(value: object) -> str:
    return f"a {type(value).__name__}"


def _each(
    skipped: list[str],
    label: str,
    kind: str,
    pairs: Any,
    write: Callable[[str, str], None],
) -> None:
    for key, value in pairs:
        try:
            write(key, value)
        except InvalidValueError as error:
            skipped.append(f"{label}: {kind} left out: {error}")


def _log_history(
    source: MlflowSource, staging: Staging, info: Any, key: str, skipped: list[str], label: str
) -> None:
    """Log each point of metric `key` that gitml can record; the others are counted and
    the first one's reason is given. A history that would grow past
    gitml.metricHistoryLimit is cut there (its points are not read on)."""
    left_out, first = 0, ""
    for point in source.metric_points(info, key):
        try:
            if isinstance(point, str):
                raise InvalidValueError(f"metric {key!r}: {point}")
            value, step, ms = point
            staging.log_metric(key, value, step, ms)
        except MetricTooLargeError as error:
            skipped.append(f"{label}: the rest of metric {key!r} left out: {error}")
            break
        except InvalidValueError as error:
            left_out += 1
            first = first or str(error)
    if left_out:
        points = "point" if left_out == 1 else "points"
        skipped.append(f"{label}: {left_out:,} {points} of metric {key!r} left out: {first}")


def model_folder(model: Any, top_names: set[str]) -> str:
    """Where a logged model of the run goes among its artifacts: its name, or its name and
    id when the run has an artifact of that name already."""
    name = str(model.name)
    return f"{name}-{model.model_id}" if name in top_names else name


def _copy_artifacts(
    source: MlflowSource,
    staging: Staging,
    root_uri: str | None,
    under: str,
    skipped: list[str],
    label: str,
) -> set[str]:
    """Copy the files at `root_uri` into the run under folder `under`; the first parts
    of the paths found there (of files left out too)."""
    if not root_uri:
        return set()
    top: set[str] = set()
    limit = staging.size_limit
    with tempfile.TemporaryDirectory(prefix="gitml-artifact-") as scratch:
        for path, size, fetch in source.artifact_files(root_uri, skipped, label):
            name = f"{under}/{path}" if under else path
            top.add(path.split("/", 1)[0])
            try:
                name = check_artifact_name(name)
                if size is not None and limit is not None and size > limit:
                    skipped.append(
                        f"{label}: artifact {name!r} ({size:,} bytes) is over the size limit "
                        f"of {limit:,} bytes; not imported"
                    )
                    continue
                with source.reading(f"artifact {name!r} of {label}"):
                    local = fetch(Path(scratch))
                staging.add_artifact_file(local, name)
            except GitmlError as error:
                skipped.append(f"{label}: artifact left out: {error}")
            finally:
                _clear(Path(scratch))
    return top


def _clear(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _commit_here(repo: Repository, sha: object) -> str | None:
    """`sha` when it is a full commit id of a commit this repository holds, else None."""
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        return None
    found = run_git(
        ["rev-parse", "-q", "--verify", "--end-of-options", f"{sha}^{{commit}}"],
        repo.cwd,
        check=False,
    )
    return found.stdout.decode().strip() or None
