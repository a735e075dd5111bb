"""A sweep's Optuna study: its storage, sampler and pruner, and the accounting that
makes `--trials N` exact whoever asks (threads, a resumed driver, other machines).

Storage: by default an Optuna journal file under `.git/gitml/sweeps/<id>/` (safe for
threads and processes of this machine); a URL (`postgresql://…`, `sqlite:///…`)
shares one study among machines. The study is named after the sweep's id.

Accounting: a trial counts unless it is *void*: failed with the user attribute
`gitml.void` ("abandoned": its worker died, and a copy of it was queued again;
"surplus": asked for once N trials were already taken). A trial is taken when fewer
than N counted trials have a lower number, so concurrent askers never overshoot N.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from gitml.errors import MissingExtraError, SweepError
from gitml.store.repository import Repository
from gitml.sweeps.space import Choice, IntRange, Space, Uniform, value_text

if TYPE_CHECKING:
    import optuna

    from gitml.sweeps.record import SweepRecord

JOURNAL = "journal"  # the storage named in a record: the local journal file
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
VOID = "gitml.void"
WORKER = "gitml.worker"  # host:pid:start of the process running the trial
RUN = "gitml.run"  # the id of the trial's run
UNCLAIMED_GRACE_S = 10  # a trial asked for but never given a worker, after this, is abandoned


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingExtraError("gitml sweep", "optuna", "sweep") from None
    _quiet(optuna)
    return optuna


@functools.cache
def _quiet(optuna: Any) -> None:
    """Optuna's INFO lines off, once per process: setting a logger's level clears the
    cache of every logger, too dear for a call made for each trial of a study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def sweep_dir(repo: Repository, sweep_id: str) -> Path:
    from gitml.store.layout import SWEEPS_DIR

    return repo.state_dir / SWEEPS_DIR / sweep_id


def redacted(url: str) -> str:
    """A storage URL without its password (the record travels; libpq finds a password
    in PGPASSWORD or ~/.pgpass, or the URL is given again to resume)."""
    if url == JOURNAL:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_storage(repo: Repository, sweep_id: str, url: str) -> Any:
    optuna = import_optuna()
    if url == JOURNAL:
        from optuna.storages.journal import JournalFileBackend

        folder = sweep_dir(repo, sweep_id)
        folder.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    given, scheme = url, urlsplit(url).scheme
    if not scheme.startswith(("postgresql", "sqlite", "mysql")):
        raise SweepError(
            f"--storage {redacted(url)!r}: give a database URL (postgresql://USER@HOST/DB, "
            "sqlite:///FILE) or leave it out for a journal file under .git/gitml"
        )
    # SQLAlchemy's default driver for postgresql:// is psycopg (3); psycopg2 is ours
    if scheme == "postgresql" and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is None:
            raise MissingExtraError("a PostgreSQL storage", "psycopg2", "postgres")
        url = "postgresql+psycopg2" + url[len(scheme) :]
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as error:  # SQLAlchemy's errors: the server is down, the URL wrong
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise SweepError(f"cannot open the storage {redacted(given)}: {detail}") from None


def sampler_for(name: str, seed: int | None) -> Any:
    optuna = import_optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)  # grid: every point is queued first


def pruner_for(name: str) -> Any:
    optuna = import_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def open_study(repo: Repository, record: SweepRecord, url: str, create: bool) -> optuna.Study:
    """The sweep's study in `url` (JOURNAL or a database URL); created when `create`
    (a grid sweep's points are queued then)."""
    optuna = import_optuna()
    storage = open_storage(repo, record.id, url)
    sampler, pruner = sampler_for(record.sampler, record.seed), pruner_for(record.pruner)
    if not create:
        try:
            return optuna.load_study(
                study_name=record.id, storage=storage, sampler=sampler, pruner=pruner
            )
        except KeyError:
            raise SweepError(
                f"the storage {redacted(url)} holds no study of sweep {record.label}"
            ) from None
    study = optuna.create_study(
        study_name=record.id,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=record.direction,
    )
    if record.sampler == "grid":
        from gitml.sweeps.space import parse_space

        for point in parse_space(record.params).grid():
            study.enqueue_trial(point)
    return study


def distributions(space: Space) -> dict[str, Any]:
    optuna = import_optuna()
    found: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        if isinstance(dim, Uniform):
            found[name] = optuna.distributions.FloatDistribution(dim.low, dim.high, log=dim.log)
        elif isinstance(dim, IntRange):
            found[name] = optuna.distributions.IntDistribution(dim.start, dim.last, step=dim.step)
        elif isinstance(dim, Choice):
            found[name] = optuna.distributions.CategoricalDistribution(dim.values)
    return found


def trial_values(space: Space, trial: Any) -> dict[str, str]:
    """Every param of a trial as text: the fixed ones, then what the study chose."""
    chosen = {name: value_text(value) for name, value in trial.params.items()}
    return {**space.fixed, **{name: chosen[name] for name in space.dimensions}}


def worker_id() -> str:
    from gitml.tracking.environment import process_start_token

    return f"{socket.gethostname()}:{os.getpid()}:{process_start_token(os.getpid())}"


def counts(trial: Any) -> bool:
    optuna = import_optuna()
    return not (trial.state == optuna.trial.TrialState.FAIL and VOID in trial.user_attrs)


def taken(study: optuna.Study) -> int:
    """Trials that count and have started (waiting ones are still to be run)."""
    optuna = import_optuna()
    waiting = optuna.trial.TrialState.WAITING
    return sum(1 for t in study.get_trials(deepcopy=False) if counts(t) and t.state != waiting)


def claim_trial(study: optuna.Study, space: Space, n_trials: int) -> Any | None:
    """A new trial of the study for this process (its params chosen), or None when N
    trials are taken already."""
    optuna = import_optuna()
    if taken(study) >= n_trials:
        return None
    trial = study.ask(distributions(space))
    trial.set_user_attr(WORKER, worker_id())
    ahead = sum(
        1 for t in study.get_trials(deepcopy=False) if t.number < trial.number and counts(t)
    )
    if ahead >= n_trials:
        trial.set_user_attr(VOID, "surplus")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return None
    return trial


def dead_trials(study: optuna.Study) -> list[Any]:
    """The running trials whose worker on this machine died (a driver killed). A trial
    asked for by a worker killed before it could name itself has no worker: it is
    taken for dead once UNCLAIMED_GRACE_S have passed since it started (a live worker
    names itself within milliseconds), waiting for that if need be."""
    from gitml.tracking.environment import process_alive

    optuna = import_optuna()
    host = socket.gethostname()
    dead, unnamed = [], []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER)
        if worker is None:
            unnamed.append(trial)
            continue
        name, _, rest = str(worker).partition(":")
        pid, _, start = rest.partition(":")
        token = None if start == "None" else start
        if name == host and pid.isdigit() and not process_alive(int(pid), token):
            dead.append(trial)
    for trial in unnamed:
        started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        time.sleep(max(0.0, started + UNCLAIMED_GRACE_S - time.time()))
        fresh = study._storage.get_trial(trial._trial_id)
        if fresh.state == optuna.trial.TrialState.RUNNING and WORKER not in fresh.user_attrs:
            dead.append(fresh)
    return dead


def settle(study: optuna.Study, trial: Any, state: Any, value: float | None = None) -> bool:
    """Tell the study how a trial ended (False when another process told it first)."""
    try:
        study.tell(trial.number, value, state=state)
    except (ValueError, RuntimeError):
        return False
    return True


def abandon(study: optuna.Study, trial: Any, queue_again: bool = True) -> bool:
    """Void a trial that was cut short (it no longer counts) and, with `queue_again`,
    queue its params for another trial; False when another process settled it first."""
    optuna = import_optuna()
    try:
        study._storage.set_trial_user_attr(trial._trial_id, VOID, "abandoned")
    except (ValueError, RuntimeError):
        return False  # finished meanwhile
    if not settle(study, trial, optuna.trial.TrialState.FAIL):
        return False
    if queue_again:
        study.enqueue_trial(dict(trial.params), skip_if_exists=False)
    return True
