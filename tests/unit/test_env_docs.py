"""Meta-test: every `gitml env` command and option, and the `gitml run` options of
projects, appear in docs/projects.md."""

from pathlib import Path

import click

from gitml.cli.env import env
from gitml.cli.run import run

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "projects.md").read_text()


def test_every_env_command_and_option_is_documented():
    for name, command in env.commands.items():
        assert f"gitml env {name}" in DOCS, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert any(opt in DOCS for opt in param.opts), f"gitml env {name} {param.opts}"


def test_project_options_of_run_are_documented():
    options = {opt for p in run.params if isinstance(p, click.Option) for opt in p.opts}
    for opt in ("-e", "--entry-point", "--env-manager", "-P"):
        assert opt in options
        assert opt in DOCS, opt
