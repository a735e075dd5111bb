"""`gitml run`: record a command as a run."""

import shlex

import click

from gitml.cli.options import parse_pairs


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
@click.option("-m", "--message", default="", help="A note about the run.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def run(obj, params, name, experiment, tags, artifacts, message, command) -> None:
    """Run COMMAND and record it as a run: gitml run [OPTIONS] -- COMMAND [ARGS]...

    The exit code is the command's. Ctrl-C and SIGTERM are passed on to the
    command and the run is recorded as killed.
    """
    from gitml.run import RunOptions, start_run
    from gitml.runner import check_artifact_paths, check_command, execute

    command = list(command)
    check_command(command)
    repo = obj.repo
    artifact_paths = check_artifact_paths(repo, list(artifacts))
    options = RunOptions(
        name=name,
        experiment=experiment,
        params=parse_pairs(params, "param"),
        tags=parse_pairs(tags, "tag"),
        note=message,
        command=command,
    )
    started = start_run(repo, options)
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
    result = execute(repo, started, command, artifact_paths)
    for problem in result.artifact_errors:
        click.echo(f"gitml: error: {problem}", err=True)
    click.echo(
        f"gitml: run {result.summary.name} {result.summary.status} "
        f"(exit {result.exit_code}); see `gitml show {result.summary.name}`",
        err=True,
    )
    code = result.exit_code or (1 if result.artifact_errors else 0)
    click.get_current_context().exit(code)
