"""The fluent logging API, with MLflow's names.

Inside `gitml run` every call attaches to that run (the wrapper commits it, with the
status the script gave `end_run` if it exits 0).
Elsewhere the first call starts a run in the current repository and the run
is committed when it ends: at `end_run`, at the end of a `with` block, or at
interpreter exit (`failed` after an uncaught exception).

Logging only appends to files in the run's staging folder; no git library is
imported until a run owned by this process is committed.
"""

import atexit
import json
import os
import sys
from pathlib import Path

from gitml.errors import RunStateError
from gitml.tracking.staging import Staging

_active: "ActiveRun | None" = None
_exit_status: str | None = None
_hooks_installed = False
_repositories: dict = {}  # absolute path → Repository, see _repository


class ActiveRun:
    """The run this process logs to; a context manager that ends it."""

    def __init__(self, staging: Staging, owned: bool, repo=None):
        self.staging = staging
        self.owned = owned
        self._repo = repo

    @property
    def id(self) -> str:
        return self.staging.meta["id"]

    @property
    def name(self) -> str:
        return self.staging.meta["name"]

    @property
    def experiment(self) -> str:
        return self.staging.meta["experiment"]

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name} ({self.id})>"

    def __enter__(self) -> "ActiveRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if _active is not self:
            return
        end_run(_status_of(exc_type, exc))


def _status_of(exc_type, exc) -> str:
    """How a run ends when this exception (or none) ends its block: `sys.exit(0)` and
    `sys.exit()` are a normal end, Ctrl-C is `killed`, anything else `failed`."""
    if exc_type is None:
        return "finished"
    if issubclass(exc_type, SystemExit):
        return "finished" if exc.code in (0, None) else "failed"
    return "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"


def start_run(
    run_name: str | None = None,
    *,
    name: str | None = None,
    params: dict | None = None,
    tags: dict | None = None,
    experiment: str | None = None,
    description: str = "",
    repo: str | os.PathLike | None = None,
) -> ActiveRun:
    """Start (or, under `gitml run`, attach to) the run this process logs to."""
    global _active
    if _active is not None:
        raise RunStateError(
            f"run {_active.name} is already active in this process; call gitml.end_run() first"
        )
    attached = os.environ.get("GITML_RUN_DIR")
    if attached and Path(attached, "meta.json").exists():
        _active = ActiveRun(Staging(Path(attached)), owned=False)
    else:
        from gitml.tracking.run import RunOptions
        from gitml.tracking.run import start_run as start_domain_run

        repository = _repository(repo)
        options = RunOptions(
            name=run_name or name,
            experiment=experiment,
            note=description,
            command=list(sys.orig_argv),  # the interpreter's own argv: `python -c CODE` whole
        )
        started = start_domain_run(repository, options)
        _active = ActiveRun(started.staging, owned=True, repo=repository)
        _install_exit_hooks()
    if params:
        log_params(params)
    if tags:
        set_tags(tags)
    return _active


def end_run(status: str = "finished"):
    """End the active run; commit it when this process started it. Returns its summary."""
    global _active
    if not isinstance(status, str) or status.lower() not in ("finished", "failed", "killed"):
        raise RunStateError(f"status must be finished, failed or killed, not {status!r}")
    status = status.lower()
    run, _active = _active, None
    if run is None:
        return None
    if not run.owned:  # `gitml run` commits it, and records this status if the script exits 0
        run.staging.close()
        run.staging.declare_status(status)
        return None
    from gitml.tracking.run import finish_run

    return finish_run(run._repo, run.staging, status, None)


def active_run() -> ActiveRun | None:
    return _active


def _run() -> ActiveRun:
    return _active if _active is not None else start_run()


def log_param(key: str, value) -> None:
    _run().staging.log_param(key, value)


def log_params(params: dict) -> None:
    staging = _run().staging
    for key, value in params.items():
        staging.log_param(key, value)


def log_metric(key: str, value, step: int | None = None, timestamp: int | None = None) -> None:
    """Append one point of metric `key`; `step` defaults to one more than its last step."""
    (_active or _run()).staging.log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict, step: int | None = None, timestamp: int | None = None) -> None:
    staging = _run().staging
    for key, value in metrics.items():
        staging.log_metric(key, value, step, timestamp)


def set_tag(key: str, value) -> None:
    _run().staging.set_tag(key, value)


def set_tags(tags: dict) -> None:
    staging = _run().staging
    for key, value in tags.items():
        staging.set_tag(key, value)


def log_artifact(local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
    """Store a file in the run as `artifact_path/<file name>` (any file but git's own)."""
    from gitml.tracking.artifacts import check_source

    source = Path(local_path)
    if not source.is_file():
        from gitml.errors import ArtifactError

        raise ArtifactError(f"artifact {str(local_path)!r} is not a file")
    run = _run()
    check_source(source, str(local_path), _git_dirs(run), None)
    run.staging.add_artifact_file(source, _join(artifact_path, source.name))


def log_artifacts(local_dir: str | os.PathLike, artifact_path: str | None = None) -> None:
    """Store every file under a folder in the run, keeping relative paths.

    `.git` entries are left out; a symbolic link that leads out of both the folder and
    the repository is stored as a link (see `gitml.tracking.artifacts`)."""
    from gitml.tracking.artifacts import check_source, store_folder

    folder = Path(local_dir)
    if not folder.is_dir():
        from gitml.errors import ArtifactError

        raise ArtifactError(f"artifact folder {str(local_dir)!r} is not a folder")
    run = _run()
    resolved = check_source(folder, str(local_dir), _git_dirs(run), None)
    root = _run_repository(run).work_tree.resolve()
    store_folder(run.staging, resolved, artifact_path, [root, resolved])


def log_text(text: str, artifact_file: str) -> None:
    _run().staging.add_artifact_bytes(artifact_file, text.encode())


def log_dict(dictionary: dict, artifact_file: str) -> None:
    """Store a dict as JSON, or as YAML when `artifact_file` ends in .yaml/.yml."""
    if artifact_file.endswith((".yaml", ".yml")):
        import yaml

        text = yaml.safe_dump(dictionary, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(dictionary, indent=2, ensure_ascii=False)
    _run().staging.add_artifact_bytes(artifact_file, text.encode())


def get_params() -> dict[str, str]:
    """The params of the active run (or of the `gitml run` this process runs under)."""
    if _active is not None:
        return _active.staging.read().params
    if "GITML_PARAMS" in os.environ:
        return json.loads(os.environ["GITML_PARAMS"])
    return {}


def get_run(run: str, repo: str | os.PathLike | None = None) -> dict:
    """The full record of a run, by id, id prefix or name."""
    from gitml.tracking.catalog import load_record, resolve

    repository = _repository(repo)
    summary = resolve(repository, run)
    if summary.status == "running":
        return summary.to_json()
    return load_record(repository, summary)


def search_runs(
    experiment: str | None = None,
    status: str | None = None,
    max_results: int | None = None,
    repo: str | os.PathLike | None = None,
    filter: str | None = None,
    order_by: list[str] | None = None,
    filter_string: str | None = None,
) -> list[dict]:
    """Runs as summaries (`gitml ls --json` objects), newest first unless `order_by`.

    `filter` (or MLflow's `filter_string`) and `order_by` use `gitml ls`'s
    grammar: "metrics.acc > 0.9 and (params.model = 'rf' or not tags.x = 'y')",
    ["metrics.loss", "-start_time"].
    """
    from gitml.compare.sorting import RunQuery, select_runs
    from gitml.tracking.catalog import list_runs
    from gitml.tracking.record import parse_status

    if status is not None:
        status = parse_status(status)
    runs = list_runs(_repository(repo))
    query = RunQuery(filter or filter_string, list(order_by or []), experiment, status, max_results)
    return [run.to_json() for run in select_runs(runs, query)]


def _repository(path: str | os.PathLike | None):
    """The repository at `path` (default: the working directory), found once per process:
    a script that starts hundreds of runs should not ask git where it is each time."""
    from gitml.store.repository import open_repository

    key = os.path.abspath(path or os.getcwd())
    if key not in _repositories:
        _repositories[key] = open_repository(key)
    return _repositories[key]


def _run_repository(run: ActiveRun):
    """The repository of `run`: its own, or, under `gitml run`, the one gitml runs in."""
    return run._repo if run._repo is not None else _repository(os.environ.get("GITML_REPO"))


def _git_dirs(run: ActiveRun) -> list[Path]:
    repository = _run_repository(run)
    return [repository.git_dir.resolve(), repository.common_dir.resolve()]


def _join(folder: str | None, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if folder else name


def _install_exit_hooks() -> None:
    """Commit an unfinished run at exit; `failed` if an exception escaped."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous_hook = sys.excepthook

    def note_failure(exc_type, exc, tb):
        global _exit_status
        _exit_status = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        previous_hook(exc_type, exc, tb)

    sys.excepthook = note_failure
    atexit.register(_end_at_exit)


def _end_at_exit() -> None:
    if _active is not None and _active.owned:
        end_run(_exit_status or "finished")
