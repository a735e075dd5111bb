"""`gitml run`: record a command as a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitml.cli.options import parse_pairs
from gitml.cli.output import say
from gitml.envs import ENV_MANAGERS

if TYPE_CHECKING:
    from gitml.projects.launch import Progress
    from gitml.tracking.runner import CommandResult


@click.command(context_settings={"ignore_unknown_options": False})
@click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter of the run (repeatable); the script reads it with gitml.get_params().",
)
@click.option("--name", help="Run name (default: a new adjective-noun name).")
@click.option(
    "--experiment", help="Experiment to file the run under (default: the current branch)."
)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable).")
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    metavar="PATH",
    help="A file or folder the command writes, stored in the run after it ends (repeatable).",
)
@click.option(
    "--allow-secret",
    "allow_secrets",
    multiple=True,
    metavar="PATTERN",
    help="Store files named like secrets that match PATTERN (e.g. '.env.example') in the "
    "snapshot and artifacts; repeatable. See gitml.allowSecrets.",
)
@click.option(
    "-m",
    "--note",
    "--message",
    "note",
    default="",
    help="A note about the run, kept in its record and commit message (--message: the same).",
)
@click.option(
    "-e",
    "--entry-point",
    help="Entry point of the project file (gitml.yaml or MLproject) to run; "
    "`main` when no command follows `--`.",
)
@click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGERS),
    help="Environment to run in: this interpreter, a cached venv or a conda env built from "
    "conda.yaml (default: the project file's env_manager, else local).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(
    obj,
    params,
    name,
    experiment,
    tags,
    artifacts,
    allow_secrets,
    note,
    entry_point,
    env_manager,
    command,
) -> None:
    """Run COMMAND and record it as a run: gitml run [OPTIONS] -- COMMAND [ARGS]...

    Without COMMAND, runs an entry point of the project file (-e, default
    `main`) with its typed parameters (-P). The exit code is the command's.
    Ctrl-C and SIGTERM are passed on to the command and the run is recorded
    as killed.
    """
    from gitml.projects.launch import LaunchRequest, Recording, launch
    from gitml.tracking.record import describe_end

    request = LaunchRequest(
        command=list(command),
        params=parse_pairs(params, "param"),
        entry_point=entry_point,
        env_manager=env_manager,
        directory=obj.directory,
        recording=Recording(
            name=name,
            experiment=experiment,
            tags=parse_pairs(tags, "tag"),
            note=note,
            artifacts=list(artifacts),
            allow_secrets=list(allow_secrets),
        ),
    )
    result = launch(obj.repo, request, progress_on_stderr())
    echo_run_problems(result)
    say(
        f"run {result.summary.name} "
        f"{describe_end(result.summary.status, result.exit_code)}; "
        f"see `gitml show {result.summary.name}`"
    )
    click.get_current_context().exit(result.exit_status)


def progress_on_stderr() -> Progress:
    """A launch's notes and warnings, one `gitml: ` line each on stderr."""
    from gitml.projects.launch import Progress

    return Progress(
        note=say,
        warning=lambda text: say(f"warning: {text}"),
    )


def echo_run_problems(result: CommandResult) -> None:
    """What the run could not keep, once it ended: its output in full, and --artifact files."""
    for problem in result.output_warnings:
        say(f"warning: {problem}")
    for note in result.artifact_warnings:
        say(f"warning: {note}")
    for problem in result.artifact_errors:
        say(f"error: {problem}")
