"""`gitml run`: record a command as a run."""

import shlex

import click

from gitml.cli.options import parse_pairs
from gitml.envs import ENV_MANAGERS


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
@click.option("-m", "--message", default="", help="A note about the run.")
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
    message,
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
    from gitml.projects.launch import LaunchRequest, plan_launch
    from gitml.tracking.run import RunOptions, secret_rule, start_run
    from gitml.tracking.runner import check_artifact_paths, check_command, execute, start_command

    repo = obj.repo
    secrets = secret_rule(repo, list(allow_secrets))
    artifact_paths = check_artifact_paths(repo, list(artifacts), secrets)
    tag_values = parse_pairs(tags, "tag")
    request = LaunchRequest(
        command=list(command),
        params=parse_pairs(params, "param"),
        entry_point=entry_point,
        env_manager=env_manager,
        directory=obj.directory,
        on_build=lambda message: click.echo(f"gitml: {message}", err=True),
    )
    launch = plan_launch(repo, request)
    for note in launch.notes:
        click.echo(f"gitml: warning: {note}", err=True)
    if launch.built:
        click.echo(f"gitml: built environment {launch.activation.prefix}", err=True)
    command = launch.command
    check_command(command, launch.activation.search_path, launch.cwd)
    options = RunOptions(
        name=name,
        experiment=experiment,
        params=launch.params,
        tags=tag_values,
        note=message,
        command=command,
        entry_point=launch.entry_point,
        cwd=launch.cwd,
        allow_secrets=list(allow_secrets),
        **launch.env_options(),
    )
    started = start_run(repo, options)
    child = start_command(repo, started, command, launch.activation, launch.cwd)
    meta = started.staging.meta
    for path in started.snapshot.skipped_large:
        click.echo(
            f"gitml: warning: {path} is over the size limit and was left out of the snapshot",
            err=True,
        )
    for path in started.snapshot.skipped_secret:
        click.echo(
            f"gitml: warning: {path} looks like a secret and was left out of the snapshot", err=True
        )
    click.echo(f"gitml: run {meta['name']} ({meta['id']}) started: {shlex.join(command)}", err=True)
    result = execute(repo, started, command, artifact_paths, launch.activation, launch.cwd, child)
    for note in result.artifact_warnings:
        click.echo(f"gitml: warning: {note}", err=True)
    for problem in result.artifact_errors:
        click.echo(f"gitml: error: {problem}", err=True)
    click.echo(
        f"gitml: run {result.summary.name} {result.summary.status} "
        f"(exit {result.exit_code}); see `gitml show {result.summary.name}`",
        err=True,
    )
    code = result.exit_code or (1 if result.artifact_errors else 0)
    click.get_current_context().exit(code)
