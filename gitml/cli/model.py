"""`gitml model …` and `gitml tag`: the model registry (versions and stages as git tags)."""

import click

from gitml.cli import format as fmt
from gitml.cli.options import json_option
from gitml.cli.output import echo, echo_block, echo_json

message_option = click.option(
    "-m", "--message", default="", help="A note recorded in the event's tag message."
)
path_option = click.option(
    "--path",
    help="The artifact to register, as the run lists it (default: the run's single "
    "logged model, or its single artifact).",
)


@click.group()
def model() -> None:
    """Model registry: register run artifacts as versions, promote them to stages.

    Every event is an annotated git tag in GTO's grammar (NAME@vX.Y.Z,
    NAME#STAGE#N, ...), so the registry travels with the repository.
    """


@model.command("register")
@click.argument("name")
@click.argument("run")
@path_option
@click.option("--version", "version", help="The version to create, e.g. v1.0.0.")
@click.option("--bump-minor", is_flag=True, help="Bump the minor number (default: the patch).")
@click.option("--bump-major", is_flag=True, help="Bump the major number (default: the patch).")
@message_option
@json_option
@click.pass_obj
def register(obj, name, run, path, version, bump_minor, bump_major, message, as_json) -> None:
    """Register RUN's artifact as the next version of model NAME (first: v0.0.1)."""
    from gitml.registry import RegisterOptions, register

    if sum(map(bool, (version, bump_minor, bump_major))) > 1:
        raise click.UsageError("give at most one of --version, --bump-minor, --bump-major")
    bump = "major" if bump_major else "minor" if bump_minor else "patch"
    options = RegisterOptions(version=version, bump=bump, path=path, message=message)
    _echo_events([register(obj.repo, name, run, options)], as_json)


def _promote_command(name: str, short_help: str) -> click.Command:
    @click.command(name, short_help=short_help)
    @click.argument("name")
    @click.argument("version")
    @click.argument("stage")
    @click.option(
        "--keep-previous",
        is_flag=True,
        help="Let the stage keep the versions it holds (default: it holds one version).",
    )
    @path_option
    @message_option
    @json_option
    @click.pass_obj
    def command(obj, name, version, stage, keep_previous, path, message, as_json) -> None:
        """Assign STAGE to VERSION of model NAME (a version like v1.0.0, or a run,
        which is registered first). The stage leaves the version that held it."""
        from gitml.registry import PromoteOptions, promote

        options = PromoteOptions(message=message, keep_previous=keep_previous, path=path)
        _echo_events(promote(obj.repo, name, version, stage, options), as_json)

    return command


promote = _promote_command("promote", "Assign a stage to a model version.")
model.add_command(promote)
tag = _promote_command("tag", "Tag a model version to a stage (gitml model promote).")


@model.command("unassign")
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@message_option
@json_option
@click.pass_obj
def unassign(obj, name, version, stage, message, as_json) -> None:
    """Take STAGE away from VERSION of model NAME."""
    from gitml.registry import unassign

    _echo_events([unassign(obj.repo, name, version, stage, message)], as_json)


@model.command("deregister")
@click.argument("name")
@click.argument("version")
@message_option
@json_option
@click.pass_obj
def deregister(obj, name, version, message, as_json) -> None:
    """Withdraw VERSION of model NAME (its tag stays; the version leaves every stage)."""
    from gitml.registry import deregister

    _echo_events([deregister(obj.repo, name, version, message)], as_json)


@model.command("deprecate")
@click.argument("name")
@message_option
@json_option
@click.pass_obj
def deprecate(obj, name, message, as_json) -> None:
    """Mark model NAME deprecated: `gitml model ls` hides it (see --all)."""
    from gitml.registry import deprecate

    _echo_events([deprecate(obj.repo, name, message)], as_json)


@model.command("ls")
@click.option("--all", "-a", "include_deprecated", is_flag=True, help="Include deprecated models.")
@json_option
@click.pass_obj
def ls(obj, include_deprecated, as_json) -> None:
    """One row per model: its latest version and the version each stage holds."""
    from gitml.registry import allowed_stages, list_models

    repo = obj.repo
    every = list_models(repo, include_deprecated=True)
    models = [m for m in every if include_deprecated or not m.deprecated]
    if as_json:
        echo_json([m.to_json() for m in models])
        return
    if not models:
        hidden = len(every)
        hint = f"{hidden} deprecated: gitml model ls --all" if hidden else "gitml model register"
        echo(f"no models in the registry ({hint})", err=True)
        return
    stages = list(allowed_stages(repo))
    for m in models:
        stages += [s for s, held in m.stages.items() if held and s not in stages]
    rows = [
        [
            m.name + (" (deprecated)" if m.deprecated else ""),
            m.latest.version if m.latest else "-",
            *[", ".join(m.stages.get(s, [])) or "-" for s in stages],
        ]
        for m in models
    ]
    echo_block(fmt.table(["MODEL", "LATEST", *[s.upper() for s in stages]], rows, fixed=2))


@model.command("history")
@click.argument("name")
@json_option
@click.pass_obj
def history(obj, name, as_json) -> None:
    """Every event of model NAME in order: time, event, version, stage, run, author, note."""
    from gitml.registry import history
    from gitml.tracking.catalog import run_names

    repo = obj.repo
    events = history(repo, name)
    if as_json:
        echo_json([event.to_json() for event in events])
        return
    names = run_names(repo, [e.run_id for e in events if e.run_id])
    rows = [
        [
            str(e.counter),
            fmt.when(e.time * 1000),
            e.kind,
            e.version or "-",
            e.stage or "-",
            names.get(e.run_id, e.run_id[:12]) if e.run_id else "-",
            e.author,
            e.message.splitlines()[0] if e.message else "",
        ]
        for e in events
    ]
    headers = ["#", "TIME", "EVENT", "VERSION", "STAGE", "RUN", "AUTHOR", "MESSAGE"]
    echo_block(fmt.table(headers, rows, fixed=5))


@model.command("which")
@click.argument("reference")
@json_option
@click.pass_obj
def which(obj, reference, as_json) -> None:
    """The version, run and commit REFERENCE stands for: NAME@STAGE, NAME@vX.Y.Z, NAME@latest."""
    from gitml.registry import which

    resolved = which(obj.repo, reference)
    if as_json:
        echo_json(resolved.to_json())
        return
    run = f"{resolved.run_name} ({resolved.run_id})" if resolved.run_name else resolved.run_id
    echo(
        f"{resolved.model} {resolved.version}" + (f" in {resolved.stage}" if resolved.stage else "")
    )
    echo(f"run       {run or '-'}")
    echo(f"commit    {resolved.commit}")
    echo(f"artifact  {resolved.artifact or '-'}")


@model.command("get")
@click.argument("reference")
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write the artifact files into.",
)
@json_option
@click.pass_obj
def get(obj, reference, out_dir, as_json) -> None:
    """Write the artifact of REFERENCE (NAME@STAGE, NAME@vX.Y.Z, NAME@latest) into a folder."""
    from gitml.registry import get

    written = get(obj.repo, reference, out_dir)
    if as_json:
        echo_json([str(path) for path in written])
        return
    for path in written:
        echo(str(path))


def _echo_events(events, as_json: bool) -> None:
    if as_json:
        echo_json([event.to_json() for event in events])
        return
    for event in events:
        echo(f"{_describe(event)}: tag {event.tag}")


def _describe(event) -> str:
    if event.kind == "register":
        where = f", artifact {event.artifact}" if event.artifact else ""
        return f"registered {event.model} {event.version}{where}"
    if event.kind == "assign":
        return f"promoted {event.model} {event.version} to {event.stage}"
    if event.kind == "unassign":
        return f"removed {event.model} {event.version} from {event.stage}"
    if event.kind == "deregister":
        return f"deregistered {event.model} {event.version}"
    return f"deprecated {event.model}"
