"""`gitml sweep`: plan a sweep, snapshot the code once, record the sweep, then run its
trials (`--jobs` at a time) as Optuna asks for them; `resume` goes on with a sweep
whose driver stopped or died.

Everything a sweep needs is checked before anything is written: the space's grammar,
the metric and its direction, the sampler, the storage, and one dry plan of a trial
(its entry point, typed params and command), so that bad input leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.errors import GitmlError, InvalidValueError, SweepError
from gitml.projects.launch import LaunchRequest
from gitml.store.refs import pack_refs
from gitml.store.repository import Repository
from gitml.sweeps import study as studies
from gitml.sweeps.launchers import LAUNCHERS, SlurmOptions
from gitml.sweeps.pushing import RunPusher
from gitml.sweeps.record import SweepRecord, list_sweeps, resolve_sweep, write_record
from gitml.sweeps.space import (
    Choice,
    IntRange,
    Space,
    Uniform,
    check_command_fields,
    fill_command,
    parse_assignment,
    parse_space,
    value_text,
)
from gitml.sweeps.trial import (
    PRUNED_TAG,
    SWEEP_TAG,
    TrialOutcome,
    TrialTree,
    auto_gc_off,
    run_trial,
)

DEFAULT_TRIALS = 10
# Automatic gc is off while trials run, and with it the packing of refs: each trial's
# run ref would stay a loose file, and every run start reads them all (the run index's
# sync), a cost that would grow with the trials. The sweep packs them itself.
PACK_REFS_EVERY = 100  # trials recorded

# Runs a trial the driver took elsewhere (a Ray task) and tells the study how it ended:
# its outcome, or None when the stop cancelled it.
TrialRunner = Callable[[SweepRecord, Any, dict[str, str], threading.Event], TrialOutcome | None]
DIRECTION_OF_GOAL = {"min": "minimize", "max": "maximize"}


@dataclass
class SweepRequest:
    """A sweep to start: its space (`-P` texts), what each trial runs (a command with
    `{param}` fields, or an entry point), the objective and how to search."""

    params: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    entry_point: str | None = None
    metric: str | None = None
    direction: str | None = None  # minimize | maximize; default: the project's goal
    trials: int | None = None
    jobs: int = 1
    sampler: str | None = None
    pruner: str = "median"
    seed: int | None = None
    storage: str | None = None  # a database URL; None: a journal file under .git/gitml
    name: str | None = None
    experiment: str | None = None
    env_manager: str | None = None
    directory: Path | None = None
    remote: str | None = None  # where the record goes at the start, the runs as they end
    launcher: str = "local"  # local (threads here) | slurm (a job array) | ray (Ray tasks)
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    ray_address: str | None = None  # default: RAY_ADDRESS


def _ignore(_outcome: TrialOutcome) -> None:
    pass


def _say_nothing(_text: str) -> None:
    pass


@dataclass(frozen=True)
class SweepEvents:
    """What a sweep tells its caller as it goes."""

    trial_ended: Callable[[TrialOutcome], None] = _ignore
    note: Callable[[str], None] = _say_nothing


@dataclass
class SweepResult:
    record: SweepRecord
    outcomes: list[TrialOutcome]
    stopped: bool = False  # interrupted: `gitml sweep resume` goes on


def start_sweep(
    repo: Repository, request: SweepRequest, events: SweepEvents = SweepEvents()
) -> SweepResult:
    """Check the request, snapshot the work tree, record the sweep, run its trials."""
    record, space = plan_sweep(repo, request)
    url = request.storage or studies.JOURNAL
    studies.open_storage(repo, record.id, url)  # a storage that cannot be opened: before writing
    runner = _launcher(repo, request, url)  # a missing extra, an unreachable cluster: too
    _snapshot(repo, record, events)
    write_record(repo, record)
    events.note(f"sweep {record.label} started: {record.trials} trials, {request.jobs} at a time")
    with _driving(repo, record):
        study = studies.open_study(repo, record, url, create=True)
        pusher = _share(repo, record, request.remote, events)
        if request.launcher == "slurm":
            return _drive_slurm_array(repo, record, study, url, request, events, pusher)
        return _drive(repo, record, space, study, request.jobs, events, pusher, runner=runner)


def _launcher(repo: Repository, request: SweepRequest, url: str) -> TrialRunner | None:
    """What runs each trial the driver takes: None for this machine's threads."""
    from gitml.sweeps import launchers

    if request.launcher not in LAUNCHERS:
        raise InvalidValueError(f"--launcher {request.launcher!r}: use {', '.join(LAUNCHERS)}")
    if request.launcher == "slurm":
        launchers.check_slurm(request.slurm)
    if request.launcher == "ray":
        launchers.connect_ray(request.ray_address)
        return launchers.RayTrials(repo, url)
    return None


def _drive_slurm_array(
    repo: Repository,
    record: SweepRecord,
    study: Any,
    url: str,
    request: SweepRequest,
    events: SweepEvents,
    pusher: RunPusher | None,
) -> SweepResult:
    """`--jobs` workers as the tasks of one Slurm job array, then the record's end."""
    from gitml.sweeps import launchers
    from gitml.sweeps.query import sweep_trials

    stopped = False
    try:
        lost = launchers.run_slurm_array(
            repo, record, url, request.jobs, request.slurm, events.note
        )
    except KeyboardInterrupt:
        stopped, lost = True, 0
    if lost:
        events.note(
            f"{lost} array tasks ended early; `gitml sweep resume {record.name}` settles them"
        )
    rows = [row for row in sweep_trials(repo, record) if row.state != "running"]
    if pusher is not None:
        pusher.finish([row.run.id for row in rows])
    stopped = stopped or bool(lost) or studies.taken(study) < record.trials
    if not stopped:
        stopped = any(t.state.name == "RUNNING" for t in study.get_trials(deepcopy=False))
    _finish(repo, record, study, stopped)
    if pusher is not None:
        from gitml.sharing.transfer import push_sweep_record

        push_sweep_record(repo, pusher.remote, record.id)
    return SweepResult(record, [], stopped)


def work_on(
    repo: Repository, record: SweepRecord, study: Any, jobs: int, events: SweepEvents
) -> SweepResult:
    """Take trials of `record`'s study on `jobs` threads until N are taken, in a process
    that is not the sweep's driver (a Slurm array task): the record's end is not its."""
    space = parse_space(record.params, f"sweep {record.name}")
    return _drive(repo, record, space, study, jobs, events, record_end=False)


def resume_sweep(
    repo: Repository,
    text: str,
    jobs: int = 1,
    storage: str | None = None,
    events: SweepEvents = SweepEvents(),
) -> SweepResult:
    """Go on with sweep `text` where it stopped: trials its dead driver left running
    are settled from their runs (recorded ones count, lost ones are queued again)."""
    record = resolve_sweep(repo, text)
    _check_jobs(jobs)
    space = parse_space(record.params, f"sweep {record.name}")
    url = storage or record.storage
    with _driving(repo, record):
        study = studies.open_study(repo, record, url, create=False)
        _clean_after_dead_driver(repo, record, study, events)
        return _drive(repo, record, space, study, jobs, events)


def join_sweep(
    repo: Repository,
    text: str,
    remote: str | None = None,
    jobs: int = 1,
    storage: str | None = None,
    events: SweepEvents = SweepEvents(),
) -> SweepResult:
    """Work on sweep `text` of `remote` from this clone: fetch its record (and the code
    its trials run), take trials from its shared study until N are taken, and push each
    trial's run back, in batches. The sweep's record is its driver's to end."""
    from gitml.sharing.transfer import fetch_sweep_records

    _check_jobs(jobs)
    remote = fetch_sweep_records(repo, remote)
    record = resolve_sweep(repo, text)
    url = storage or record.storage
    if url == studies.JOURNAL:
        raise SweepError(
            f"sweep {record.label} keeps its study in a journal file on the machine that "
            "drives it; workers elsewhere need a shared storage (gitml sweep --storage "
            "postgresql://…)"
        )
    space = parse_space(record.params, f"sweep {record.name}")
    with _driving(repo, record):
        study = studies.open_study(repo, record, url, create=False)
        _clean_after_dead_driver(repo, record, study, events)
        pusher = RunPusher(repo, remote)
        return _drive(repo, record, space, study, jobs, events, pusher, record_end=False)


def _share(
    repo: Repository, record: SweepRecord, remote: str | None, events: SweepEvents
) -> RunPusher | None:
    """With a remote: send the record now (workers fetch it), the runs as trials end."""
    if remote is None:
        return None
    from gitml.sharing.transfer import push_sweep_record

    remote = push_sweep_record(repo, remote, record.id)
    events.note(f"sweep {record.name} sent to {remote}: `gitml sweep worker {record.id}` joins")
    return RunPusher(repo, remote)


def plan_sweep(repo: Repository, request: SweepRequest) -> tuple[SweepRecord, Space]:
    """The record of the sweep `request` asks for, every part checked; nothing written."""
    from gitml.project_file import find_project
    from gitml.store.ids import new_run_id
    from gitml.store.repository import read_head
    from gitml.tracking.record import branch_experiment, check_experiment
    from gitml.tracking.run import working_folder

    directory = (request.directory or Path.cwd()).absolute()
    _check_jobs(request.jobs)
    if request.command and request.entry_point:
        raise InvalidValueError("give an entry point (-e) or a command after `--`, not both")
    project = find_project(directory, repo.work_tree)
    spec = None
    if not request.command and project is not None:
        spec = project.sweeps.get(request.entry_point or "main")
    given = dict(parse_assignment(text) for text in request.params)
    space = (
        parse_space(spec.params, f"{project.path.name} sweeps.{spec.entry_point}")
        if (spec and project)
        else Space({}, {})
    )
    cli_space = parse_space(given)
    space = Space(
        {**{k: v for k, v in space.dimensions.items() if k not in given}, **cli_space.dimensions},
        {**{k: v for k, v in space.fixed.items() if k not in given}, **cli_space.fixed},
    )
    if not space.dimensions:
        raise InvalidValueError(
            "nothing to search: give at least one -P NAME=FORM with a form such as "
            "loguniform(1e-4, 1e-1), uniform(0, 0.5), choice(3, 5, 7) or range(0, 5)"
            + ("" if request.command else ", or a `sweeps:` section in gitml.yaml")
        )
    metric = request.metric or (spec.metric if spec else None)
    if not metric:
        raise InvalidValueError("say which metric the sweep optimizes: --metric KEY")
    direction = request.direction or _project_direction(project, spec, metric)
    sampler = request.sampler or (spec.sampler if spec else None) or "tpe"
    if sampler not in studies.SAMPLERS:
        raise InvalidValueError(f"sampler {sampler!r}: use one of {', '.join(studies.SAMPLERS)}")
    if request.pruner not in studies.PRUNERS:
        raise InvalidValueError(f"pruner {request.pruner!r}: use {', '.join(studies.PRUNERS)}")
    trials = request.trials or (spec.trials if spec else None)
    if sampler == "grid":
        size = len(space.grid())
        trials = min(trials or size, size)
    trials = trials or DEFAULT_TRIALS
    if trials < 1:
        raise InvalidValueError(f"--trials {trials}: a sweep runs at least one trial")
    if request.command:
        check_command_fields(request.command, set(space.dimensions) | set(space.fixed))
    if request.experiment is not None:
        check_experiment(request.experiment)
    _dry_plan(repo, request, space, directory)
    branch, base = read_head(repo)
    folder = working_folder(repo, directory)
    if folder is None:
        raise InvalidValueError(f"{directory} is outside the repository {repo.work_tree}")
    record = SweepRecord(
        id=new_run_id(),
        name=_sweep_name(repo, request.name),
        experiment=request.experiment or branch_experiment(branch),
        snapshot="",
        base=base,
        params=space.forms(),
        metric=metric,
        direction=direction,
        trials=trials,
        sampler=sampler,
        pruner=request.pruner,
        storage=studies.redacted(request.storage or studies.JOURNAL),
        command=list(request.command),
        entry_point=None if request.command else (request.entry_point or "main"),
        folder=folder,
        env_manager=request.env_manager,
        seed=request.seed,
    )
    return record, space


def _check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise InvalidValueError(f"--jobs {jobs}: run at least one trial at a time")


def _project_direction(project, spec, metric: str) -> str:
    goal = (spec.goal if spec else None) or (project.metric_goals.get(metric) if project else None)
    if goal is None:
        raise InvalidValueError(
            f"say whether to --minimize or --maximize {metric} (or give its goal in "
            f"gitml.yaml: metrics: {{{metric}: min}})"
        )
    return DIRECTION_OF_GOAL[goal]


def _sweep_name(repo: Repository, wanted: str | None) -> str:
    from gitml.tracking.ids import is_valid_run_name, new_run_name

    taken = {sweep.name for sweep in list_sweeps(repo)}
    if wanted is None:
        return new_run_name(taken)
    if not is_valid_run_name(wanted):
        raise InvalidValueError(
            f"sweep name {wanted!r} is not valid: use letters, digits, '.', '_' and '-'"
        )
    if wanted in taken:
        raise InvalidValueError(f"a sweep is named {wanted!r} already; choose another --name")
    return wanted


def _dry_plan(repo: Repository, request: SweepRequest, space: Space, directory: Path) -> None:
    """Plan one trial (its first values) as the launch would: an unknown entry point, a
    value of the wrong type, a command that cannot start are refused now."""
    from gitml.projects.launch import plan_launch
    from gitml.tracking.runner import check_command

    sample = {**space.fixed, **{name: _first(dim) for name, dim in space.dimensions.items()}}
    launch_request = LaunchRequest(
        command=fill_command(request.command, sample) if request.command else [],
        params=sample,
        entry_point=None if request.command else request.entry_point,
        env_manager=request.env_manager,
        directory=directory,
    )
    planned = plan_launch(repo, launch_request)
    check_command(planned.command, planned.activation.search_path, planned.cwd)


def _first(dim) -> str:
    if isinstance(dim, Uniform):
        return value_text(dim.low)
    if isinstance(dim, IntRange):
        return str(dim.start)
    assert isinstance(dim, Choice)
    return dim.values[0]


def _snapshot(repo: Repository, record: SweepRecord, events: SweepEvents) -> None:
    """The one code snapshot every trial runs: the work tree now, as a commit."""
    from gitml.store.layout import TMP_DIR
    from gitml.store.objects import ObjectStore
    from gitml.store.snapshot import snapshot_work_tree
    from gitml.tracking.identity import user_identity
    from gitml.tracking.run import run_limits, secret_rule

    scratch = repo.state_dir / TMP_DIR / f"index-{record.id}"
    limit = run_limits(repo).snapshot_file
    snapshot = snapshot_work_tree(repo, scratch, limit, secret_rule(repo))
    for path in snapshot.skipped_large:
        events.note(f"warning: {path} is over the size limit and was left out of the snapshot")
    for path in snapshot.skipped_secret:
        events.note(f"warning: {path} looks like a secret and was left out of the snapshot")
    with ObjectStore(repo) as store:
        record.snapshot = store.write_commit(
            tree=snapshot.tree.encode(),
            parents=[record.base.encode()] if record.base else [],
            message=f"sweep {record.name}: the code every trial runs\n",
            author=user_identity(repo),
        ).decode()


@contextlib.contextmanager
def _driving(repo: Repository, record: SweepRecord) -> Iterator[None]:
    """This process drives the sweep: a second driver on this machine is refused while
    it lives (a dead one's claim is taken over); automatic gc is off meanwhile."""
    from gitml.tracking.environment import process_alive, process_start_token

    folder = studies.sweep_dir(repo, record.id)
    folder.mkdir(parents=True, exist_ok=True)
    claim = folder / "driver.json"
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
        other = json.loads(claim.read_text())
        if other["pid"] != os.getpid() and process_alive(other["pid"], other.get("start")):
            raise SweepError(
                f"sweep {record.label} is running (process {other['pid']}); "
                "wait for it, or stop it first"
            )
    claim.write_text(json.dumps({"pid": os.getpid(), "start": process_start_token(os.getpid())}))
    try:
        with auto_gc_off():
            yield
    finally:
        claim.unlink(missing_ok=True)


def _clean_after_dead_driver(
    repo: Repository, record: SweepRecord, study: Any, events: SweepEvents
) -> None:
    """What a driver killed mid-sweep left: trial commands still running (stopped, and
    their runs recovered as killed), temporary worktrees, and trials the study still
    thinks are running (settled from their runs, or queued again)."""
    from gitml.tracking.catalog import list_runs
    from gitml.tracking.recovery import recover_abandoned_runs

    _stop_orphans(repo, record)
    recover_abandoned_runs(repo)
    _remove_leftover_worktrees(repo, record)
    runs = {run.id: run for run in list_runs(repo, include_running=False)}
    optuna = studies.import_optuna()
    state = optuna.trial.TrialState
    for trial in studies.dead_trials(study):
        run = runs.get(str(trial.user_attrs.get(studies.RUN)))
        value = run.metrics.get(record.metric) if run else None
        if run is not None and run.status == "finished" and value is not None:
            studies.settle(study, trial, state.COMPLETE, value)
        elif run is not None and PRUNED_TAG in run.tags:
            studies.settle(study, trial, state.PRUNED)
        elif run is not None and run.status == "failed":
            studies.settle(study, trial, state.FAIL)
        elif studies.abandon(study, trial):
            events.note(f"trial {trial.number} was cut short; its params are queued again")


def _stop_orphans(repo: Repository, record: SweepRecord) -> None:
    """Kill trial commands whose driver died: their runs cannot be committed as they end."""
    import signal

    from gitml.tracking.environment import process_alive
    from gitml.tracking.recovery import staged_runs

    for staging in staged_runs(repo):
        meta = staging.meta
        if process_alive(meta["owner_pid"], meta.get("owner_start")):
            continue
        if staging.read().tags.get(SWEEP_TAG) != record.id:
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            child = json.loads((staging.path / "child.json").read_text())
            if process_alive(child["pid"], child.get("start")):
                os.kill(child["pid"], signal.SIGKILL)
                _wait_gone(child["pid"], child.get("start"))


def _wait_gone(pid: int, start: str | None, timeout_s: float = 30.0) -> None:
    """Wait until a killed process is gone (a zombie counts as gone): SIGKILL takes a
    moment to land, and a run counts as abandoned only once its command no longer runs."""
    import time

    from gitml.tracking.environment import process_alive

    deadline = time.monotonic() + timeout_s
    while process_alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.02)


def _remove_leftover_worktrees(repo: Repository, record: SweepRecord) -> None:
    """Remove the sweep's trial worktrees whose process died (those of a live worker on
    this machine go on being used)."""
    import shutil

    from gitml.store.gitcmd import git_output
    from gitml.sweeps.trial import OWNER_FILE, remove_worktree, worktree_prefix
    from gitml.tracking.environment import process_alive

    listing = git_output(["worktree", "list", "--porcelain", "-z"], repo.cwd)
    for entry in listing.split("\0"):
        if not entry.startswith("worktree "):
            continue
        path = Path(entry[len("worktree ") :])
        if not path.parent.name.startswith(worktree_prefix(record.id)):
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            owner = json.loads((path.parent / OWNER_FILE).read_text())
            if process_alive(owner["pid"], owner.get("start")):
                continue
        remove_worktree(repo, path)
        shutil.rmtree(path.parent, ignore_errors=True)


def _drive(
    repo: Repository,
    record: SweepRecord,
    space: Space,
    study: Any,
    jobs: int,
    events: SweepEvents,
    pusher: RunPusher | None = None,
    record_end: bool = True,
    runner: TrialRunner | None = None,
) -> SweepResult:
    """Run trials on `jobs` threads until the study has taken `record.trials`; Ctrl-C
    stops the running trials (queued again for a resume) and the sweep. `pusher` sends
    each trial's run to a remote; `record_end` writes the sweep's end in its record."""
    stop = threading.Event()
    outcomes: list[TrialOutcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    ended = [threading.Event() for _ in range(jobs)]

    def work(done: threading.Event) -> None:
        tree = TrialTree(repo, record) if runner is None else None  # this thread's trials'
        try:
            while not stop.is_set():
                trial = studies.claim_trial(study, space, record.trials)
                if trial is None:
                    return
                outcome = _one_trial(repo, record, space, study, trial, stop, events, runner, tree)
                if outcome is None:
                    continue
                with lock:
                    outcomes.append(outcome)
                    pack = len(outcomes) % PACK_REFS_EVERY == 0
                events.trial_ended(outcome)
                if pusher is not None:
                    pusher.add(outcome.run.id)
                if pack:
                    pack_refs(repo)
        except BaseException as error:  # ends the sweep; raised again by the main thread
            errors.append(error)
            stop.set()
        finally:
            if tree is not None:
                tree.remove()
            done.set()

    for done in ended:
        threading.Thread(target=work, args=(done,), daemon=True).start()
    # Waited for through events: a Ctrl-C that interrupts Thread.join() can leave the
    # thread looking ended while it still runs (CPython's join is not safe to interrupt).
    stopped = False
    try:
        _wait_all(ended)
    except KeyboardInterrupt:
        stopped = True
        stop.set()
        _wait_all(ended)
    if pusher is not None:  # every run of the sweep here: recovered ones (killed) too
        from gitml.sweeps.query import sweep_trials

        pusher.finish([row.run.id for row in sweep_trials(repo, record) if row.state != "running"])
    if errors:
        raise errors[0]
    stopped = stopped or studies.taken(study) < record.trials
    if record_end:
        _finish(repo, record, study, stopped)
        if pusher is not None:  # its end, a fast-forward of the record sent at the start
            from gitml.sharing.transfer import push_sweep_record

            push_sweep_record(repo, pusher.remote, record.id)
    return SweepResult(record, outcomes, stopped)


def _wait_all(ended: list[threading.Event]) -> None:
    for done in ended:
        while not done.wait(0.2):
            pass


def _one_trial(
    repo: Repository,
    record: SweepRecord,
    space: Space,
    study: Any,
    trial: Any,
    stop: threading.Event,
    events: SweepEvents,
    runner: TrialRunner | None = None,
    tree: TrialTree | None = None,
) -> TrialOutcome | None:
    """Run a trial the study gave and tell the study how it ended; None when it has no
    outcome: cancelled by the stop (queued again), or failed before its run could be
    recorded (the study is told it failed, the reason is noted, the sweep goes on)."""
    params = studies.trial_values(space, trial)
    if runner is not None:  # it runs the trial and tells the study elsewhere
        try:
            ran = runner(record, trial, params, stop)
        except GitmlError:
            studies.abandon(study, trial, queue_again=False)  # a lost Ray task was queued again
            raise
        if ran is None:  # cancelled by the stop: a resume runs it again
            studies.abandon(study, trial)
        return ran
    try:
        outcome = run_trial(
            repo,
            record,
            trial.number,
            params,
            watch=optuna_watch(trial, record),
            stop=stop,
            started=lambda run_id: trial.set_user_attr(studies.RUN, run_id),
            tree=tree,
        )
    except (GitmlError, OSError) as error:  # this trial's, not the sweep's
        studies.settle(study, trial, studies.import_optuna().trial.TrialState.FAIL)
        events.note(f"trial {trial.number} failed: {_first_line(error)}")
        return None
    tell(study, trial, outcome, stop)
    return outcome


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def tell(study: Any, trial: Any, outcome: TrialOutcome, stop: threading.Event | None) -> None:
    """Tell the study how the trial ended; one cut short by `stop` is queued again."""
    state = studies.import_optuna().trial.TrialState
    cut_short = outcome.state == "failed" and outcome.run.status == "killed"
    if stop is not None and stop.is_set() and cut_short:
        studies.abandon(study, trial)  # a resume runs it again
        return
    if outcome.state == "complete":
        study.tell(trial, outcome.value)
    elif outcome.state == "pruned":
        study.tell(trial, state=state.PRUNED)
    else:
        study.tell(trial, state=state.FAIL)


def optuna_watch(trial: Any, record: SweepRecord) -> Callable[[int, float], str | None]:
    """Report each new point of the metric to the trial; the pruner's verdict back."""
    seen: set[int] = set()

    def watch(step: int, value: float) -> str | None:
        if step in seen or not math.isfinite(value):
            return None
        seen.add(step)
        trial.report(value, step)
        if trial.should_prune():
            return (
                f"pruned by the {record.pruner} pruner at step {step} ({record.metric} {value!r})"
            )
        return None

    return watch


def _finish(repo: Repository, record: SweepRecord, study: Any, stopped: bool) -> None:
    """The record's end: status and best trial, on top of the record it replaces."""
    from gitml.sweeps.query import sweep_trials

    rows = sweep_trials(repo, record)
    best = rows[0] if rows and rows[0].value is not None and rows[0].state == "complete" else None
    status = "stopped" if stopped else "finished"
    best_json = {"trial": best.number, "run": best.run.id, "value": best.value} if best else None
    if (record.status, record.best) == (status, best_json):
        return  # a resume that found nothing left to do: the record says it already
    record.status, record.best = status, best_json
    previous = record.sha
    try:
        write_record(repo, record, previous)
    except GitmlError:  # another driver (a resume elsewhere) wrote it meanwhile
        fresh = resolve_sweep(repo, record.id)
        fresh.status, fresh.best = record.status, record.best
        write_record(repo, fresh, fresh.sha)
