"""`gitml run`: record a command as a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitml.cli.options import EnvManagerChoice, parse_pairs
from gitml.cli.output import say
from gitml.envs import ENV_MANAGERS

if TYPE_CHECKING:
    from gitml.projects.launch import Progress
    from gitml.store.repository import Repository
    from gitml.tracking.runner import CommandResult

_AFTER_SEPARATOR = "gitml.run.after"  # ctx.meta: how many words follow the `--`


class RunCommand(click.Command):
    """`gitml run [OPTIONS] [PATH | -- COMMAND [ARGS]...]`: the words after the `--` that
    ends the options are the command, whatever they are; a word before it is the project
    folder. click drops that `--`, so it is found here first."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            name
            for param in self.params
            if isinstance(param, click.Option) and not param.is_flag
            for name in (*param.opts, *param.secondary_opts)
        }
        ctx.meta[_AFTER_SEPARATOR] = _words_after_separator(args, takes_value)
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[OPTIONS]", "[PATH | -- COMMAND [ARGS]...]"]


def _words_after_separator(args: list[str], takes_value: set[str]) -> int | None:
    """How many words follow the `--` that ends the options (not one that is an option's
    value, as in `--note --`); None without one."""
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg == "--":
            return len(args) - index - 1
        elif arg.startswith("-") and len(arg) > 1:  # `-P k=v` takes the next word, `-Pk=v` not
            skip = arg in takes_value
    return None


def _path_and_command(words: tuple[str, ...], after: int | None) -> tuple[str | None, list[str]]:
    """(the project folder before `--`, the command after it)."""
    split = len(words) if after is None else len(words) - after
    before, command = list(words[:split]), list(words[split:])
    if len(before) > 1:
        raise click.UsageError(
            f"to run a command, put it after `--` (gitml run -- {before[0]} …); before `--`, "
            f"gitml run takes only a project folder (PATH), and got {len(before)} words"
        )
    return (before[0] if before else None), command


@click.command(cls=RunCommand, context_settings={"ignore_unknown_options": False})
@click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter of the run (repeatable); the script reads it with gitml.get_params().",
)
@click.option(
    "--name",
    "--run-name",
    "name",
    help="Run name (default: a new adjective-noun name); --run-name: the same (MLflow's).",
)
@click.option(
    "--experiment",
    "--experiment-name",
    "experiment",
    help="Experiment to file the run under (default: the current branch); "
    "--experiment-name: the same (MLflow's).",
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
    help="Entry point of the project file (gitml.yaml or MLproject) to run, or a .py or .sh "
    "script of the project folder (run as python/bash SCRIPT --key value…); `main` when no "
    "command follows `--`.",
)
@click.option(
    "--env-manager",
    type=EnvManagerChoice(ENV_MANAGERS),
    help="Environment to run in: this interpreter, a cached venv (MLflow's virtualenv or uv) "
    "or a conda env built from conda.yaml (default: the project file's env_manager, else "
    "local).",
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
    `main`) with its typed parameters (-P); PATH, the one word allowed before
    `--`, names the project folder (as `mlflow run PATH`). The exit code is the
    command's. Ctrl-C and SIGTERM are passed on to the command and the run is
    recorded as killed.
    """
    from gitml.projects.launch import LaunchRequest, Recording, launch
    from gitml.tracking.record import describe_end

    context = click.get_current_context()
    project, command_words = _path_and_command(command, context.meta.get(_AFTER_SEPARATOR))
    request = LaunchRequest(
        command=command_words,
        params=parse_pairs(params, "param"),
        entry_point=entry_point,
        project=project,
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
    register_logged_models(obj.repo, result)
    say(
        f"run {result.summary.name} "
        f"{describe_end(result.summary.status, result.exit_code)}; "
        f"see `gitml show {result.summary.name}`"
    )
    context.exit(result.exit_status)


def progress_on_stderr() -> Progress:
    """A launch's notes and warnings, one `gitml: ` line each on stderr."""
    from gitml.projects.launch import Progress

    return Progress(
        note=say,
        warning=lambda text: say(f"warning: {text}"),
    )


def register_logged_models(repo: Repository, result: CommandResult) -> None:
    """Register the models the script logged with `registered_model_name=`, now that
    the run is committed; one line each on stderr."""
    if not result.registrations:
        return
    from gitml.models.registration import register_requested

    done, failed = register_requested(repo, result.summary, result.registrations)
    for sentence in done:
        say(sentence)
    for problem in failed:
        say(f"warning: {problem}")


def echo_run_problems(result: CommandResult) -> None:
    """What the run could not keep, once it ended: its output in full, and --artifact files."""
    for problem in result.output_warnings + result.logging_warnings:
        say(f"warning: {problem}")
    for note in result.artifact_warnings:
        say(f"warning: {note}")
    for problem in result.artifact_errors:
        say(f"error: {problem}")
