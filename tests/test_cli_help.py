"""Meta-test: every command in `gitml.cli.main.COMMANDS`, and every option of it, has
help, and every command is named (`gitml <command>`) in README.md or docs/*.md.

It walks the COMMANDS table, so a command added later is covered without
touching this file. Groups are walked down to their leaf commands.
"""

import importlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gitml.cli.main import COMMANDS, cli
from tests.utils import gitml


def load(spec: str) -> click.Command:
    module_name, attribute = spec.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def walk(path: tuple[str, ...], command: click.Command):
    """(command path, command) for `command` and every command under it."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk((*path, name), sub)


def all_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, spec in sorted(COMMANDS.items()):
        found.extend(walk((name,), load(spec)))
    return found


COMMAND_PATHS = [path for path, _ in all_commands()]


def test_the_command_table_lists_the_core_commands():
    assert {"run", "ls", "show", "recover"} <= set(COMMANDS)


def test_every_table_entry_loads_a_click_command():
    for name, spec in COMMANDS.items():
        command = load(spec)
        assert isinstance(command, click.Command), name
        assert cli.get_command(click.Context(cli), name) is command


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_and_option_has_help(path):
    command = dict(all_commands())[path]
    assert (command.help or command.short_help or "").strip(), f"gitml {' '.join(path)}"
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"gitml {' '.join(path)} {param.opts[0]}"


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_prints_its_help(path):
    command = dict(all_commands())[path]
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="gitml")
    assert result.exit_code == 0, result.output
    assert f"Usage: gitml {' '.join(path)}" in result.output
    first_words = " ".join((command.help or command.short_help or "").split()[:4])
    assert first_words in " ".join(result.output.split())


def test_the_root_command_and_its_options_have_help():
    assert (cli.help or "").strip()
    for param in cli.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), param.opts[0]
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def documentation() -> str:
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return "\n".join(page.read_text() for page in pages)


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_appears_in_the_docs(path):
    assert f"gitml {' '.join(path)}" in documentation(), "document it in docs/<topic>.md"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["ls", "-n", "0"], "invalid value for '--limit' / '-n': 0 is not in the range x>=1"),
        (["show"], "missing argument 'RUN' (see `gitml show --help`)"),
        (["push", "--since"], "option '--since' requires an argument (see `gitml push --help`)"),
        (["model", "bogus"], "no such command 'bogus' (see `gitml model --help`)"),
    ],
)
def test_usage_errors_are_one_line_with_where_to_look(repo_with_commit, args, line):
    result = gitml(repo_with_commit, *args, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("gitml: error: ")
    assert line in result.stderr
    assert result.stderr.count("\n") == 1
