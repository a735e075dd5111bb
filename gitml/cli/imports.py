"""`gitml import mlflow SOURCE`: runs and registry of another tracker, as gitml's."""

import click

from gitml.cli.options import json_option
from gitml.cli.output import echo, echo_json, say


@click.group("import")
def import_group() -> None:
    """Bring the runs and models another tracker recorded into this repository."""


@import_group.command("mlflow")
@click.argument("source")
@click.option("--dry-run", is_flag=True, help="Say what would be imported; write nothing.")
@json_option
@click.pass_obj
def mlflow_command(obj, source: str, dry_run: bool, as_json: bool) -> None:
    """Import the runs, logged models and registry of MLflow store SOURCE: an mlruns
    folder, sqlite:///PATH or a tracking server's http:// URL. Runs imported before are
    left as they are. Needs mlflow (pip install 'gitml[mlflow]')."""
    from gitml.mlflow_plugin.importer import import_mlflow

    report = import_mlflow(obj.repo, source, dry_run=dry_run, progress=say)
    for line in report.skipped:
        say(f"left out: {line}")
    if as_json:
        echo_json(report.to_json())
        return
    runs = len(report.imported)
    verb = "would import" if dry_run else "imported"
    before = f" ({len(report.already)} imported before)" if report.already else ""
    events = f", {len(report.registry)} registry events" if report.registry else ""
    echo(f"{verb} {runs} run{'s' if runs != 1 else ''}{before}{events}")
