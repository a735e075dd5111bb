"""`gitml demo`: a throw-away repository showing run → ls → show → diff."""

import click


@click.command()
def demo() -> None:
    """Show gitml at work in a temporary repository (nothing of yours is touched)."""
    from gitml.cli.output import echo_block
    from gitml.demo import run_demo

    run_demo(echo_block)
