"""`gitml ui`: the web view of the repository."""

import click

from gitml.cli.output import echo, say


@click.command("ui")
@click.argument("repository", required=False, type=click.Path(file_okay=False))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback lets whoever reaches it read every run.",
)
@click.option(
    "--port",
    "-p",
    default=5050,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port, printed at start-up).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser on the page.")
@click.pass_obj
def ui(obj, repository, host, port, no_browser) -> None:
    """Browse runs, compare them and manage the registry in a web page.

    Serves REPOSITORY (default: the current one; a bare repository too) on
    http://127.0.0.1:5050/ until Ctrl-C. Needs the extra: pip install 'gitml[ui]'.
    """
    from gitml.cli.main import Context
    from gitml.ui.server import UiOptions, require_extra, serve

    require_extra()
    if repository is not None:
        obj = Context(repository)
    options = UiOptions(host=host, port=port, open_browser=not no_browser)
    raise SystemExit(serve(obj.repo, options, say, echo))
