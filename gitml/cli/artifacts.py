"""`gitml artifacts ls|get`: the artifacts of a run, listed or written to a folder."""

import click

from gitml.cli.options import json_option
from gitml.cli.output import echo, echo_block, echo_json


@click.group("artifacts")
def artifacts() -> None:
    """List the artifacts of a run, or write one to a folder."""


@artifacts.command("ls")
@click.argument("run")
@click.argument("path", required=False, default="")
@json_option
@click.pass_obj
def ls(obj, run, path, as_json) -> None:
    """List the artifacts of RUN (or those under PATH): size, sha256, where each is
    stored (git, or by content: the shared store, "not here" when this repository has
    no copy yet), path."""
    from gitml.cli.format import printable
    from gitml.tracking.export import artifact_path, list_artifacts
    from gitml.tracking.readers import open_run

    folder = artifact_path(path)
    with open_run(obj.repo, run) as reader:
        listed = list_artifacts(obj.repo, reader, folder)
    if as_json:
        echo_json([item.to_json() for item in listed])
        return
    if not listed:
        echo("no artifacts")
        return
    width = max(len(f"{item.entry.size:,}") for item in listed)
    rows = []
    for item in listed:
        entry = item.entry
        shown = printable(entry.path) + (f" -> {printable(entry.link)}" if entry.link else "")
        digest = (entry.sha256 or "-")[:12]
        store = item.store if item.here else f"{item.store} (not here)"
        rows.append(f"{entry.size:>{width},}  {digest}  {store}  {shown}")
    echo_block("\n".join(rows))


@artifacts.command("get")
@click.argument("run")
@click.argument("path")
@click.option(
    "-o",
    "--out",
    "out_dir",
    default=".",
    type=click.Path(file_okay=False),
    help="Folder to write the artifact into, named like it (default: the current folder).",
)
@click.option("--force", is_flag=True, help="Replace files that already exist.")
@click.pass_obj
def get(obj, run, path, out_dir, force) -> None:
    """Write the artifact file or folder PATH of RUN into a folder."""
    from pathlib import Path

    from gitml.tracking.export import artifact_path, download
    from gitml.tracking.readers import open_run

    wanted = artifact_path(path)
    if not wanted:
        raise click.BadParameter("give the artifact file or folder to write", param_hint="PATH")
    with open_run(obj.repo, run) as reader:
        written = download(reader, wanted, Path(out_dir), force)
    for target in sorted(written):
        echo(str(target))
