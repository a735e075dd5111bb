"""The fluent logging API, with MLflow's names.

Inside `gitml run` every call attaches to that run (the wrapper commits it, with the
status the script gave `end_run` if it exits 0).
Elsewhere the first call starts a run in the current repository and the run
is committed when it ends: at `end_run`, at the end of a `with` block, or at
interpreter exit (`failed` after an uncaught exception).

Logging only appends to files in the run's staging folder; no git library is
imported until a run owned by this process is committed.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitml.entities import Experiment, Run, RunInfo
from gitml.errors import GitmlError, InvalidValueError, PermissionDeniedError, RunStateError
from gitml.store.ids import is_run_id
from gitml.store.layout import ARTIFACTS_DIR, META_FILE
from gitml.tracking.record import check_experiment, validate_pairs
from gitml.tracking.staging import Staging

if TYPE_CHECKING:
    import pandas as pd

    from gitml.models.save import ModelInfo
    from gitml.tracking.record import RunSummary

_runs: list[ActiveRun] = []  # active runs, innermost (the one logged to) last
_experiment: str | None = None  # set_experiment's choice for runs started later
_last_run: tuple | None = None  # (run id, repository) of the run this process logged to last
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

    @property
    def info(self) -> RunInfo:
        """MLflow's `run.info` (`run.info.run_id`, …), for scripts written for MLflow:
        the experiment's id derived from its name, the run's `gitml:` artifact location."""
        from gitml.mlflow_plugin.uri import run_artifact_uri
        from gitml.tracking.record import experiment_id

        return RunInfo(
            run_id=self.id,
            run_name=self.name,
            experiment_id=experiment_id(self.experiment),
            status="RUNNING",
            start_time=self.staging.meta["start_ms"],
            artifact_uri=run_artifact_uri(_run_repository(self).cwd, self.id),
        )

    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Store a file in this run as `artifact_path/<file name>` (any file but git's own)."""
        from gitml.tracking.artifacts import check_source

        source = Path(local_path)
        if not source.is_file():
            from gitml.errors import ArtifactError

            raise ArtifactError(f"artifact {str(local_path)!r} is not a file")
        check_source(source, str(local_path), _git_dirs(self), None)
        self.staging.add_artifact_file(source, _join(artifact_path, source.name))

    def has_artifact(self, path: str) -> bool:
        """Whether this run holds an artifact (a file or a folder) at `path` already."""
        from gitml.tracking.staging import check_artifact_name

        return (self.staging.path / ARTIFACTS_DIR / check_artifact_name(path)).exists()

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name} ({self.id})>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self not in _runs:
            return  # ended inside the block already
        status = _status_of(exc_type, exc)
        while _runs[-1] is not self:  # nested runs left open inside the block end with it
            end_run(status)
        end_run(status)


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
    run_id: str | None = None,
    experiment_id: str | None = None,
    nested: bool = False,
    name: str | None = None,
    params: dict | None = None,
    tags: dict | None = None,
    experiment: str | None = None,
    note: str = "",
    description: str = "",
    repo: str | os.PathLike | None = None,
) -> ActiveRun:
    """Start (or, under `gitml run`, attach to) the run this process logs to.

    MLflow's arguments work too: `run_id` names the run to attach to (only the one
    in progress: an ended run is immutable), `experiment_id` is the experiment's id
    (or its name), `description` is the run's note, and `nested=True` starts a child run while
    another is active (tagged `mlflow.parentRunId`; each run is committed when it ends).
    """
    if note and description and note != description:
        raise InvalidValueError("give the run's note as note= or description=, not both")
    if run_name is not None and run_id is None and is_run_id(run_name):
        run_name, run_id = None, run_name  # MLflow's first argument is a run id
    params, tags = _checked("param", params), _checked("tag", tags)  # before any run starts
    if run_id is not None:
        return _attach(run_id, repo)
    parent = _runs[-1] if _runs else None
    if parent is not None and not nested:
        raise RunStateError(
            f"run {parent.name} is already active in this process; call gitml.end_run() "
            "first, or start_run(nested=True) for a child run"
        )
    attached = os.environ.get("GITML_RUN_DIR")
    if parent is None and attached and Path(attached, META_FILE).exists():
        run = ActiveRun(Staging(Path(attached)), owned=False)
    else:
        chosen = experiment or _experiment_of(experiment_id, repo) or _experiment
        run = _start_owned_run(run_name or name, chosen, note or description, repo)
    _runs.append(run)
    _note_last(run)
    if parent is not None:
        run.staging.set_tag("mlflow.parentRunId", parent.id)
    if params:
        log_params(params)
    if tags:
        set_tags(tags)
    return run


def _note_last(run: ActiveRun) -> None:
    global _last_run
    _last_run = (run.id, _run_repository(run))


def _experiment_of(experiment_id: str | None, repo) -> str | None:
    """The name of the experiment MLflow's `experiment_id` names: an id ("0" is
    "Default"), or, as gitml has always taken it, a name."""
    return None if experiment_id is None else _experiment_name(str(experiment_id), repo)


def _experiment_name(text: str, repo) -> str:
    from gitml.mlflow_plugin.experiments import DEFAULT_ID, DEFAULT_NAME

    if text == DEFAULT_ID:
        return DEFAULT_NAME
    from gitml.client import list_experiments

    for found in list_experiments(_repository(repo)):
        if found.experiment_id == text:
            return found.name
    if text.isdigit():
        raise InvalidValueError(f"no experiment has the id {text!r}")
    return text


def _run_names(text: str, names_of, repo) -> tuple[str, ...]:
    """The names the runs of experiment `text` are filed under: every name of the
    experiment of that id (a renamed one's runs keep theirs), else `_experiment_name`'s
    (one this process set and no run has yet; a name, as gitml has always taken it)."""
    return names_of(text) or (_experiment_name(text, repo),)


def start_child_run() -> ActiveRun:
    """A nested run of the active run that records its parent's snapshot as its code
    instead of taking one: for runs that describe part of what the parent did (the
    candidates of a search autologging records once the search is over)."""
    if not _runs:
        raise RunStateError("a child run needs an active run")
    parent = _runs[-1]
    tree = parent.staging.meta.get("snapshot_tree")
    run = _start_owned_run(None, parent.experiment, "", _run_repository(parent).cwd, tree)
    _runs.append(run)
    run.staging.set_tag("mlflow.parentRunId", parent.id)
    return run


def _checked(kind: str, pairs: dict | None) -> dict | None:
    return validate_pairs(kind, pairs) if pairs else pairs


def _attach(run_id: str, repo: str | os.PathLike | None) -> ActiveRun:
    """The run in progress with this id: the innermost active one, or the `gitml run`
    wrapping this process."""
    if _runs and _runs[-1].id == run_id:
        return _runs[-1]
    if any(run.id == run_id for run in _runs):
        raise RunStateError(
            f"run {run_id} is active but a nested run is inside it; end that one first"
        )
    attached = os.environ.get("GITML_RUN_DIR")
    if attached and Path(attached).name == run_id and Path(attached, META_FILE).exists():
        if _runs:
            raise RunStateError(f"run {_runs[-1].name} is active; call gitml.end_run() first")
        run = ActiveRun(Staging(Path(attached)), owned=False)
        _runs.append(run)
        _note_last(run)
        return run
    raise _cannot_attach(run_id, repo)


def _cannot_attach(run_id: str, repo: str | os.PathLike | None) -> GitmlError:
    """Why run `run_id` cannot be logged to from here: unknown, ended, or another
    process's run in progress."""
    from gitml.tracking.readers import open_run

    with open_run(_repository(repo), run_id) as reader:  # RunNotFoundError if unknown
        try:
            reader.require_ended("log to it")
        except RunStateError:
            return RunStateError(
                f"run {run_id} is in progress in another process: only the run this process "
                "started, or the one `gitml run` wraps, can be logged to"
            )
    return RunStateError(
        f"cannot resume run {run_id}: it has ended, and an ended run is a commit, never "
        "changed; start a new run"
    )


def _check_can_commit() -> None:
    """A run a script starts is committed by the script's own process, which needs gitml's
    requirements; a Python that `gitml run` lends only the logging API (an older one, or
    an environment without gitml installed) has them not."""
    import importlib.util

    old = sys.version_info < (3, 11)
    if old or importlib.util.find_spec("dulwich") is None:
        version = ".".join(map(str, sys.version_info[:3]))
        lacks = "it is older than 3.11" if old else "it lacks dulwich"
        raise RunStateError(
            f"this script cannot start a run of its own with Python {version} at "
            f"{sys.executable} ({lacks}): log into the run `gitml run` started, or install "
            "gitml in this environment"
        )


def _start_owned_run(
    wanted: str | None, experiment: str | None, note: str, repo, snapshot_tree: str | None = None
) -> ActiveRun:
    _check_can_commit()
    from gitml.tracking.ids import as_run_name
    from gitml.tracking.run import RunOptions
    from gitml.tracking.run import start_run as start_domain_run

    name = as_run_name(wanted)
    repository = _repository(repo)
    if experiment is None:
        from gitml.client import uri_experiment

        experiment = uri_experiment()  # gitml:…?experiment=NAME
    options = RunOptions(
        name=name,
        experiment=experiment,
        note=note,
        command=list(sys.orig_argv),  # the interpreter's own argv: `python -c CODE` whole
        number_if_taken=True,  # a script run twice with one run_name makes two runs
        snapshot_tree=snapshot_tree,
    )
    try:
        started = start_domain_run(repository, options)
    except OSError as error:  # most often, .git/gitml belongs to another user
        if not PermissionDeniedError.applies_to(error):
            raise
        raise PermissionDeniedError.from_os_error(error, repository.state_dir) from None
    run = ActiveRun(started.staging, owned=True, repo=repository)
    if wanted is not None and run.name != wanted:
        from gitml.terminal import warn

        warn(f"gitml: run name {wanted!r} is stored as {run.name!r}")
    _install_exit_hooks()
    return run


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """The experiment of runs this process starts from now on (MLflow's call), by name
    or by id; returns it (`.name`, `.experiment_id`). Under `gitml run`, the wrapped run
    keeps its own (`gitml run --experiment`)."""
    global _experiment
    from gitml.client import note_experiment, tracking_folder
    from gitml.entities import experiment

    if experiment_name is not None and not isinstance(experiment_name, str):
        raise InvalidValueError("set_experiment needs an experiment name")
    chosen = experiment_name or _experiment_of(experiment_id, None)
    if not chosen:
        raise InvalidValueError("set_experiment needs an experiment name or id")
    _experiment = check_experiment(chosen)
    note_experiment(chosen)
    return experiment(chosen, tracking_folder())


def end_run(status: str = "finished") -> RunSummary | None:
    """End the innermost active run; commit it when this process started it. Returns
    its summary."""
    from gitml.tracking.record import ENDED, parse_status

    status = parse_status(status)
    if status not in ENDED:
        raise RunStateError(f"end_run takes {', '.join(ENDED[:-1])} or {ENDED[-1]}, not {status}")
    if not _runs:
        return None
    run = _runs.pop()
    if not run.owned:  # `gitml run` commits it, and records this status if the script exits 0
        run.staging.close()
        run.staging.declare_status(status)
        return None
    from gitml.tracking.autofold import fold_after_api_run
    from gitml.tracking.run import finish_run

    requests = run.staging.registration_requests()  # log_model(registered_model_name=)
    summary = finish_run(run._repo, run.staging, status, None)
    fold_after_api_run(run._repo)
    if requests:
        import warnings

        from gitml.models.registration import register_requested

        for problem in register_requested(run._repo, summary, requests)[1]:
            warnings.warn(problem, UserWarning, stacklevel=2)
    return summary


def active_run() -> ActiveRun | None:
    return _runs[-1] if _runs else None


def _run() -> ActiveRun:
    return _runs[-1] if _runs else start_run()


def log_param(key: str, value: object) -> object:
    """Log param `key`; returns `value`. A param keeps the first value logged (the same
    again is fine): another is an InvalidValueError, as in MLflow."""
    from gitml.client import log_params_once

    log_params_once(_run().staging, {key: value})
    return value


def log_params(params: dict) -> None:
    """Log several params at once; if one would change a logged value, none is logged."""
    from gitml.client import log_params_once

    log_params_once(_run().staging, params)


def log_metric(
    key: str, value: object, step: int | None = None, timestamp: int | None = None
) -> None:
    """Append one point of metric `key`; `step` defaults to one more than its last step."""
    (_runs[-1] if _runs else _run()).staging.log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict, step: int | None = None, timestamp: int | None = None) -> None:
    staging = _run().staging
    for key, value in metrics.items():
        staging.log_metric(key, value, step, timestamp)


def set_tag(key: str, value: object) -> None:
    _run().staging.set_tag(key, value)


def set_tags(tags: dict) -> None:
    staging = _run().staging
    for key, value in tags.items():
        staging.set_tag(key, value)


def log_artifact(local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
    """Store a file in the run as `artifact_path/<file name>` (any file but git's own)."""
    _run().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike, artifact_path: str | None = None) -> None:
    """Store every file under a folder in the run, keeping relative paths.

    `.git` entries are left out; a symbolic link that leads out of both the folder and
    the repository is stored as a link (see `gitml.tracking.artifacts`). Files named
    like secrets are left out with a `SecretLeftOutWarning`; a file over the size limit
    refuses the whole folder (`ArtifactError`, nothing stored)."""
    from gitml.errors import ArtifactError
    from gitml.tracking.artifacts import check_source, store_folder

    if not os.fspath(local_dir).strip():
        raise ArtifactError("artifact folder '' names nothing; give a folder ('.' for this one)")
    folder = Path(local_dir)
    if not folder.is_dir():
        raise ArtifactError(f"artifact folder {str(local_dir)!r} is not a folder")
    run = _run()
    resolved = check_source(folder, str(local_dir), _git_dirs(run), None)
    root = _run_repository(run).work_tree.resolve()
    left_out = store_folder(run.staging, resolved, artifact_path, [root, resolved], str(local_dir))
    if left_out:
        import warnings

        from gitml.errors import SecretLeftOutWarning

        for name in left_out:
            warnings.warn(
                f"{name} looks like a secret and was left out of artifact {str(local_dir)!r}; "
                f"{run.staging.secrets.how_to_allow(name)}",
                SecretLeftOutWarning,
                stacklevel=2,
            )


def log_text(text: str, artifact_file: str) -> None:
    _run().staging.add_artifact_bytes(artifact_file, _utf8(text, artifact_file))


def _utf8(text: str, artifact_file: str) -> bytes:
    """`text` as UTF-8; text holding undecodable bytes (lone surrogates) is refused."""
    from gitml.values import check_utf8

    return check_utf8(f"the text logged as {artifact_file!r}", text).encode()


def log_dict(dictionary: dict, artifact_file: str) -> None:
    """Store a dict as JSON, or as YAML when `artifact_file` ends in .yaml/.yml."""
    from gitml.documents import MAX_DEPTH, nesting_exceeds

    if nesting_exceeds(dictionary):
        raise InvalidValueError(
            f"log_dict({artifact_file!r}): the dict is nested more than {MAX_DEPTH} levels deep "
            "(or holds itself); gitml stores at most that"
        )
    if artifact_file.endswith((".yaml", ".yml")):
        import yaml

        text = yaml.safe_dump(dictionary, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(dictionary, indent=2, ensure_ascii=False)
    _run().staging.add_artifact_bytes(artifact_file, _utf8(text, artifact_file))


def log_model(
    model: Any,
    name: str = "model",
    signature: dict | bool | None = None,
    input_example: Any = None,
    requirements: list[str] | None = None,
    artifacts: dict[str, str] | None = None,
    predict_fn: str = "predict",
    *,
    artifact_path: str | None = None,
    pip_requirements: list[str] | None = None,
    run: ActiveRun | None = None,
    registered_model_name: str | None = None,
    code_paths: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    serialization_format: str | None = None,
    metadata: dict | None = None,
) -> ModelInfo:
    """Save `model` under the artifacts of `run` (default: the active run) as `<name>/`;
    returns its `runs:/` URI. See `gitml.save_model` for the other arguments.

    MLflow's spellings are accepted too: `artifact_path` (for `name`), `pip_requirements`
    (for `requirements`) and `extra_pip_requirements` (added to them), `code_paths`
    (modules saved with the model), `serialization_format` (scikit-learn: `pickle` or
    `cloudpickle`), `metadata`. With `registered_model_name`, the model becomes that
    registered model's next version once the run is committed (docs/models.md)."""
    from gitml.models import save

    requirements = requirements if requirements is not None else pip_requirements
    requirements = [*(requirements or []), *(extra_pip_requirements or [])] or None
    options = save.SaveOptions(signature, input_example, requirements, artifacts or {}, predict_fn)
    options.code_paths = list(code_paths or [])
    options.serialization_format = serialization_format or options.serialization_format
    options.metadata = metadata
    target = run or _run()
    return save.log_model(target, model, artifact_path or name, options, registered_model_name)


def get_params() -> dict[str, str]:
    """The params of the active run (or of the `gitml run` this process runs under)."""
    if _runs:
        return _runs[-1].staging.read_params()
    if "GITML_PARAMS" in os.environ:
        return json.loads(os.environ["GITML_PARAMS"])
    return {}


def get_run(run: str, repo: str | os.PathLike | None = None) -> Run:
    """The full record of a run, by id, id prefix or name; for a run in progress, what
    it has recorded so far, with the same fields. It has MLflow's `.info` and `.data`
    (`run.data.metrics["loss"]`), and reads as the dict `gitml show --json` prints
    (`run["metrics"]["loss"]["last"]`); `dict(run)` makes it one."""
    from gitml.tracking.readers import read_record

    repository = _repository(repo)
    return Run(read_record(repository, run), repository.cwd)


def search_runs(
    experiment: str | None = None,
    status: str | None = None,
    max_results: int | None = None,
    repo: str | os.PathLike | None = None,
    filter: str | None = None,
    order_by: list[str] | None = None,
    filter_string: str | None = None,
    experiment_names: list[str] | None = None,
    output_format: str | None = None,
    experiment_ids: list[str] | None = None,
) -> list[dict] | pd.DataFrame:
    """Runs newest first unless `order_by`: MLflow's DataFrame (`output_format="pandas"`,
    the default when pandas can be imported), or summaries (`gitml ls --json` objects,
    `output_format="list"`, the default without pandas).

    `filter` (or MLflow's `filter_string`) and `order_by` use `gitml ls`'s
    grammar: "metrics.acc > 0.9 and (params.model = 'rf' or not tags.x = 'y')",
    ["metrics.loss", "-start_time"]. `experiment_names` keeps runs of any of those
    experiments, `experiment_ids` those of MLflow's ids. The DataFrame has MLflow's
    columns (`run_id`, `experiment_id`, `status`, `start_time`, `params.x`, `metrics.y`,
    `tags.z`; `gitml.compare.frames`).
    """
    from gitml.compare.query import find_runs
    from gitml.compare.sorting import RunQuery
    from gitml.tracking.record import parse_status

    if output_format is None:  # MLflow's DataFrame when pandas is there
        try:
            import pandas  # noqa: F401
        except ImportError:
            output_format = "list"
        else:
            output_format = "pandas"
    if output_format not in ("list", "pandas"):
        raise InvalidValueError(f"output_format must be 'list' or 'pandas', not {output_format!r}")
    if status is not None:
        status = parse_status(status)
    from gitml.client import mlflow_filter
    from gitml.mlflow_plugin.experiments import id_names

    found_repo = _repository(repo)
    text = mlflow_filter(found_repo, filter or filter_string)
    names = None if experiment_names is None else list(experiment_names)
    if experiment_ids is not None:
        names_of = id_names(found_repo)
        names = list(names or [])
        for i in experiment_ids:
            names += _run_names(str(i), names_of, repo)
    query = RunQuery(text, list(order_by or []), experiment, status, max_results, names)
    found = [run.to_json() for run in find_runs(found_repo, query)]
    if output_format == "pandas":
        from gitml.compare.frames import runs_frame

        return runs_frame(found)
    return found


def log_figure(figure: Any, artifact_file: str) -> None:
    """Store a matplotlib figure (anything with `savefig`) as an image; the format
    follows `artifact_file`'s suffix (.png, .svg, .pdf, …)."""
    import io

    if not hasattr(figure, "savefig"):
        raise InvalidValueError(
            f"log_figure takes a matplotlib figure, not a {type(figure).__name__}"
        )
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format=Path(artifact_file).suffix.lstrip(".").lower() or "png")
    except ValueError as error:
        raise InvalidValueError(f"cannot save the figure as {artifact_file!r}: {error}") from None
    _run().staging.add_artifact_bytes(artifact_file, buffer.getvalue())


def _repository(path: str | os.PathLike | None):
    """The repository at `path` (default: the working directory), found once per process:
    a script that starts hundreds of runs should not ask git where it is each time."""
    from gitml.store.repository import open_repository

    if path is None:
        from gitml.client import tracking_folder

        path = tracking_folder()  # set_tracking_uri's, else the current folder's
    key = os.path.abspath(path)
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
    while _runs:  # innermost first, as `with` blocks would end them
        if _runs[-1].owned:
            end_run(_exit_status or "finished")
        else:
            _runs.pop()
