"""`gitml sweep`: search hyper-parameters with Optuna, each trial a gitml run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitml.cli import format as fmt
from gitml.cli.options import EnvManagerChoice, json_option
from gitml.cli.output import echo, echo_block, echo_json, echo_json_lines, say
from gitml.envs import ENV_MANAGERS

if TYPE_CHECKING:
    from gitml.sweeps.driver import SweepEvents, SweepResult
    from gitml.sweeps.trial import TrialOutcome

SAMPLERS = ("tpe", "random", "grid")  # gitml.sweeps.study.SAMPLERS (not imported: no optuna)
PRUNERS = ("median", "hyperband", "none")
LAUNCHERS = ("local", "slurm", "ray")  # gitml.sweeps.launchers' (not imported: optuna)
SLURM_EXECUTORS = ("slurm", "local")
INTERRUPTED = 130


class SweepGroup(click.Group):
    """`gitml sweep [OPTIONS] [-- COMMAND]` starts a sweep (`gitml sweep start`); a first
    word naming a subcommand (ls, show, resume) runs that instead."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup)
def sweep() -> None:
    """Search hyper-parameters: each trial is a run tagged sweep=<id>, trial=<n>.

    `gitml sweep -P lr=loguniform(1e-4,1e-1) --metric loss --minimize -- python
    train.py --lr {lr}` runs trials on one snapshot of the code, in temporary
    worktrees; `gitml sweep ls`, `show` and `resume` look at and go on with sweeps.
    """


@sweep.command(context_settings={"ignore_unknown_options": False})
@click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=FORM",
    help="A searched param: uniform(LOW,HIGH), loguniform(LOW,HIGH), choice(A,B,...), "
    "range(START,STOP[,STEP]); or NAME=VALUE, fixed for every trial (repeatable).",
)
@click.option(
    "-e",
    "--entry-point",
    help="Entry point of the project file to sweep (default main); its `sweeps:` section "
    "gives the space, -P adds to it.",
)
@click.option("--metric", metavar="KEY", help="The metric each trial's run logs; its last value.")
@click.option(
    "--minimize/--maximize",
    "minimize",
    default=None,
    help="Which way the metric should go (default: its goal in gitml.yaml).",
)
@click.option("--trials", type=int, help="How many trials (default 10; a grid: its size).")
@click.option("--jobs", "-j", type=int, default=1, help="Trials run at once on this machine.")
@click.option("--sampler", type=click.Choice(SAMPLERS), help="Optuna's sampler (default tpe).")
@click.option(
    "--pruner",
    type=click.Choice(PRUNERS),
    default="median",
    help="Stop trials early from the metric's steps (Optuna's pruner; default median).",
)
@click.option("--seed", type=int, help="Seed of the sampler, for a sweep that repeats.")
@click.option(
    "--storage",
    metavar="URL",
    help="Optuna storage shared by machines (postgresql://USER@HOST/DB); default: a "
    "journal file under .git/gitml.",
)
@click.option(
    "--remote",
    metavar="REMOTE",
    help="Send the sweep to REMOTE when it starts (workers in other clones join it: "
    "gitml sweep worker) and the trials' runs as they end.",
)
@click.option(
    "--launcher",
    type=click.Choice(LAUNCHERS),
    default="local",
    help="Where trials run: local (--jobs threads here), slurm (--jobs workers as a Slurm "
    "job array, through submitit) or ray (--jobs trials at a time as Ray tasks).",
)
@click.option(
    "--slurm-executor",
    type=click.Choice(SLURM_EXECUTORS),
    default="slurm",
    help="slurm submits with sbatch; local runs the array's tasks on this machine.",
)
@click.option("--slurm-partition", metavar="NAME", help="The array's Slurm partition.")
@click.option("--slurm-time", type=click.IntRange(1), metavar="MINUTES", help="Each task's limit.")
@click.option("--slurm-cpus-per-task", type=click.IntRange(1), help="CPUs of each array task.")
@click.option("--slurm-gpus-per-node", type=click.IntRange(0), help="GPUs of each array task.")
@click.option("--ray-address", metavar="HOST:PORT", help="The Ray cluster (default: RAY_ADDRESS).")
@click.option("--name", help="Name of the sweep (default: a new adjective-noun name).")
@click.option("--experiment", help="Experiment of the trials' runs (default: the branch's).")
@click.option(
    "--env-manager",
    type=EnvManagerChoice(ENV_MANAGERS),
    help="Environment the trials run in (as gitml run's).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def start(
    obj,
    params,
    entry_point,
    metric,
    minimize,
    trials,
    jobs,
    sampler,
    pruner,
    seed,
    storage,
    remote,
    launcher,
    slurm_executor,
    slurm_partition,
    slurm_time,
    slurm_cpus_per_task,
    slurm_gpus_per_node,
    ray_address,
    name,
    experiment,
    env_manager,
    command,
) -> None:
    """Start a sweep: gitml sweep [OPTIONS] [-- COMMAND {param}...].

    The command's {name} fields take each trial's values (every param also reaches
    the script through gitml.get_params()); without a command, the entry point runs
    with the trial's values as its params. The code is snapshotted once: edits made
    while the sweep runs do not reach its trials.
    """
    from gitml.sweeps.driver import SweepRequest, start_sweep
    from gitml.sweeps.launchers import SlurmOptions

    given = click.get_current_context().get_parameter_source
    for option in ("slurm_partition", "slurm_time", "slurm_cpus_per_task", "slurm_gpus_per_node"):
        if given(option) == click.core.ParameterSource.COMMANDLINE and launcher != "slurm":
            raise click.UsageError(f"--{option.replace('_', '-')} needs --launcher slurm")
    if ray_address is not None and launcher != "ray":
        raise click.UsageError("--ray-address needs --launcher ray")
    request = SweepRequest(
        params=list(params),
        command=list(command),
        entry_point=entry_point,
        metric=metric,
        direction=None if minimize is None else ("minimize" if minimize else "maximize"),
        trials=trials,
        jobs=jobs,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        storage=storage,
        name=name,
        experiment=experiment,
        env_manager=env_manager,
        directory=obj.directory,
        remote=remote,
        launcher=launcher,
        slurm=SlurmOptions(
            slurm_executor, slurm_partition, slurm_time, slurm_cpus_per_task, slurm_gpus_per_node
        ),
        ray_address=ray_address,
    )
    _report(start_sweep(obj.repo, request, _events()))


@sweep.command()
@click.argument("sweep_name", metavar="SWEEP")
@click.option("--jobs", "-j", type=int, default=1, help="Trials run at once on this machine.")
@click.option("--storage", metavar="URL", help="The storage URL again (when it needs a password).")
@click.pass_obj
def resume(obj, sweep_name, jobs, storage) -> None:
    """Go on with a sweep that stopped (Ctrl-C) or whose gitml was killed."""
    from gitml.sweeps.driver import resume_sweep

    _report(resume_sweep(obj.repo, sweep_name, jobs, storage, _events()))


@sweep.command()
@click.argument("sweep_name", metavar="SWEEP")
@click.option(
    "--remote", metavar="REMOTE", help="The remote the sweep was sent to (default: origin)."
)
@click.option("--jobs", "-j", type=int, default=1, help="Trials run at once on this machine.")
@click.option("--storage", metavar="URL", help="The storage URL again (when it needs a password).")
@click.pass_obj
def worker(obj, sweep_name, remote, jobs, storage) -> None:
    """Join a sweep from another clone: fetch it, run trials, push their runs.

    The sweep must keep its study in a shared storage (gitml sweep --storage
    postgresql://… --remote REMOTE); each trial runs the sweep's snapshot in a
    temporary worktree, and its run is pushed to REMOTE in batches.
    """
    from gitml.sweeps.driver import join_sweep

    result = join_sweep(obj.repo, sweep_name, remote, jobs, storage, _events())
    say(
        f"sweep {result.record.name}: this worker ran {len(result.outcomes)} trials; "
        f"their runs are on the remote"
    )
    if result.stopped:
        click.get_current_context().exit(INTERRUPTED)


@sweep.command(name="ls")
@json_option
@click.pass_obj
def ls(obj, as_json) -> None:
    """List sweeps, newest first: name, status, trials, metric, best value."""
    from gitml.sweeps.record import list_sweeps

    sweeps = list_sweeps(obj.repo)
    if as_json:
        echo_json_lines([_sweep_json(s) for s in sweeps])
        return
    if not sweeps:
        echo("no sweeps (start one: gitml sweep -P NAME=FORM --metric KEY -- COMMAND)", err=True)
        return
    rows = [
        [
            s.id[:12],
            s.name,
            "damaged" if s.damage else s.status,
            fmt.when(s.created_ms) if not s.damage else "-",
            str(s.trials),
            f"{s.metric} ({s.direction[:3]})" if not s.damage else "-",
            fmt.number(s.best["value"]) if s.best and _is_number(s.best.get("value")) else "-",
        ]
        for s in sweeps
    ]
    headers = ["ID", "NAME", "STATUS", "STARTED", "TRIALS", "METRIC", "BEST"]
    echo_block(fmt.table(headers, rows, fixed=len(headers)))


@sweep.command()
@click.argument("sweep_name", metavar="SWEEP")
@json_option
@click.pass_obj
def show(obj, sweep_name, as_json) -> None:
    """Show a sweep: its space, its best trial, and its trials sorted by the objective."""
    from gitml.sweeps.query import sweep_trials
    from gitml.sweeps.record import resolve_sweep

    record = resolve_sweep(obj.repo, sweep_name)
    rows = sweep_trials(obj.repo, record)
    if as_json:
        data = _sweep_json(record)
        data["trials_recorded"] = [row.to_json() for row in rows]
        echo_json(data)
        return
    lines = [
        f"sweep     {record.name} ({record.id})",
        f"status    {record.status}",
        f"metric    {record.metric} ({record.direction})",
        f"trials    {len(rows)} recorded of {record.trials}",
        f"sampler   {record.sampler}, pruner {record.pruner}, storage {record.storage}",
        f"runs      {_what_runs(record)}",
        f"snapshot  {record.snapshot}",
    ]
    lines += [f"param     {key} = {form}" for key, form in sorted(record.params.items())]
    best = rows[0] if rows and rows[0].state == "complete" else None
    if best is not None:
        lines.append(
            f"best      trial {best.number}: {record.metric} {fmt.number(best.value or 0.0)} "
            f"(run {best.run.name})"
        )
    echo_block("\n".join(fmt.printable(line) for line in lines))
    if rows:
        searched = sorted(record.params)
        headers = ["TRIAL", "STATE", record.metric, "RUN", *[f"params.{k}" for k in searched]]
        table = [
            [
                str(row.number),
                row.state,
                fmt.number(row.value) if row.value is not None else "-",
                row.run.name,
                *[row.run.params.get(k, "-") for k in searched],
            ]
            for row in rows
        ]
        echo_block("\n" + fmt.table(headers, table, fixed=4))


def _what_runs(record) -> str:
    import shlex

    if record.command:
        return shlex.join(record.command)
    return f"entry point {record.entry_point}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sweep_json(record) -> dict:
    data = record.to_json()
    data["sha"] = record.sha
    if record.damage:
        data["damage"] = record.damage
    return data


def _events() -> SweepEvents:
    from gitml.sweeps.driver import SweepEvents

    return SweepEvents(trial_ended=_trial_line, note=say)


def _trial_line(outcome: TrialOutcome) -> None:
    run = outcome.run
    if outcome.state == "complete":
        say(f"trial {outcome.number} complete: {fmt.number(outcome.value or 0.0)} (run {run.name})")
    else:
        say(f"trial {outcome.number} {outcome.state}: {outcome.reason} (run {run.name})")
    for warning in outcome.warnings:
        say(f"warning: trial {outcome.number}: {warning}")


def _report(result: SweepResult) -> None:
    record = result.record
    best = record.best
    if best:
        say(
            f"sweep {record.name}: best trial {best['trial']}, {record.metric} "
            f"{fmt.number(best['value'])}; see `gitml sweep show {record.name}`"
        )
    else:
        say(f"sweep {record.name}: no trial completed; see `gitml sweep show {record.name}`")
    if result.stopped:
        say(f"sweep {record.name} stopped; `gitml sweep resume {record.name}` goes on")
        click.get_current_context().exit(INTERRUPTED)
