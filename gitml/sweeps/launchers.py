"""Where a sweep's trials run besides this machine's threads: a Slurm job array through
submitit (`--launcher slurm`), or a Ray cluster (`--launcher ray`).

Neither schedules on its own terms: the study stays the only judge of which trial comes
next and when N are taken. A Slurm array task is a worker (the driver's loop, one
trial at a time) working in the repository at its path (a shared filesystem); a Ray
task runs one trial the driver took from the study, with the trial runner, in the
repository at its path, and the driver tells the study how it ended.

ray and submitit are imported only here, and only when a launcher needs them.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from dataclasses import dataclass
from typing import Any

from gitml.errors import GitmlError, MissingExtraError, SweepError
from gitml.store.repository import Repository, open_repository
from gitml.sweeps import study as studies
from gitml.sweeps.record import SweepRecord, resolve_sweep
from gitml.sweeps.trial import TrialOutcome, auto_gc_off, run_trial

LAUNCHERS = ("local", "slurm", "ray")
SLURM_EXECUTORS = ("slurm", "local")  # submitit's: the cluster, or processes of this machine
POLL_S = 0.2


@dataclass(frozen=True)
class SlurmOptions:
    """How the job array is submitted: `executor` local runs its tasks as processes of
    this machine (submitit's local executor, to try a sweep before a cluster)."""

    executor: str = "slurm"
    partition: str | None = None
    time_min: int | None = None  # each task's time limit, in minutes
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None


# -- Slurm, through submitit ------------------------------------------------------------


def import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise MissingExtraError("--launcher slurm", "submitit", "slurm") from None
    return submitit


def check_slurm(options: SlurmOptions) -> Any:
    """submitit, once it is known that the array can be submitted from here."""
    submitit = import_submitit()
    if options.executor not in SLURM_EXECUTORS:
        raise SweepError(f"--slurm-executor {options.executor!r}: use slurm or local")
    if options.executor == "slurm" and shutil.which("sbatch") is None:
        raise SweepError(
            "no Slurm here (sbatch is not found): run gitml sweep where jobs are submitted, "
            "or --slurm-executor local to try the array on this machine"
        )
    return submitit


def run_slurm_array(
    repo: Repository,
    record: SweepRecord,
    url: str,
    tasks: int,
    options: SlurmOptions,
    note: Any,
) -> int:
    """Submit `tasks` workers of the sweep as one job array and wait for them; the
    number of tasks that did not end well (their trials are settled by a resume)."""
    submitit = check_slurm(options)
    folder = studies.sweep_dir(repo, record.id) / "slurm"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=options.executor)
    parameters: dict[str, Any] = {"name": f"gitml-sweep-{record.name}"}
    if options.time_min is not None:
        parameters["timeout_min"] = options.time_min
    if options.cpus_per_task is not None:
        parameters["cpus_per_task"] = options.cpus_per_task
    if options.gpus_per_node is not None:
        parameters["gpus_per_node"] = options.gpus_per_node
    if options.partition is not None:
        parameters["slurm_partition"] = options.partition
    parameters["slurm_array_parallelism"] = tasks
    executor.update_parameters(**parameters)
    # the URL without its password: the job's files are on disk; PGPASSWORD reaches it
    storage = studies.redacted(url)
    jobs = executor.map_array(
        work_trials, [str(repo.work_tree)] * tasks, [record.id] * tasks, [storage] * tasks
    )
    note(f"sweep {record.name}: {tasks} array tasks submitted (job {jobs[0].job_id})")
    lost = 0
    try:
        for job in jobs:
            try:
                job.result()
            except Exception as error:  # submitit's: the task failed, was killed, timed out
                lost += 1
                reason = str(error).strip().splitlines()[0] if str(error).strip() else "ended"
                note(f"array task {job.job_id} did not finish: {reason}"[:300])
    except KeyboardInterrupt:
        for job in jobs:
            with contextlib.suppress(Exception):
                job.cancel(check=False)
        raise
    return lost


def work_trials(repo_path: str, sweep_id: str, url: str, jobs: int = 1) -> int:
    """One worker of a sweep in the repository at `repo_path` (a Slurm array task): take
    trials from the study until N are taken, each run and recorded as the driver's
    are; the number of trials it ran."""
    from gitml.sweeps.driver import SweepEvents, work_on

    repo = open_repository(repo_path)
    record = resolve_sweep(repo, sweep_id)
    with auto_gc_off():
        study = studies.open_study(repo, record, url, create=False)
        return len(work_on(repo, record, study, jobs, SweepEvents()).outcomes)


# -- Ray ---------------------------------------------------------------------------------


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError("--launcher ray", "ray", "ray") from None
    return ray


def connect_ray(address: str | None) -> Any:
    """Join the Ray cluster at `address` (or RAY_ADDRESS); one line when nobody answers."""
    import os

    ray = import_ray()
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise SweepError(
            "--launcher ray needs the cluster's address: --ray-address HOST:PORT or "
            "RAY_ADDRESS (`ray start --head` prints it)"
        )
    if ray.is_initialized():
        return ray
    _check_reachable(address)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception as error:  # ConnectionError, or Ray's own for a dead GCS
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise SweepError(
            f"cannot reach the Ray cluster at {address}: {detail} (is `ray start --head` "
            "running there?)"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """A HOST:PORT nobody listens on is said at once (Ray would retry for a minute)."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://…, auto: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise SweepError(
            f"cannot reach the Ray cluster at {address}: {error.strerror or error} "
            "(is `ray start --head` running there?)"
        ) from None


class RayTrials:
    """Runs each trial the driver takes as a Ray task (no retries: a trial runs once)."""

    def __init__(self, repo: Repository, url: str):
        self.ray = import_ray()
        self.repo_path = str(repo.work_tree)
        self.storage = studies.redacted(url)
        self.remote = self.ray.remote(num_cpus=1, max_retries=0)(ray_trial)

    def __call__(
        self, record: SweepRecord, trial: Any, params: dict[str, str], stop: threading.Event
    ) -> TrialOutcome | None:
        """The trial's outcome, told to the study by its task; None when `stop`
        cancelled it."""
        ref = self.remote.remote(
            self.repo_path, record.id, self.storage, trial._trial_id, trial.number, params
        )
        while True:
            ready, _ = self.ray.wait([ref], timeout=POLL_S)
            if ready:
                break
            if stop.is_set():
                self.ray.cancel(ref, force=True)
                return None
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            cause = error.as_instanceof_cause()
            if isinstance(cause, GitmlError):
                raise SweepError(str(cause.args[0]) if cause.args else str(cause)) from None
            raise SweepError(f"trial {trial.number} failed on the Ray cluster: {error}") from None
        except self.ray.exceptions.RayError as error:  # its worker or node died
            studies.abandon(trial.study, trial)  # its params queued again
            detail = str(error).strip().splitlines()[0] if str(error).strip() else "lost"
            raise SweepError(
                f"trial {trial.number} was lost on the Ray cluster ({detail}); "
                f"`gitml sweep resume {record.name}` runs it again"
            ) from None


def ray_trial(
    repo_path: str,
    sweep_id: str,
    url: str,
    trial_id: int,
    number: int,
    params: dict[str, str],
) -> TrialOutcome:
    """A Ray task: trial `number` of the sweep, run and recorded in the repository at
    `repo_path`. The trial is this task's from now on (the study names its process as the
    trial's worker): it reports the metric's steps (pruning) and tells how it ended, so
    a driver that dies meanwhile neither loses the trial nor has it run twice."""
    from gitml.sweeps.driver import optuna_watch, tell

    optuna = studies.import_optuna()
    repo = open_repository(repo_path)
    record = resolve_sweep(repo, sweep_id)
    with auto_gc_off():
        study = studies.open_study(repo, record, url, create=False)
        trial = optuna.trial.Trial(study, trial_id)
        trial.set_user_attr(studies.WORKER, studies.worker_id())
        try:
            outcome = run_trial(
                repo,
                record,
                number,
                params,
                watch=optuna_watch(trial, record),
                started=lambda run_id: trial.set_user_attr(studies.RUN, run_id),
            )
        except GitmlError:
            studies.abandon(study, trial, queue_again=False)
            raise
        tell(study, trial, outcome, None)
        return outcome
